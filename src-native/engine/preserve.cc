#include "preserve.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "sys.h"

namespace cowcopy {
namespace {

#ifndef CIFS_SUPER_MAGIC
#define CIFS_SUPER_MAGIC 0xFF534D42
#endif
#ifndef SMB2_SUPER_MAGIC
#define SMB2_SUPER_MAGIC 0xFE534D42
#endif

bool is_smb(int fd) {
  struct statfs sfs;
  if (::fstatfs(fd, &sfs) == -1) return false;
  auto magic = static_cast<unsigned long>(sfs.f_type);
  return magic == CIFS_SUPER_MAGIC || magic == SMB2_SUPER_MAGIC;
}

// Gives the destination the source's permission bits, as fs.copyFile does.
int apply_mode(int dst, mode_t mode, bool created) {
  if (retry_eintr([&] { return ::fchmod(dst, mode & 07777); }) == 0) return 0;
  int err = errno;
  // A file someone else owns that we may write but not chmod keeps its mode
  // (cp does the same); CIFS refuses chmod unless mounted with noperm.
  if (err == EPERM && (!created || is_smb(dst))) return 0;
  return err;
}

// Reads a list or a value whose size can change between the size query and
// the read (ERANGE): retried a few times with the new size.
template <class Query>
int read_sized(Query query, std::vector<char>& out) {
  for (int attempt = 0; attempt < 4; ++attempt) {
    ssize_t n = query(nullptr, 0);
    if (n == -1) return errno;
    out.resize(static_cast<size_t>(n));
    if (n == 0) return 0;
    n = query(out.data(), out.size());
    if (n >= 0) {
      out.resize(static_cast<size_t>(n));
      return 0;
    }
    if (errno != ERANGE) return errno;
  }
  return ERANGE;
}

bool is_user_xattr(const char* name) { return std::strncmp(name, "user.", 5) == 0; }

// Errors that mean "you may not copy this attribute here", acceptable for the
// non-user namespaces (cp -p drops them silently too).
bool not_permitted(int err) {
  return err == EPERM || err == EACCES || err == ENOTSUP || err == EINVAL || err == ENODATA;
}

int copy_xattrs(int src, int dst) {
  std::vector<char> names;
  int err = read_sized([&](char* b, size_t n) {
    return retry_eintr([&] { return ::flistxattr(src, b, n); });
  }, names);
  if (err == ENOTSUP) return 0;  // the source's filesystem has none to give
  if (err) return err;
  std::vector<char> value;
  for (size_t i = 0; i < names.size();) {
    const char* name = names.data() + i;
    i += std::strlen(name) + 1;
    bool user = is_user_xattr(name);
    err = read_sized([&](char* b, size_t n) {
      return retry_eintr([&] { return ::fgetxattr(src, name, b, n); });
    }, value);
    auto set = [&] { return ::fsetxattr(dst, name, value.data(), value.size(), 0); };
    if (err == 0 && retry_eintr(set) == -1) err = errno;
    if (err && (user || !not_permitted(err))) return err;
  }
  return 0;
}

// Whether the copier is a member of `gid` (effective or supplementary).
bool in_group(gid_t gid) {
  if (gid == ::getegid()) return true;
  int n = ::getgroups(0, nullptr);
  if (n <= 0) return false;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  n = ::getgroups(n, groups.data());
  for (int i = 0; i < n; ++i) {
    if (groups[static_cast<size_t>(i)] == gid) return true;
  }
  return false;
}

}  // namespace

int finish_metadata(int src, int dst, const struct stat& src_st, const Preserve& p, bool created,
                    bool mode_set) {
  mode_t mode = src_st.st_mode & 07777;
  bool owner_kept = false;
  if (p.ownership) {
    if (retry_eintr([&] { return ::fchown(dst, src_st.st_uid, src_st.st_gid); }) == 0) owner_kept = true;
    else if (errno != EPERM) return errno;
  }
  // cp's rule: a setuid bit only for the owner it was given by, a setgid bit
  // only for its group. Without the source's ownership, they survive only
  // when the copier is that owner (euid) or in that group; root copying
  // nobody's 6755 file gets a plain 0755 one, not a setuid-root program.
  if (!owner_kept && (mode & (S_ISUID | S_ISGID)) != 0) {
    if (src_st.st_uid != ::geteuid()) mode &= ~static_cast<mode_t>(S_ISUID);
    if ((mode & S_ISGID) != 0 && !in_group(src_st.st_gid)) mode &= ~static_cast<mode_t>(S_ISGID);
  }
  if (p.xattrs) {
    if (int err = copy_xattrs(src, dst)) return err;
  }
  // fchown clears setuid/setgid, so after it the mode is set again.
  if (!mode_set || p.ownership || mode != (src_st.st_mode & 07777)) {
    if (int err = apply_mode(dst, mode, created)) return err;
  }
  if (p.timestamps) {
    struct timespec times[2] = {src_st.st_atim, src_st.st_mtim};
    if (retry_eintr([&] { return ::futimens(dst, times); }) == -1) return errno;
  }
  return 0;
}

}  // namespace cowcopy
