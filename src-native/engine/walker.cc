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
  // more copiers only while the process's share has room. The walker is a
  // copier too: when the queue is full it places the oldest chunk itself
  // (push), so `copy_threads` copiers are one thread fewer beside it, and
  // no more threads than copiers ever run. A third thread beside two
  // copiers cost btrfs 10-15 % in lock contention and XFS the idle time of
  // a walker waiting on a full queue (importFiles of bench/store.js's 21 000
  // files against the checked C loop, interleaved runs: btrfs 1.15-1.18x,
  // then 1.04-1.05x; XFS 1.10x, then 0.94x; docs/benchmarks.md).
  share_.take(4);
  int n = 0;
  if (copy_threads > 1) {
    walker_copies_ = share_.try_take_extra(4);
    const int want = walker_copies_ ? copy_threads - 1 : copy_threads;
    n = 1;
    while (n < want && share_.try_take_extra(4)) ++n;
    if (n == 1 && !walker_copies_) n = 0;  // one copier: the walker itself
  }
  std::vector<Thread> threads(static_cast<size_t>(n));
  const int started = start_all(threads, [this] { work(); });
  const int extra = started > 0 ? started - 1 : 0;
  if (n > 1 && n - 1 > extra) share_.give_extra(static_cast<size_t>(4 * (n - 1 - extra)));
  inline_ = started == 0;
  if (inline_ && walker_copies_) {
    share_.give_extra(4);
    walker_copies_ = false;
  }
  threads_ = inline_ ? 1 : started + (walker_copies_ ? 1 : 0);
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
  const bool help = inline_ || walker_copies_ || share_.try_take_extra(4);
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
    while (queue_.pop(chunk)) place_queued(chunk, req, local);
  } catch (...) {
    state_.fail(current_exception_errno(), kExceptionReason);
    queue_.abandon();
  }
  state_.merge(local);
}

void Walker::place_queued(Chunk& chunk, CopyRequest& req, LocalStats& local) {
  place_chunk(chunk, req, local);
  chunk.dir->pins.fetch_sub(1, std::memory_order_acq_rel);
  chunk.dir.reset();  // may finish the directory
  in_flight_.fetch_sub(1, std::memory_order_acq_rel);
  share_.give(0);  // wakes a walker waiting for room
}

bool Walker::push(Chunk& chunk) {
  if (walker_copies_) {
    for (;;) {
      if (queue_.try_push(chunk)) return true;
      Chunk oldest;
      if (!queue_.try_pop(oldest)) break;
      place_queued(oldest, walker_req_, walker_stats_);
      if (state_.should_stop()) return false;
    }
  }
  return queue_.push(std::move(chunk));
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
    if (!push(chunk)) {
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
    // Its own reference: a push refused by a dropped queue has moved c away.
    const std::shared_ptr<DirNode> dir = c.dir;
    if (ok && !state_.should_stop()) {
      in_flight_.fetch_add(1, std::memory_order_acq_rel);
      if (push(c)) continue;
      in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    }
    ok = false;
    dir->pins.fetch_sub(1, std::memory_order_acq_rel);
  }
  held_.clear();
  held_dirs_ = 0;
  return ok;
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

void Walker::hold_extra(size_t n) { share_.take(n); }  // within the floor: it cannot wait

void Walker::release_extra(size_t n) { share_.give(n); }

void Walker::keep_within_room() {
  while (share_.beyond_room() && evict_one()) {
  }
}

}  // namespace cowcopy
