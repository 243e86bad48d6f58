// copyDir with dereference: a symlink in the source is followed through a
// descriptor, never by its name again.
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

// A followed directory that is `dir` or one of its ancestors would be
// walked again inside itself, without end (fs.cp goes on until the path
// holds too many links: ELOOP, after copying the cycle 40 levels deep).
bool CopyDirWalk::is_ancestor(const DirNode& dir, const struct stat& st) {
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
void CopyDirWalk::follow_link(const DirNode& dir, size_t depth, const std::string& name, std::vector<PendingDir>& pending) {
  keep_within_room();  // the walker holds the link's target and copies it here
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
    state_.add_skipped(join(src_root_, join(dir.rel(), name)), special_type_name(dirent_type(st.st_mode)));
  }
}

// A regular file behind a symlink, copied by the walker with copy_file's
// rules. Its source is reopened through /proc/self/fd (the inode `target`
// holds, never the name resolved again). ENOENT there means no /proc (the
// held inode cannot be missing; the source is opened before anything is
// created): then by the name, following, proved to be the same inode.
void CopyDirWalk::copy_followed_file(const DirNode& dir, const std::string& name, int target, const struct stat& st) {
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

}  // namespace cowcopy
