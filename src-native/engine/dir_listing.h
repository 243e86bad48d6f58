// Reading a directory through its descriptor: the one getdents64 loop.
#pragma once

#include <dirent.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "sys.h"

namespace cowcopy {

inline bool is_dot_or_dotdot(const char* name) {
  return name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0));
}

// Calls each(name, d_type, d_ino) for every entry but "." and "..", reading
// from the descriptor's current offset into `buf`; each returns false to
// stop early; with `one_read`, only what the first read returns is looked
// at (enough to tell an empty directory). 0, or the errno of the failed read.
template <class Each>
int each_entry(int fd, char* buf, size_t size, Each&& each, bool one_read = false) {
  for (bool first = true;; first = false) {
    if (one_read && !first) return 0;
    long n = retry_eintr([&] { return ::syscall(SYS_getdents64, fd, buf, size); });
    if (n == -1) return errno;
    if (n == 0) return 0;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      if (is_dot_or_dotdot(d->d_name)) continue;
      if (!each(static_cast<const char*>(d->d_name), static_cast<unsigned char>(d->d_type),
                static_cast<uint64_t>(d->d_ino))) {
        return 0;
      }
    }
  }
}

struct DirEntry {
  std::string name;
  unsigned char type;  // DT_*, from an fstatat where the filesystem leaves it unknown
  uint64_t ino;        // d_ino: what an open of the name must find
};

// Every entry of a directory, with its type and inode number.
int list_dir(int fd, std::vector<DirEntry>& out);

// DT_* for a mode.
unsigned char dirent_type(mode_t mode);

}  // namespace cowcopy
