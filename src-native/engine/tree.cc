// copy_tree: like `cp -r --reflink=auto`, relative to directory descriptors
// all the way down (openat, mkdirat, getdents64, symlinkat), never joining
// and re-resolving paths. One walker thread lists directories, makes them
// and symlinks, and queues files for the copy threads; with one copy thread
// the walker copies them itself.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <unordered_set>

#include "atomic_dest.h"
#include "batch.h"
#include "batch_state.h"
#include "copy_file.h"
#include "fd_budget.h"
#include "ladder.h"
#include "open_path.h"
#include "preserve.h"
#include "stat_calls.h"
#include "sys.h"
#include "threads.h"
#include "unique_fd.h"
#include "work_queue.h"

namespace cowcopy {
namespace {

// Holds a directory pair open while anything inside is pending. The last
// reference (its files and subdirectories are done) gives the destination
// its final metadata: a directory we created stays 0700 until then, so
// nobody else reaches a file in it before its data is complete.
struct DirNode {
  BatchState* state = nullptr;
  std::shared_ptr<DirNode> parent;
  UniqueFd src;
  UniqueFd dst;
  std::string name;  // in the parent ("" for the root)
  std::string src_path;
  std::string dest_path;
  std::string rel;  // relative to the source root ("" for the root)
  struct stat st {};
  uint64_t dst_dev = 0;  // the destination directory's st_dev (note_dest_dir)
  bool dst_acl = false;  // a directory we made that inherited a default ACL
  bool created = false;
  // The walker's alone: the batch of held chunks (Tree::pending_) that
  // counted this directory as held open (0: none yet).
  uint64_t held_in = 0;

  ~DirNode() {
    if (!dst.valid() || !state) return;
    try {
      if (int err = finish()) state->add_error(src_path, dest_path, err, nullptr);
    } catch (...) {
      // add_error could not allocate: the directory is left as it is.
    }
  }

  // Mode, owner and extended attributes (ACLs among them) decide who may
  // enter a directory: only one this call made takes the source's. One that
  // was there keeps them, destDir included; it gets the timestamps, as with
  // cp -p.
  int finish() {
    const Preserve& p = state->opts.preserve;
    if (created) return finish_metadata(src.get(), dst.get(), st, p, true);
    if (!p.timestamps) return 0;
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    return retry_eintr([&] { return ::futimens(dst.get(), times); }) == -1 ? errno : 0;
  }

  // The listing failed: a directory we made is empty, so it goes.
  void discard() {
    if (created) {
      int dir = parent ? parent->dst.get() : AT_FDCWD;
      remove_dir_if_ours(dir, parent ? name.c_str() : dest_path.c_str(), dst.get());
    }
    dst.reset();  // nothing to finish
  }
};

struct Entry {
  std::string name;
  unsigned char type;
  uint64_t ino;  // d_ino: what an open must find (README, Security: trees other people wrote)
};

// Files of one directory, handed over together: one queue operation (and at
// most one thread wake-up) per chunk rather than per file.
struct FileTask {
  std::shared_ptr<DirNode> dir;
  std::vector<Entry> files;
};

constexpr size_t kChunk = 32;

// How far the walker may run ahead of the copy threads, in chunks. Far
// enough that directories are made well before their files are copied (on
// XFS, two copy threads fed by a walker this far ahead copied a 10 000-file
// tree in 133 ms against 140 ms with 4 chunks and 149 ms on one thread); near
// enough to bound the open directories: each queued chunk holds its
// directory pair open, so at most 2 * 64 descriptors wait in the queue.
constexpr size_t kQueuedChunks = 64;

// The queue's length for `pairs` directory pairs the descriptor budget
// allows (dirs_ahead_budget / 2): kQueuedChunks, fewer when the process has
// few descriptors left (each queued chunk holds its directory pair open;
// under `prlimit --nofile=64` a 64-chunk queue made entries fail with EMFILE).
size_t queued_chunks(size_t pairs) {
  return pairs >= kQueuedChunks ? kQueuedChunks : (pairs > 1 ? pairs : 1);
}

struct PendingDir {
  std::shared_ptr<DirNode> parent;
  std::string name;
  uint64_t ino;
  // dereference: `name` is a symlink to the directory fstat found as
  // (dev, ino); opening it again must find that same directory.
  bool follow = false;
  uint64_t dev = 0;
};

const char* type_name(unsigned char t) {
  switch (t) {
    case DT_FIFO: return "fifo";
    case DT_SOCK: return "socket";
    case DT_CHR: return "character device";
    case DT_BLK: return "block device";
    default: return "unknown";
  }
}

unsigned char type_of(mode_t m) {
  if (S_ISREG(m)) return DT_REG;
  if (S_ISDIR(m)) return DT_DIR;
  if (S_ISLNK(m)) return DT_LNK;
  if (S_ISFIFO(m)) return DT_FIFO;
  if (S_ISSOCK(m)) return DT_SOCK;
  if (S_ISCHR(m)) return DT_CHR;
  if (S_ISBLK(m)) return DT_BLK;
  return DT_UNKNOWN;
}

std::string join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

// An absolute path made canonical without looking at the filesystem, as
// Node's path.resolve does: empty and "." segments dropped, ".." takes one
// back (never above "/"), no trailing slash.
std::string normalize_absolute(const std::string& p) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= p.size()) {
    size_t end = p.find('/', i);
    if (end == std::string::npos) end = p.size();
    std::string seg = p.substr(i, end - i);
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(std::move(seg));
    }
    i = end + 1;
  }
  if (parts.empty()) return "/";
  std::string out;
  for (const std::string& part : parts) out += "/" + part;
  return out;
}

