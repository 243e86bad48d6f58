// copyDir's walk: each source directory listed, its files handed to the
// copy threads, its subdirectories opened and made as the walker reaches them.
#include "copy_dir_walk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "ladder.h"
#include "open_path.h"
#include "preserve.h"
#include "stat_calls.h"
#include "symlink_copy.h"
#include "sys.h"

namespace cowcopy {

const char* const kCycleReason = "symbolic link to an ancestor directory (a cycle), not followed";
const char* const kMovedReason = "a directory above it was moved while being copied";

// What a skipped entry is, for `skipped`.
const char* special_type_name(unsigned char t) {
  switch (t) {
    case DT_FIFO: return "fifo";
    case DT_SOCK: return "socket";
    case DT_CHR: return "character device";
    case DT_BLK: return "block device";
    default: return "unknown";
  }
}

void CopyDirWalk::place_chunk(Chunk& chunk, CopyRequest& req, LocalStats& local) {
  aim(req, *chunk.dir);
  req.dest_overlay = req.ladder.has(Rung::kHardlink) ? chunk.dir->dest_overlay() : -1;
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

// Depth first, one directory at a time; path_ is the chain down to the
// directory being listed, `pending` the directories still to open (each
// one's parent is on path_ when it is its turn).
void CopyDirWalk::walk() {
  std::vector<PendingDir> pending;
  scan(pending);
  while (!pending.empty() && !state_.should_stop()) {
    PendingDir next = std::move(pending.back());
    pending.pop_back();
    if (climb_to(next.depth)) {
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
bool CopyDirWalk::scan(std::vector<PendingDir>& pending) {
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
        state_.add_skipped(join(src_root_, join(node->rel(), e.name)), special_type_name(e.type));
    }
  }
  hand_over(chunk);
  return true;
}

void CopyDirWalk::symlink(const DirNode& dir, const std::string& name) {
  SymlinkOptions o;
  o.overwrite = state_.opts.overwrite;
  o.preserve = state_.opts.preserve;
  if (!state_.opts.link_base.empty()) o.base = join(state_.opts.link_base, dir.rel());
  if (int err = copy_symlink(dir.src.get(), dir.dst.get(), name, o)) return report(dir, name, err);
  walker_stats_.symlinks += 1;
}

// Opens the source directory and makes (or opens) its destination, as
// path_'s new end. False (reported) when it cannot be.
bool CopyDirWalk::open_child(const PendingDir& p) {
  if (!room_for_dir()) return false;
  const std::shared_ptr<DirNode>& parent = path_.back();
  auto node = std::make_shared<DirNode>();
  node->walker = this;
  node->parent = parent;
  node->name = p.name;
  node->finish_pending = false;  // until it is ours to finish
  node->followed = p.follow;
  opened(*node);  // counts what room_for_dir took, given back when it goes
  auto fail = [&](int err, const char* reason = nullptr) {
    node.reset();  // gives the descriptors back
    report(*parent, p.name, err, reason);
    return false;
  };
  if (!parent->src.valid()) return fail(kReplacedErr, kMovedReason);  // its source was moved meanwhile
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

}  // namespace cowcopy
