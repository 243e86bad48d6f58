// copy_tree (copyDir): like `cp -r --reflink=auto`, relative to directory
// descriptors all the way down (openat, mkdirat, getdents64, symlinkat),
// never joining and re-resolving paths. The entries come from listing each
// source directory; a directory this call makes stays 0700 until everything
// in it is done, then gets the source's metadata.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <unordered_set>

#include "batch.h"
#include "dir_listing.h"
#include "ladder.h"
#include "open_path.h"
#include "preserve.h"
#include "stat_calls.h"
#include "symlink_copy.h"
#include "sys.h"
#include "walker.h"

namespace cowcopy {
namespace {

const char* const kCycleReason = "symbolic link to an ancestor directory (a cycle), not followed";
const char* const kMovedReason = "a directory above it was moved while being copied";

const char* type_name(unsigned char t) {
  switch (t) {
    case DT_FIFO: return "fifo";
    case DT_SOCK: return "socket";
    case DT_CHR: return "character device";
    case DT_BLK: return "block device";
    default: return "unknown";
  }
}

std::string join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a.back() == '/' ? a + b : a + "/" + b;
}

// A directory still to be opened: `name` in path_[depth].
struct PendingDir {
  size_t depth;
  std::string name;
  uint64_t ino;
  // dereference: `name` is a symlink to the directory fstat found as
  // (dev, ino); opening it again must find that same directory.
  bool follow = false;
  uint64_t dev = 0;
};

class TreeWalk : public Walker {
 public:
  TreeWalk(BatchState& state, DescriptorShare& share, TreeFilter* filter, const std::string& src_root,
           const std::string& dest_root)
      : Walker(state, share, 2), filter_(filter), src_root_(src_root), dest_root_(dest_root) {}

  int filter_error() const { return filter_error_; }

  // Every destination directory the walk opens is remembered (the walker
  // thread only): a source directory that turns out to be one of them is
  // refused.
  int note_dest_dir(DirNode& node) {
    struct stat st;
    if (sys_fstat(node.dst.get(), &st) == -1) return errno;
    node.dst_dev = static_cast<uint64_t>(st.st_dev);
    node.dst_ino = static_cast<uint64_t>(st.st_ino);
    dest_dirs_.insert(DevIno{node.dst_dev, node.dst_ino});
    return 0;
  }

  // Mode, owner and extended attributes (ACLs among them) decide who may
  // enter a directory: only one this call made takes the source's. One that
  // was there keeps them, destDir included; it gets the timestamps, as with
  // cp -p.
  int finish(DirNode& n) override {
    const Preserve& p = state_.opts.preserve;
    if (n.created) return finish_metadata(n.src.get(), n.dst.get(), n.st, p, true);
    if (!p.timestamps) return 0;
    struct timespec times[2] = {n.st.st_atim, n.st.st_mtim};
    return retry_eintr([&] { return ::futimens(n.dst.get(), times); }) == -1 ? errno : 0;
  }

  void finish_failed(DirNode& n, int err) override {
    const std::string rel = n.rel();
    state_.add_error(join(src_root_, rel), join(dest_root_, rel), err, err == kReplacedErr ? kMovedReason : nullptr);
  }

 private:
  // Tree copies (README, Security: trees other people wrote): neither leaf
  // is ever followed, the source must be the inode the listing returned,
  // and an existing destination is replaced by rename, never opened.
  CopyRequest request() const override {
    CopyRequest req = state_.file_request();
    req.src_rules.nofollow = true;
    req.dest_rules.nofollow = true;
    return req;
  }

  static void aim(CopyRequest& req, const DirNode& dir) {
    req.src_dir = dir.src.get();
    req.dest_dir = dir.dst.get();
    req.dest_dir_private = dir.created;
    req.dest_dir_acl = dir.acl;
    req.dest_dev = dir.dst_dev;
  }

  void place_chunk(Chunk& chunk, CopyRequest& req, LocalStats& local) override {
    aim(req, *chunk.dir);
    std::string rel;  // built only for a result or an error
    for (ChunkItem& item : chunk.items) {
      if (state_.should_stop()) return;
      req.src.swap(item.name);
      req.dest = req.src;
      req.src_rules.expect_ino = item.ino;
      CopyResult r = place_file(req);
      if (r.err == ECANCELED) continue;
      if (rel.empty()) rel = chunk.dir->rel();
      const std::string file = join(rel, req.src);
      if (r.err == 0) {
        state_.file_done(local, r, [&] { return join(src_root_, file); }, [&] { return join(dest_root_, file); });
      } else {
        state_.add_error(join(src_root_, file), join(dest_root_, file), r.err, r.reason);
      }
    }
  }

