// Descriptor helpers the clone layer and the Linux shim share: an owned fd,
// EINTR retries, a directory's names read through its own descriptor.
// Header-only so that the macOS build's source list (binding.gyp) stays the
// three files it names.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <errno.h>
#include <string.h>

#include "../engine/unique_fd.h"
#include "buf.h"

namespace cowcopy_layer {

// The engine's owned descriptor (closed exactly once): one definition for
// both builds.
using Fd = cowcopy::UniqueFd;

// Runs `call` until it does not fail with EINTR; returns its result.
template <typename F>
inline auto retry(F call) -> decltype(call()) {
  decltype(call()) r;
  do {
    r = call();
  } while (r == -1 && errno == EINTR);
  return r;
}

inline int open_at(int dirfd, const char* name, int flags, mode_t mode = 0) {
  return retry([&] { return ::openat(dirfd, name, flags | O_CLOEXEC, mode); });
}

// A directory below `dirfd`, never through a symlink: 0 or errno.
inline int open_dir_at(int dirfd, const char* name, Fd& out) {
  int fd = open_at(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (fd == -1) return errno;
  out = Fd(fd);
  return 0;
}

inline int stat_at(int dirfd, const char* name, struct stat& st) {
  return ::fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? 0 : errno;
}

inline bool same_inode(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// A directory listing: the names one after another, each NUL-terminated, in
// one malloc'd buffer. for (const char* n = names.first(); n; n = names.next(n))
class Names {
 public:
  bool add(const char* name) {
    if (!buf_.append(name, ::strlen(name) + 1)) return false;
    ++count_;
    return true;
  }
  void clear() {
    buf_.clear();
    count_ = 0;
  }
  bool empty() const { return count_ == 0; }
  const char* first() const { return count_ ? buf_.data() : nullptr; }
  const char* next(const char* name) const {
    const char* p = name + ::strlen(name) + 1;
    return p < buf_.data() + buf_.size() ? p : nullptr;
  }

 private:
  Buf buf_;
  size_t count_ = 0;
};

// The names in the directory open on `dirfd` ("." and ".." left out), read
// through a fresh open file description of it so that `dirfd`'s own offset
// and ownership are untouched. 0 or errno (ENOMEM when the list cannot grow).
inline int list_dir(int dirfd, Names& names) {
  names.clear();
  int fd = open_at(dirfd, ".", O_RDONLY | O_DIRECTORY);
  if (fd == -1) return errno;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    int err = errno;
    ::close(fd);
    return err;
  }
  int err = 0;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(d);
    if (!e) {
      err = errno;
      break;
    }
    const char* n = e->d_name;
    if (n[0] == '.' && (n[1] == 0 || (n[1] == '.' && n[2] == 0))) continue;
    if (!names.add(n)) {
      err = ENOMEM;
      break;
    }
  }
  ::closedir(d);
  return err;
}

}  // namespace cowcopy_layer
