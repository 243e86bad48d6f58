#include "open_path.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "dir_listing.h"
#include "stat_calls.h"
#include "sys.h"

namespace cowcopy {

const char* const kReplacedReason = "replaced while being copied";
const char* const kWouldBlockReason = "would block: not a regular disk file";
const char* const kCloneNotNowReason = "the filesystem cannot share these extents now (try again, or let it copy)";

const char* not_regular_reason(mode_t mode, bool is_source) {
  if (S_ISCHR(mode)) return is_source ? "source is a character device, not a regular file"
                                      : "destination is a character device, not a regular file";
  if (S_ISBLK(mode)) return is_source ? "source is a block device, not a regular file"
                                      : "destination is a block device, not a regular file";
  if (S_ISFIFO(mode)) return is_source ? "source is a FIFO, not a regular file"
                                       : "destination is a FIFO, not a regular file";
  if (S_ISSOCK(mode)) return is_source ? "source is a socket, not a regular file"
                                       : "destination is a socket, not a regular file";
  if (S_ISLNK(mode)) return is_source ? "source is a symbolic link, not following it"
                                      : "destination is a symbolic link, not writing through it";
  return is_source ? "source is not a regular file" : "destination is not a regular file";
}

namespace {

// What an open that was refused found at the name (ELOOP from O_NOFOLLOW,
// ENXIO from a FIFO without a reader): say what it is.
int explain(int dir, const char* name, int err, bool is_source, const char*& reason) {
  struct stat what;
  if ((err == ELOOP || err == ENXIO) && retry_eintr([&] { return sys_fstatat(dir, name, &what, AT_SYMLINK_NOFOLLOW); }) == 0 &&
      !S_ISREG(what.st_mode) && !S_ISDIR(what.st_mode)) {
    reason = not_regular_reason(what.st_mode, is_source);
    return S_ISLNK(what.st_mode) ? ELOOP : EINVAL;
  }
  return err;
}

int check_opened(int fd, const OpenRules& rules, bool is_source, struct stat& st, const char*& reason) {
  if (retry_eintr([&] { return sys_fstat(fd, &st); }) == -1) return errno;
  if (rules.expect_ino != 0 && static_cast<uint64_t>(st.st_ino) != rules.expect_ino && listing_ino_reliable(fd)) {
    reason = kReplacedReason;
    return kReplacedErr;
  }
  if (S_ISDIR(st.st_mode)) return EISDIR;
  if (!S_ISREG(st.st_mode)) {
    reason = not_regular_reason(st.st_mode, is_source);
    return EINVAL;
  }
  return 0;
}

}  // namespace

bool on_overlayfs(int fd) {
  struct statfs sfs;
  return ::fstatfs(fd, &sfs) == 0 && static_cast<unsigned long>(sfs.f_type) == 0x794c7630UL;  // OVERLAYFS_SUPER_MAGIC
}

bool listing_ino_reliable(int fd) { return !on_overlayfs(fd); }

int open_regular(int dir, const char* name, int access, const OpenRules& rules, UniqueFd& fd,
                 struct stat& st, const char*& reason) {
  const int flags = access | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (rules.nofollow ? O_NOFOLLOW : 0);
  const bool is_source = access == O_RDONLY;
  int raw = retry_eintr([&] { return ::openat(dir, name, flags); });
  if (raw == -1) return explain(dir, name, errno, is_source, reason);
  fd = UniqueFd(raw);
  return check_opened(raw, rules, is_source, st, reason);
}

int open_dest(int dir, const char* name, int access, mode_t create_mode, bool overwrite,
              const OpenRules& rules, UniqueFd& fd, struct stat& st, bool& created, const char*& reason) {
  // Each round: exclusive create, else open what is there. ENOENT from the
  // second open means the name exists but leads nowhere: a dangling symlink
  // (or a file removed between the two calls, hence the retry).
  const int nofollow = rules.nofollow ? O_NOFOLLOW : 0;
  for (int round = 0; round < 3; ++round) {
    int raw = retry_eintr([&] {
      return ::openat(dir, name, access | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, create_mode);
    });
    if (raw != -1) {
      fd = UniqueFd(raw);
      created = true;
      return 0;
    }
    if (errno != EEXIST || !overwrite) return errno;
    raw = retry_eintr([&] { return ::openat(dir, name, access | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | nofollow); });
    if (raw != -1) {
      fd = UniqueFd(raw);
      created = false;
      OpenRules existing;  // the destination is not from a listing
      return check_opened(raw, existing, false, st, reason);
    }
    if (errno != ENOENT) return explain(dir, name, errno, false, reason);
  }
  // Like cp: never create a file at the far end of a dangling symlink.
  reason = "destination is a dangling symbolic link, not writing through it";
  return EEXIST;
}


void remove_if_ours(int dir, const char* name, int fd) {
  struct stat ours;
  if (retry_eintr([&] { return sys_fstat(fd, &ours); }) == 0) remove_if_same(dir, name, ours);
}

void remove_if_same(int dir, const char* name, const struct stat& ours) {
  struct stat now;
  if (retry_eintr([&] { return sys_fstatat(dir, name, &now, AT_SYMLINK_NOFOLLOW); }) == 0 &&
      now.st_dev == ours.st_dev && now.st_ino == ours.st_ino) {
    retry_eintr([&] { return ::unlinkat(dir, name, 0); });
  }
}

// Removes a directory this call made, only while `name` in `dir` still is
// the directory open as `fd` (or, with no descriptor, any empty directory
// there: rmdir never removes one with content).
void remove_dir_if_ours(int dir, const char* name, int fd) {
  struct stat ours, now;
  if (fd >= 0 && (sys_fstat(fd, &ours) == -1 || sys_fstatat(dir, name, &now, AT_SYMLINK_NOFOLLOW) == -1 ||
                  now.st_dev != ours.st_dev || now.st_ino != ours.st_ino)) {
    return;
  }
  retry_eintr([&] { return ::unlinkat(dir, name, AT_REMOVEDIR); });
}

// A directory this call's mkdirat made, opened by name afterwards: it must
// still be ours, private and empty. Otherwise someone swapped another
// directory in between the two calls, and giving it the source's mode or
// owner would hand out a directory that is not ours (a racer got a 0700
// directory of another user's made 0777).
// 0 when fresh, kReplacedErr when not ours, or the errno of a failed check.
int check_fresh_dir(int fd, bool expect_private) {
  struct stat st;
  if (sys_fstat(fd, &st) == -1) return errno;
  if (!S_ISDIR(st.st_mode) || st.st_uid != ::geteuid()) return kReplacedErr;
  if (expect_private && (st.st_mode & 077) != 0) return kReplacedErr;
  alignas(8) char buf[512];
  bool empty = true;
  int err = each_entry(fd, buf, sizeof buf, [&](const char*, unsigned char, uint64_t) { return empty = false; }, true);
  if (err) return err;
  if (!empty) return kReplacedErr;
  return 0;
}

bool has_default_acl(int dir_fd) {
  if (::fgetxattr(dir_fd, "system.posix_acl_default", nullptr, 0) >= 0) return true;
  // No ACL (ENODATA), or none supported here (EOPNOTSUPP): the umask rules.
  return errno != ENODATA && errno != EOPNOTSUPP;
}

}  // namespace cowcopy