  void report(const DirNode& dir, const std::string& name, int err, const char* reason = nullptr) {
    const std::string file = join(dir.rel(), name);
    state_.add_error(join(src_root_, file), join(dest_root_, file), err,
                     reason ? reason : (err == kReplacedErr ? kReplacedReason : nullptr));
  }

  // Depth first, one directory at a time; path_ is the chain down to the
  // directory being listed, `pending` the directories still to open (each
  // one's parent is on path_ when it is its turn).
  void walk() override {
    std::vector<PendingDir> pending;
    scan(pending);
    while (!pending.empty() && !state_.should_stop()) {
      PendingDir next = std::move(pending.back());
      pending.pop_back();
      climb_to(next.depth);
      if (path_.size() != next.depth + 1) {
        report(*path_.back(), next.name, kReplacedErr, kMovedReason);
        continue;
      }
      if (!open_child(next)) continue;
      if (!scan(pending)) {
        // The listing failed: a directory this call made is still empty.
        std::shared_ptr<DirNode> node = path_.back();
        if (node->created) remove_dir_if_ours(path_[path_.size() - 2]->dst.get(), node->name.c_str(), node->dst.get());
        node->finish_pending = false;
        path_.pop_back();
      }
    }
  }

  // Lists path_.back(): files go to the copy threads in chunks, symlinks are
  // made here, directories pushed on `pending`. False when the listing failed.
  bool scan(std::vector<PendingDir>& pending) {
    const std::shared_ptr<DirNode>& node = path_.back();
    const size_t depth = path_.size() - 1;
    std::vector<DirEntry> entries;
    if (int err = list_dir(node->src.get(), entries)) {
      const std::string rel = node->rel();
      state_.add_error(join(src_root_, rel), join(dest_root_, rel), err, nullptr);
      return false;
    }
    std::vector<char> keep(entries.size(), 1);
    if (filter_ && !entries.empty()) {
      const std::string rel = node->rel();
      std::vector<TreeFilter::Entry> asked;
      asked.reserve(entries.size());
      for (const DirEntry& e : entries) asked.push_back(TreeFilter::Entry{join(rel, e.name), e.type});
      filter_->keep(asked, keep);
      if (keep.size() != entries.size()) {
        filter_error_ = EINVAL;
        state_.stop.store(true);
        return true;
      }
    }
    Chunk chunk{node, {}};
    for (size_t i = 0; i < entries.size(); ++i) {
      if (!keep[i]) continue;
      if (state_.should_stop()) return true;
      DirEntry& e = entries[i];
      switch (e.type) {
        case DT_REG:
          chunk.items.push_back(ChunkItem{std::move(e.name), e.ino, 0});
          if (chunk.items.size() == kChunkFiles && !hand_over(chunk)) return true;
          break;
        case DT_DIR:
          pending.push_back(PendingDir{depth, std::move(e.name), e.ino});
          break;
        case DT_LNK:
          if (state_.opts.dereference) follow_link(*node, depth, e.name, pending);
          else symlink(*node, e.name);
          break;
        default:
          state_.add_skipped(join(src_root_, join(node->rel(), e.name)), type_name(e.type));
      }
    }
    hand_over(chunk);
    return true;
  }

  void symlink(const DirNode& dir, const std::string& name) {
    SymlinkOptions o;
    o.overwrite = state_.opts.overwrite;
    o.preserve = state_.opts.preserve;
    if (!state_.opts.link_base.empty()) o.base = join(state_.opts.link_base, dir.rel());
    if (int err = copy_symlink(dir.src.get(), dir.dst.get(), name, o)) return report(dir, name, err);
    walker_stats_.symlinks += 1;
  }

