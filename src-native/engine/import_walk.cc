#include "import_walk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "ladder.h"
#include "open_path.h"
#include "stat_calls.h"
#include "sys.h"

namespace cowcopy {
namespace {

const char* const kSymlinkInWay = "a symbolic link is in the way of a directory (not followed)";
const char* const kFileInWay = "a file is in the way of a directory";
const char* const kMarkerNotPlaced = "marker not placed: another entry failed";
const char* const kMarkerDirRemoved = "marker not placed: its directory was removed during the import";
const char* const kTakenReason =
    "the name was taken during the import (another entry the filesystem folds into it, or another user)";
const char* const kMovedReason = "a directory above it was moved during the import";

std::string join_rel(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  return a.back() == '/' ? a + b : a + "/" + b;
}

}  // namespace

// The destination leaf is never followed nor opened when it exists
// (replaced by rename, or kept); the source is the caller's path. A store
// file that is a symlink is refused (ELOOP), never followed: whoever can
// write the store could point it at a file the caller can read and the
// destination's readers cannot (README, Security: trees other people wrote).
// Files are written in place under their names (O_EXCL), an existing one
// replaced through a temporary file and rename. O_TMPFILE for every file
// was measured 1.4x slower on XFS and 1.24x on btrfs (the unlinked inode
// list serialises the threads); a killed import's partial file is handled
// by the marker instead.
CopyRequest ImportWalk::request() const {
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


// After every other entry: the marker, atomically, only when all of them
// are in place.
void ImportWalk::keep_marker_dir(const DirNode& dir) {
  if (marker_dir_ || marker_err_) return;
  hold_extra(1);
  const int fd = retry_eintr([&] { return ::fcntl(dir.dst.get(), F_DUPFD_CLOEXEC, 0); });
  if (fd == -1) {
    marker_err_ = errno;
    release_extra(1);
    return;
  }
  auto kept = std::make_shared<DirNode>();
  kept->dst = UniqueFd(fd);
  kept->created = dir.created;
  kept->private_ = dir.private_;
  kept->acl = dir.acl;
  kept->dst_dev = dir.dst_dev;
  kept->dst_ino = dir.dst_ino;
  kept->finish_pending = false;
  kept->overlay.store(dir.overlay.load());
  marker_dir_ = std::move(kept);
}

void ImportWalk::place_marker() {
  std::shared_ptr<DirNode> dir = std::move(marker_dir_);
  const auto& e = entries_[static_cast<size_t>(opts_.marker < 0 ? 0 : opts_.marker)];
  if (marker_err_ && !state_.should_stop()) {
    state_.add_error(e.second, join_rel(dest_root_, e.first), marker_err_, nullptr);
    return;
  }
  if (!dir || opts_.marker < 0) return;
  struct Release {
    ImportWalk* w;
    std::shared_ptr<DirNode>& d;
    ~Release() {
      d.reset();
      w->release_extra(1);
    }
  } release{this, dir};
  if (state_.should_stop()) return;
  bool failed;
  {
    std::lock_guard<std::mutex> lock(state_.mu);
    failed = !state_.result.errors.empty() || state_.result.fatal != 0;
  }
  if (failed) {
    state_.add_error(e.second, join_rel(dest_root_, e.first), ECANCELED, kMarkerNotPlaced);
    return;
  }
  CopyRequest req = request();
  req.atomic = true;  // complete under its name, or not there
  req.replace_by_rename = false;
  Chunk chunk{dir, {ChunkItem{{}, 0, static_cast<size_t>(opts_.marker)}}};
  LocalStats stats;
  const size_t errors_before = state_.result.errors.size();  // (the copy threads are done)
  place_chunk(chunk, req, stats);
  state_.merge(stats);
  // A directory removed meanwhile answers the marker's temporary file
  // EPERM or ENOENT: only then is it asked why (no fstat when all is well,
  // and another error, the store file's own, is left as it is).
  std::lock_guard<std::mutex> lock(state_.mu);
  if (state_.result.errors.size() > errors_before) {
    struct stat st;
    BatchError& failed_marker = state_.result.errors.back();
    if ((failed_marker.err == ENOENT || failed_marker.err == EPERM) && sys_fstat(dir->dst.get(), &st) == 0 &&
        st.st_nlink == 0) {
      failed_marker.err = ENOENT;
      failed_marker.reason = kMarkerDirRemoved;
    }
  }
}


void ImportWalk::place_chunk(Chunk& chunk, CopyRequest& req, LocalStats& local) {
  req.dest_dir = chunk.dir->dst.get();
  req.dest_dev = chunk.dir->dst_dev;
  req.dest_overlay = req.ladder.has(Rung::kHardlink) ? chunk.dir->dest_overlay() : -1;
  // Only what this call placed is in it: no existence check before each file.
  req.dest_dir_fresh = chunk.dir->created && chunk.dir->private_;
  for (const ChunkItem& item : chunk.items) {
    if (state_.should_stop()) return;
    const auto& e = entries_[item.index];
    req.src = e.second;
    const size_t slash = dir_part(e.first);
    req.dest.assign(e.first, slash == 0 && e.first.find('/') == std::string::npos ? 0 : slash + 1,
                    std::string::npos);
    CopyResult r = place_file(req);
    if (r.err == 0) {
      state_.file_done(local, r, [&] { return e.second; }, [&] { return join_rel(dest_root_, e.first); });
    } else if (r.err == EEXIST && r.reason == nullptr && chunk.dir->created) {
      // In a directory this call made, the name was taken during the call:
      // by another entry the filesystem folds into it, or by someone who
      // can write there (a group under umask 002). Not "existing": the
      // marker must not certify what this call did not place.
      state_.add_error(e.second, join_rel(dest_root_, e.first), EEXIST, kTakenReason);
    } else if (r.err == EEXIST && r.reason == nullptr && !req.overwrite) {
      local.existing += 1;
    } else if (r.err != ECANCELED) {
      state_.add_error(e.second, join_rel(dest_root_, e.first), r.err, r.reason);
    }
  }
}


void ImportWalk::walk() {
  size_t i = 0;
  while (i < order_.size() && !state_.should_stop()) {
    const std::string& first = entries_[order_[i]].first;
    const std::string_view dir(first.data(), dir_part(first));
    size_t j = i + 1;
    while (j < order_.size()) {
      const std::string& other = entries_[order_[j]].first;
      if (compare_dirs(dir, std::string_view(other.data(), dir_part(other))) != 0) break;
      ++j;
    }
    const char* reason = nullptr;
    int err = enter(dir, reason);
    if (err == ECANCELED && state_.should_stop()) return;
    if (err) {
      for (size_t k = i; k < j; ++k) {
        const auto& e = entries_[order_[k]];
        state_.add_error(e.second, join_rel(dest_root_, e.first), err, reason);
      }
      i = j;
      continue;
    }
    Chunk chunk{path_.back(), {}};
    for (size_t k = i; k < j; ++k) {
      if (static_cast<long>(order_[k]) == opts_.marker) {
        keep_marker_dir(*path_.back());
        continue;
      }
      chunk.items.push_back(ChunkItem{{}, 0, order_[k]});
      if (chunk.items.size() == kChunkFiles && !hand_over(chunk)) return;
    }
    if (!hand_over(chunk)) return;
    i = j;
  }
}


// Makes path_ the chain of directories down to `dir` (relative to the
// root, "" for the root itself), making what is missing.
int ImportWalk::enter(std::string_view dir, const char*& reason) {
  size_t keep = 0;  // components of dir that path_ already holds
  size_t start = 0;
  while (start < dir.size() && keep + 1 < path_.size()) {
    size_t slash = dir.find('/', start);
    if (slash == std::string_view::npos) slash = dir.size();
    if (dir.substr(start, slash - start) != path_[keep + 1]->name) break;
    ++keep;
    start = slash + 1;
  }
  if (int err = climb_to(keep)) {
    reason = kMovedReason;
    return err;
  }
  while (start < dir.size()) {
    size_t slash = dir.find('/', start);
    if (slash == std::string_view::npos) slash = dir.size();
    if (!room_for_dir()) return ECANCELED;
    if (int err = open_child(std::string(dir.substr(start, slash - start)), reason)) return err;
    start = slash + 1;
  }
  return 0;
}


int ImportWalk::open_child(std::string name, const char*& reason) {
  const std::shared_ptr<DirNode>& parent = path_.back();
  auto node = std::make_shared<DirNode>();
  node->walker = this;
  node->finish_pending = false;
  opened(*node);  // counts what room_for_dir took, given back when it goes
  node->parent = parent;
  node->name = std::move(name);
  const char* const cname = node->name.c_str();
  const int pfd = parent->dst.get();
  // Inside a directory no one else can write, nobody could have swapped
  // another one in between mkdirat and openat: no freshness check there.
  const bool inside_ours = parent->private_;
  if (retry_eintr([&] { return ::mkdirat(pfd, cname, 0777); }) == 0) {
    node->created = true;
  } else if (errno != EEXIST) {
    return errno;
  }
  int fd = retry_eintr([&] { return ::openat(pfd, cname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); });
  if (fd == -1) {
    int err = errno;
    if (node->created) remove_dir_if_ours(pfd, cname, -1);
    // O_DIRECTORY | O_NOFOLLOW on a symlink says ENOTDIR (or ELOOP): which one is in the way.
    struct stat st;
    if ((err == ELOOP || err == ENOTDIR) && sys_fstatat(pfd, cname, &st, AT_SYMLINK_NOFOLLOW) == 0) {
      reason = S_ISLNK(st.st_mode) ? kSymlinkInWay : kFileInWay;
      return ENOTDIR;
    }
    return err;
  }
  node->dst = UniqueFd(fd);
  if (node->created && !inside_ours) {
    if (int err = check_fresh_dir(fd, false)) {
      // Not ours (swapped in since mkdirat): nothing goes into it.
      if (err != kReplacedErr) remove_dir_if_ours(pfd, cname, fd);
      if (err == kReplacedErr) reason = kReplacedReason;
      return err;
    }
  }
  if (node->created) {
    node->dst_dev = parent->dst_dev;  // made on its parent's filesystem
    node->acl = parent->created ? parent->acl : has_default_acl(fd);
    node->private_ = hidden_ || (umask_keeps_others_out(state_.opts.umask) && !node->acl);
    walker_stats_.dirs += 1;
  } else {
    struct stat st;
    if (sys_fstat(fd, &st) == -1) return errno;
    node->dst_dev = static_cast<uint64_t>(st.st_dev);  // perhaps a mount point
    node->dst_ino = static_cast<uint64_t>(st.st_ino);
  }
  path_.push_back(std::move(node));
  return 0;
}

}  // namespace cowcopy
