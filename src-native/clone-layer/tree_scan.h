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
#include <time.h>
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

// One directory of a walk by descriptor: its names (memory, not a
// descriptor: a walk holds O(1) descriptors however deep it goes), the next
// name to look at and its identity (checked again when the walk comes back
// up to it through "..").
struct Level {
  Names names;
  const char* next = nullptr;
  struct stat st {};
  size_t base = 0;             // the scan: where its path ends in the cursor
  const char* name = nullptr;  // remove_inside: its name in the level above's listing
};

// From the directory open on `cur` up to its parent, which must still be
// `parent` (it was when the walk went down). 0, or errno (ESTALE: moved).
inline int climb(Fd& cur, const struct stat& parent) {
  int fd = open_at(cur.get(), "..", O_RDONLY | O_DIRECTORY);
  if (fd == -1) return errno;
  Fd up(fd);
  struct stat st;
  if (::fstat(up.get(), &st) == -1) return errno;
  if (!same_inode(st, parent)) return ESTALE;
  cur = static_cast<Fd&&>(up);
  return 0;
}

// The walk from the directory open on `rootfd` (not closed). Down into a
// subdirectory by its descriptor, back up through "..": two or three
// descriptors at any depth, so that a deep tree (or many walks at once, one
// per worker thread) cannot run the process out of them.
inline void walk(int rootfd, Scan& s) {
  Level levels[kMaxTreeDepth + 1];
  Fd cur;
  {
    int fd = open_at(rootfd, ".", O_RDONLY | O_DIRECTORY);
    if (fd == -1) return refuse(s, "a directory that cannot be opened", errno);
    cur = Fd(fd);
  }
  if (::fstat(cur.get(), &levels[0].st) == -1) return refuse(s, "cannot be examined", errno);
  int depth = 0;
  if (int err = list_dir(cur.get(), levels[0].names)) {
    if (err == ENOMEM) {
      s.err = ENOMEM;
      return;
    }
    return refuse(s, "a directory that cannot be read", err);
  }
  levels[0].next = levels[0].names.first();
  for (;;) {
    Level& lv = levels[depth];
    if (!lv.next) {
      if (depth == 0) break;
      s.rel.truncate(lv.base);
      if (int err = climb(cur, levels[depth - 1].st)) return refuse(s, "changed while it was read", err);
      --depth;
      continue;
    }
    const char* n = lv.next;
    lv.next = lv.names.next(n);
    if (!enter(s, lv.base, n)) return;
    struct stat st;
    if (int err = stat_at(cur.get(), n, st)) {
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
      if (int err = open_dir_at(cur.get(), n, fd)) return refuse(s, "a directory that cannot be opened", err);
      Level& sub = levels[depth + 1];
      if (::fstat(fd.get(), &sub.st) == -1 || !same_inode(sub.st, st)) return refuse(s, "changed while it was read");
      ++s.dirs;
      if (int err = list_dir(fd.get(), sub.names)) {
        if (err == ENOMEM) {
          s.err = ENOMEM;
          return;
        }
        return refuse(s, "a directory that cannot be read", err);
      }
      sub.next = sub.names.first();
      sub.base = s.rel.size();
      cur = static_cast<Fd&&>(fd);
      ++depth;
    } else {
      const char* what = S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ? "a socket" : "a device";
      return refuse(s, what);
    }
  }
  s.rel.truncate(0);
}

}  // namespace scan_detail

// Walks the directory open on `rootfd` into `s`. Every obstacle is an answer
// in s.ineligible (the per-file copy then meets it and reports it as its own
// error); s.err is ENOMEM when memory ran out, and then nothing is known.
inline void scan_tree(int rootfd, Scan& s) {
  s.rel.clear();
  scan_detail::walk(rootfd, s);
}

// `step` (0 or an errno) again while the process is out of descriptors
// (EMFILE, ENFILE), for up to about a second: another thread's are given back
// soon, and a cleanup that gave up at once would leave a partial tree.
template <typename F>
inline int patiently(F step) {
  int err = step();
  for (int tries = 0; (err == EMFILE || err == ENFILE) && tries < 200; ++tries) {
    struct timespec pause = {0, 5 * 1000 * 1000};
    ::nanosleep(&pause, nullptr);
    err = step();
  }
  return err;
}

// Deeper than a scan ever lets through (64): what remove_inside goes down to.
constexpr int kMaxRemoveDepth = 256;

// Empties the directory open on `dirfd` (not closed), which this process
// made and no one else can reach (it lies in a 0700 directory of ours):
// subdirectories a clone made read-only (or unreadable) are opened up first.
// Best effort, down to kMaxRemoveDepth. Like the scan it holds two or three
// descriptors at any depth (down by descriptor, up through ".." checked
// against the identity seen on the way down): the cleanup of a clone that
// failed because descriptors ran out must not need one per level.
inline void remove_inside(int dirfd) {
  using scan_detail::Level;
  using scan_detail::climb;
  Level levels[kMaxRemoveDepth + 1];
  Fd cur;
  if (patiently([&] { return open_dir_at(dirfd, ".", cur); }) != 0) return;
  if (::fstat(cur.get(), &levels[0].st) == -1) return;
  ::fchmod(cur.get(), 0700);
  if (patiently([&] { return list_dir(cur.get(), levels[0].names); }) != 0) return;
  levels[0].next = levels[0].names.first();
  const char* below = nullptr;  // the name, in levels[depth], of the directory just left
  int depth = 0;
  for (;;) {
    Level& lv = levels[depth];
    if (below) {
      ::unlinkat(cur.get(), below, AT_REMOVEDIR);
      below = nullptr;
    }
    if (!lv.next) {
      if (depth == 0) return;
      if (patiently([&] { return climb(cur, levels[depth - 1].st); }) != 0) return;
      below = lv.name;  // emptied (as far as it could be): removed on the level above
      --depth;
      continue;
    }
    const char* n = lv.next;
    lv.next = lv.names.next(n);
    struct stat st;
    if (stat_at(cur.get(), n, st) != 0) continue;
    if (!S_ISDIR(st.st_mode)) {
      ::unlinkat(cur.get(), n, 0);
      continue;
    }
    if (::unlinkat(cur.get(), n, AT_REMOVEDIR) == 0 || depth + 1 > kMaxRemoveDepth) continue;
    Fd sub;
    int err = patiently([&] { return open_dir_at(cur.get(), n, sub); });
    if (err == EACCES) {
      // Follows a symlink by name, but this name was just seen as a
      // directory in a tree only this process can change.
      ::fchmodat(cur.get(), n, 0700, 0);
      err = patiently([&] { return open_dir_at(cur.get(), n, sub); });
    }
    Level& down = levels[depth + 1];
    if (err != 0 || ::fstat(sub.get(), &down.st) != 0 || !same_inode(down.st, st)) continue;
    ::fchmod(sub.get(), 0700);
    if (patiently([&] { return list_dir(sub.get(), down.names); }) != 0) continue;
    down.next = down.names.first();
    down.name = n;
    cur = static_cast<Fd&&>(sub);
    ++depth;
  }
}

}  // namespace cowcopy_layer
