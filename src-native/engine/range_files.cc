// The range calls on RangeFiles: paths opened through open_path, caller
// descriptors held as duplicates; what was opened or held is closed, and a
// destination the call created is removed when the call fails.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "exceptions.h"
#include "open_path.h"
#include "range.h"
#include "range_checks.h"
#include "stat_calls.h"
#include "sys.h"
#include "unique_fd.h"

namespace cowcopy {

using namespace range_detail;

void hold_fd(RangeFile& f, int fd) {
  f.by_fd = true;
  int raw = retry_eintr([&] { return ::fcntl(fd, F_DUPFD_CLOEXEC, 0); });
  if (raw == -1) {
    f.hold_err = errno;
    return;
  }
  f.held = UniqueFd(raw);
}

namespace {

// One side of a range call, open.
struct Side {
  UniqueFd fd;
  bool created = false;  // the call made this file: removed if the call fails
};

RangeError take_held(RangeFile& f, Side& side, const char* sc) {
  if (f.hold_err) return fail(f.hold_err, sc);
  side.fd = std::move(f.held);
  return {};
}

RangeError fail_open(int err, const char* sc, const char* reason) {
  return fail(err, sc, reason ? reason : "");
}

RangeError open_source(RangeFile& f, Side& side, const char* sc) {
  if (f.by_fd) return take_held(f, side, sc);
  struct stat st;
  const char* reason = nullptr;
  if (int err = open_regular(AT_FDCWD, f.path.c_str(), O_RDONLY, OpenRules{}, side.fd, st, reason)) {
    return fail_open(err, sc, reason);
  }
  // O_NONBLOCK stays (see copy_file.cc open_source): EAGAIN, never a hang.
  return {};
}

// A destination path is created (0666 less the umask, as open(2) with O_CREAT
// did) or the regular file there is opened; never a FIFO, never through a
// dangling symlink.
RangeError open_destination(RangeFile& f, Side& side, const char* sc) {
  if (f.by_fd) return take_held(f, side, sc);
  struct stat st;
  const char* reason = nullptr;
  if (int err = open_dest(AT_FDCWD, f.path.c_str(), O_WRONLY, 0666, true, OpenRules{}, side.fd, st, side.created,
                          reason)) {
    return fail_open(err, sc, reason);
  }
  return {};
}

// The name, when it still names the file `was` describes: a close() that
// failed left no descriptor for remove_if_ours to compare with.
void remove_if_same(const std::string& path, const struct stat& was) {
  struct stat now;
  if (retry_eintr([&] { return sys_fstatat(AT_FDCWD, path.c_str(), &now, AT_SYMLINK_NOFOLLOW); }) == 0 &&
      now.st_dev == was.st_dev && now.st_ino == was.st_ino) {
    retry_eintr([&] { return ::unlinkat(AT_FDCWD, path.c_str(), 0); });
  }
}

// Closes the destination; close() can be the first to report a failed
// write-back (NFS, quotas). On failure a destination the call created goes.
RangeError close_destination(RangeFile& f, Side& d, RangeError e) {
  if (e.err == 0 && d.created) {
    struct stat st;
    if (fstat_retry(d.fd.get(), st) == -1) {
      e = fail(errno, "fstat");
    } else if (int err = d.fd.close_checked()) {
      remove_if_same(f.path, st);
      return fail(err, "close");
    }
  } else if (e.err == 0) {
    if (int err = d.fd.close_checked()) return fail(err, "close");
  }
  if (e.err != 0 && d.created && d.fd.valid()) remove_if_ours(AT_FDCWD, f.path.c_str(), d.fd.get());
  d.fd.reset();
  return e;
}

// An exception is an error, never success: std::bad_alloc is ENOMEM.
template <class F>
RangeError guarded(const char* sc, F f) noexcept {
  try {
    return f();
  } catch (...) {
    return RangeError{current_exception_errno(), sc, {}};
  }
}

template <class Op>
RangeError with_pair(RangeFile& src, RangeFile& dst, const char* sc, Op op) noexcept {
  Side s, d;
  RangeError e = guarded(sc, [&] {
    if (RangeError err = open_source(src, s, sc); err.err) return err;
    if (RangeError err = open_destination(dst, d, sc); err.err) return err;
    return op(s.fd.get(), d.fd.get());
  });
  src.held.reset();  // a held descriptor not taken because the call failed first
  dst.held.reset();
  s.fd.reset();
  if (!d.fd.valid()) return e;
  return close_destination(dst, d, std::move(e));
}

// A dedupe target is not a source: say so when it is refused.
const char* as_target(const char* reason) {
  static const mode_t kinds[] = {S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, S_IFLNK, 0};
  for (mode_t m : kinds) {
    if (reason == not_regular_reason(m, true)) return not_regular_reason(m, false);
  }
  return reason;
}

}  // namespace

RangeError clone_files(RangeFile& src, uint64_t src_off, RangeFile& dst, uint64_t dst_off, uint64_t len) {
  return with_pair(src, dst, "ioctl_ficlonerange",
                   [&](int s, int d) { return clone_range(s, src_off, d, dst_off, len); });
}

RangeError copy_files(RangeFile& src, uint64_t src_off, RangeFile& dst, uint64_t dst_off, uint64_t len,
                      uint64_t& copied) {
  copied = 0;
  RangeError e = with_pair(src, dst, "copy_file_range",
                           [&](int s, int d) { return copy_range(s, src_off, d, dst_off, len, copied); });
  if (e.err == EAGAIN && e.reason.empty()) e.reason = kWouldBlockReason;
  if (e.err) copied = 0;
  return e;
}

RangeError dedupe_files(RangeFile& src, uint64_t off, uint64_t len, std::vector<RangeFile>& files,
                        std::vector<DedupeTarget>& targets) {
  const char* sc = "ioctl_fideduperange";
  RangeError e = guarded(sc, [&] {
    Side s;
    if (RangeError err = open_source(src, s, sc); err.err) return err;
    std::vector<Side> opened(files.size());
    std::vector<DedupeTarget> usable;
    std::vector<size_t> index;
    usable.reserve(files.size());
    index.reserve(files.size());
    for (size_t i = 0; i < files.size() && i < targets.size(); ++i) {
      RangeFile& f = files[i];
      if (f.by_fd) {
        if (RangeError err = take_held(f, opened[i], sc); err.err) {
          targets[i].err = err.err;
          continue;
        }
      } else {
        struct stat st;
        const char* reason = nullptr;
        if (int err = open_regular(AT_FDCWD, f.path.c_str(), O_RDONLY, OpenRules{}, opened[i].fd, st, reason)) {
          targets[i].err = err;
          targets[i].reason = as_target(reason);
          continue;
        }
      }
      targets[i].fd = opened[i].fd.get();
      usable.push_back(targets[i]);
      index.push_back(i);
    }
    RangeError err = dedupe_range(s.fd.get(), off, len, usable);
    for (size_t k = 0; k < usable.size(); ++k) targets[index[k]] = usable[k];
    return err;
  });
  src.held.reset();
  for (RangeFile& f : files) f.held.reset();
  return e;
}

}  // namespace cowcopy
