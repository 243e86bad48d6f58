#include "ladder.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "atomic_dest.h"
#include "open_path.h"
#include "stat_calls.h"
#include "sys.h"

namespace cowcopy {

namespace link_memory {
namespace {

struct Dropped {
  uint64_t src_dev, dest_dev;
  unsigned rungs;  // bit per Rung
};

std::mutex mu;
std::vector<Dropped>* table = nullptr;  // never freed: lives as long as the process
std::atomic<bool> any_dropped{false};

}  // namespace

bool any() { return any_dropped.load(std::memory_order_relaxed); }

bool dropped(Rung rung, uint64_t src_dev, uint64_t dest_dev) {
  std::lock_guard<std::mutex> lock(mu);
  if (!table) return false;
  for (const Dropped& d : *table) {
    if (d.src_dev == src_dev && d.dest_dev == dest_dev) return (d.rungs >> static_cast<unsigned>(rung)) & 1u;
  }
  return false;
}

void drop(Rung rung, uint64_t src_dev, uint64_t dest_dev) {
  std::lock_guard<std::mutex> lock(mu);
  try {
    if (!table) table = new std::vector<Dropped>();
    for (Dropped& d : *table) {
      if (d.src_dev == src_dev && d.dest_dev == dest_dev) {
        d.rungs |= 1u << static_cast<unsigned>(rung);
        return;
      }
    }
    table->push_back(Dropped{src_dev, dest_dev, 1u << static_cast<unsigned>(rung)});
    any_dropped.store(true, std::memory_order_relaxed);
  } catch (...) {
    // No memory to remember it: the probe is paid again next time, nothing worse.
  }
}

void reset() {
  std::lock_guard<std::mutex> lock(mu);
  if (table) table->clear();
  any_dropped.store(false, std::memory_order_relaxed);
}

}  // namespace link_memory

bool clone_failure_is_per_file(int src, int dst, int err) {
  if (err != EINVAL) return false;
  // btrfs refuses (EINVAL) a clone between files whose NOCOW/NODATASUM
  // flags differ: a property of these files (chattr +C), not of the devices.
  for (int fd : {src, dst}) {
    int flags = 0;
    if (::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & FS_NOCOW_FL) != 0) return true;
  }
  return false;
}

namespace {

// A clone rung that failed this way hands the file to the next rung.
// Remembered or not is clone_not_available's business.
bool clone_passes_on(int err) { return verdict(Method::kClone, err) == Verdict::kNextMethod; }

const char* const kPrivilegedReason = "source is setuid, setgid or has file capabilities (not linked)";

// The source's device, for the memory: its fstat (following a symlink unless
// the request forbids it). 0 when it cannot be known.
uint64_t source_dev(const CopyRequest& req, struct stat* out = nullptr) {
  struct stat st;
  const int flags = req.src_rules.nofollow ? AT_SYMLINK_NOFOLLOW : 0;
  if (sys_fstatat(req.src_dir, req.src.c_str(), &st, flags) == -1) return 0;
  if (out) *out = st;
  return static_cast<uint64_t>(st.st_dev);
}

uint64_t dest_dev(const CopyRequest& req, const DestDir& dir) {
  if (req.dest_dev != 0) return req.dest_dev;
  struct stat st;
  return sys_fstat(dir.fd(), &st) == 0 ? static_cast<uint64_t>(st.st_dev) : 0;
}

// Whether the inode open on `fd` is immutable or append-only (chattr +i/+a).
bool locked(int fd) {
  int flags = 0;
  return ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) != 0;
}