  // Opens the source directory and makes (or opens) its destination, as
  // path_'s new end. False (reported) when it cannot be.
  bool open_child(const PendingDir& p) {
    if (!room_for_dir()) return false;
    const std::shared_ptr<DirNode>& parent = path_.back();
    auto node = std::make_shared<DirNode>();
    node->walker = this;
    node->parent = parent;
    node->name = p.name;
    node->finish_pending = false;  // until it is ours to finish
    opened(*node);  // counts what room_for_dir took, given back when it goes
    auto fail = [&](int err, const char* reason = nullptr) {
      node.reset();  // gives the descriptors back
      report(*parent, p.name, err, reason);
      return false;
    };
    // Followed (dereference): O_DIRECTORY opens nothing but a directory,
    // and it must be the one follow_link found there.
    const int nofollow = p.follow ? 0 : O_NOFOLLOW;
    int fd = retry_eintr([&] {
      return ::openat(parent->src.get(), p.name.c_str(), O_RDONLY | O_DIRECTORY | nofollow | O_CLOEXEC);
    });
    if (fd == -1) return fail(errno);
    node->src = UniqueFd(fd);
    if (sys_fstat(fd, &node->st) == -1) return fail(errno);
    if (p.follow) {
      if (static_cast<uint64_t>(node->st.st_ino) != p.ino || static_cast<uint64_t>(node->st.st_dev) != p.dev) {
        return fail(kReplacedErr);
      }
      if (is_ancestor(*parent, node->st)) return fail(ELOOP, kCycleReason);
    } else if (p.ino != 0 && static_cast<uint64_t>(node->st.st_ino) != p.ino &&
               node->st.st_dev == parent->st.st_dev && listing_ino_reliable(node->src.get())) {
      // Not the directory the listing returned: another one moved here since.
      // (A mount point lists the inode it covers: its st_dev differs.)
      return fail(kReplacedErr);
    }
    // A destination directory inside the source (moved there by someone
    // else meanwhile, even one this walk made): never copy it into itself,
    // which would walk its own output without end.
    if (dest_dirs_.count(DevIno{static_cast<uint64_t>(node->st.st_dev), static_cast<uint64_t>(node->st.st_ino)})) {
      return fail(EINVAL, "cannot copy a directory into itself");
    }
    const int dirfd = parent->dst.get();
    if (retry_eintr([&] { return ::mkdirat(dirfd, p.name.c_str(), 0700); }) == 0) {
      node->created = true;
    } else if (errno != EEXIST) {
      return fail(errno);
    }
    fd = retry_eintr([&] { return ::openat(dirfd, p.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); });
    if (fd == -1) {
      // ELOOP (a symlink) or ENOTDIR (a file) where a directory should go.
      int err = errno == ELOOP ? ENOTDIR : errno;
      if (node->created) remove_dir_if_ours(dirfd, p.name.c_str(), -1);
      return fail(err);
    }
    node->dst = UniqueFd(fd);
    // Inside a directory this call made (0700 until its contents are done)
    // no one else could have swapped one in: checked only below others'.
    if (int err = node->created && !parent->created ? check_fresh_dir(fd) : 0) {
      // Not ours: nothing of the source's goes on it, and it stays. A check
      // that could not be made: the directory we made goes again.
      if (err != kReplacedErr) remove_dir_if_ours(dirfd, p.name.c_str(), fd);
      return fail(err);
    }
    if (int err = note_dest_dir(*node)) return fail(err);
    // A default ACL inherited from the parent replaces the umask for what
    // is created inside: then only an fstat tells which mode open() gave.
    // (A directory made inside one this call made inherits what that one has: asked once.)
    if (node->created) node->acl = parent->created ? parent->acl : has_default_acl(fd);
    node->finish_pending = true;
    walker_stats_.dirs += 1;
    path_.push_back(std::move(node));
    return true;
  }

  // A followed directory that is `dir` or one of its ancestors would be
  // walked again inside itself, without end (fs.cp goes on until the path
  // holds too many links: ELOOP, after copying the cycle 40 levels deep).
  static bool is_ancestor(const DirNode& dir, const struct stat& st) {
    for (const DirNode* n = &dir; n; n = n->parent.get()) {
      if (n->st.st_dev == st.st_dev && n->st.st_ino == st.st_ino) return true;
    }
    return false;
  }

  // dereference: what a symlink leads to, learned from a descriptor. O_PATH
  // opens nothing for reading (a device's open has side effects; a FIFO's
  // would block), fstat says what it is: a directory is walked (open_child
  // proves it is this one again), a regular file is copied through this
  // very descriptor, anything else is skipped as in the walk. Only read:
  // nothing is ever created or changed where a link leads.
  void follow_link(const DirNode& dir, size_t depth, const std::string& name, std::vector<PendingDir>& pending) {
    int raw = retry_eintr([&] { return ::openat(dir.src.get(), name.c_str(), O_PATH | O_CLOEXEC); });
    if (raw == -1) return report(dir, name, errno);  // ENOENT: dangling; ELOOP: a loop of links
    UniqueFd target(raw);
    struct stat st;
    if (sys_fstat(raw, &st) == -1) return report(dir, name, errno);
    if (S_ISDIR(st.st_mode)) {
      if (is_ancestor(dir, st)) return report(dir, name, ELOOP, kCycleReason);
      pending.push_back(PendingDir{depth, name, static_cast<uint64_t>(st.st_ino), true, static_cast<uint64_t>(st.st_dev)});
    } else if (S_ISREG(st.st_mode)) {
      copy_followed_file(dir, name, target.get(), st);
    } else {
      state_.add_skipped(join(src_root_, join(dir.rel(), name)), type_name(dirent_type(st.st_mode)));
    }
  }

