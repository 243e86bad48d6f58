// The sparse walk: copy only the source's data segments, so holes stay holes.
#pragma once

#include <sys/stat.h>

#include "copy_data.h"
#include "method.h"

namespace cowcopy {

// A file is worth walking only when it has fewer blocks than its size needs
// (coreutils' test). This also keeps /proc and /sys files (st_size 0 or 4096,
// no blocks) on the plain read-to-EOF path.
bool looks_sparse(const struct stat& st);

// Moves every data segment from state.offset to state.src_size with method m,
// skipping holes (SEEK_DATA / SEEK_HOLE). The caller sets the final size.
int copy_sparse(Method m, DataState& state);

}  // namespace cowcopy
