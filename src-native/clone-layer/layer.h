// The clone layer: what the portable engine (lib/portable/) cannot do through
// node:fs on macOS, where libuv does not clone. No N-API here
// (layer_binding.cc is the glue); the OS calls are os_clone.h's.
#pragma once

#include <stdint.h>

#include "buf.h"

namespace cowcopy_layer {

// Clones the regular file open on `srcfd` to the new file `dest` (never
// followed; symlinks in its directory part are). 0 or errno: EEXIST when
// `dest` exists, ENOTSUP when its volume cannot clone, EXDEV across volumes.
int clone_file(int srcfd, const char* dest);

struct TreeAnswer {
  int err = 0;             // 0, or why nothing was made
  Buf ineligible;          // non-empty: not cloned, copy per file instead (err is 0)
  // What the clone made (dirs counts `dest` itself); zero unless it was made.
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t symlinks = 0;
  uint64_t bytes = 0;
};

// Clones the directory `src` into the new directory `dest` in one clone
// when the tree holds only what a clone copies exactly; else answers
// `ineligible` and touches nothing. On any failure nothing is left at `dest`
// or beside it. ENOMEM when memory ran out, with nothing left either.
TreeAnswer clone_tree(const char* src, const char* dest);

}  // namespace cowcopy_layer
