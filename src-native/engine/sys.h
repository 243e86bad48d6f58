// Thin syscall wrappers: EINTR retried, result as a value or a positive errno.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace cowcopy {

// Calls f() again while it fails with EINTR (a signal arrived mid-call).
template <class F>
auto retry_eintr(F f) -> decltype(f()) {
  decltype(f()) r;
  do {
    r = f();
  } while (r == -1 && errno == EINTR);
  return r;
}

}  // namespace cowcopy
