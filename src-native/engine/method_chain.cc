#include "method_chain.h"

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

// The table. Only answers documented (or seen) for "this method cannot copy
// these two files" are kNextMethod; anything else (ENOSPC, EDQUOT, EIO,
// ENOMEM, EFBIG, EROFS, ESTALE, EPERM on the destination's open...) is the
// copy failing, whatever method saw it first. The next method takes over at
// DataState::offset, so an answer that comes after part of the file went
// over (NFS, SMB, CephFS servers) loses nothing and repeats nothing.

// ioctl(FICLONE) / ioctl(FICLONERANGE).
bool clone_not_available(int err) {
  switch (err) {
    case EOPNOTSUPP:  // the filesystem cannot share extents (ext4, tmpfs; an
                      // NFS 4.2 or SMB3 server without CLONE / duplicate
                      // extents; OpenZFS with block cloning disabled)
    case EXDEV:       // two filesystems (or two mounts of one before 5.18;
                      // two OpenZFS pools)
    case EINVAL:      // btrfs: different NODATASUM flags, an unaligned inline
                      // extent; OpenZFS: records of different sizes
    case ENOTTY:      // the ioctl is unknown to this filesystem or file type
    case EPERM:       // unprivileged containers refuse the ioctl
    case EACCES:
    case ENOSYS:
      return true;
    default:
      return false;
  }
}

static Verdict clone_verdict(int err) {
  if (clone_not_available(err)) return Verdict::kNextMethod;
  switch (err) {
    case EAGAIN:   // OpenZFS 2.2+: the source has data not yet synced, which
                   // block cloning cannot share (openzfs/zfs#15170, #15172;
                   // pnpm#9959). Not this file, not now: never remembered.
    case EBADF:    // some FUSE and overlay setups: an fd opened with flags
                   // the filesystem does not accept for the ioctl
    case ETXTBSY:  // the destination is a swap file
      return Verdict::kNextMethod;
    default:
      return Verdict::kFailed;
  }
}

// copy_file_range(2). libuv (src/unix/fs.c) falls back on the same answers.
static Verdict copy_file_range_verdict(int err) {
  switch (err) {
    case EXDEV:       // two filesystems (before 5.3, or of different types
                      // since 5.19); an NFS 4.2 server copying between exports
    case EOPNOTSUPP:  // an NFS 4.2, SMB3 or CephFS server that cannot copy
                      // server-side (CephFS: copyfrom off, different layouts)
    case ENOSYS:      // a kernel before 4.5, or a seccomp filter
    case EINVAL:      // a file type or flag the filesystem does not accept;
                      // offsets an NFS server refuses; ecryptfs always
                      // (libglnx#3, ostree#2525)
    case EBADF:
    case EPERM:       // container runtimes that deny the syscall; CIFS says
                      // it spuriously (libuv)
    case EACCES:      // CephFS before 4.20 uses RADOS copy-from wrongly (libuv)
    case ETXTBSY:
    case EAGAIN:      // OpenZFS 2.2+ while block cloning cannot proceed
                      // (openzfs/zfs#15170, #15172; pnpm#9959): a regular
                      // file's bytes, so the next method can still read them.
                      // A file that truly would block says so to read().
    case kNoProgress:  // 0 bytes at offset 0: the kernel bounds it by i_size,
                       // which /proc and /sys files report as 0
      return Verdict::kNextMethod;
    default:
      return Verdict::kFailed;
  }
}

// sendfile(2): a page-cache copy that only needs the source to splice.
static Verdict sendfile_verdict(int err) {
  switch (err) {
    case EINVAL:      // the source cannot be spliced (no splice_read);
                      // ecryptfs (libglnx#3)
    case ENOSYS:
    case EOPNOTSUPP:
    case EAGAIN:      // a regular file opened O_NONBLOCK whose pages are not
                      // in memory yet on a filesystem that honours it: read()
                      // waits for them, or says EAGAIN itself when the file
                      // really would block (/proc/kmsg keeps its message)
      return Verdict::kNextMethod;
    default:
      return Verdict::kFailed;
  }
}

Verdict verdict(Method failed, int err) {
  if (err == EINTR) return Verdict::kRetry;
  switch (failed) {
    case Method::kClone: return clone_verdict(err);
    case Method::kCopyFileRange: return copy_file_range_verdict(err);
    case Method::kSendfile: return sendfile_verdict(err);
    case Method::kReadWrite:
    case Method::kHardlink:
    case Method::kNone:
      return Verdict::kFailed;
  }
  return Verdict::kFailed;
}

Method next_method(ReflinkMode mode, Method failed, int err) {
  if (mode == ReflinkMode::kAlways) return Method::kNone;
  if (verdict(failed, err) != Verdict::kNextMethod) return Method::kNone;
  switch (failed) {
    case Method::kClone: return Method::kCopyFileRange;
    case Method::kCopyFileRange: return Method::kSendfile;
    case Method::kSendfile: return Method::kReadWrite;
    case Method::kReadWrite:
    case Method::kHardlink:
    case Method::kNone:
      return Method::kNone;
  }
  return Method::kNone;
}

}  // namespace cowcopy