// All entries of a directory but . and .., with their types and inode
// numbers from getdents64 (one fstatat only where the filesystem leaves the
// type unknown).
int list_dir(int fd, std::vector<Entry>& out) {
  alignas(8) char buf[32 * 1024];
  for (;;) {
    long n = retry_eintr([&] { return ::syscall(SYS_getdents64, fd, buf, sizeof buf); });
    if (n == -1) return errno;
    if (n == 0) return 0;
    for (long off = 0; off < n;) {
      // struct linux_dirent64: ino, off, reclen, type, name.
      auto* d = reinterpret_cast<struct dirent64*>(buf + off);
      off += d->d_reclen;
      const char* name = d->d_name;
      if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0))) continue;
      unsigned char type = d->d_type;
      if (type == DT_UNKNOWN) {
        struct stat st;
        if (sys_fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) type = type_of(st.st_mode);
      }
      out.push_back(Entry{name, type, static_cast<uint64_t>(d->d_ino)});
    }
  }
}

// The errno for an exception caught in the walk or a copy thread.
int exception_errno() {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  } catch (...) {
    return EIO;
  }
}
const char* const kExceptionReason = "internal error in the tree copy (an exception)";

// A hidden name beside the one a symlink replaces: ".cowcopy-<12 hex>.lnk",
// short so that a 255-byte name can still be replaced.
std::string temp_link_name() { return ".cowcopy-" + random_hex12() + ".lnk"; }

// A symlink's owner and times, set through an O_PATH descriptor of the link
// this call made, never through its name: in a directory another user can
// write, the name may lead to their file by now (an attacker's hard link to
// a third user's file got that file chowned). Not permitted (EPERM) is fine
// for the owner, as for files.
int link_metadata(int link, const struct stat& st, const Preserve& p) {
  if (p.ownership &&
      retry_eintr([&] { return ::fchownat(link, "", st.st_uid, st.st_gid, AT_EMPTY_PATH); }) == -1 &&
      errno != EPERM) {
    return errno;
  }
  if (p.timestamps) {
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (retry_eintr([&] { return ::utimensat(link, "", times, AT_EMPTY_PATH); }) == -1) {
      // Kernels before AT_EMPTY_PATH for utimensat: the descriptor's /proc
      // link names the same symlink object (a magic link, not its target).
      if (errno != ENOENT && errno != EINVAL) return errno;
      char proc[64];
      std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", link);
      if (retry_eintr([&] { return ::utimensat(AT_FDCWD, proc, times, 0); }) == -1) return errno;
    }
  }
  return 0;
}

// The link this call just made at `name`, as an O_PATH descriptor: it must
// be a symlink owned by us (another user cannot make one we own), else the
// name was swapped since symlinkat and the entry counts as replaced.
int open_own_link(int dir, const char* name, UniqueFd& out) {
  int fd = retry_eintr([&] { return ::openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC); });
  if (fd == -1) return errno;
  out = UniqueFd(fd);
  struct stat st;
  if (sys_fstat(fd, &st) == -1) return errno;
  if (!S_ISLNK(st.st_mode) || st.st_uid != ::geteuid()) return kReplacedErr;
  return 0;
}

