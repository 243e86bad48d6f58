#include "fallback.h"

#include <cerrno>

namespace cowcopy {

const char* method_name(Method m) {
  switch (m) {
    case Method::kNone: return "none";
    case Method::kClone: return "clone";
    case Method::kCopyFileRange: return "copy_file_range";
    case Method::kSendfile: return "sendfile";
    case Method::kReadWrite: return "readwrite";
    case Method::kHardlink: return "hardlink";
  }
  return "none";
}

Method first_method(ReflinkMode mode) {
  // 'never' skips copy_file_range too: on btrfs, XFS and NFS 4.2 it may share
  // extents instead of copying them, which is exactly what 'never' rules out.
  if (mode == ReflinkMode::kNever) return Method::kSendfile;
  return mode == ReflinkMode::kCopyOnly ? Method::kCopyFileRange : Method::kClone;
}

// errno values that mean "this method is not available for these two files",
// never "the copy itself went wrong". Anything else (ENOSPC, EDQUOT, EIO,
// ENOMEM, EFBIG, EROFS, EPERM on the destination's open...) is terminal.
static bool clone_unavailable(int err) {
  switch (err) {
    case EXDEV:       // different filesystems (or mounts of one, before 5.18)
    case EOPNOTSUPP:  // the filesystem cannot share extents (ext4, tmpfs)
    case ENOSYS:
    case ENOTTY:      // the ioctl is unknown to this filesystem or file type
    case EINVAL:      // btrfs: different NODATASUM flags, unaligned inline extent
    case EBADF:       // some FUSE/overlay setups: fd opened with unsuitable flags
    case EPERM:       // some filesystems refuse the ioctl to non-owners
    case EACCES:
    case ETXTBSY:     // destination is a swap file
    case EAGAIN:      // passing: this file is copied instead (never
    case ENOMEM:      // remembered as "no clones here": ladder.cc)
      return true;
    default:
      return false;
  }
}

static bool copy_file_range_unavailable(int err) {
  switch (err) {
    case EXDEV:       // cross-filesystem, not supported by this pair
    case EOPNOTSUPP:
    case ENOSYS:      // kernel older than 4.5 or blocked by seccomp
    case EINVAL:      // a file type or flag the filesystem does not accept
    case EBADF:
    case EPERM:       // container runtimes that deny the syscall
    case ETXTBSY:
    case kNoProgress:  // 0 bytes at offset 0: the kernel bounds it by i_size,
                       // which /proc and /sys files report as 0
      return true;
    default:
      return false;
  }
}

static bool sendfile_unavailable(int err) {
  switch (err) {
    case EINVAL:      // the source cannot be spliced (no splice_read)
    case ENOSYS:
    case EOPNOTSUPP:
      return true;
    default:
      return false;
  }
}

Method next_method(ReflinkMode mode, Method failed, int err) {
  if (mode == ReflinkMode::kAlways) return Method::kNone;
  switch (failed) {
    case Method::kClone:
      return clone_unavailable(err) ? Method::kCopyFileRange : Method::kNone;
    case Method::kCopyFileRange:
      return copy_file_range_unavailable(err) ? Method::kSendfile : Method::kNone;
    case Method::kSendfile:
      return sendfile_unavailable(err) ? Method::kReadWrite : Method::kNone;
    case Method::kReadWrite:
    case Method::kHardlink:
    case Method::kNone:
      return Method::kNone;
  }
  return Method::kNone;
}

}  // namespace cowcopy
