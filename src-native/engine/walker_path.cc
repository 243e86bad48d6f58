// The walker's path: directories above the current one closed when the
// descriptor budget is spent, and opened again (proved by identity) on the
// way back up.
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "stat_calls.h"
#include "sys.h"
#include "walker.h"

namespace cowcopy {

// Its identity first, for reopening it proved (importFiles does not fstat
// the directories it makes; this only runs short of descriptors). False,
// and still open, when fstat fails.
bool Walker::close_noting_identity(DirNode& n) {
  struct stat st;
  if (sys_fstat(n.dst.get(), &st) == -1) return false;
  n.dst_dev = static_cast<uint64_t>(st.st_dev);
  n.dst_ino = static_cast<uint64_t>(st.st_ino);
  closed(n);
  return true;
}

// The directory nearest the root (not the root, not the current one) that
// is open and has no files in flight is closed.
bool Walker::evict_one() {
  if (closed_upto_ < 1) closed_upto_ = 1;
  const size_t end = path_.size() >= 1 ? path_.size() - 1 : 0;
  bool all_closed_so_far = true;
  for (size_t i = closed_upto_; i < end; ++i) {
    DirNode& n = *path_[i];
    if (!n.open()) {
      if (all_closed_so_far) closed_upto_ = i + 1;
      continue;
    }
    if (n.pins.load(std::memory_order_acquire) != 0) {
      all_closed_so_far = false;
      continue;
    }
    if (!close_noting_identity(n)) {
      all_closed_so_far = false;
      continue;
    }
    if (all_closed_so_far) closed_upto_ = i + 1;
    return true;
  }
  return false;
}

// Counts one directory's descriptors for a reopening that cannot be put
// off: on the way back up (or out, after a stop) every directory must be
// finished, so the walker does not wait for room that a stop would deny.
void Walker::take_for_reopen() {
  if (state_.should_stop() || !room_for_dir()) share_.take(static_cast<size_t>(per_dir_));
}

namespace {

// `out` = openat(dir, name) proved to be (dev, ino).
int open_proved(int dir, const char* name, int flags, uint64_t dev, uint64_t ino, UniqueFd& out) {
  int raw = retry_eintr([&] { return ::openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags); });
  if (raw == -1) return errno;
  out = UniqueFd(raw);
  struct stat st;
  if (sys_fstat(raw, &st) == -1) return errno;
  if (static_cast<uint64_t>(st.st_dev) != dev || static_cast<uint64_t>(st.st_ino) != ino) return kReplacedErr;
  return 0;
}

}  // namespace

// One side of path_[i] (its source, or its destination) opened again:
// through ".." from path_[i + 1]'s same side when that is open (the usual
// way back up; not from a directory reached through a followed link, whose
// ".." is elsewhere), else down by name from the nearest directory above
// whose side is open (the root's always is), each level proved by identity.
int Walker::reopen_side(size_t i, bool source, UniqueFd& out) {
  auto fd_of = [source](const DirNode& n) { return source ? n.src.get() : n.dst.get(); };
  auto dev_of = [source](const DirNode& n) { return source ? static_cast<uint64_t>(n.st.st_dev) : n.dst_dev; };
  auto ino_of = [source](const DirNode& n) { return source ? static_cast<uint64_t>(n.st.st_ino) : n.dst_ino; };
  const DirNode& node = *path_[i];
  if (i + 1 < path_.size() && fd_of(*path_[i + 1]) >= 0 && !(source && path_[i + 1]->followed) &&
      open_proved(fd_of(*path_[i + 1]), "..", 0, dev_of(node), ino_of(node), out) == 0) {
    return 0;
  }
  size_t a = i;
  while (a > 0 && fd_of(*path_[a - 1]) < 0) --a;
  if (a == 0) return EBADF;
  UniqueFd at;
  int fd = fd_of(*path_[a - 1]);
  for (size_t k = a; k <= i; ++k) {
    const DirNode& n = *path_[k];
    const int follow = source && n.followed ? 0 : O_NOFOLLOW;
    UniqueFd next;
    if (int err = open_proved(fd, n.name.c_str(), follow, dev_of(n), ino_of(n), next)) return err;
    at = std::move(next);
    fd = at.get();
  }
  out = std::move(at);
  return 0;
}

// Opens path_[i] again. Without its destination it is lost (nothing more
// goes in, its metadata is not set); without only its source (moved by
// whoever owns it), it is finished from what was seen at its first open,
// and nothing more is copied into it.
int Walker::reopen(size_t i) {
  DirNode& node = *path_[i];
  take_for_reopen();
  UniqueFd src, dst;
  int err = reopen_side(i, false, dst);
  const int src_err = err == 0 && per_dir_ == 2 ? reopen_side(i, true, src) : 0;
  if (err) {
    share_.give(static_cast<size_t>(per_dir_));
    return err;
  }
  node.src = std::move(src);
  node.dst = std::move(dst);
  opened(node);
  if (src_err) finish_failed(node, src_err);
  return 0;
}

int Walker::climb_to(size_t depth) {
  int result = 0;
  while (path_.size() > depth + 1) {
    const size_t i = path_.size() - 2;
    DirNode& parent = *path_[i];
    if (!parent.open() && !parent.lost) {
      if (int err = reopen(i)) {
        // Moved or replaced since: nothing more goes into it, its metadata
        // is not set (reported), and the walk goes on above it.
        parent.lost = true;
        parent.finish_pending = false;
        finish_failed(parent, err);
        result = err;
      }
    }
    path_.pop_back();
    if (closed_upto_ > path_.size() - 1) closed_upto_ = path_.size() - 1;
  }
  if (path_.back()->lost) return result ? result : kReplacedErr;
  return 0;
}

}  // namespace cowcopy