class Tree {
 public:
  // copy_threads: threads besides the walker (0: the walker copies everything).
  // pairs: directory pairs the descriptor budget allows held open.
  Tree(BatchState& state, TreeFilter* filter, int copy_threads, size_t pairs)
      : state_(state),
        filter_(filter),
        queue_(queued_chunks(pairs)),
        inline_(copy_threads == 0),
        walker_req_(request()) {}

  // The copy threads' loop. An exception (no memory for a path) ends the
  // whole call: the queue is dropped so the walker never waits on it.
  void work() {
    LocalStats local;
    try {
      CopyRequest req = request();
      FileTask task;
      while (queue_.pop(task)) {
        copy_chunk(task, req, local);
        task.dir.reset();  // may finish the directory (mode, times)
      }
    } catch (...) {
      state_.fail(exception_errno(), kExceptionReason);
      queue_.abandon();
    }
    state_.merge(local);
  }

  void copy_chunk(FileTask& task, CopyRequest& req, LocalStats& local) {
    req.src_dir = task.dir->src.get();
    req.dest_dir = task.dir->dst.get();
    req.dest_dir_private = task.dir->created;
    req.dest_dir_acl = task.dir->dst_acl;
    req.dest_dev = static_cast<uint64_t>(task.dir->dst_dev);
    for (Entry& e : task.files) {
      if (state_.should_stop()) return;
      req.src.swap(e.name);
      req.dest = req.src;
      req.src_rules.expect_ino = e.ino;
      CopyResult r = place_file(req);
      if (r.err == 0) {
        state_.file_done(local, r, [&] { return join(task.dir->src_path, req.src); },
                         [&] { return join(task.dir->dest_path, req.src); });
      } else if (r.err != ECANCELED) {
        state_.add_error(join(task.dir->src_path, req.src), join(task.dir->dest_path, req.src), r.err,
                         r.reason);
      }
    }
  }

  // Hands a chunk to the copy threads, waiting while the queue is full: the
  // walker only walks (when it copied in between, it made directories late
  // and two threads were slower than one on XFS). With no copy threads
  // (concurrency 1) the walker copies the chunk itself.
  bool hand_over(FileTask& task) {
    if (task.files.empty()) return true;
    if (inline_) {
      copy_chunk(task, walker_req_, walker_stats_);
      task.files.clear();
    } else if (ahead_ > 0) {
      // btrfs: held back until a batch of directories is made (see
      // set_dirs_ahead). Each held chunk keeps its directory pair open and,
      // through `parent`, every ancestor's: all are counted once (with only
      // the chunks' own directories counted, deep branches with files at
      // their ends only held six pairs per count, and failed with EMFILE).
      for (DirNode* d = task.dir.get(); d && d->held_in != batch_; d = d->parent.get()) {
        d->held_in = batch_;
        held_ += 1;
      }
      pending_.push_back(std::move(task));
      task = FileTask{};
      if (held_ >= ahead_ && !flush()) return false;
    } else {
      if (!queue_.push(std::move(task))) return false;
      task = FileTask{};
    }
    return !state_.should_stop();
  }

  // Hands the held chunks to the copy threads (waiting while the queue is full).
  bool flush() {
    bool ok = true;
    for (auto& t : pending_) {
      if (ok && (state_.should_stop() || !queue_.push(std::move(t)))) ok = false;
    }
    pending_.clear();
    held_ = 0;
    batch_ += 1;
    return ok;
  }

  // The walker: depth first, one directory at a time. Whatever happens, the
  // queue is closed (or dropped) on the way out, so the copy threads end.
  void walk(std::shared_ptr<DirNode> root) {
    try {
      walk_all(std::move(root));
      flush();
    } catch (...) {
      state_.fail(exception_errno(), kExceptionReason);
    }
    if (state_.should_stop()) queue_.abandon();
    else queue_.close();
    state_.merge(walker_stats_);
  }

  // No copy thread could be started: the walker copies every chunk itself.
  void copy_inline() { inline_ = true; }

