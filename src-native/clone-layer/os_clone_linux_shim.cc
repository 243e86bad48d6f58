// A STAND-IN, FOR TESTS ONLY: the clone layer's three OS calls rebuilt on
// Linux (FICLONE, mkdirat, symlinkat, renameat2) so that the layer's logic
// runs on real btrfs/XFS here. It is not a product path: on Linux cowcopy's
// native engine does the work and this file is in no shipped binary
// (binding.gyp builds it nowhere; test/fixtures/clone-layer.sh does).
//
// It keeps the semantics os_clone.h lists, with macOS's error numbers where
// Linux says the same thing differently (a volume that cannot clone answers
// ENOTSUP). Unlike a real clonefile, a directory's clone is not one atomic
// call: a failure leaves the part already made, which the layer must cope
// with (a real failure may leave one too).
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fd_util.h"
#include "os_clone.h"
#include "shim_hooks.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

namespace cowcopy_layer {

const char* const kOsCloneName = "linux-shim";

#ifdef COWCOPY_SHIM_HOOKS
namespace shim_hooks {
void (*before_clone)() = nullptr;
void (*before_rename)(int, const char*) = nullptr;
void (*after_holder_mkdir)(int, const char*) = nullptr;
void (*after_clone)(int) = nullptr;
int fail_file_clone_at = 0;
int fail_errno = 0;
}  // namespace shim_hooks
#endif

namespace {

// Deeper than the layer ever asks for (it stops at 64): only bounds the
// descriptors a directory's clone holds open at once.
constexpr int kMaxDepth = 256;

// A malloc'd block, freed on every way out (the layer links no C++ runtime).
class Block {
 public:
  Block() = default;
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;
  ~Block() { ::free(p_); }
  // False (and the old block kept) when memory runs out.
  bool resize(size_t n) {
    char* p = static_cast<char*>(::realloc(p_, n ? n : 1));
    if (!p) return false;
    p_ = p;
    size_ = n;
    return true;
  }
  char* data() const { return p_; }
  size_t size() const { return size_; }

