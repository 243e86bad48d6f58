// The clone layer's two walks by descriptor, never following a symlink:
// scan_tree (what a tree holds, and whether one clone copies it exactly) and
// remove_inside (empties a directory this process made). Header-only so that
// the macOS build's source list (binding.gyp) stays the three files it names.
#pragma once

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "buf.h"
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
  int err = 0;      // ENOMEM: the walk stopped unfinished, its answer is unknown
  Buf ineligible;   // why one clone would not copy the tree exactly
  Buf rel;          // the walk's cursor: the path being looked at, from the root
  bool stopped() const { return err != 0 || !ineligible.empty(); }
};

namespace scan_detail {

// "<what>: <rel>[ (<strerror>)]" about the path at the cursor.
inline void refuse(Scan& s, const char* what, int err = 0) {
  const char* rel = s.rel.empty() ? "." : s.rel.c_str();
  bool ok = s.ineligible.append(what) && s.ineligible.append(": ") && s.ineligible.append(rel);
  if (ok && err != 0) ok = s.ineligible.append(" (") && s.ineligible.append(::strerror(err)) && s.ineligible.append(")");
  if (!ok) {
    s.ineligible.clear();
    s.err = ENOMEM;
  }
}

// Moves the cursor from the directory at `base` bytes to its entry `name`.
inline bool enter(Scan& s, size_t base, const char* name) {
  s.rel.truncate(base);
  if ((base == 0 || s.rel.append("/", 1)) && s.rel.append(name)) return true;
  s.err = ENOMEM;
  return false;
}

// The cursor is at the directory open on `dirfd` when called.
inline void walk(int dirfd, int depth, Scan& s) {
  Names names;
  if (int err = list_dir(dirfd, names)) {
    if (err == ENOMEM) {
      s.err = ENOMEM;
      return;
    }
    return refuse(s, "a directory that cannot be read", err);
  }
  const size_t base = s.rel.size();
  for (const char* n = names.first(); n; n = names.next(n)) {
    if (!enter(s, base, n)) return;
    struct stat st;
    if (int err = stat_at(dirfd, n, st)) {
      return refuse(s, err == ENOENT ? "changed while it was read" : "cannot be examined", err);
    }
#ifdef __APPLE__
    // A clone carries file flags; an immutable or append-only entry is not
    // what a per-file copy makes, and the holder could not be emptied of it.
    if (st.st_flags & (UF_IMMUTABLE | UF_APPEND | SF_IMMUTABLE | SF_APPEND)) {
      return refuse(s, "an immutable or append-only entry");
    }
#endif
    if (S_ISREG(st.st_mode)) {
      if (s.check_setid && (st.st_mode & (S_ISUID | S_ISGID)) && st.st_uid == ::geteuid()) {
        return refuse(s, "a setuid/setgid file of the copier's (a clone drops the bits)");
      }
      ++s.files;
      s.bytes += static_cast<uint64_t>(st.st_size);
    } else if (S_ISLNK(st.st_mode)) {
      ++s.symlinks;
    } else if (S_ISDIR(st.st_mode)) {
      if (st.st_dev != s.dev) return refuse(s, "a mount point");
      if (depth + 1 > kMaxTreeDepth) return refuse(s, "deeper than 64 levels");
      Fd fd;
      if (int err = open_dir_at(dirfd, n, fd)) return refuse(s, "a directory that cannot be opened", err);
      struct stat now;
      if (::fstat(fd.get(), &now) == -1 || !same_inode(now, st)) return refuse(s, "changed while it was read");
      ++s.dirs;
      walk(fd.get(), depth + 1, s);
      if (s.stopped()) return;
    } else {
      const char* what = S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a device";
      return refuse(s, what);
    }
  }
  s.rel.truncate(base);
}

}  // namespace scan_detail

// Walks the directory open on `rootfd` into `s`. Every obstacle is an answer
// in s.ineligible (the per-file copy then meets it and reports it as its own
// error); s.err is ENOMEM when memory ran out, and then nothing is known.
inline void scan_tree(int rootfd, Scan& s) {
  s.rel.clear();
  scan_detail::walk(rootfd, 0, s);
}

// Empties the directory open on `dirfd`, which this process made and no one
// else can reach (it lies in a 0700 directory of ours): subdirectories a
// clone made read-only (or unreadable) are opened up first. Best effort;
// stops below `depth` 256 to bound descriptors.
inline void remove_inside(int dirfd, int depth) {
  if (depth > 256) return;
  ::fchmod(dirfd, 0700);
  Names names;
  if (list_dir(dirfd, names) != 0) return;
  for (const char* n = names.first(); n; n = names.next(n)) {
    struct stat st;
    if (stat_at(dirfd, n, st) != 0) continue;
    if (!S_ISDIR(st.st_mode)) {
      ::unlinkat(dirfd, n, 0);
      continue;
    }
    Fd sub;
    int err = open_dir_at(dirfd, n, sub);
    if (err == EACCES) {
      // Follows a symlink by name, but this name was just seen as a
      // directory in a tree only this process can change.
      ::fchmodat(dirfd, n, 0700, 0);
      err = open_dir_at(dirfd, n, sub);
    }
    struct stat now;
    if (err == 0 && ::fstat(sub.get(), &now) == 0 && same_inode(now, st)) remove_inside(sub.get(), depth + 1);
    sub.reset();
    ::unlinkat(dirfd, n, AT_REMOVEDIR);
  }
}

}  // namespace cowcopy_layer