  // btrfs: directories made while the copy threads create files slow every
  // thread down (its tree locks), so the walker makes up to `dirs`
  // directories before handing their files over. Measured on the .pnpm tree
  // of bench/store-project (21 000 files, 2 copy threads, median of 9):
  // 908 against 971 ms. XFS and ext4 stay streamed: the copy threads would
  // idle meanwhile (importFiles measured no gain there).
  void set_dirs_ahead(size_t dirs) { ahead_ = dirs; }


  int filter_error() const { return filter_error_; }

 private:
  // Tree copies (README, Security: trees other people wrote): neither leaf is ever followed, the
  // source must be the inode the listing returned, and an existing
  // destination is replaced by rename, never opened.
  CopyRequest request() const {
    CopyRequest req = state_.file_request();
    req.src_rules.nofollow = true;
    req.dest_rules.nofollow = true;
    return req;
  }

  void walk_all(std::shared_ptr<DirNode> root) {
    std::vector<PendingDir> pending;
    scan(root, pending);
    root.reset();
    while (!pending.empty() && !state_.should_stop()) {
      PendingDir next = std::move(pending.back());
      pending.pop_back();
      std::shared_ptr<DirNode> node = open_child(next);
      next.parent.reset();
      if (node) scan(node, pending);
    }
  }

  void scan(const std::shared_ptr<DirNode>& node, std::vector<PendingDir>& pending) {
    std::vector<Entry> entries;
    if (int err = list_dir(node->src.get(), entries)) {
      state_.add_error(node->src_path, node->dest_path, err, nullptr);
      node->discard();
      return;
    }
    std::vector<char> keep(entries.size(), 1);
    if (filter_ && !entries.empty()) {
      std::vector<TreeFilter::Entry> asked;
      asked.reserve(entries.size());
      for (const Entry& e : entries) asked.push_back(TreeFilter::Entry{join(node->rel, e.name), e.type});
      filter_->keep(asked, keep);
      if (keep.size() != entries.size()) {
        filter_error_ = EINVAL;
        state_.stop.store(true);
        return;
      }
    }
    FileTask chunk{node, {}};
    for (size_t i = 0; i < entries.size(); ++i) {
      if (!keep[i]) continue;
      if (state_.should_stop()) return;
      Entry& e = entries[i];
      switch (e.type) {
        case DT_REG:
          chunk.files.push_back(std::move(e));
          if (chunk.files.size() == kChunk) {
            if (!hand_over(chunk)) return;
            chunk = FileTask{node, {}};
          }
          break;
        case DT_DIR:
          pending.push_back(PendingDir{node, e.name, e.ino});
          break;
        case DT_LNK:
          if (state_.opts.dereference) follow_link(node, e.name, pending);
          else copy_symlink(*node, e.name);
          break;
        default:
          state_.add_skipped(join(node->src_path, e.name), type_name(e.type));
      }
    }
    hand_over(chunk);
  }

