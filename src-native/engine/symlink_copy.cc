#include "symlink_copy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <vector>

#include "atomic_dest.h"
#include "open_path.h"
#include "stat_calls.h"
#include "sys.h"
#include "unique_fd.h"

namespace cowcopy {

std::string normalize_absolute(const std::string& p) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= p.size()) {
    size_t end = p.find('/', i);
    if (end == std::string::npos) end = p.size();
    std::string seg = p.substr(i, end - i);
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(std::move(seg));
    }
    i = end + 1;
  }
  if (parts.empty()) return "/";
  std::string out;
  for (const std::string& part : parts) out += "/" + part;
  return out;
}

namespace {

// A symlink's owner and times, set through an O_PATH descriptor of the link
// this call made, never through its name: in a directory another user can
// write, the name may lead to their file by now (an attacker's hard link to
// a third user's file got that file chowned). Not permitted (EPERM) is fine
// for the owner, as for files.
int link_metadata(int link, const struct stat& st, const Preserve& p) {
  if (p.ownership &&
      retry_eintr([&] { return ::fchownat(link, "", st.st_uid, st.st_gid, AT_EMPTY_PATH); }) == -1 &&
      errno != EPERM) {
    return errno;
  }
  if (p.timestamps) {
    struct timespec times[2] = {st.st_atim, st.st_mtim};
    if (retry_eintr([&] { return ::utimensat(link, "", times, AT_EMPTY_PATH); }) == -1) {
      // Kernels before AT_EMPTY_PATH for utimensat: the descriptor's /proc
      // link names the same symlink object (a magic link, not its target).
      if (errno != ENOENT && errno != EINVAL) return errno;
      char proc[64];
      std::snprintf(proc, sizeof proc, "/proc/self/fd/%d", link);
      if (retry_eintr([&] { return ::utimensat(AT_FDCWD, proc, times, 0); }) == -1) return errno;
    }
  }
  return 0;
}

// The link this call just made at `name`, as an O_PATH descriptor: it must
// be a symlink owned by us (another user cannot make one we own), else the
// name was swapped since symlinkat.
int open_own_link(int dir, const char* name, UniqueFd& out) {
  int fd = retry_eintr([&] { return ::openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC); });
  if (fd == -1) return errno;
  out = UniqueFd(fd);
  struct stat st;
  if (sys_fstat(fd, &st) == -1) return errno;
  if (!S_ISLNK(st.st_mode) || st.st_uid != ::geteuid()) return kReplacedErr;
  return 0;
}

// Made under a hidden temporary name (".cowcopy-<12 hex>.lnk", short so a
// 255-byte name can still be replaced), given its owner and times, renamed
// into place: an existing link stays until the new one is complete, and a
// failure leaves nothing this call made.
int link_via_temp(int dst, const std::string& name, const std::string& target, const struct stat* st,
                  const SymlinkOptions& o) {
  std::string temp;
  for (int attempt = 0;; ++attempt) {
    temp = ".cowcopy-" + random_hex12() + ".lnk";
    if (retry_eintr([&] { return ::symlinkat(target.c_str(), dst, temp.c_str()); }) == 0) break;
    if (errno != EEXIST || attempt == 3) return errno;
  }
  int err = 0;
  if (st) {
    UniqueFd link;
    err = open_own_link(dst, temp.c_str(), link);
    if (err == 0) err = link_metadata(link.get(), *st, o.preserve);
    if (err == kReplacedErr) return err;  // nothing of ours is at the temporary name
  }
  // A directory at the name: renameat refuses (EISDIR) and it stays.
  if (err == 0) {
    if (o.overwrite) {
      if (retry_eintr([&] { return ::renameat(dst, temp.c_str(), dst, name.c_str()); }) == -1) err = errno;
    } else {
      err = rename_noreplace(dst, temp.c_str(), name.c_str());
    }
  }
  if (err) retry_eintr([&] { return ::unlinkat(dst, temp.c_str(), 0); });
  return err;
}

}  // namespace

int copy_symlink(int src_dir, int dst_dir, const std::string& name, const SymlinkOptions& o) {
  std::string target(256, '\0');
  for (;;) {
    ssize_t n = retry_eintr([&] { return ::readlinkat(src_dir, name.c_str(), &target[0], target.size()); });
    if (n == -1) return errno;
    if (static_cast<size_t>(n) < target.size()) {
      target.resize(static_cast<size_t>(n));
      break;
    }
    target.resize(target.size() * 2);
  }
  if (!o.base.empty() && !target.empty() && target[0] != '/') target = normalize_absolute(o.base + "/" + target);
  const bool meta = o.preserve.timestamps || o.preserve.ownership;
  struct stat st;
  if (meta && sys_fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == -1) return errno;
  // Straight to its name when that is free and nothing more is to be set.
  if (!meta) {
    if (retry_eintr([&] { return ::symlinkat(target.c_str(), dst_dir, name.c_str()); }) == 0) return 0;
    if (errno != EEXIST || !o.overwrite) return errno;
  }
  return link_via_temp(dst_dir, name, target, meta ? &st : nullptr, o);
}

}  // namespace cowcopy
