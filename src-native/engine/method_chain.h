// The engine's one errno table: what an errno from a clone, copy_file_range
// or sendfile means for the file being copied, and which method comes next.
#pragma once

#include "method.h"

namespace cowcopy {

// What one errno from one data method means.
enum class Verdict {
  kNextMethod,  // this method cannot do it for these two files: the next one
                // goes on from where it stopped (never from offset 0 again)
  kRetry,       // the same call again (EINTR: retry_eintr does it at the call)
  kFailed,      // the copy failed: the caller gets this errno
};

Verdict verdict(Method failed, int err);

// A clone's kNextMethod answers that say "these two filesystems cannot share
// extents" rather than "not this file, not now": the `link` ladder remembers
// these for the device pair (EOPNOTSUPP, EXDEV, EINVAL, ENOTTY, EPERM,
// EACCES, ENOSYS); EAGAIN, EBADF and ETXTBSY are passed on, never remembered.
bool clone_not_available(int err);

// The method to try when `failed` could not do the work with errno `err`, or
// Method::kNone when `err` is a real failure that must surface (ENOSPC, EIO...).
Method next_method(ReflinkMode mode, Method failed, int err);

// The first method a mode tries.
Method first_method(ReflinkMode mode);

}  // namespace cowcopy