  std::shared_ptr<DirNode> open_child(const PendingDir& p) {
    auto node = std::make_shared<DirNode>();
    node->state = &state_;
    node->parent = p.parent;
    node->name = p.name;
    node->src_path = join(p.parent->src_path, p.name);
    node->dest_path = join(p.parent->dest_path, p.name);
    node->rel = join(p.parent->rel, p.name);
    // Followed (dereference): O_DIRECTORY opens nothing but a directory,
    // and it must be the one follow_link found there.
    const int nofollow = p.follow ? 0 : O_NOFOLLOW;
    int fd = retry_eintr([&] {
      return ::openat(p.parent->src.get(), p.name.c_str(), O_RDONLY | O_DIRECTORY | nofollow | O_CLOEXEC);
    });
    if (fd == -1 || (node->src = UniqueFd(fd), sys_fstat(fd, &node->st) == -1)) {
      state_.add_error(node->src_path, node->dest_path, errno, nullptr);
      return nullptr;
    }
    if (p.follow) {
      if (static_cast<uint64_t>(node->st.st_ino) != p.ino || static_cast<uint64_t>(node->st.st_dev) != p.dev) {
        state_.add_error(node->src_path, node->dest_path, kReplacedErr, kReplacedReason);
        return nullptr;
      }
      if (int err = check_not_ancestor(*p.parent, node->st)) {
        state_.add_error(node->src_path, node->dest_path, err, kCycleReason);
        return nullptr;
      }
    } else if (p.ino != 0 && static_cast<uint64_t>(node->st.st_ino) != p.ino &&
               node->st.st_dev == p.parent->st.st_dev && listing_ino_reliable(node->src.get())) {
      // Not the directory the listing returned: another one moved here since.
      // (A mount point lists the inode it covers: its st_dev differs.)
      state_.add_error(node->src_path, node->dest_path, kReplacedErr, kReplacedReason);
      return nullptr;
    }
    // A destination directory inside the source (moved there by someone
    // else meanwhile, even one this walk made): never copy it into itself,
    // which would walk its own output without end.
    if (is_dest_dir(node->st)) {
      state_.add_error(node->src_path, node->dest_path, EINVAL, "cannot copy a directory into itself");
      return nullptr;
    }
    int dirfd = p.parent->dst.get();
    if (retry_eintr([&] { return ::mkdirat(dirfd, p.name.c_str(), 0700); }) == 0) {
      node->created = true;
    } else if (errno != EEXIST) {
      state_.add_error(node->src_path, node->dest_path, errno, nullptr);
      return nullptr;
    }
    fd = retry_eintr([&] {
      return ::openat(dirfd, p.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    });
    if (fd == -1) {
      // ELOOP (a symlink) or ENOTDIR (a file) where a directory should go.
      int err = errno == ELOOP ? ENOTDIR : errno;
      if (node->created) remove_dir_if_ours(dirfd, p.name.c_str(), -1);
      state_.add_error(node->src_path, node->dest_path, err, nullptr);
      return nullptr;
    }
    node->dst = UniqueFd(fd);
    // Inside a directory this call made (0700 until its contents are done)
    // no one else could have swapped one in: checked only below others'.
    if (int err = node->created && !p.parent->created ? check_fresh_dir(fd) : 0) {
      // Not ours: nothing of the source's goes on it, and it stays. A check
      // that could not be made: the directory we made goes again.
      if (err != kReplacedErr) remove_dir_if_ours(dirfd, p.name.c_str(), fd);
      node->dst.reset();
      node->created = false;
      state_.add_error(node->src_path, node->dest_path, err, err == kReplacedErr ? kReplacedReason : nullptr);
      return nullptr;
    }
    if (int err = note_dest_dir(fd, &node->dst_dev)) {
      node->dst.reset();
      state_.add_error(node->src_path, node->dest_path, err, nullptr);
      return nullptr;
    }
    // A default ACL inherited from the parent replaces the umask for what
    // is created inside: then only an fstat tells which mode open() gave.
    // (A directory made inside one this call made inherits what that one has: asked once.)
    if (node->created) node->dst_acl = p.parent->created ? p.parent->dst_acl : has_default_acl(node->dst.get());
    walker_stats_.dirs += 1;
    return node;
  }

  bool is_dest_dir(const struct stat& st) const {
    return dest_dirs_.count(DevIno{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)}) != 0;
  }

  static constexpr const char* kCycleReason = "symbolic link to an ancestor directory (a cycle), not followed";

  // A followed directory that is `dir` or one of its ancestors would be
  // walked again inside itself, without end (fs.cp goes on until the path
  // holds too many links: ELOOP, after copying the cycle 40 levels deep).
  static int check_not_ancestor(const DirNode& dir, const struct stat& st) {
    for (const DirNode* n = &dir; n; n = n->parent.get()) {
      if (n->st.st_dev == st.st_dev && n->st.st_ino == st.st_ino) return ELOOP;
    }
    return 0;
  }

  // dereference: what a symlink leads to, learned from a descriptor. O_PATH
  // opens nothing for reading (a device's open has side effects; a FIFO's
  // would block), fstat says what it is: a directory is walked (open_child
  // proves it is this one again), a regular file is copied through this
  // very descriptor, anything else is skipped as in the walk. Only read:
  // nothing is ever created or changed where a link leads.
  void follow_link(const std::shared_ptr<DirNode>& dir, const std::string& name, std::vector<PendingDir>& pending) {
    int raw = retry_eintr([&] { return ::openat(dir->src.get(), name.c_str(), O_PATH | O_CLOEXEC); });
    if (raw == -1) {
      // ENOENT: dangling; ELOOP: a loop of links.
      state_.add_error(join(dir->src_path, name), join(dir->dest_path, name), errno, nullptr);
      return;
    }
    UniqueFd target(raw);
    struct stat st;
    if (sys_fstat(raw, &st) == -1) {
      state_.add_error(join(dir->src_path, name), join(dir->dest_path, name), errno, nullptr);
      return;
    }
    if (S_ISDIR(st.st_mode)) {
      if (int err = check_not_ancestor(*dir, st)) {
        state_.add_error(join(dir->src_path, name), join(dir->dest_path, name), err, kCycleReason);
        return;
      }
      pending.push_back(PendingDir{dir, name, static_cast<uint64_t>(st.st_ino), true,
                                   static_cast<uint64_t>(st.st_dev)});
    } else if (S_ISREG(st.st_mode)) {
      copy_followed_file(*dir, name, target.get(), st);
    } else {
      state_.add_skipped(join(dir->src_path, name), type_name(type_of(st.st_mode)));
    }
  }

