// The clone layer's two walks by descriptor, never following a symlink:
// scan_tree (what a tree holds, and whether one clone copies it exactly) and
// remove_inside (empties a directory this process made). Header-only so that
// the macOS build's source list (binding.gyp) stays the three files it names.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "fd_util.h"

namespace cowcopy_layer {

// Deeper trees are copied per file: bounds the descriptors a walk holds.
constexpr int kMaxTreeDepth = 64;

struct Scan {
  Scan(dev_t root_dev, bool own_setid_matters) : dev(root_dev), check_setid(own_setid_matters) {}
  dev_t dev;
  bool check_setid;  // an own setuid/setgid file is ineligible (a clone drops the bits)
  uint64_t files = 0;
  uint64_t dirs = 1;  // the root
  uint64_t symlinks = 0;
  uint64_t bytes = 0;
  std::string ineligible;  // why one clone would not copy the tree exactly
};

namespace scan_detail {

inline std::string at(const std::string& rel, const std::string& name) {
  return rel.empty() ? name : rel + "/" + name;
}

inline void refuse(Scan& s, const char* what, const std::string& rel, int err = 0) {
  s.ineligible = std::string(what) + ": " + rel;
  if (err != 0) s.ineligible += std::string(" (") + std::strerror(err) + ")";
}

inline void walk(int dirfd, const std::string& rel, int depth, Scan& s) {
  std::vector<std::string> names;
  if (int err = list_dir(dirfd, names)) {
    if (err == ENOMEM) throw std::bad_alloc();
    return refuse(s, "a directory that cannot be read", rel.empty() ? "." : rel, err);
  }
  for (const std::string& n : names) {
    struct stat st;
    if (int err = stat_at(dirfd, n.c_str(), st)) {
      return refuse(s, err == ENOENT ? "changed while it was read" : "cannot be examined", at(rel, n), err);
    }
#ifdef __APPLE__
    // A clone carries file flags; an immutable or append-only entry is not
    // what a per-file copy makes, and the holder could not be emptied of it.
    if (st.st_flags & (UF_IMMUTABLE | UF_APPEND | SF_IMMUTABLE | SF_APPEND)) {
      return refuse(s, "an immutable or append-only entry", at(rel, n));
    }
#endif
    if (S_ISREG(st.st_mode)) {
      if (s.check_setid && (st.st_mode & (S_ISUID | S_ISGID)) && st.st_uid == ::geteuid()) {
        return refuse(s, "a setuid/setgid file of the copier's (a clone drops the bits)", at(rel, n));
      }
      ++s.files;
      s.bytes += static_cast<uint64_t>(st.st_size);
    } else if (S_ISLNK(st.st_mode)) {
      ++s.symlinks;
    } else if (S_ISDIR(st.st_mode)) {
      std::string sub = at(rel, n);
      if (st.st_dev != s.dev) return refuse(s, "a mount point", sub);
      if (depth + 1 > kMaxTreeDepth) return refuse(s, "deeper than 64 levels", sub);
      Fd fd;
      if (int err = open_dir_at(dirfd, n.c_str(), fd)) return refuse(s, "a directory that cannot be opened", sub, err);
      struct stat now;
      if (::fstat(fd.get(), &now) == -1 || !same_inode(now, st)) return refuse(s, "changed while it was read", sub);
      ++s.dirs;
      walk(fd.get(), sub, depth + 1, s);
      if (!s.ineligible.empty()) return;
    } else {
      const char* what = S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a device";
      return refuse(s, what, at(rel, n));
    }
  }
}

}  // namespace scan_detail

// Walks the directory open on `rootfd` into `s`. Throws only std::bad_alloc;
// every other obstacle is an answer in s.ineligible (the per-file copy then
// meets it and reports it as its own error).
inline void scan_tree(int rootfd, Scan& s) { scan_detail::walk(rootfd, "", 0, s); }

// Empties the directory open on `dirfd`, which this process made and no one
// else can reach (it lies in a 0700 directory of ours): subdirectories a
// clone made read-only (or unreadable) are opened up first. Best effort;
// stops below `depth` 256 to bound descriptors.
inline void remove_inside(int dirfd, int depth) {
  if (depth > 256) return;
  ::fchmod(dirfd, 0700);
  std::vector<std::string> names;
  if (list_dir(dirfd, names) != 0) return;
  for (const std::string& n : names) {
    struct stat st;
    if (stat_at(dirfd, n.c_str(), st) != 0) continue;
    if (!S_ISDIR(st.st_mode)) {
      ::unlinkat(dirfd, n.c_str(), 0);
      continue;
    }
    Fd sub;
    int err = open_dir_at(dirfd, n.c_str(), sub);
    if (err == EACCES) {
      // Follows a symlink by name, but this name was just seen as a
      // directory in a tree only this process can change.
      ::fchmodat(dirfd, n.c_str(), 0700, 0);
      err = open_dir_at(dirfd, n.c_str(), sub);
    }
    struct stat now;
    if (err == 0 && ::fstat(sub.get(), &now) == 0 && same_inode(now, st)) remove_inside(sub.get(), depth + 1);
    sub.reset();
    ::unlinkat(dirfd, n.c_str(), AT_REMOVEDIR);
  }
}

}  // namespace cowcopy_layer
