// The one place where a copy opens a path (README, Security: trees other people wrote). Every file a
// copy reads or writes is opened here, relative to a directory descriptor,
// without blocking (a FIFO or a device must not hang a thread), checked to be
// a regular file, and, for tree walks, never through a symlink at the leaf
// and proved to be the inode the listing returned.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdint>

#include "unique_fd.h"

namespace cowcopy {

// A listed entry that is another file by the time it is opened: skipped with
// this errno and kReplacedReason (coreutils: "skipping file ..., as it was
// replaced while being copied").
constexpr int kReplacedErr = ESTALE;
extern const char* const kReplacedReason;

struct OpenRules {
  bool nofollow = false;    // a symlink at the leaf is refused (ELOOP), never followed
  uint64_t expect_ino = 0;  // non-zero: the opened file must be this inode (getdents64 d_ino)
};

// False on overlayfs, whose layers on different filesystems (no xino) may
// list a d_ino that is not the st_ino of the same file: there the listing
// cannot prove identity, and O_NOFOLLOW under a held directory is what
// remains. Asked only after a mismatch, so it costs nothing otherwise.
bool listing_ino_reliable(int fd);
// Whether fd is on overlayfs (one fstatfs).
bool on_overlayfs(int fd);

// Why a non-regular file is refused, as text for the error message.
const char* not_regular_reason(mode_t mode, bool is_source);

// Opens an existing regular file (access: O_RDONLY, O_WRONLY or O_RDWR) with
// O_NONBLOCK set, and it stays set (kWouldBlockReason); `st` is its fstat. Errors: the open's errno, EISDIR,
// EINVAL with a reason for FIFOs, sockets and devices, kReplacedErr.
int open_regular(int dir, const char* name, int access, const OpenRules& rules, UniqueFd& fd,
                 struct stat& st, const char*& reason);

// Opens a destination: created exclusively with `create_mode` (created =
// true; st is not filled), or, when `overwrite`, the regular file already
// there (created = false; st filled). Never creates a file at the far end of
// a dangling symlink (EEXIST with a reason); with rules.nofollow never opens
// any symlink (ELOOP).
int open_dest(int dir, const char* name, int access, mode_t create_mode, bool overwrite,
              const OpenRules& rules, UniqueFd& fd, struct stat& st, bool& created, const char*& reason);

// The reason given with EAGAIN from a read or write: files stay O_NONBLOCK
// (it changes nothing for a file on a disk), so a "regular" file whose read()
// waits for data, like /proc/kmsg, fails at once instead of hanging a thread.
extern const char* const kWouldBlockReason;
// The reason given with EAGAIN from a clone that was the only method allowed.
extern const char* const kCloneNotNowReason;

// Removes `name` only while it still names the file open as `fd`: someone may
// have replaced it meanwhile, and their file is not ours to delete.
void remove_if_ours(int dir, const char* name, int fd);
// The same, for a file known by its fstat (its descriptor already closed).
void remove_if_same(int dir, const char* name, const struct stat& ours);

// Directories a copy makes (copyDir, importFiles): mkdirat 0700, then
// opened by name. check_fresh_dir: the opened one must still be ours, private
// and empty, else someone swapped another in between the two calls and
// giving it a mode or owner would hand out a directory that is not ours.
// 0 when fresh, kReplacedErr when not ours, or the errno of a failed check.
// expect_private: it was made 0700 (importFiles makes directories with
// mkdir's mode: then it must be ours and empty).
int check_fresh_dir(int fd, bool expect_private = true);
// Removes a directory the call made, only while `name` in `dir` still is the
// directory open as `fd` (fd -1: any empty directory there).
void remove_dir_if_ours(int dir, const char* name, int fd);

// Whether files created in this directory get their mode from a default ACL
// rather than the umask (true too when that cannot be told).
bool has_default_acl(int dir_fd);

}  // namespace cowcopy