  // A regular file behind a symlink, copied by the walker with copy_file's
  // rules. Its source is reopened through /proc/self/fd (the inode `target`
  // holds, never the name resolved again). ENOENT there means no /proc (the
  // held inode cannot be missing; the source is opened before anything is
  // created): then by the name, following, proved to be the same inode.
  void copy_followed_file(const DirNode& dir, const std::string& name, int target, const struct stat& st) {
    CopyRequest req = request();
    req.src_rules.nofollow = false;
    req.src_rules.expect_ino = static_cast<uint64_t>(st.st_ino);
    char proc[64];
    std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", target);
    req.src_dir = AT_FDCWD;
    req.src = proc;
    req.dest_dir = dir.dst.get();
    req.dest = name;
    req.dest_dir_private = dir.created;
    req.dest_dir_acl = dir.dst_acl;
    req.dest_dev = dir.dst_dev;
    // What a link leads to may be anywhere (outside the tree, a file only
    // root may read): it is copied, never given another name here.
    Ladder copy_only;
    copy_only.count = 0;
    for (int i = 0; i < req.ladder.count; ++i) {
      if (req.ladder.rungs[i] != Rung::kHardlink) copy_only.rungs[copy_only.count++] = req.ladder.rungs[i];
    }
    if (copy_only.count == 0) {
      state_.add_error(join(dir.src_path, name), join(dir.dest_path, name), EPERM,
                       "reached through a symbolic link (dereference): not hardlinked");
      return;
    }
    req.ladder = copy_only;
    CopyResult r = place_file(req);
    if (r.err == ENOENT) {
      req.src_dir = dir.src.get();
      req.src = name;
      r = place_file(req);
    }
    if (r.err == 0) {
      state_.file_done(walker_stats_, r, [&] { return join(dir.src_path, name); },
                       [&] { return join(dir.dest_path, name); });
    } else if (r.err != ECANCELED) {
      state_.add_error(join(dir.src_path, name), join(dir.dest_path, name), r.err, r.reason);
    }
  }

