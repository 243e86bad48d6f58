#include "fd_budget.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys.h"
#include "unique_fd.h"

namespace cowcopy {

// Descriptors this process has open now (/proc/self/fd, less the one that
// lists it), or -1 when that cannot be told.
long open_descriptors() {
  int fd = retry_eintr([] { return ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd == -1) return -1;
  UniqueFd dir(fd);
  alignas(struct dirent64) char buf[4096];
  long n = 0;
  for (;;) {
    long got = retry_eintr([&] { return ::syscall(SYS_getdents64, fd, buf, sizeof buf); });
    if (got < 0) return -1;
    if (got == 0) break;
    for (long off = 0; off < got;) {
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] != '.') n += 1;
    }
  }
  return n > 0 ? n - 1 : 0;
}

// How many directories all imports together may hold open (made ahead of
// the copy threads, queued, being filled): a quarter of the descriptors the
// process has left under RLIMIT_NOFILE, once the copy threads' own (a
// source, a destination, a temporary file each) are set aside; at most
// 4 096 (a package store's whole tree, here). A quarter of the limit alone
// ignored what the process already had open (a package manager's sockets
// and files) and the other imports running at once: the walker ran out of
// descriptors first and the entries past that failed with EMFILE. With
// none left the walker makes one directory at a time, after the copy
// threads have placed what they were given.
size_t dirs_ahead_budget(int copy_threads) {
  constexpr size_t kMost = 4096;
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return kMost;
  const long open = open_descriptors();
  const rlim_t used = static_cast<rlim_t>(open < 0 ? 0 : open) + 4 * static_cast<rlim_t>(copy_threads) + 8;
  size_t n = rl.rlim_cur > used ? static_cast<size_t>((rl.rlim_cur - used) / 4) : 0;
  if (open < 0 && n > rl.rlim_cur / 4) n = static_cast<size_t>(rl.rlim_cur / 4);
  return n < kMost ? n : kMost;
}

}  // namespace cowcopy
