// copy_file: one whole copy, from open to close, on the calling thread.
// Plain C++ with no N-API: the binding runs it on a worker thread or inline.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "control.h"
#include "method.h"
#include "open_path.h"
#include "preserve.h"

namespace cowcopy {

struct CopyRequest {
  std::string src;   // relative to src_dir (AT_FDCWD: the working directory)
  std::string dest;  // relative to dest_dir
  int src_dir = -100;   // AT_FDCWD
  int dest_dir = -100;  // AT_FDCWD
  // The destination's directory is out of others' reach until the caller is
  // done (a directory a tree copy created 0700): a new file may be created
  // with its final mode at once even when ownership or xattrs are preserved,
  // and with `umask` (read by the caller) the fchmod is known unneeded
  // without looking. Elsewhere a new file gets its final mode at creation
  // only when that is safe (copy_file.cc), and the fchmod is skipped when
  // the clone's fstat shows the mode whole.
  bool dest_dir_private = false;
  // dest_dir has a default ACL: the umask does not say what mode open() gives.
  bool dest_dir_acl = false;
  mode_t umask = 022;  // with dest_dir_private: which mode bits open() strips
  ReflinkMode reflink = ReflinkMode::kAuto;
  bool overwrite = true;  // false: fail with EEXIST when dest exists (COPYFILE_EXCL)
  bool sparse = true;     // byte copies skip the source's holes
  bool atomic = false;    // temporary file + rename: dest is old or new, never partial
  bool fsync = false;     // flush data (and, with atomic, the directory) before returning
  Preserve preserve;      // mode is always kept
  Control control;        // cancel flag and progress words, if any
  // Tree walks (README, Security: trees other people wrote): the source leaf is never a symlink and
  // must be the inode the listing returned; the destination leaf is never
  // followed.
  OpenRules src_rules;
  OpenRules dest_rules;
  // Batches (copyFiles, copyDir): an existing destination is never opened or
  // truncated; the copy goes to a temporary file in dest_dir that renameat
  // puts in its place, so a failed file keeps its old content and a symlink
  // at the name is replaced, not followed.
  bool replace_by_rename = false;
  // dest_dir was made by this call and holds only what it placed (each name
  // once): an atomic copy need not look for an existing destination first.
  bool dest_dir_fresh = false;
  // Batches: the order of ways to place the file (importFiles, copyDir,
  // copyFiles with `link`; place_file walks it, copy_file ignores it), and
  // whether rungs found unavailable between two devices are remembered for
  // the rest of the process (ladder.h). dest_dev: st_dev of dest_dir when
  // the caller knows it (0: found out only when needed).
  Ladder ladder;
  bool remember = false;
  uint64_t dest_dev = 0;
  // Whether dest_dir is on overlayfs, when the caller knows (a walk asks
  // once per filesystem): 1 or 0; -1: the hard link rung asks fstatfs.
  signed char dest_overlay = -1;
};

struct CopyResult {
  int err = 0;                   // 0 or a positive errno (ECANCELED when cancelled)
  const char* reason = nullptr;  // a clearer text than strerror(err), when we have one
  Method method = Method::kNone; // the method that moved the data (or failed last)
  uint64_t bytes = 0;            // the destination's size from the source
  uint64_t src_dev = 0;          // the source's st_dev, once it was opened
  bool on_overlay = false;       // a hardlink made on overlayfs (maybe a copy-up)
};

CopyResult copy_file(const CopyRequest& req);

}  // namespace cowcopy