 public:
  // Every destination directory the walk opens is remembered (the walker
  // thread only): a source directory that turns out to be one of them is
  // refused.
  int note_dest_dir(int fd, uint64_t* dev = nullptr) {
    struct stat st;
    if (sys_fstat(fd, &st) == -1) return errno;
    if (dev) *dev = static_cast<uint64_t>(st.st_dev);
    dest_dirs_.insert(DevIno{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)});
    return 0;
  }

 private:

  // A symlink goes straight to its name when that is free and nothing more
  // is to be set on it. Otherwise it is made under a temporary name, given
  // its owner and times, and renamed into place: an existing link stays
  // until the new one is complete, and a failure leaves nothing this call
  // made (the temporary name is ours alone).
  void copy_symlink(const DirNode& dir, const std::string& name) {
    auto report = [&](int err) {
      state_.add_error(join(dir.src_path, name), join(dir.dest_path, name), err,
                       err == kReplacedErr ? kReplacedReason : nullptr);
    };
    std::string target(256, '\0');
    for (;;) {
      ssize_t n = retry_eintr([&] { return ::readlinkat(dir.src.get(), name.c_str(), &target[0], target.size()); });
      if (n == -1) return report(errno);
      if (static_cast<size_t>(n) < target.size()) {
        target.resize(static_cast<size_t>(n));
        break;
      }
      target.resize(target.size() * 2);
    }
    // fs.cp's default (verbatimSymlinks false): a relative target becomes
    // absolute, resolved against the source link's directory.
    if (!state_.opts.link_base.empty() && !target.empty() && target[0] != '/') {
      target = normalize_absolute(join(join(state_.opts.link_base, dir.rel), target));
    }
    const Preserve& p = state_.opts.preserve;
    const bool meta = p.timestamps || p.ownership;
    struct stat st;
    if (meta && sys_fstatat(dir.src.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == -1) return report(errno);
    const int dst = dir.dst.get();
    const bool overwrite = state_.opts.overwrite;
    if (!meta) {
      if (retry_eintr([&] { return ::symlinkat(target.c_str(), dst, name.c_str()); }) == 0) {
        walker_stats_.symlinks += 1;
        return;
      }
      if (errno != EEXIST || !overwrite) return report(errno);
    }
    if (int err = link_via_temp(dst, name, target, meta ? &st : nullptr, overwrite)) return report(err);
    walker_stats_.symlinks += 1;
  }

  int link_via_temp(int dst, const std::string& name, const std::string& target, const struct stat* st,
                    bool overwrite) {
    std::string temp;
    for (int attempt = 0;; ++attempt) {
      temp = temp_link_name();
      if (retry_eintr([&] { return ::symlinkat(target.c_str(), dst, temp.c_str()); }) == 0) break;
      if (errno != EEXIST || attempt == 3) return errno;
    }
    int err = 0;
    if (st) {
      UniqueFd link;
      err = open_own_link(dst, temp.c_str(), link);
      if (err == 0) err = link_metadata(link.get(), *st, state_.opts.preserve);
      if (err == kReplacedErr) {
        // Not our link any more: nothing of ours is at the temporary name.
        return err;
      }
    }
    // A directory at the name: renameat refuses (EISDIR) and it stays.
    if (err == 0) err = overwrite ? rename_over(dst, temp, name) : rename_noreplace(dst, temp, name);
    if (err) retry_eintr([&] { return ::unlinkat(dst, temp.c_str(), 0); });
    return err;
  }

  static int rename_over(int dir, const std::string& from, const std::string& to) {
    return retry_eintr([&] { return ::renameat(dir, from.c_str(), dir, to.c_str()); }) == -1 ? errno : 0;
  }

  // Without overwrite the name must be free. Where the filesystem has no
  // RENAME_NOREPLACE, linkat fails on an existing name just the same (and
  // links the symlink itself, not its target); then the temporary name goes,
  // and if it cannot, neither may the new one stay: nothing half done.
  static int rename_noreplace(int dir, const std::string& from, const std::string& to) {
    constexpr unsigned kNoReplace = 1;  // RENAME_NOREPLACE
    if (retry_eintr([&] { return ::syscall(SYS_renameat2, dir, from.c_str(), dir, to.c_str(), kNoReplace); }) == 0) {
      return 0;
    }
    if (errno != EINVAL && errno != ENOSYS) return errno;
    if (retry_eintr([&] { return ::linkat(dir, from.c_str(), dir, to.c_str(), 0); }) == -1) return errno;
    if (retry_eintr([&] { return ::unlinkat(dir, from.c_str(), 0); }) == 0) return 0;
    int err = errno;
    retry_eintr([&] { return ::unlinkat(dir, to.c_str(), 0); });
    return err;
  }

  BatchState& state_;
  TreeFilter* filter_;
  WorkQueue<FileTask> queue_;
  bool inline_;
  size_t ahead_ = 0;                // 0: every chunk goes to the queue at once
  std::vector<FileTask> pending_;   // made ahead, not yet handed over
  size_t held_ = 0;                 // directories pending_ holds open (with ancestors)
  uint64_t batch_ = 1;              // this batch of pending_ (DirNode::held_in)
  CopyRequest walker_req_;
  LocalStats walker_stats_;
  struct DevIno {
    uint64_t dev, ino;
    bool operator==(const DevIno& o) const { return dev == o.dev && ino == o.ino; }
  };
  struct DevInoHash {
    size_t operator()(const DevIno& k) const { return std::hash<uint64_t>()(k.ino * 1000003u ^ k.dev); }
  };
  std::unordered_set<DevIno, DevInoHash> dest_dirs_;
  int filter_error_ = 0;
};