 private:
  char* p_ = nullptr;
  size_t size_ = 0;
};

int clone_errno(int err) {
  // FICLONE's ways of saying "this filesystem cannot": no ioctl (ENOTTY) or
  // no reflink support (EOPNOTSUPP), as clonefile says ENOTSUP. EINVAL stays:
  // on Linux it is about this file (a btrfs NOCOW file, one being swapped
  // out), and a caller that took it for the volume would stop cloning there
  // for every file.
  if (err == EOPNOTSUPP || err == ENOTTY) return ENOTSUP;
  return err;
}

// Extended attributes from `from` to `to` (both open). An attribute of a
// namespace the caller may not set (trusted., security.) is left out, as a
// clone by an unprivileged user would; user. attributes must all arrive.
int copy_xattrs(int from, int to) {
  Block names;
  if (!names.resize(1024)) return ENOMEM;
  ssize_t len;
  for (;;) {
    len = retry([&] { return ::flistxattr(from, names.data(), names.size()); });
    if (len >= 0) break;
    if (errno == ENOTSUP) return 0;  // no xattrs on this filesystem: nothing to carry
    if (errno != ERANGE) return errno;
    len = retry([&] { return ::flistxattr(from, nullptr, 0); });
    if (len < 0) return errno;
    if (!names.resize(static_cast<size_t>(len) + 1)) return ENOMEM;
  }
  Block value;
  for (ssize_t at = 0; at < len;) {
    const char* name = names.data() + at;
    at += static_cast<ssize_t>(::strlen(name)) + 1;
    ssize_t vlen = retry([&] { return ::fgetxattr(from, name, nullptr, 0); });
    if (vlen < 0) {
      if (errno == ENODATA) continue;  // removed meanwhile
      return errno;
    }
    if (!value.resize(static_cast<size_t>(vlen) + 1)) return ENOMEM;
    vlen = retry([&] { return ::fgetxattr(from, name, value.data(), value.size()); });
    if (vlen < 0) return errno == ENODATA ? 0 : errno;
    if (retry([&] { return ::fsetxattr(to, name, value.data(), static_cast<size_t>(vlen), 0); }) == -1) {
      bool user = ::strncmp(name, "user.", 5) == 0;
      if (user || (errno != EPERM && errno != ENOTSUP)) return errno;
    }
  }
  return 0;
}

// Removes `name` in `dirfd` only while it is still the inode `ours`.
void unlink_ours(int dirfd, const char* name, const struct stat& ours, int flags) {
  struct stat now;
  if (stat_at(dirfd, name, now) == 0 && same_inode(now, ours)) ::unlinkat(dirfd, name, flags);
}

int injected_failure() {
#ifdef COWCOPY_SHIM_HOOKS
  if (shim_hooks::fail_file_clone_at > 0 && --shim_hooks::fail_file_clone_at == 0) return shim_hooks::fail_errno;
#endif
  return 0;
}

int clone_regular(int srcfd, const struct stat& src, int dstdirfd, const char* name) {
  if (!S_ISREG(src.st_mode)) return EINVAL;
  int fd = open_at(dstdirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
  if (fd == -1) return errno;
  Fd made(fd);
  struct stat ours;
  if (::fstat(made.get(), &ours) == -1) return errno;  // cannot prove it is ours: leave it
  int err = injected_failure();
  if (err == 0 && retry([&] { return ::ioctl(made.get(), FICLONE, srcfd); }) == -1) err = clone_errno(errno);
  if (err == 0) err = copy_xattrs(srcfd, made.get());
  // The mode last: a read-only source must not stop the xattrs.
  mode_t mode = src.st_mode & 07777 & ~static_cast<mode_t>(S_ISUID | S_ISGID);
  if (err == 0 && ::fchmod(made.get(), mode) == -1) err = errno;
  // A failed close (a write-back error) fails the clone too: clonefile
  // either makes the file or fails, so the shim must not leave one it could
  // not finish.
  if (::close(made.release()) == -1 && err == 0) err = errno;
  if (err != 0) unlink_ours(dstdirfd, name, ours, 0);
  return err;
}

int clone_at(int srcdirfd, const char* src, int dstdirfd, const char* name, int depth);

int clone_dir(int srcfd, const struct stat& src, int dstdirfd, const char* name, int depth) {
  if (depth > kMaxDepth) return ELOOP;
  if (::mkdirat(dstdirfd, name, 0700) == -1) return errno;
  Fd made;
  if (int err = open_dir_at(dstdirfd, name, made)) return err;
  Names names;
  if (int err = list_dir(srcfd, names)) return err;
  for (const char* n = names.first(); n; n = names.next(n)) {
    if (int err = clone_at(srcfd, n, made.get(), n, depth + 1)) return err;
  }
  if (int err = copy_xattrs(srcfd, made.get())) return err;
  // The mode after the entries: a read-only directory must be filled first.
  return ::fchmod(made.get(), src.st_mode & 07777) == 0 ? 0 : errno;
}

int clone_at(int srcdirfd, const char* src, int dstdirfd, const char* name, int depth) {
  struct stat st;
  if (int err = stat_at(srcdirfd, src, st)) return err;
  if (S_ISLNK(st.st_mode)) {
    // st_size is the target's length (0 on a few pseudo-filesystems).
    Block target;
    if (!target.resize(st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : 4097)) return ENOMEM;
    ssize_t n = ::readlinkat(srcdirfd, src, target.data(), target.size());
    if (n < 0) return errno;
    if (static_cast<size_t>(n) >= target.size()) return EAGAIN;  // grew meanwhile
    target.data()[n] = 0;
    return ::symlinkat(target.data(), dstdirfd, name) == 0 ? 0 : errno;
  }
  if (S_ISDIR(st.st_mode)) {
    Fd dir;
    if (int err = open_dir_at(srcdirfd, src, dir)) return err;
    struct stat now;
    if (::fstat(dir.get(), &now) == -1) return errno;
    if (!same_inode(now, st)) return EAGAIN;  // replaced between the stat and the open
    return clone_dir(dir.get(), now, dstdirfd, name, depth);
  }
  if (!S_ISREG(st.st_mode)) return ENOTSUP;
  int fd = open_at(srcdirfd, src, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  if (fd == -1) return errno;
  Fd file(fd);
  struct stat now;
  if (::fstat(file.get(), &now) == -1) return errno;
  return clone_regular(file.get(), now, dstdirfd, name);
}

}  // namespace

int os_fclonefileat(int srcfd, int dstdirfd, const char* name) {
  struct stat st;
  if (::fstat(srcfd, &st) == -1) return errno;
  return clone_regular(srcfd, st, dstdirfd, name);
}

int os_clonefileat(int srcdirfd, const char* src, int dstdirfd, const char* name) {
#ifdef COWCOPY_SHIM_HOOKS
  if (shim_hooks::before_clone) shim_hooks::before_clone();
#endif
  return clone_at(srcdirfd, src, dstdirfd, name, 0);
}

int os_rename_excl(int fromdir, const char* from, int todir, const char* to) {
#ifdef COWCOPY_SHIM_HOOKS
  if (shim_hooks::before_rename) shim_hooks::before_rename(todir, to);
#endif
  long r = retry([&] { return ::syscall(SYS_renameat2, fromdir, from, todir, to, RENAME_NOREPLACE); });
  return r == 0 ? 0 : errno;
}

}  // namespace cowcopy_layer
