// Data movers: each moves the source's bytes from `offset` on into the
// destination, loops over short transfers, and stops at end of file.
#pragma once

#include <cstdint>

#include "method.h"

namespace cowcopy {

struct DataState {
  int src = -1;
  int dst = -1;
  uint64_t offset = 0;    // bytes of the source already in the destination
  uint64_t src_size = 0;  // st_size when opened (a clone takes the whole file)
};

// 0 on success, else a positive errno (or kNoProgress). On failure
// state.offset tells how far the data got, so the next method can resume.
int clone_whole(DataState& state);
int copy_file_range_loop(DataState& state);
int sendfile_loop(DataState& state);
int read_write_loop(DataState& state);

int move_data(Method m, DataState& state);

}  // namespace cowcopy
