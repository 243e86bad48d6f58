// The clone layer's OS calls on macOS: clonefile(2)'s fd forms and
// renameatx_np(2). CLONE_NOOWNERCOPY: a clone is owned like a file the
// caller made (what cowcopy's copies are unless ownership is asked for, which
// the layer's callers then set themselves); CLONE_NOFOLLOW: a symlink at the
// source is cloned as a symlink, never followed.
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/clonefile.h>

#include "os_clone.h"

// Both come with the macOS SDK (sys/clonefile.h, stdio.h since 10.12); kept
// here too for an SDK that hides them behind availability macros. Values from
// clonefile(2) and rename(2).
#ifndef CLONE_NOFOLLOW
#define CLONE_NOFOLLOW 0x0001
#endif
#ifndef CLONE_NOOWNERCOPY
#define CLONE_NOOWNERCOPY 0x0002
#endif
#ifndef RENAME_EXCL
#define RENAME_EXCL 0x00000004
#endif

namespace cowcopy_layer {

const char* const kOsCloneName = "darwin";

namespace {

constexpr uint32_t kCloneFlags = CLONE_NOFOLLOW | CLONE_NOOWNERCOPY;

template <typename F>
int call(F f) {
  int r;
  do {
    r = f();
  } while (r == -1 && errno == EINTR);
  return r == 0 ? 0 : errno;
}

}  // namespace

int os_fclonefileat(int srcfd, int dstdirfd, const char* name) {
  return call([&] { return ::fclonefileat(srcfd, dstdirfd, name, kCloneFlags); });
}

// Not retried on EINTR here: an interrupted directory clone may have left
// part of the tree at `name`, which the caller removes first (layer.cc).
int os_clonefileat(int srcdirfd, const char* src, int dstdirfd, const char* name) {
  return ::clonefileat(srcdirfd, src, dstdirfd, name, kCloneFlags) == 0 ? 0 : errno;
}

int os_rename_excl(int fromdir, const char* from, int todir, const char* to) {
  return call([&] { return ::renameatx_np(fromdir, from, todir, to, RENAME_EXCL); });
}

}  // namespace cowcopy_layer
