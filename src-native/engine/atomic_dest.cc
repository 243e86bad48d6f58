#include "atomic_dest.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>

#include "stat_calls.h"
#include "sys.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

namespace cowcopy {

const char* const kDirSyncReason =
    "the copy is in place (destination replaced), but its directory could not be synced";

namespace {

constexpr char kTempMark[] = ".cowcopy-";
constexpr size_t kHexDigits = 12;
// "." + base + ".cowcopy-" + 12 hex digits must fit one directory entry.
constexpr size_t kMaxTempBase = NAME_MAX - 1 - (sizeof kTempMark - 1) - kHexDigits;

}  // namespace

int rename_noreplace(int dir, const char* from, const char* to) {
  // The raw syscall: glibc's wrapper arrived only in 2.28.
  auto noreplace = [&] { return ::syscall(SYS_renameat2, dir, from, dir, to, RENAME_NOREPLACE); };
  if (retry_eintr(noreplace) == 0) return 0;
  const int refused = errno;
  if (refused != EINVAL && refused != ENOSYS) return refused;
  // The filesystem cannot do RENAME_NOREPLACE: linkat() fails on an existing
  // name just the same; then the temporary name goes. A directory cannot be
  // linked (EPERM): then the rename's own answer stands.
  if (retry_eintr([&] { return ::linkat(dir, from, dir, to, 0); }) == -1) return errno == EPERM ? refused : errno;
  if (retry_eintr([&] { return ::unlinkat(dir, from, 0); }) == 0) return 0;
  // The temporary name would stay as a hidden second name of the
  // destination: undo the link (only while `to` is still our file) and fail;
  // the caller's discard() tries the temporary name once more.
  int err = errno;
  struct stat ours, now;
  if (sys_fstatat(dir, from, &ours, AT_SYMLINK_NOFOLLOW) == 0 &&
      sys_fstatat(dir, to, &now, AT_SYMLINK_NOFOLLOW) == 0 && ours.st_dev == now.st_dev &&
      ours.st_ino == now.st_ino) {
    retry_eintr([&] { return ::unlinkat(dir, to, 0); });
  }
  return err;
}

std::string random_hex12() {
  unsigned char rnd[kHexDigits / 2];
  if (::getrandom(rnd, sizeof rnd, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof rnd)) {
    // No entropy yet (early boot): time and pid are unique enough with O_EXCL.
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    unsigned long long v = static_cast<unsigned long long>(ts.tv_nsec) ^
                           (static_cast<unsigned long long>(::getpid()) << 20);
    for (size_t i = 0; i < sizeof rnd; ++i) rnd[i] = static_cast<unsigned char>(v >> (8 * i));
  }
  char hex[kHexDigits + 1];
  for (size_t i = 0; i < sizeof rnd; ++i) std::snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
  return hex;
}

std::string temp_name(const std::string& base) {
  const std::string hex = random_hex12();
  // A long name is shortened, never split inside a UTF-8 sequence (the
  // bytes 10xxxxxx continue one).
  size_t keep = base.size();
  if (keep > kMaxTempBase) {
    keep = kMaxTempBase;
    while (keep > 0 && (static_cast<unsigned char>(base[keep]) & 0xC0) == 0x80) --keep;
  }
  return "." + base.substr(0, keep) + kTempMark + hex;
}

int DestDir::open(int dir, const std::string& path) {
  size_t slash = path.rfind('/');
  std::string parent;
  if (slash == std::string::npos) {
    base_ = path;
    if (dir != AT_FDCWD) {
      fd_ = dir;
      return base_.empty() ? ENOENT : 0;
    }
    parent = ".";
  } else {
    base_ = path.substr(slash + 1);
    parent = slash == 0 ? "/" : path.substr(0, slash);
  }
  if (base_.empty()) return path.empty() ? ENOENT : EISDIR;  // "dir/" names a directory
  int fd = retry_eintr([&] { return ::openat(dir, parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd == -1) return errno;
  owned_ = UniqueFd(fd);
  fd_ = fd;
  return 0;
}

int check_existing(const DestDir& d, const struct stat& src_st, bool overwrite, bool& same) {
  struct stat st;
  same = false;
  if (sys_fstatat(d.fd(), d.name(), &st, AT_SYMLINK_NOFOLLOW) == -1) return errno == ENOENT ? 0 : errno;
  if (S_ISDIR(st.st_mode)) return EISDIR;
  if (!overwrite) return EEXIST;  // the source itself included: COPYFILE_EXCL
  same = st.st_dev == src_st.st_dev && st.st_ino == src_st.st_ino;
  return 0;
}

int TempDest::open(const DestDir& d, mode_t mode) {
  dir_ = &d;
  int fd = retry_eintr([&] { return ::openat(d.fd(), ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode); });
  if (fd != -1) {
    fd_ = UniqueFd(fd);
    return 0;
  }
  // EISDIR/EOPNOTSUPP/EINVAL: this filesystem (or kernel) has no O_TMPFILE.
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) return errno;
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::string name = temp_name(d.base());
    fd = retry_eintr([&] {
      return ::openat(d.fd(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, mode);
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

int link_fd(int fd, int dir, const char* name) {
  // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; without it the kernel says
  // ENOENT, and the /proc/self/fd link (a path walk through procfs: slower)
  // does the same for anyone. Which one works is learnt once.
  static std::atomic<int> empty_path_works{1};
  const bool tried = empty_path_works.load(std::memory_order_relaxed) != 0;
  if (tried) {
    if (retry_eintr([&] { return ::linkat(fd, "", dir, name, AT_EMPTY_PATH); }) == 0) return 0;
    if (errno != ENOENT) return errno;
  }
  char proc[64];
  std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  if (retry_eintr([&] { return ::linkat(AT_FDCWD, proc, dir, name, AT_SYMLINK_FOLLOW); }) == 0) {
    if (tried) empty_path_works.store(0, std::memory_order_relaxed);
    return 0;
  }
  return errno;
}

int TempDest::link_anonymous(const char* to) { return link_fd(fd_.get(), dir_->fd(), to); }

// close() may be the first to report a failed write-back (NFS, FUSE, quota):
// the filesystem's flush runs at every close of the open file, so closing a
// duplicate asks now, while nothing is visible and the file can still be
// linked.
int TempDest::flush_check() {
  int dup = retry_eintr([&] { return ::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0); });
  if (dup == -1) return errno;
  return ::close(dup) == 0 ? 0 : errno;
}

int TempDest::publish(bool overwrite, bool sync_dir, const char*& reason, bool flush) {
  const int dir = dir_->fd();
  const char* dest = dir_->name();
  int err = 0;
  if (named_.empty()) {
    if (flush && (err = flush_check())) return err;
    if (!overwrite) {
      // linkat() refuses an existing name atomically: the file appears
      // complete under its own name, and no temporary name ever exists.
      if ((err = link_anonymous(dest))) return err;
    } else {
      // Replacing needs rename(), and rename() needs a name: no call moves
      // an unnamed file over an existing one. The temporary name lives only
      // from this link to the rename just after it (a crash in between
      // leaves it behind).
      for (int attempt = 0; named_.empty(); ++attempt) {
        std::string name = temp_name(dir_->base());
        err = link_anonymous(name.c_str());
        if (err == 0) named_ = name;
        else if (err != EEXIST || attempt == 7) return err;
      }
      auto replace = [&] { return ::renameat(dir, named_.c_str(), dir, dest); };
      if (retry_eintr(replace) == -1) return errno;
    }
  } else {
    // Close before the file becomes visible: then nothing is replaced by a
    // file whose write-back failed.
    if ((err = fd_.close_checked())) return err;
    auto replace = [&] { return ::renameat(dir, named_.c_str(), dir, dest); };
    err = overwrite ? (retry_eintr(replace) == -1 ? errno : 0) : rename_noreplace(dir, named_.c_str(), dest);
    if (err) return err;
  }
  named_.clear();
  fd_.reset();
  // The copy is in place: a failed directory sync makes it not durable yet,
  // and the caller asked for durable. Reported, saying the file was replaced.
  if (sync_dir && retry_eintr([&] { return ::fsync(dir); }) == -1) {
    reason = kDirSyncReason;
    return errno;
  }
  return 0;
}

void TempDest::discard() {
  if (!named_.empty() && dir_ != nullptr) {
    retry_eintr([&] { return ::unlinkat(dir_->fd(), named_.c_str(), 0); });
    named_.clear();
  }
  fd_.reset();
}

}  // namespace cowcopy
