// import_files: like pnpm's package importer, in one call. The entries are
// sorted by directory, so one walker makes each directory once, relative to
// its parent's descriptor (mkdirat, then opened with O_NOFOLLOW: a
// symlink already in the destination is never followed), and hands the
// files of each directory to the copy threads in chunks. Every directory
// is placed atomically (never partial under its name); the marker entry is
// placed after all others, and only when they all are.
#include "import.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <memory>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <new>
#include <string_view>
#include <unordered_map>

#include "atomic_dest.h"
#include "batch_state.h"
#include "copy_file.h"
#include "fd_budget.h"
#include "ladder.h"
#include "open_path.h"
#include "stat_calls.h"
#include "sys.h"
#include "threads.h"
#include "unique_fd.h"
#include "work_queue.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

namespace cowcopy {

bool valid_rel_path(const std::string& rel) {
  if (rel.empty() || rel[0] == '/' || rel.find('\0') != std::string::npos) return false;
  size_t start = 0;
  for (;;) {
    size_t slash = rel.find('/', start);
    size_t len = (slash == std::string::npos ? rel.size() : slash) - start;
    if (len == 0) return false;  // "a//b" or a trailing slash
    if (len == 1 && rel[start] == '.') return false;
    if (len == 2 && rel[start] == '.' && rel[start + 1] == '.') return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

namespace {

const char* const kSymlinkInWay = "a symbolic link is in the way of a directory (not followed)";
const char* const kFileInWay = "a file is in the way of a directory";
const char* const kMarkerNotPlaced = "marker not placed: another entry failed";
const char* const kTakenReason = "the name was taken during the import (another entry the filesystem folds into it, or another user)";
const char* const kStageExists = "destination exists (stage: true builds a new directory and renames it there)";

// Directories every import in the process holds open: several run at once
// (libuv's pool runs 4 calls together, a package manager imports packages
// in parallel), and the descriptors are the process's.
std::atomic<size_t> g_dirs_held{0};

// The directories the walker holds open (made ahead, queued, or being
// filled), and the chunks handed to the copy threads and not yet placed.
struct DirBudget {
  std::mutex mu;
  std::condition_variable cv;
  size_t live = 0;
  size_t inflight = 0;
  void less(size_t DirBudget::*what) {
    std::lock_guard<std::mutex> lock(mu);
    this->*what -= 1;
    cv.notify_all();
  }
};

// A destination directory, open while anything in it is pending. Made with
// mkdir's mode (0777 less the umask): every file in it appears complete or
// not at all, so nothing needs hiding. Only a staged root is 0700 until it is
// complete, then gets that mode just before the rename.
struct ImportDir {
  ImportDir() = default;
  explicit ImportDir(DirBudget* b) : budget(b) {
    std::lock_guard<std::mutex> lock(b->mu);
    b->live += 1;
    g_dirs_held.fetch_add(1, std::memory_order_relaxed);
  }
  ~ImportDir() {
    if (budget) {
      g_dirs_held.fetch_sub(1, std::memory_order_relaxed);
      budget->less(&DirBudget::live);
    }
  }
  ImportDir(const ImportDir&) = delete;
  ImportDir& operator=(const ImportDir&) = delete;
  DirBudget* budget = nullptr;  // counted there while it exists (not the root)
  std::shared_ptr<ImportDir> parent;
  UniqueFd fd;
  std::string path;  // for errors: dest_root/rel
  uint64_t dev = 0;
  bool created = false;   // made by this call
  // No one else can create or rename a name in it: a staged tree (under a
  // 0700 root), or a directory made here whose mode the umask leaves without
  // group/other write and no default ACL widens.
  bool private_ = false;
  bool acl = false;       // has (inherited) a default ACL

};

struct Chunk {
  std::shared_ptr<ImportDir> dir;
  std::vector<size_t> items;  // indices into the entries
};

constexpr size_t kChunk = 32;
constexpr size_t kQueuedChunks = 64;

size_t last_slash(const std::string& rel) {
  size_t s = rel.rfind('/');
  return s == std::string::npos ? 0 : s;
}

// Directory part of a relPath ("" at the top), compared component by
// component ('/' below every other byte): a parent sorts before its
// children, and each directory's files are contiguous.
int compare_dirs_raw(const char* a, size_t alen, const char* b, size_t blen) {
  size_t n = std::min(alen, blen);
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = a[i] == '/' ? 0 : static_cast<unsigned char>(a[i]);
    unsigned char y = b[i] == '/' ? 0 : static_cast<unsigned char>(b[i]);
    if (x != y) return x < y ? -1 : 1;
  }
  return alen == blen ? 0 : (alen < blen ? -1 : 1);
}

int compare_dirs(const std::string& a, size_t alen, const std::string& b, size_t blen) {
  return compare_dirs_raw(a.data(), alen, b.data(), blen);
}

int compare_dirs(std::string_view a, std::string_view b) {
  return compare_dirs_raw(a.data(), a.size(), b.data(), b.size());
}

std::string join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

// Whether `name` in `dir` is (still) the inode `ours`.
bool still(int dir, const char* name, const struct stat& ours) {
  struct stat now;
  return sys_fstatat(dir, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == ours.st_dev && now.st_ino == ours.st_ino;
}

// Removes a staged tree this call made (its directories are 0700 and ours:
// nobody else put anything in them), never following a symlink. `ours` is
// the staged root as this call made it: its name is in a directory others
// may write, so whatever is at that name now is removed only while it is
// that inode (someone may have renamed the staged tree aside and put
// another user's directory there). Depth first without recursion (a relPath
// may nest thousands of directories: a worker thread's stack must not pay
// per level), one descriptor per level held. False when something could not
// be removed (it stays; nothing loops).
bool remove_tree(int parent, const char* name, const struct stat& ours) {
  struct Level {
    int fd;
    std::string name;  // in the level above (or in `parent`)
  };
  std::vector<Level> stack;
  std::unique_ptr<char[]> buf(new (std::nothrow) char[8192]);
  bool ok = buf != nullptr;
  try {
    if (ok) {
      int fd = retry_eintr([&] { return ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); });
      struct stat top;
      if (fd != -1 && (sys_fstat(fd, &top) == -1 || top.st_dev != ours.st_dev || top.st_ino != ours.st_ino)) {
        ::close(fd);  // not the tree this call made: left alone
        return false;
      }
      if (fd != -1) stack.push_back(Level{fd, name});
    }
    while (ok && !stack.empty()) {
      const int cur = stack.back().fd;
      bool descended = false;
      bool removed = false;
      if (::lseek(cur, 0, SEEK_SET) == -1) ok = false;
      while (ok && !descended) {
        long n = retry_eintr([&] { return ::syscall(SYS_getdents64, cur, buf.get(), 8192); });
        if (n <= 0) break;
        for (long off = 0; off < n && !descended;) {
          auto* d = reinterpret_cast<struct dirent64*>(buf.get() + off);
          off += d->d_reclen;
          const char* child = d->d_name;
          if (child[0] == '.' && (child[1] == 0 || (child[1] == '.' && child[2] == 0))) continue;
          if (retry_eintr([&] { return ::unlinkat(cur, child, 0); }) == 0) {
            removed = true;
          } else if (errno == EISDIR || errno == EPERM) {
            int fd = retry_eintr([&] { return ::openat(cur, child, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); });
            if (fd == -1) {
              ok = false;
              break;
            }
            stack.push_back(Level{fd, child});
            descended = true;
          }
        }
      }
      if (!ok || descended || removed) continue;  // (removed: list again from the start)
      // Empty, or only entries that would not go: this level is done.
      Level done = std::move(stack.back());
      stack.pop_back();
      ::close(done.fd);
      const int above = stack.empty() ? parent : stack.back().fd;
      if (stack.empty() && !still(parent, name, ours)) return false;
      if (retry_eintr([&] { return ::unlinkat(above, done.name.c_str(), AT_REMOVEDIR); }) == -1) ok = false;
      if (stack.empty()) return ok;
    }
  } catch (...) {
    ok = false;
  }
  for (const Level& l : stack) ::close(l.fd);
  if (ok && still(parent, name, ours)) return retry_eintr([&] { return ::unlinkat(parent, name, AT_REMOVEDIR); }) == 0;
  return false;
}

// mkdir -p for the destination root and its ancestors (0777 less the umask,
// as mkdir -p). `created`: the root is new.
int make_root(const std::string& path, bool& created, int depth = 0) {
  created = false;
  if (retry_eintr([&] { return ::mkdir(path.c_str(), 0777); }) == 0) {
    created = true;
    return 0;
  }
  if (errno == EEXIST) return 0;
  if (errno != ENOENT || depth > 4096) return errno;
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;
  size_t slash = path.rfind('/', end - 1);
  if (slash == std::string::npos || slash == 0) return ENOENT;
  bool parent_created;
  if (int err = make_root(path.substr(0, slash), parent_created, depth + 1)) return err;
  return make_root(path, created, depth);
}

class Importer {
 public:
  Importer(BatchState& state, const std::vector<std::pair<std::string, std::string>>& entries,
           const ImportOptions& opts, const std::string& dest_root, int copy_threads, bool dirs_first)
      : state_(state),
        entries_(entries),
        opts_(opts),
        dest_root_(dest_root),
        queue_(kQueuedChunks),
        inline_(copy_threads == 0),
        dirs_first_(dirs_first),
        copy_threads_(copy_threads),
        overwrite_(opts.batch.overwrite),
        walker_req_(request()) {}

  void copy_inline() { inline_ = true; }
  // Staged: the whole tree is under a 0700 root no one else can enter.
  void set_hidden() { hidden_ = true; }
  // The marker is missing from a destination that exists: replace what is
  // there (set before any request is made).
  void force_overwrite() { overwrite_ = true; walker_req_.overwrite = true; }
  // The marker is there: whatever is missing is placed atomically, so a
  // killed re-import never leaves a partial file under a marker that says
  // "complete" (set before any request is made).
  void force_atomic() {
    atomic_ = true;
    walker_req_.atomic = true;
    walker_req_.replace_by_rename = false;
  }
  bool umask_keeps_others_out() const {
    const mode_t um = state_.opts.umask;
    return um <= 0777 && (um & 022) == 022;
  }

  // The copy threads' loop (and the walker's, once the walk is done).
  void work() {
    LocalStats local;
    try {
      CopyRequest req = request();
      Chunk chunk;
      while (queue_.pop(chunk)) {
        place_chunk(chunk, req, local);
        chunk.dir.reset();  // may close the directory
        budget_.less(&DirBudget::inflight);
      }
    } catch (...) {
      state_.fail(exception_errno(), kExceptionReason);
      queue_.abandon();
    }
    state_.merge(local);
  }

  void walk(std::shared_ptr<ImportDir> root, const std::vector<size_t>& order) {
    try {
      walk_all(std::move(root), order);
      flush();
    } catch (...) {
      state_.fail(exception_errno(), kExceptionReason);
    }
    stack_.clear();
    if (state_.should_stop()) queue_.abandon();
    else queue_.close();
  }

  // After every other entry: the marker, atomically, only when all of them
  // are in place.
  void place_marker() {
    std::shared_ptr<ImportDir> dir = std::move(marker_dir_);
    if (!dir || opts_.marker < 0 || state_.should_stop()) return;
    const auto& e = entries_[static_cast<size_t>(opts_.marker)];
    bool failed;
    {
      std::lock_guard<std::mutex> lock(state_.mu);
      failed = !state_.result.errors.empty() || state_.result.fatal != 0;
    }
    if (failed) {
      state_.add_error(e.second, join(dest_root_, e.first), ECANCELED, kMarkerNotPlaced);
      return;
    }
    CopyRequest req = request();
    req.atomic = true;  // complete under its name, or not there
    req.replace_by_rename = false;
    Chunk chunk{dir, {static_cast<size_t>(opts_.marker)}};
    place_chunk(chunk, req, walker_stats_);
  }

  LocalStats& walker_stats() { return walker_stats_; }

  static int exception_errno() {
    try {
      throw;
    } catch (const std::bad_alloc&) {
      return ENOMEM;
    } catch (...) {
      return EIO;
    }
  }
  static constexpr const char* kExceptionReason = "internal error in importFiles (an exception)";

 private:
  // The destination leaf is never followed nor opened when it exists
  // (replaced by rename, or kept); the source is the caller's path.
  // A store file that is a symlink is refused (ELOOP), never followed: whoever
  // can write the store could point it at a file the caller can read and
  // the destination's readers cannot (README, Security: trees other people wrote).
  CopyRequest request() const {
    // Files are written in place under their names (O_EXCL), an existing
    // one replaced through a temporary file and rename. O_TMPFILE for every
    // file was measured 1.4x slower on XFS and 1.24x on btrfs (the unlinked
    // inode list serialises the threads); a killed import's partial file is
    // handled by the marker instead (import_unguarded).
    CopyRequest req = state_.file_request();
    req.src_rules.nofollow = true;
    req.dest_rules.nofollow = true;
    req.overwrite = overwrite_;
    if (atomic_) {
      req.atomic = true;
      req.replace_by_rename = false;
    }
    return req;
  }

  void place_chunk(Chunk& chunk, CopyRequest& req, LocalStats& local) {
    req.dest_dir = chunk.dir->fd.get();
    req.dest_dev = chunk.dir->dev;
    // Only what this call placed is in it: no existence check before each file.
    req.dest_dir_fresh = chunk.dir->created && chunk.dir->private_;
    for (size_t idx : chunk.items) {
      if (state_.should_stop()) return;
      const auto& e = entries_[idx];
      req.src = e.second;
      req.dest.assign(e.first, e.first.find('/') == std::string::npos ? 0 : last_slash(e.first) + 1,
                      std::string::npos);
      CopyResult r = place_file(req);
      if (r.err == 0) {
        state_.file_done(local, r, [&] { return e.second; }, [&] { return join(dest_root_, e.first); });
      } else if (r.err == EEXIST && r.reason == nullptr && !req.overwrite && !req.dest_dir_fresh) {
        local.existing += 1;
      } else if (r.err == EEXIST && r.reason == nullptr && req.dest_dir_fresh) {
        // In a directory this call made, only another entry (a name the
        // filesystem folds into this one) could have taken it: not "existing".
        state_.add_error(e.second, join(dest_root_, e.first), EEXIST, kTakenReason);
      } else if (r.err != ECANCELED) {
        state_.add_error(e.second, join(dest_root_, e.first), r.err, r.reason);
      }
    }
  }

  // Hands every held chunk to the copy threads (blocks while the queue is full).
  bool flush() {
    bool ok = true;
    for (auto& c : pending_) {
      if (!ok || state_.should_stop()) {
        ok = false;
        continue;
      }
      if (!push(std::move(c))) ok = false;
    }
    pending_.clear();
    return ok;
  }

  // One chunk to the copy threads, counted until it is placed.
  bool push(Chunk&& c) {
    {
      std::lock_guard<std::mutex> lock(budget_.mu);
      budget_.inflight += 1;
    }
    if (queue_.push(std::move(c))) return true;
    budget_.less(&DirBudget::inflight);
    return false;
  }

  // Before making one more directory: at the limit, hand over what is made
  // and wait until the copy threads have let half of them go (or hold
  // nothing: what is left open is this walk's own path, or the marker's).
  // The budget is the process's (g_dirs_held, every import's directories);
  // this call waits only for its own copy threads, so it never waits on
  // another call: with its own chunks all placed it goes on.
  bool within_budget() {
    auto all_held = [] { return g_dirs_held.load(std::memory_order_relaxed); };
    {
      std::lock_guard<std::mutex> lock(budget_.mu);
      if (inline_ || (budget_.live < ahead_dirs_ && all_held() < ahead_dirs_)) return true;
    }
    if (!flush()) return false;
    std::unique_lock<std::mutex> lock(budget_.mu);
    // (Woken by each of this call's directories closed and chunks placed;
    // the timeout looks at a stop that abandoned the queued chunks, and at
    // directories the other calls let go.)
    // (system_clock: wait_for's steady clock needs pthread_cond_clockwait,
    // glibc 2.30, newer than the 2.28 the prebuilds target.)
    while (!budget_.cv.wait_until(lock, std::chrono::system_clock::now() + std::chrono::milliseconds(50), [&] {
      return budget_.inflight == 0 || (budget_.live <= ahead_dirs_ / 2 && all_held() < ahead_dirs_);
    })) {
      if (state_.should_stop()) return false;
    }
    return !state_.should_stop();
  }

  bool hand_over(Chunk& chunk) {
    if (chunk.items.empty()) return true;
    if (inline_) {
      place_chunk(chunk, walker_req_, walker_stats_);
      chunk.items.clear();
    } else {
      // dirs_first (btrfs): held back until a batch of directories is made.
      // Each held or queued chunk keeps its directory open: within_budget
      // bounds them by the descriptor limit.
      std::shared_ptr<ImportDir> dir = chunk.dir;
      if (dirs_first_) pending_.push_back(std::move(chunk));
      else if (!push(std::move(chunk))) return false;
      chunk = Chunk{dir, {}};
    }
    return !state_.should_stop();
  }

  void walk_all(std::shared_ptr<ImportDir> root, const std::vector<size_t>& order) {
    stack_.push_back(std::move(root));
    size_t i = 0;
    while (i < order.size() && !state_.should_stop()) {
      const std::string& first = entries_[order[i]].first;
      const size_t dlen = last_slash(first);
      size_t j = i + 1;
      while (j < order.size()) {
        const std::string& other = entries_[order[j]].first;
        if (compare_dirs(first, dlen, other, last_slash(other)) != 0) break;
        ++j;
      }
      const char* reason = nullptr;
      int err = enter(first.substr(0, dlen), reason);
      if (err == ECANCELED && state_.should_stop()) return;
      if (err) {
        for (size_t k = i; k < j; ++k) {
          const auto& e = entries_[order[k]];
          state_.add_error(e.second, join(dest_root_, e.first), err, reason);
        }
        i = j;
        continue;
      }
      Chunk chunk{stack_.back(), {}};
      for (size_t k = i; k < j; ++k) {
        if (static_cast<long>(order[k]) == opts_.marker) {
          marker_dir_ = stack_.back();
          continue;
        }
        chunk.items.push_back(order[k]);
        if (chunk.items.size() == kChunk && !hand_over(chunk)) return;
      }
      if (!hand_over(chunk)) return;
      i = j;
    }
  }

  // Makes stack_ the chain of directories down to `dir` (relative to the
  // root, "" for the root itself), making what is missing.
  int enter(const std::string& dir, const char*& reason) {
    std::vector<std::string> comps;
    for (size_t start = 0; start < dir.size();) {
      size_t slash = dir.find('/', start);
      if (slash == std::string::npos) slash = dir.size();
      comps.push_back(dir.substr(start, slash - start));
      start = slash + 1;
    }
    size_t keep = 0;
    while (keep < comps.size() && keep < names_.size() && names_[keep] == comps[keep]) ++keep;
    stack_.resize(keep + 1);
    names_.resize(keep);
    for (size_t k = keep; k < comps.size(); ++k) {
      if (!within_budget()) return ECANCELED;
      std::shared_ptr<ImportDir> child;
      if (int err = open_child(stack_.back(), comps[k], child, reason)) return err;
      stack_.push_back(std::move(child));
      names_.push_back(comps[k]);
    }
    return 0;
  }

  int open_child(const std::shared_ptr<ImportDir>& parent, const std::string& name,
                 std::shared_ptr<ImportDir>& out, const char*& reason) {
    auto node = std::make_shared<ImportDir>(&budget_);
    node->parent = parent;
    node->path = join(parent->path, name);
    const int pfd = parent->fd.get();
    // Inside a directory no one else can write, nobody could have swapped
    // another one in between mkdirat and openat: no freshness check there.
    const bool inside_ours = parent->private_;
    if (retry_eintr([&] { return ::mkdirat(pfd, name.c_str(), 0777); }) == 0) {
      node->created = true;
    } else if (errno != EEXIST) {
      return errno;
    }
    int fd = retry_eintr([&] { return ::openat(pfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); });
    if (fd == -1) {
      int err = errno;
      if (node->created) remove_dir_if_ours(pfd, name.c_str(), -1);
      // O_DIRECTORY | O_NOFOLLOW on a symlink says ENOTDIR (or ELOOP): which one is in the way.
      struct stat st;
      if ((err == ELOOP || err == ENOTDIR) && sys_fstatat(pfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
        reason = S_ISLNK(st.st_mode) ? kSymlinkInWay : kFileInWay;
        return ENOTDIR;
      }
      return err;
    }
    node->fd = UniqueFd(fd);
    if (node->created && !inside_ours) {
      if (int err = check_fresh_dir(fd, false)) {
        // Not ours (swapped in since mkdirat): nothing goes into it.
        if (err != kReplacedErr) remove_dir_if_ours(pfd, name.c_str(), fd);
        node->created = false;
        if (err == kReplacedErr) reason = kReplacedReason;
        return err;
      }
    }
    if (node->created) {
      node->dev = parent->dev;  // made on its parent's filesystem
      node->acl = parent->created ? parent->acl : has_default_acl(fd);
      node->private_ = hidden_ || (umask_keeps_others_out() && !node->acl);
      walker_stats_.dirs += 1;
    } else {
      struct stat st;
      if (sys_fstat(fd, &st) == -1) return errno;
      node->dev = static_cast<uint64_t>(st.st_dev);  // perhaps a mount point
    }
    out = std::move(node);
    return 0;
  }

  BatchState& state_;
  const std::vector<std::pair<std::string, std::string>>& entries_;
  const ImportOptions& opts_;
  const std::string& dest_root_;
  DirBudget budget_;  // (before everything that holds an ImportDir: destroyed after them)
  WorkQueue<Chunk> queue_;
  bool inline_;
  const bool dirs_first_;
  const int copy_threads_;
  bool overwrite_;
  bool atomic_ = false;
  CopyRequest walker_req_;
  LocalStats walker_stats_;
  std::vector<std::shared_ptr<ImportDir>> stack_;
  std::vector<std::string> names_;
  std::shared_ptr<ImportDir> marker_dir_;
  std::vector<Chunk> pending_;  // made, not yet handed over
  const size_t ahead_dirs_ = inline_ ? 0 : dirs_ahead_budget(copy_threads_);
  bool hidden_ = false;
};

// Whether the marker is a regular file at relPath under root, reached one
// directory at a time without following a symlink. Anything else (missing,
// a symlink on the way, a path too long for one call, an error) is "not
// there": the safe answer, which places every entry again.
bool marker_present(int root, const std::string& rel) {
  int dir = root;
  UniqueFd held;
  size_t start = 0;
  for (size_t slash; (slash = rel.find('/', start)) != std::string::npos; start = slash + 1) {
    const std::string name = rel.substr(start, slash - start);
    int fd = retry_eintr([&] { return ::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); });
    if (fd == -1) return false;
    held = UniqueFd(fd);
    dir = fd;
  }
  struct stat st;
  return sys_fstatat(dir, rel.c_str() + start, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

BatchResult import_unguarded(const std::string& dest_root, const std::vector<std::pair<std::string, std::string>>& entries,
                             const ImportOptions& opts) {
  BatchOptions bopts = opts.batch;
  if (opts.stage) bopts.stop_on_error = true;  // one failure discards it all
  BatchState state(bopts);
  auto fatal = [&](int err, const char* reason = nullptr) {
    state.result.fatal = err;
    state.result.fatal_reason = reason;
    return std::move(state.result);
  };
  for (const auto& e : entries) {
    if (!valid_rel_path(e.first)) return fatal(EINVAL, "invalid relative path in the entries");
  }
  if (opts.marker >= static_cast<long>(entries.size())) return fatal(EINVAL, "marker is not an entry");

  auto root = std::make_shared<ImportDir>();
  root->path = dest_root;
  // stage: the tree is built under a hidden name beside dest_root.
  UniqueFd parent;
  std::string base, staged;
  if (opts.stage) {
    size_t end = dest_root.size();
    while (end > 1 && dest_root[end - 1] == '/') --end;
    size_t slash = dest_root.rfind('/', end - 1);
    std::string parent_path = slash == std::string::npos ? "." : (slash == 0 ? "/" : dest_root.substr(0, slash));
    base = dest_root.substr(slash == std::string::npos ? 0 : slash + 1, end - (slash == std::string::npos ? 0 : slash + 1));
    if (base.empty() || base == "." || base == "..") return fatal(EINVAL, "destination has no name to stage under");
    int pfd = retry_eintr([&] { return ::open(parent_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
    if (pfd == -1) return fatal(errno);
    parent = UniqueFd(pfd);
    struct stat st;
    if (sys_fstatat(pfd, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return fatal(EEXIST, kStageExists);
    if (errno != ENOENT) return fatal(errno);
    for (int attempt = 0;; ++attempt) {
      staged = temp_name(base);
      if (retry_eintr([&] { return ::mkdirat(pfd, staged.c_str(), 0700); }) == 0) break;
      if (errno != EEXIST || attempt == 7) return fatal(errno);
    }
    int fd = retry_eintr([&] { return ::openat(pfd, staged.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); });
    if (fd == -1) {
      int err = errno;
      remove_dir_if_ours(pfd, staged.c_str(), -1);  // only while empty
      return fatal(err);
    }
    root->fd = UniqueFd(fd);
    if (int err = check_fresh_dir(fd)) {
      // Not ours (swapped in since mkdirat): left alone. Unproved: removed while empty.
      if (err != kReplacedErr) remove_dir_if_ours(pfd, staged.c_str(), fd);
      return fatal(err, err == kReplacedErr ? kReplacedReason : nullptr);
    }
    root->created = true;
    root->private_ = true;  // 0700 until the rename: nobody else enters the staged tree
  } else {
    if (int err = make_root(dest_root, root->created)) return fatal(err);
    const int nofollow = root->created ? O_NOFOLLOW : 0;
    int fd = retry_eintr([&] { return ::open(dest_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | nofollow); });
    if (fd == -1) {
      int err = errno;
      return fatal(err, err == ENOTDIR ? "destination is not a directory" : nullptr);
    }
    root->fd = UniqueFd(fd);
    if (int err = root->created ? check_fresh_dir(fd, false) : 0) {
      if (err != kReplacedErr) remove_dir_if_ours(AT_FDCWD, dest_root.c_str(), fd);
      root->created = false;
      return fatal(err, err == kReplacedErr ? kReplacedReason : nullptr);
    }
    if (root->created) {
      root->acl = has_default_acl(fd);
      const mode_t um = bopts.umask;
      root->private_ = um <= 0777 && (um & 022) == 022 && !root->acl;
    }
  }
  struct stat root_st;
  if (sys_fstat(root->fd.get(), &root_st) == -1) {
    int err = errno;
    if (opts.stage) remove_dir_if_ours(parent.get(), staged.c_str(), root->fd.get());  // just made: empty
    else if (root->created) remove_dir_if_ours(AT_FDCWD, dest_root.c_str(), root->fd.get());
    root->created = false;
    return fatal(err);
  }
  root->dev = static_cast<uint64_t>(root_st.st_dev);

  // Grouped by directory, parents first: each distinct directory part is
  // found once (a hash of the views), then only those are sorted, with '/'
  // read as NUL (below every byte a name can hold) so a parent comes before
  // its children. Within a directory the entries keep their given order.
  std::vector<size_t> order;
  {
    std::unordered_map<std::string_view, size_t> index;  // directory -> group
    std::vector<std::string_view> names;                 // per group
    std::vector<size_t> group(entries.size());
    index.reserve(entries.size() / 4 + 16);
    size_t prev = static_cast<size_t>(-1);
    std::string_view prev_dir;
    for (size_t i = 0; i < entries.size(); ++i) {
      const std::string& rel = entries[i].first;
      std::string_view dir(rel.data(), last_slash(rel));
      if (prev != static_cast<size_t>(-1) && dir == prev_dir) {
        group[i] = prev;
        continue;
      }
      auto it = index.emplace(dir, names.size()).first;
      if (it->second == names.size()) names.push_back(dir);
      group[i] = prev = it->second;
      prev_dir = dir;
    }
    std::vector<size_t> dirs(names.size());
    for (size_t g = 0; g < dirs.size(); ++g) dirs[g] = g;
    std::sort(dirs.begin(), dirs.end(), [&](size_t a, size_t b) {
      return compare_dirs(names[a], names[b]) < 0;
    });
    // Counting sort of the entries by their group's rank.
    std::vector<size_t> start(names.size() + 1, 0);
    std::vector<size_t> rank(names.size());
    for (size_t r = 0; r < dirs.size(); ++r) rank[dirs[r]] = r;
    for (size_t i = 0; i < entries.size(); ++i) start[rank[group[i]] + 1] += 1;
    for (size_t r = 0; r < names.size(); ++r) start[r + 1] += start[r];
    order.resize(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) order[start[rank[group[i]]]++] = i;
  }

  // Small imports (a package of a few files) stay on the calling thread:
  // starting threads would cost more than they save.
  // (No fstatfs for the filesystem's default when one thread is all it gets.)
  const size_t most = 1 + entries.size() / (2 * kChunk);
  int n = 1;
  bool dirs_first = false;
  if (most > 1) {
    n = state.threads_for_fd(root->fd.get(), dirs_first);
    // btrfs: directories made while the copy threads create files slow them
    // all down (its tree locks): 830 against 888 ms for a store's 20 958
    // files and 3 586 directories (median of 7, one call). On XFS and ext4
    // the same order was no faster for clones and 4-7 % slower for
    // hardlinks (the copy threads idle while the walker makes directories).
  }
  if (static_cast<size_t>(n) > most) n = static_cast<int>(most);
  Importer imp(state, entries, opts, dest_root, n > 1 ? n : 0, dirs_first);
  if (opts.stage) imp.set_hidden();
  // pnpm's rule: a package directory without its marker is incomplete (a
  // killed import may have left a partial file under its name), so nothing
  // in it is kept as "existing": every entry is placed again.
  // With the marker there, entries already placed are trusted, and what is
  // missing is placed atomically (the marker stays in place meanwhile).
  if (!opts.stage && !root->created && opts.marker >= 0 && !opts.batch.overwrite) {
    if (marker_present(root->fd.get(), entries[static_cast<size_t>(opts.marker)].first)) imp.force_atomic();
    else imp.force_overwrite();
  }
  std::vector<Thread> threads(static_cast<size_t>(n > 1 ? n : 0));
  const int started = start_all(threads, [&] { imp.work(); });
  if (started == 0) imp.copy_inline();
  state.result.threads = started > 0 ? started : 1;
  std::shared_ptr<ImportDir> keep_root = root;  // a staged root's fd, for its mode at the end
  imp.walk(std::move(root), order);
  imp.work();
  for (auto& t : threads) t.join();
  imp.place_marker();
  state.merge(imp.walker_stats());
  if (keep_root->created) state.result.dirs += 1;

  const bool cancelled = opts.batch.cancel && __atomic_load_n(opts.batch.cancel, __ATOMIC_RELAXED) != 0;
  if (cancelled) state.result.fatal = ECANCELED;
  if (opts.stage) {
    int err = state.result.fatal;
    const char* reason = state.result.fatal_reason;
    if (err == 0 && !state.result.errors.empty()) {
      err = state.result.errors.front().err;
      reason = state.result.errors.front().reason;
    }
    // Only a complete staged tree gets mkdir's mode, just before it is
    // renamed into place: a failed one stays 0700 while it is removed, so
    // nobody else can enter it and plant something that would stop that.
    if (err == 0) {
      const mode_t um = bopts.umask <= 0777 ? bopts.umask : 022;
      if (retry_eintr([&] { return ::fchmod(keep_root->fd.get(), 0777 & ~um); }) == -1) err = errno;
    }
    if (err == 0) {
      auto noreplace = [&] {
        return ::syscall(SYS_renameat2, parent.get(), staged.c_str(), parent.get(), base.c_str(), RENAME_NOREPLACE);
      };
      if (retry_eintr(noreplace) == -1) {
        err = errno;
        reason = err == EEXIST || err == ENOTEMPTY ? kStageExists : nullptr;
        if (err == ENOTEMPTY) err = EEXIST;
      }
    }
    keep_root.reset();
    if (err != 0) {
      remove_tree(parent.get(), staged.c_str(), root_st);
      if (state.result.fatal == 0 && !state.result.errors.empty() && err == state.result.errors.front().err) {
        // The first failed file is the reason: its paths, not the root's.
        return std::move(state.result);
      }
      state.result.fatal = err;
      state.result.fatal_reason = reason;
    }
  }
  return std::move(state.result);
}

}  // namespace

BatchResult import_files(const std::string& dest_root, const std::vector<std::pair<std::string, std::string>>& entries,
                         const ImportOptions& opts) {
  try {
    return import_unguarded(dest_root, entries, opts);
  } catch (...) {
    BatchResult r;
    r.fatal = Importer::exception_errno();
    r.fatal_reason = Importer::kExceptionReason;
    return r;
  }
}

}  // namespace cowcopy
