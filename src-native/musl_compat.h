// Force-included (first) into every file of a Linux build (binding.gyp, and
// src-native/cross-build.js for the musl prebuilds): with glibc it only
// defines _LARGEFILE64_SOURCE, which names nothing the engine does not
// already get. With musl (Alpine, or a build from source there) it adapts
// two places where the engine is written against glibc's declarations:
//  - musl 1.2.4 names getdents64's `struct dirent64` only under
//    _LARGEFILE64_SOURCE (it is `struct dirent`: off_t is always 64-bit).
//  - musl declares ioctl(int, int, ...), glibc ioctl(int, unsigned long, ...),
//    and range_dedupe.cc keeps a pointer of glibc's type. Every `ioctl` below
//    this header is a same-named wrapper with glibc's type that passes the
//    one argument on as musl's ioctl itself reads it (va_arg as void*).
#pragma once
#if defined(__linux__) && defined(__cplusplus)
#define _LARGEFILE64_SOURCE 1
#include <stdarg.h>
#include <sys/ioctl.h>
#if !defined(__GLIBC__)
inline int cowcopy_musl_ioctl(int fd, unsigned long request, ...) {
  va_list ap;
  va_start(ap, request);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  return ::ioctl(fd, static_cast<int>(request), arg);
}
#define ioctl cowcopy_musl_ioctl
#endif
#endif
