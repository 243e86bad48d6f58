#include "ladder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
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

bool clone_not_available(int err) {
  switch (err) {
    case EOPNOTSUPP:
    case EXDEV:
    case EINVAL:
    case ENOTTY:
    case EPERM:   // unprivileged containers refuse the ioctl
    case EACCES:
    case ENOSYS:
      return true;
    default:
      return false;
  }
}

namespace {

// A clone rung that failed this way hands the file to the next rung.
// Remembered or not is clone_not_available's business.
bool clone_passes_on(int err) {
  return clone_not_available(err) || err == EAGAIN || err == ENOMEM || err == EBADF || err == ETXTBSY;
}

const char* const kNotRegularLinkReason = "source is not a regular file (not linked)";

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

// The hardlink rung. `next`: this rung cannot place this file, the next
// rung may (the result's err says why, for when no rung is left).
//
// linkat() by name: following a symlink at the source leaf only when the
// request allows it (a caller's path; never in a tree walk). What was linked
// is then looked at under its new name, which is ours: it must be a regular
// file without setuid/setgid (another name for such a file would hand its
// privilege to wherever the destination is), and, from a listing, the
// listed inode. Anything else is unlinked again.
CopyResult hardlink(const CopyRequest& req, bool& next) {
  CopyResult r;
  r.method = Method::kHardlink;
  next = false;
  if (req.control.cancelled()) {
    r.err = ECANCELED;
    return r;
  }
  DestDir dir;
  if ((r.err = dir.open(req.dest_dir, req.dest))) return r;
  if (req.remember && link_memory::any()) {
    uint64_t s = source_dev(req);
    if (s != 0 && link_memory::dropped(Rung::kHardlink, s, dest_dev(req, dir))) {
      next = true;
      r.err = EXDEV;
      return r;
    }
  }
  const int follow = req.src_rules.nofollow ? 0 : AT_SYMLINK_FOLLOW;
  auto link_to = [&](const char* name) {
    return retry_eintr([&] { return ::linkat(req.src_dir, req.src.c_str(), dir.fd(), name, follow); });
  };
  std::string temp;  // a replacement is linked beside the name, then renamed over it
  int rc = link_to(dir.name());
  if (rc == -1 && errno == EEXIST) {
    struct stat there;
    if (sys_fstatat(dir.fd(), dir.name(), &there, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(there.st_mode)) {
      r.err = EISDIR;
      return r;
    }
    if (!req.overwrite) {
      r.err = EEXIST;
      return r;
    }
    for (int attempt = 0; attempt < 8; ++attempt) {
      temp = temp_name(dir.base());
      if ((rc = link_to(temp.c_str())) == 0 || errno != EEXIST) break;
    }
    if (rc == -1) temp.clear();
  }
  if (rc == -1) {
    r.err = errno;
    if (r.err == EMLINK) {
      next = true;  // this file has all the links it may have: this file only
    } else if (r.err == EXDEV || r.err == EPERM) {
      // EPERM is also linkat's answer for a directory, which is no reason
      // to give up links between these devices: the next rung reports it.
      struct stat st;
      uint64_t s = source_dev(req, &st);
      if (req.remember && s != 0 && S_ISREG(st.st_mode)) {
        if (uint64_t d = dest_dev(req, dir)) link_memory::drop(Rung::kHardlink, s, d);
      }
      next = true;
    }
    return r;
  }
  const char* placed = temp.empty() ? dir.name() : temp.c_str();
  struct stat st;
  if (sys_fstatat(dir.fd(), placed, &st, AT_SYMLINK_NOFOLLOW) == -1) {
    r.err = errno;
    if (!temp.empty()) retry_eintr([&] { return ::unlinkat(dir.fd(), placed, 0); });
    return r;
  }
  const bool listed_other = req.src_rules.expect_ino != 0 && static_cast<uint64_t>(st.st_ino) != req.src_rules.expect_ino;
  if (!S_ISREG(st.st_mode) || (st.st_mode & 06000) != 0 || listed_other) {
    remove_if_same(dir.fd(), placed, st);
    if (listed_other) {
      r.err = kReplacedErr;
      r.reason = kReplacedReason;
    } else {
      // A FIFO or device: the copy rungs refuse it with their own words; a
      // setuid file is copied (and loses the bit, as copyFile's rule says).
      r.err = EINVAL;
      r.reason = kNotRegularLinkReason;
      next = true;
    }
    return r;
  }
  if (!temp.empty()) {
    struct stat now;
    if (sys_fstatat(dir.fd(), dir.name(), &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == st.st_dev &&
        now.st_ino == st.st_ino) {
      // Already a name of the source: rename() would keep both names.
      retry_eintr([&] { return ::unlinkat(dir.fd(), placed, 0); });
    } else if (retry_eintr([&] { return ::renameat(dir.fd(), placed, dir.fd(), dir.name()); }) == -1) {
      r.err = errno;
      remove_if_same(dir.fd(), placed, st);
      return r;
    }
  }
  r.bytes = static_cast<uint64_t>(st.st_size);
  r.src_dev = static_cast<uint64_t>(st.st_dev);
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
    if (req.remember && clone_not_available(last.err) && last.src_dev != 0) {
      DestDir dir;
      if (dir.open(req.dest_dir, req.dest) == 0) {
        if (uint64_t d = dest_dev(req, dir)) link_memory::drop(Rung::kClone, last.src_dev, d);
      }
    }
    i += span;
  }
  return last;
}

}  // namespace cowcopy
