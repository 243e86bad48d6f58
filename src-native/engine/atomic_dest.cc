#include "atomic_dest.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <ctime>

#include "sys.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

namespace cowcopy {
namespace {

// A hidden, unique name beside the destination: ".<base>.cowcopy-<12 hex>".
std::string temp_name(const std::string& dir, const std::string& base) {
  unsigned char rnd[6];
  if (::getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof rnd)) {
    // No entropy yet (early boot): time and pid are unique enough with O_EXCL.
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long v = static_cast<unsigned long long>(ts.tv_nsec) ^
                           (static_cast<unsigned long long>(::getpid()) << 20);
    for (size_t i = 0; i < sizeof rnd; ++i) rnd[i] = static_cast<unsigned char>(v >> (8 * i));
  }
  char hex[sizeof rnd * 2 + 1];
  for (size_t i = 0; i < sizeof rnd; ++i) std::snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
  return dir + "/." + base + ".cowcopy-" + hex;
}

int rename_noreplace(const char* from, const char* to) {
  // The raw syscall: glibc's wrapper arrived only in 2.28.
  if (::syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
  // The filesystem cannot do RENAME_NOREPLACE: link() fails on an existing
  // name just the same; then the temporary name goes.
  if (::link(from, to) == -1) return errno;
  ::unlink(from);
  return 0;
}

int fsync_dir(const std::string& dir) {
  int fd = retry_eintr([&] { return ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd == -1) return errno;
  int err = ::fsync(fd) == -1 ? errno : 0;
  ::close(fd);
  return err;
}

}  // namespace

void split_path(const std::string& path, std::string& dir, std::string& base) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    dir = ".";
    base = path;
  } else {
    dir = slash == 0 ? "/" : path.substr(0, slash);
    base = path.substr(slash + 1);
  }
}

int TempDest::open(const std::string& dest) {
  split_path(dest, dir_, base_);
  if (base_.empty()) return EISDIR;  // "dir/" names a directory, not a file
  int fd = retry_eintr(
      [&] { return ::open(dir_.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600); });
  if (fd != -1) {
    fd_ = UniqueFd(fd);
    return 0;
  }
  // EISDIR/EOPNOTSUPP/EINVAL: this filesystem (or kernel) has no O_TMPFILE.
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) return errno;
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string name = temp_name(dir_, base_);
    fd = retry_eintr([&] {
      return ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, 0600);
    });
    if (fd != -1) {
      fd_ = UniqueFd(fd);
      named_ = name;
      return 0;
    }
    if (errno != EEXIST) return errno;
  }
  return EEXIST;
}

int TempDest::link_anonymous(const std::string& to) {
  char proc[64];
  std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd_.get());
  if (::linkat(AT_FDCWD, proc, AT_FDCWD, to.c_str(), AT_SYMLINK_FOLLOW) == 0) return 0;
  int err = errno;
  // Without /proc, AT_EMPTY_PATH does the same for a privileged caller.
  if (err == ENOENT && ::linkat(fd_.get(), "", AT_FDCWD, to.c_str(), AT_EMPTY_PATH) == 0) return 0;
  return err;
}

int TempDest::publish(const std::string& dest, bool overwrite, bool sync_dir) {
  // 1. An anonymous file gets a temporary name first: the last step must be
  //    a rename, the only call that replaces (or refuses to replace) at once.
  for (int attempt = 0; named_.empty(); ++attempt) {
    std::string name = temp_name(dir_, base_);
    int err = link_anonymous(name);
    if (err == 0) named_ = name;
    else if (err != EEXIST || attempt == 7) return err;
  }
  // 2. Close before the file becomes visible: close() may be the first to
  //    report a failed write-back (NFS, quota), and then nothing is replaced.
  if (int err = fd_.close_checked()) return err;
  // 3. Into place.
  int err = overwrite ? (::rename(named_.c_str(), dest.c_str()) == -1 ? errno : 0)
                      : rename_noreplace(named_.c_str(), dest.c_str());
  if (err) return err;
  named_.clear();
  return sync_dir ? fsync_dir(dir_) : 0;
}

void TempDest::discard() {
  if (!named_.empty()) {
    ::unlink(named_.c_str());
    named_.clear();
  }
  fd_.reset();
}

}  // namespace cowcopy
