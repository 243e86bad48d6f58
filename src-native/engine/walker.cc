#include "walker.h"

#include <fcntl.h>

#include <cerrno>

#include "ladder.h"
#include "open_path.h"
#include "stat_calls.h"
#include "sys.h"
#include "threads.h"

namespace cowcopy {

const char* const Walker::kExceptionReason = "internal error in the tree walk (an exception)";

DirNode::~DirNode() {
  if (!walker) return;
  if (dst.valid() && finish_pending) {
    try {
      if (int err = walker->finish(*this)) walker->finish_failed(*this, err);
    } catch (...) {
      // No memory to report it: the directory is left as it is.
    }
  }
  walker->closed(*this);
}

signed char DirNode::dest_overlay() {
  signed char v = overlay.load(std::memory_order_relaxed);
  if (v >= 0) return v;
  // Up while the directory was made in its parent (so is on its
  // filesystem): the first that knows answers; else fstatfs, and every one
  // on the way learns it. (`created` and `parent` do not change once the
  // node is handed over; dst_dev may, on the walker thread.)
  DirNode* top = this;
  while (top->parent && top->created) {
    top = top->parent.get();
    v = top->overlay.load(std::memory_order_relaxed);
    if (v >= 0) break;
  }
  if (v < 0) v = on_overlayfs(dst.get()) ? 1 : 0;
  for (DirNode* n = this; n; n = n == top ? nullptr : n->parent.get()) n->overlay.store(v, std::memory_order_relaxed);
  return v;
}

std::string DirNode::rel() const {
  size_t len = 0;
  for (const DirNode* n = this; n && n->parent; n = n->parent.get()) len += n->name.size() + 1;
  std::string out(len ? len - 1 : 0, '/');
  size_t end = out.size();
  for (const DirNode* n = this; n && n->parent; n = n->parent.get()) {
    end -= n->name.size();
    out.replace(end, n->name.size(), n->name);
    if (end > 0) end -= 1;
  }
  return out;
}

Walker::Walker(BatchState& state, DescriptorShare& share, int per_dir)
    : state_(state), share_(share), per_dir_(per_dir), queue_(64) {}

Walker::~Walker() = default;

void Walker::closed(DirNode& node) {
  node.src.reset();
  node.dst.reset();
  if (node.fds) share_.give(static_cast<size_t>(node.fds));
  node.fds = 0;
}

void Walker::opened(DirNode& node) { node.fds = per_dir_; }

void Walker::run(std::shared_ptr<DirNode> root, int copy_threads, bool dirs_first) {
  walker_req_ = request();
  // Whoever places files holds a source, a destination and a temporary file
  // at most (and a directory's, for a replaced name): 4 descriptors. The
  // first copier's (a copy thread, or the walker itself) are the floor's;
  // more copy threads only while the process's share has room.
  share_.take(4);
  int n = 0;
  if (copy_threads > 1) {
    n = 1;
    while (n < copy_threads && share_.try_take_extra(4)) ++n;
    if (n == 1) n = 0;  // one copier: the walker itself
  }
  std::vector<Thread> threads(static_cast<size_t>(n));
  const int started = start_all(threads, [this] { work(); });
  const int extra = started > 0 ? started - 1 : 0;
  if (n > 1 && n - 1 > extra) share_.give_extra(static_cast<size_t>(4 * (n - 1 - extra)));
  inline_ = started == 0;
  threads_ = started > 0 ? started : 1;
  // btrfs: directories made while the copy threads create files slow every
  // thread down (its tree locks), so up to 256 directories are made before
  // their files are handed over. Measured on the .pnpm tree of
  // bench/store-project (21 000 files, 2 copy threads, median of 9): 908
  // against 971 ms. XFS and ext4 stay streamed: the copy threads would idle.
  ahead_ = !inline_ && dirs_first ? 256 : 0;
  path_.push_back(std::move(root));
  try {
    walk();
    flush();
  } catch (...) {
    state_.fail(current_exception_errno(), kExceptionReason);
  }
  held_.clear();
  if (state_.should_stop()) queue_.abandon();
  else queue_.close();
  // The walk is done: the walker helps drain the queue when its own
  // copies fit (with no copy thread the floor's are its own).
  const bool help = inline_ || share_.try_take_extra(4);
  if (help) work();
  for (auto& t : threads) t.join();
  if (help && !inline_) share_.give_extra(4);
  if (extra > 0) share_.give_extra(static_cast<size_t>(4 * extra));
  share_.give(4);
  // Only the path is left open: the directories on it that were closed are
  // opened again on the way up, and every one is finished.
  try {
    climb_to(0);
  } catch (...) {
    state_.fail(current_exception_errno(), kExceptionReason);
  }
  path_.clear();
  state_.merge(walker_stats_);
}

// The copy threads' loop (and the walker's, once the walk is done). An
// exception (no memory for a path) ends the whole call: the queue is
// dropped so the walker never waits on it.
void Walker::work() {
  LocalStats local;
  try {
    CopyRequest req = request();
    Chunk chunk;
    while (queue_.pop(chunk)) {
      place_chunk(chunk, req, local);
      chunk.dir->pins.fetch_sub(1, std::memory_order_acq_rel);
      chunk.dir.reset();  // may finish the directory
      in_flight_.fetch_sub(1, std::memory_order_acq_rel);
      share_.give(0);  // wakes a walker waiting for room
    }
  } catch (...) {
    state_.fail(current_exception_errno(), kExceptionReason);
    queue_.abandon();
  }
  state_.merge(local);
}

bool Walker::hand_over(Chunk& chunk) {
  if (chunk.items.empty()) return true;
  std::shared_ptr<DirNode> dir = chunk.dir;
  if (inline_) {
    keep_within_room();
    place_chunk(chunk, walker_req_, walker_stats_);
    chunk.items.clear();
    return !state_.should_stop();
  }
  dir->pins.fetch_add(1, std::memory_order_acq_rel);
  if (ahead_ > 0) {
    if (held_.empty() || held_.back().dir != dir) held_dirs_ += 1;
    held_.push_back(std::move(chunk));
    if (held_dirs_ >= ahead_ && !flush()) return false;
  } else {
    in_flight_.fetch_add(1, std::memory_order_acq_rel);
    if (!queue_.push(std::move(chunk))) {
      in_flight_.fetch_sub(1, std::memory_order_acq_rel);
      dir->pins.fetch_sub(1, std::memory_order_acq_rel);
      return false;
    }
  }
  chunk = Chunk{dir, {}};
  return !state_.should_stop();
}

bool Walker::flush() {
  bool ok = true;
  for (Chunk& c : held_) {
    if (ok && !state_.should_stop()) {
      std::shared_ptr<DirNode> dir = c.dir;
      in_flight_.fetch_add(1, std::memory_order_acq_rel);
      if (queue_.push(std::move(c))) continue;
      in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    }
    ok = false;
    c.dir->pins.fetch_sub(1, std::memory_order_acq_rel);
  }
  held_.clear();
  held_dirs_ = 0;
  return ok;
}

// Its identity first, for reopening it proved (importFiles does not fstat
// the directories it makes; this only runs short of descriptors, or for a
// directory kept for later). False, and still open, when fstat fails.
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

bool Walker::room_for_dir() {
  const size_t n = static_cast<size_t>(per_dir_);
  for (;;) {
    if (share_.try_take(n)) return true;
    if (!held_.empty()) {
      if (!flush()) return false;
      continue;
    }
    if (evict_one()) continue;
    if (in_flight_.load(std::memory_order_acquire) == 0) {
      // Nothing of this call's will come back: what it holds is its path's
      // end and the root, within its floor unless another call's files
      // took the rest. One directory more cannot wait.
      share_.take(n);
      return true;
    }
    if (state_.should_stop()) return false;
    share_.wait_for_change(20);
  }
}

void Walker::keep_within_room() {
  while (share_.beyond_room() && evict_one()) {
  }
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

int Walker::reopen_kept(const std::shared_ptr<DirNode>& node) {
  if (node->open()) return 0;
  path_.clear();
  for (std::shared_ptr<DirNode> n = node; n; n = n->parent) path_.insert(path_.begin(), n);
  const int err = reopen(path_.size() - 1);
  path_.clear();
  return err;
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
    std::shared_ptr<DirNode> left = std::move(path_.back());
    path_.pop_back();
    if (closed_upto_ > path_.size() - 1) closed_upto_ = path_.size() - 1;
    // Off the path but still held (importFiles' marker directory, and
    // those above it): closed now, out of eviction's reach otherwise;
    // reopen_kept opens it again when it is wanted.
    if (left.use_count() > 1 && left->open() && !left->finish_pending &&
        left->pins.load(std::memory_order_acquire) == 0) {
      close_noting_identity(*left);
    }
  }
  if (path_.back()->lost) return result ? result : kReplacedErr;
  return 0;
}

}  // namespace cowcopy