BatchResult copy_tree_unguarded(const std::string& src_root, const std::string& dest_root,
                                const BatchOptions& opts, TreeFilter* filter) {
  BatchState state(opts);
  auto root = std::make_shared<DirNode>();
  root->state = &state;
  root->src_path = src_root;
  root->dest_path = dest_root;
  auto fatal = [&](int err, const char* reason = nullptr) {
    // A destination root we made (still empty) goes with the failure.
    if (root->created) remove_dir_if_ours(AT_FDCWD, dest_root.c_str(), root->dst.get());
    root->state = nullptr;  // nothing to finish
    state.result.fatal = err;
    state.result.fatal_reason = reason;
    return std::move(state.result);
  };
  int fd = retry_eintr([&] { return ::open(src_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd == -1) return fatal(errno);
  root->src = UniqueFd(fd);
  if (sys_fstat(fd, &root->st) == -1) return fatal(errno);
  if (retry_eintr([&] { return ::mkdir(dest_root.c_str(), 0700); }) == 0) {
    root->created = true;
  } else if (errno != EEXIST) {
    return fatal(errno);
  }
  // One we just made is never reached through a symlink swapped in since.
  const int nofollow = root->created ? O_NOFOLLOW : 0;
  fd = retry_eintr([&] { return ::open(dest_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | nofollow); });
  if (fd == -1) {
    int err = errno;
    return fatal(err, err == ENOTDIR ? "destination is not a directory" : nullptr);
  }
  root->dst = UniqueFd(fd);
  struct stat dest_st;
  if (sys_fstat(fd, &dest_st) == -1) {
    int err = errno;
    root->dst.reset();  // unprovable: removed only if empty
    return fatal(err);
  }
  if (dest_st.st_dev == root->st.st_dev && dest_st.st_ino == root->st.st_ino) {
    return fatal(EINVAL, "cannot copy a directory onto itself");
  }
  if (int err = root->created ? check_fresh_dir(root->dst.get()) : 0) {
    // Swapped between mkdir and open: not ours to fill, chmod or remove.
    if (err == kReplacedErr) {
      root->created = false;
      return fatal(kReplacedErr, kReplacedReason);
    }
    return fatal(err);
  }

  // n threads copy: with n = 1 the walker itself, else n more threads while
  // the walker only walks. If no thread starts, the walker copies after all.
  bool btrfs = false;
  int n = state.threads_for_fd(root->dst.get(), btrfs);
  // Two descriptors per directory held (none queued when the walker copies).
  const size_t pairs = n > 1 ? dirs_ahead_budget(n) / 2 : kQueuedChunks;
  Tree tree(state, filter, n > 1 ? n : 0, pairs);
  if (n > 1 && btrfs) {
    // At most 256 directories ahead (more gained nothing measurable and only
    // holds descriptors), none when few descriptors are left.
    const size_t dirs = pairs > 256 ? 256 : pairs;
    tree.set_dirs_ahead(dirs >= 8 ? dirs : 0);
  }
  root->dst_dev = static_cast<uint64_t>(dest_st.st_dev);
  if (root->created) root->dst_acl = has_default_acl(root->dst.get());
  tree.note_dest_dir(root->dst.get());
  std::vector<Thread> threads(static_cast<size_t>(n > 1 ? n : 0));
  const int started = start_all(threads, [&] { tree.work(); });
  if (started == 0) tree.copy_inline();
  state.result.threads = started > 0 ? started : 1;
  state.result.dirs = 1;
  // Neither throws: whatever happens in them, the threads end and are joined.
  tree.walk(std::move(root));
  tree.work();  // the walk is done: help drain the queue
  for (auto& t : threads) t.join();
  if (tree.filter_error() && !state.result.fatal) state.result.fatal = tree.filter_error();
  if (opts.cancel && __atomic_load_n(opts.cancel, __ATOMIC_RELAXED) != 0) state.result.fatal = ECANCELED;
  return std::move(state.result);
}

}  // namespace

BatchResult copy_tree(const std::string& src_root, const std::string& dest_root,
                      const BatchOptions& opts, TreeFilter* filter) {
  try {
    return copy_tree_unguarded(src_root, dest_root, opts, filter);
  } catch (...) {
    // Before any thread started (no memory for the root's paths).
    BatchResult r;
    r.fatal = exception_errno();
    r.fatal_reason = kExceptionReason;
    return r;
  }
}

}  // namespace cowcopy
