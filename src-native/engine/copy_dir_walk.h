// copyDir's walk (copy_dir.cc sets up the root and runs it): the entries
// come from listing each source directory (copy_dir_walk.cc); symlinks are
// made again or, with dereference, followed (copy_dir_follow.cc).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>

#include <string>
#include <unordered_set>
#include <vector>

#include "batch.h"
#include "dir_listing.h"
#include "open_path.h"
#include "preserve.h"
#include "stat_calls.h"
#include "sys.h"
#include "walker.h"

namespace cowcopy {

extern const char* const kCycleReason;
extern const char* const kMovedReason;

const char* special_type_name(unsigned char t);

inline std::string join(const std::string& a, const std::string& b) {
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

class CopyDirWalk : public Walker {
 public:
  CopyDirWalk(BatchState& state, DescriptorShare& share, TreeFilter* filter, const std::string& src_root,
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
    remember_dest_dir(node);
    return 0;
  }
  // The same for one whose identity is known (the root).
  void remember_dest_dir(const DirNode& node) { dest_dirs_.insert(DevIno{node.dst_dev, node.dst_ino}); }

  // Mode, owner and extended attributes (ACLs among them) decide who may
  // enter a directory: only one this call made takes the source's. One that
  // was there keeps them, destDir included; it gets the timestamps, as with
  // cp -p.
  int finish(DirNode& n) override {
    Preserve p = state_.opts.preserve;
    if (n.created && !n.src.valid() && p.xattrs) {
      // The source was moved while the walker had it closed: all but the
      // extended attributes, from what was seen when it was opened.
      p.xattrs = false;
      int err = finish_metadata(-1, n.dst.get(), n.st, p, true);
      return err ? err : kReplacedErr;
    }
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
  void place_chunk(Chunk& chunk, CopyRequest& req, LocalStats& local) override;

  void report(const DirNode& dir, const std::string& name, int err, const char* reason = nullptr) {
    const std::string file = join(dir.rel(), name);
    state_.add_error(join(src_root_, file), join(dest_root_, file), err,
                     reason ? reason : (err == kReplacedErr ? kReplacedReason : nullptr));
  }

  // Depth first, one directory at a time; path_ is the chain down to the
  // directory being listed, `pending` the directories still to open (each
  // one's parent is on path_ when it is its turn).
  void walk() override;

  // Lists path_.back(): files go to the copy threads in chunks, symlinks are
  // made here, directories pushed on `pending`. False when the listing failed.
  bool scan(std::vector<PendingDir>& pending);
  void symlink(const DirNode& dir, const std::string& name);

  // Opens the source directory and makes (or opens) its destination, as
  // path_'s new end. False (reported) when it cannot be.
  bool open_child(const PendingDir& p);

  // A followed directory that is `dir` or one of its ancestors would be
  // walked again inside itself, without end (fs.cp goes on until the path
  // holds too many links: ELOOP, after copying the cycle 40 levels deep).
  static bool is_ancestor(const DirNode& dir, const struct stat& st);

  // dereference: what a symlink leads to, learned from a descriptor. O_PATH
  // opens nothing for reading (a device's open has side effects; a FIFO's
  // would block), fstat says what it is: a directory is walked (open_child
  // proves it is this one again), a regular file is copied through this
  // very descriptor, anything else is skipped as in the walk. Only read:
  // nothing is ever created or changed where a link leads.
  void follow_link(const DirNode& dir, size_t depth, const std::string& name, std::vector<PendingDir>& pending);

  // A regular file behind a symlink, copied by the walker with copy_file's
  // rules. Its source is reopened through /proc/self/fd (the inode `target`
  // holds, never the name resolved again). ENOENT there means no /proc (the
  // held inode cannot be missing; the source is opened before anything is
  // created): then by the name, following, proved to be the same inode.
  void copy_followed_file(const DirNode& dir, const std::string& name, int target, const struct stat& st);

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

}  // namespace cowcopy
