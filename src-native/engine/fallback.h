// The one place that decides whether a failed method may hand over to the next.
#pragma once

#include "method.h"

namespace cowcopy {

// The method to try when `failed` could not do the work with errno `err`, or
// Method::kNone when `err` is a real failure that must surface (ENOSPC, EIO...).
Method next_method(ReflinkMode mode, Method failed, int err);

// The first method a mode tries.
Method first_method(ReflinkMode mode);

}  // namespace cowcopy
