// stat(2) family as direct system calls. glibc 2.33 turned fstat & co. from
// inline wrappers into new versioned symbols (GLIBC_2.33); calling the kernel
// directly keeps the prebuilt addon loadable on glibc 2.28 (RHEL 8, Debian
// 10). On x86-64 and arm64 the kernel's struct stat is glibc's.
#pragma once

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace cowcopy {

// EINTR is retried here, once for every caller (a FUSE or network
// filesystem may be interrupted by a signal in the middle of a stat).
inline int sys_fstat(int fd, struct stat* st) {
  int r;
  do r = static_cast<int>(::syscall(SYS_fstat, fd, st));
  while (r == -1 && errno == EINTR);
  return r;
}
inline int sys_fstatat(int dir, const char* path, struct stat* st, int flags) {
  int r;
  do r = static_cast<int>(::syscall(SYS_newfstatat, dir, path, st, flags));
  while (r == -1 && errno == EINTR);
  return r;
}
inline int sys_stat(const char* path, struct stat* st) { return sys_fstatat(AT_FDCWD, path, st, 0); }
inline int sys_lstat(const char* path, struct stat* st) {
  return sys_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

}  // namespace cowcopy
