// Replacing a destination through a temporary file in its directory, which
// is renamed over the destination only when complete (atomic: true, and the
// batches' replace_by_rename). An anonymous O_TMPFILE is preferred: a crash
// before the last step leaves nothing behind. Every call works relative to
// the directory's descriptor, opened once (README, Security: trees other people wrote).
#pragma once

#include <sys/stat.h>

#include <string>

#include "unique_fd.h"

namespace cowcopy {

// The directory a destination name lives in, and the name in it.
class DestDir {
 public:
  // `path` relative to `dir` (AT_FDCWD: the working directory). A bare name
  // under a real directory fd uses that fd; otherwise the parent directory
  // is opened (O_DIRECTORY). 0 or a positive errno (EISDIR for "dir/").
  int open(int dir, const std::string& path);
  int fd() const { return fd_; }
  const char* name() const { return base_.c_str(); }
  const std::string& base() const { return base_; }

 private:
  UniqueFd owned_;
  int fd_ = -1;
  std::string base_;
};

// What is at a destination name, looked at without following a symlink and
// without opening it: 0 when the name may be replaced (or is free); EISDIR
// for a directory; EEXIST when taken and !overwrite (the source's own inode
// included); `same` when it is the source's inode and overwrite is allowed
// (nothing to do).
int check_existing(const DestDir& d, const struct stat& src_st, bool overwrite, bool& same);

class TempDest {
 public:
  // Opens the temporary file in `d`, which must outlive this object, with
  // `mode` (less the umask): 0600, or a final mode never more visible than
  // the finished file will be (see copy_file.cc).
  int open(const DestDir& d, mode_t mode = 0600);
  int fd() const { return fd_.get(); }
  // An O_TMPFILE: no name anyone could open until publish().
  bool anonymous() const { return named_.empty(); }
  // Puts the finished file in place under d.name(): renamed over it, or,
  // when `overwrite` is false, failing with EEXIST if a file appeared there
  // meanwhile. Closes the file. `sync_dir`: fsync the directory afterwards so
  // the name is durable; if only that fails, the destination is in place and
  // `reason` says so.
  // `flush`: close a duplicate first, so a failed write-back (NFS, quota)
  // surfaces before the file is visible; a clone wrote no data to flush.
  int publish(bool overwrite, bool sync_dir, const char*& reason, bool flush = true);
  // Drops the temporary file (called for every failure and abort).
  void discard();
  ~TempDest() { discard(); }

 private:
  int link_anonymous(const char* to);
  int flush_check();
  const DestDir* dir_ = nullptr;
  UniqueFd fd_;
  std::string named_;  // the temporary's name, when not anonymous (or once linked)
};

// Gives the open file `fd` the name `name` in `dir`, by the descriptor (never
// a path resolved again): AT_EMPTY_PATH where the caller may, else its
// /proc/self/fd link. 0 or an errno.
int link_fd(int fd, int dir, const char* name);

// Renames `from` to `to` in `dir` only while `to` is free: RENAME_NOREPLACE,
// else (a filesystem without it) linkat then unlinkat of `from`; a link that
// cannot be undone that way is removed again only while `to` is still the
// renamed inode. A directory cannot go the link-then-unlink way (EPERM from linkat).
// 0 or an errno (EEXIST: taken).
int rename_noreplace(int dir, const char* from, const char* to);

// The reason given when the directory fsync after a successful rename fails.
extern const char* const kDirSyncReason;

// ".<base>.cowcopy-<12 hex>", with <base> shortened (on a UTF-8 boundary) so
// the whole fits NAME_MAX. Exposed for tests.
std::string temp_name(const std::string& base);

// 12 random hex digits for a temporary name (O_EXCL or EEXIST keeps it unique).
std::string random_hex12();

}  // namespace cowcopy