  // A regular file behind a symlink, copied by the walker with copy_file's
  // rules. Its source is reopened through /proc/self/fd (the inode `target`
  // holds, never the name resolved again). ENOENT there means no /proc (the
  // held inode cannot be missing; the source is opened before anything is
  // created): then by the name, following, proved to be the same inode.
  void copy_followed_file(const DirNode& dir, const std::string& name, int target, const struct stat& st) {
    CopyRequest req = request();
    aim(req, dir);
    req.src_rules.nofollow = false;
    req.src_rules.expect_ino = static_cast<uint64_t>(st.st_ino);
    char proc[64];
    std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", target);
    req.src_dir = AT_FDCWD;
    req.src = proc;
    req.dest = name;
    // What a link leads to may be anywhere (outside the tree, a file only
    // root may read): it is copied, never given another name here.
    Ladder copy_only;
    copy_only.count = 0;
    for (int i = 0; i < req.ladder.count; ++i) {
      if (req.ladder.rungs[i] != Rung::kHardlink) copy_only.rungs[copy_only.count++] = req.ladder.rungs[i];
    }
    if (copy_only.count == 0) {
      return report(dir, name, EPERM, "reached through a symbolic link (dereference): not hardlinked");
    }
    req.ladder = copy_only;
    CopyResult r = place_file(req);
    if (r.err == ENOENT) {
      req.src_dir = dir.src.get();
      req.src = name;
      r = place_file(req);
    }
    if (r.err == 0) {
      const std::string file = join(dir.rel(), name);
      state_.file_done(walker_stats_, r, [&] { return join(src_root_, file); }, [&] { return join(dest_root_, file); });
    } else if (r.err != ECANCELED) {
      report(dir, name, r.err, r.reason);
    }
  }

  struct DevIno {
    uint64_t dev, ino;
    bool operator==(const DevIno& o) const { return dev == o.dev && ino == o.ino; }
  };
  struct DevInoHash {
    size_t operator()(const DevIno& k) const { return std::hash<uint64_t>()(k.ino * 1000003u ^ k.dev); }
  };

  TreeFilter* filter_;
  const std::string& src_root_;
  const std::string& dest_root_;
  std::unordered_set<DevIno, DevInoHash> dest_dirs_;
  int filter_error_ = 0;
};

BatchResult copy_tree_unguarded(const std::string& src_root, const std::string& dest_root,
                                const BatchOptions& opts, TreeFilter* filter) {
  BatchState state(opts);
  // The call's floor: the root pair, the current pair and the one below it,
  // one reopened through "..", a copy thread's files, a followed link.
  DescriptorShare share(13);
  TreeWalk walk(state, share, filter, src_root, dest_root);
  auto root = std::make_shared<DirNode>();
  root->finish_pending = false;
  auto fatal = [&](int err, const char* reason = nullptr) {
    // A destination root we made (still empty) goes with the failure.
    if (root->created) remove_dir_if_ours(AT_FDCWD, dest_root.c_str(), root->dst.get());
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
  if (int err = walk.note_dest_dir(*root)) {
    root->dst.reset();  // unprovable: removed only if empty
    return fatal(err);
  }
  if (root->dst_dev == static_cast<uint64_t>(root->st.st_dev) && root->dst_ino == static_cast<uint64_t>(root->st.st_ino)) {
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
  if (root->created) root->acl = has_default_acl(root->dst.get());
  // n threads copy: with n = 1 the walker itself, else n more threads while
  // the walker only walks.
  bool btrfs = false;
  const int n = state.threads_for_fd(root->dst.get(), btrfs);
  root->walker = &walk;
  root->finish_pending = true;
  share.take(2);
  root->fds = 2;
  state.result.dirs = 1;
  walk.run(std::move(root), n, btrfs);
  state.result.threads = walk.threads();
  if (walk.filter_error() && !state.result.fatal) state.result.fatal = walk.filter_error();
  if (opts.cancel && __atomic_load_n(opts.cancel, __ATOMIC_RELAXED) != 0) state.result.fatal = ECANCELED;
  return std::move(state.result);
}

}  // namespace

BatchResult copy_tree(const std::string& src_root, const std::string& dest_root, const BatchOptions& opts,
                      TreeFilter* filter) {
  try {
    return copy_tree_unguarded(src_root, dest_root, opts, filter);
  } catch (...) {
    // Before any thread started (no memory for the root's paths).
    BatchResult r;
    r.fatal = current_exception_errno();
    r.fatal_reason = "internal error in the tree copy (an exception)";
    return r;
  }
}

}  // namespace cowcopy