// Whether the destination directory `dirfd` (maybe an O_PATH descriptor,
// which takes no ioctl) is immutable or append-only, or cannot be asked:
// either way its EPERM is not known to be the devices'.
bool dir_locked_or_unknown(int dirfd) {
  int fd = retry_eintr([&] { return ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd == -1) return true;
  UniqueFd own(fd);
  return locked(own.get());
}

// Whether a link's EXDEV/EPERM is the filesystem's answer for any file
// (remembered) rather than this file's or this directory's own: EPERM is
// also protected_hardlinks refusing another user's file, and the answer for
// an immutable or append-only file or destination directory.
bool link_failure_is_devices(int fd, const struct stat& st, int dirfd, int err) {
  if (err == EXDEV) return true;
  if (st.st_uid != ::geteuid()) return false;
  return !locked(fd) && !dir_locked_or_unknown(dirfd);
}

// Whether a file carries privilege a new name would hand on: setuid/setgid,
// or file capabilities (security.capability, on an executable). Such a file
// goes to the copy rungs, which drop both (copyFile's rule).
bool privileged(int fd, const struct stat& st) {
  if ((st.st_mode & 06000) != 0) return true;
  if ((st.st_mode & 0111) == 0) return false;
  return ::fgetxattr(fd, "security.capability", nullptr, 0) >= 0;
}

// The hardlink rung. `next`: this rung cannot place this file, the next
// rung may (the result's err says why, for when no rung is left).
//
// The source is opened as every copy opens it (open_regular: a regular file,
// without blocking, O_NOFOLLOW and the listed inode where the request says),
// checked -- no setuid/setgid, no file capabilities -- and that very inode is
// linked by its descriptor: a name swapped between the check and the link
// changes nothing, and no privileged file ever gets a second name.
CopyResult hardlink(const CopyRequest& req, bool& next) {
  CopyResult r;
  r.method = Method::kHardlink;
  next = false;
  if (req.control.cancelled()) {
    r.err = ECANCELED;
    return r;
  }
  UniqueFd src;
  struct stat st;
  const char* reason = nullptr;
  if ((r.err = open_regular(req.src_dir, req.src.c_str(), O_RDONLY, req.src_rules, src, st, reason))) {
    r.reason = reason;
    return r;
  }
  r.src_dev = static_cast<uint64_t>(st.st_dev);
  DestDir dir;
  if ((r.err = dir.open(req.dest_dir, req.dest))) return r;
  const uint64_t s = static_cast<uint64_t>(st.st_dev);
  if (req.remember && link_memory::any() && link_memory::dropped(Rung::kHardlink, s, dest_dev(req, dir))) {
    next = true;
    r.err = EXDEV;
    return r;
  }
  if (privileged(src.get(), st)) {
    next = true;
    r.err = EPERM;
    r.reason = kPrivilegedReason;
    return r;
  }
  std::string temp;  // a replacement is linked beside the name, then renamed over it
  int err = link_fd(src.get(), dir.fd(), dir.name());
  if (err == EEXIST) {
    struct stat there;
    if (sys_fstatat(dir.fd(), dir.name(), &there, AT_SYMLINK_NOFOLLOW) == 0) {
      if (S_ISDIR(there.st_mode)) {
        r.err = EISDIR;
        return r;
      }
      if (!req.overwrite) {
        r.err = EEXIST;
        return r;
      }
      if (there.st_dev == st.st_dev && there.st_ino == st.st_ino) {
        r.bytes = static_cast<uint64_t>(st.st_size);  // already a name of the source
        return r;
      }
    } else if (!req.overwrite) {
      r.err = EEXIST;
      return r;
    }
    for (int attempt = 0; attempt < 8; ++attempt) {
      temp = temp_name(dir.base());
      if ((err = link_fd(src.get(), dir.fd(), temp.c_str())) != EEXIST) break;
    }
    if (err != 0) temp.clear();
  }
  if (err != 0) {
    r.err = err;
    if (err == EMLINK) {
      next = true;  // this file has all the names it may have: this file only
    } else if (err == EXDEV || err == EPERM) {
      // EPERM is the filesystem refusing links only when protected_hardlinks
      // cannot be the reason: the caller owns the file. Otherwise it is this
      // file's answer (another user's file), and one such file must not turn
      // hardlinks off for every other.
      if (req.remember && link_failure_is_devices(src.get(), st, dir.fd(), err)) {
        uint64_t d = dest_dev(req, dir);
        // EXDEV within one device is a mount boundary (a bind-mounted store),
        // not a property of the devices: other mounts of them link fine.
        if (d != 0 && !(err == EXDEV && d == s)) link_memory::drop(Rung::kHardlink, s, d);
      }
      next = true;
    }
    return r;
  }
  if (!temp.empty() && retry_eintr([&] { return ::renameat(dir.fd(), temp.c_str(), dir.fd(), dir.name()); }) == -1) {
    r.err = errno;
    remove_if_same(dir.fd(), temp.c_str(), st);
    return r;
  }
  r.bytes = static_cast<uint64_t>(st.st_size);
  // overlayfs links a file that is only in a lower layer by first copying
  // it whole into the upper layer (copy-up); from inside the mount no call
  // tells which files were. The batch counts links made there, so a caller
  // can know that each of them may have been a copy (BatchResult).
  r.on_overlay = req.dest_overlay >= 0 && dir.fd() == req.dest_dir ? req.dest_overlay == 1 : on_overlayfs(dir.fd());
  return r;
}

}  // namespace

CopyResult place_file(CopyRequest& req) {
  const Ladder& ladder = req.ladder;
  if (ladder.is_default()) return copy_file(req);  // kAuto: clone, else copy (memory inside)
  const ReflinkMode given = req.reflink;
  CopyResult last;
  last.err = EINVAL;
  for (int i = 0; i < ladder.count;) {
    const Rung rung = ladder.rungs[i];
    if (rung == Rung::kHardlink) {
      bool next = false;
      last = hardlink(req, next);
      if (!next) return last;
      ++i;
      continue;
    }
    // clone then copy run as one kAuto copy (one open of each file).
    int span = 1;
    ReflinkMode mode;
    if (rung == Rung::kClone && i + 1 < ladder.count && ladder.rungs[i + 1] == Rung::kCopy) {
      mode = ReflinkMode::kAuto;
      span = 2;
    } else if (rung == Rung::kClone) {
      mode = ReflinkMode::kAlways;
    } else {
      mode = given == ReflinkMode::kNever ? ReflinkMode::kNever : ReflinkMode::kCopyOnly;
    }
    const bool more = i + span < ladder.count;
    if (mode == ReflinkMode::kAlways && more && req.remember && link_memory::any()) {
      // Known not to work here: straight to the next rung. (A clone that
      // is the last rung is always asked: the kernel's own answer.)
      DestDir dir;
      uint64_t s = source_dev(req);
      if (s != 0 && dir.open(req.dest_dir, req.dest) == 0 &&
          link_memory::dropped(Rung::kClone, s, dest_dev(req, dir))) {
        i += span;
        continue;
      }
    }
    req.reflink = mode;
    last = copy_file(req);
    req.reflink = given;
    if (last.err == 0) return last;
    if (!(more && mode == ReflinkMode::kAlways && last.method == Method::kClone && clone_passes_on(last.err))) {
      return last;
    }
    i += span;
  }
  return last;
}

}  // namespace cowcopy
