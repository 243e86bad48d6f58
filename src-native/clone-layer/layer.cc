// clone_file and clone_tree (layer.h) over os_clone.h's three calls. A tree
// is cloned into a private holder directory beside `dest` and renamed into
// place only once it is known to be what the source walk saw, so `dest`
// never shows a partial clone, and a failure removes only what this call made.
#include "layer.h"

#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <errno.h>
#include <string.h>

#include "buf.h"
#include "fd_util.h"
#include "os_clone.h"
#include "shim_hooks.h"
#include "tree_scan.h"

namespace cowcopy_layer {

namespace {

// `dest` as its directory ("." when it has none) and last name, copied
// whole (the OS judges their length). A name that always exists ("/", ".",
// "..") is EEXIST.
int split(const char* dest, bool trailing_slash_ok, Buf& dir, Buf& name) {
  size_t len = ::strlen(dest);
  if (len == 0) return ENOENT;
  bool trailing = false;
  while (len > 1 && dest[len - 1] == '/') {
    --len;
    trailing = true;
  }
  // open(2) of "file/" with O_CREAT: a name ending in a slash is a directory.
  if (trailing && !trailing_slash_ok) return EISDIR;
  size_t start = len;  // of the last name: just after the last slash, or 0
  while (start > 0 && dest[start - 1] != '/') --start;
  bool ok;
  if (start == 0) {
    ok = dir.append(".");
  } else {
    ok = start == 1 ? dir.append("/") : dir.append(dest, start - 1);
  }
  if (!ok || !name.append(dest + start, len - start)) return ENOMEM;
  const char* n = name.c_str();
  if (n[0] == 0 || ::strcmp(n, ".") == 0 || ::strcmp(n, "..") == 0) return EEXIST;
  return 0;
}

// The directory `dest` goes in. Reading it is not needed (creating in it
// is), so where the OS has a search-only open, a directory the caller may
// write but not list still works.
int open_parent(const Buf& dir, Fd& out) {
  int fd = open_at(AT_FDCWD, dir.c_str(), O_RDONLY | O_DIRECTORY);
#if defined(O_PATH)
  if (fd == -1 && errno == EACCES) fd = open_at(AT_FDCWD, dir.c_str(), O_PATH | O_DIRECTORY);
#elif defined(O_SEARCH)
  if (fd == -1 && errno == EACCES) fd = open_at(AT_FDCWD, dir.c_str(), O_SEARCH | O_DIRECTORY);
#endif
  if (fd == -1) return errno;
  out = Fd(fd);
  return 0;
}

// EINVAL when the directory `parentfd` is `root` or lies below it: a tree
// cloned into itself would hold its own holder.
int check_not_inside(int parentfd, const struct stat& root) {
  Fd cur;
  int fd = open_at(parentfd, ".", O_RDONLY | O_DIRECTORY);
#if defined(O_PATH)
  if (fd == -1 && errno == EACCES) fd = open_at(parentfd, ".", O_PATH | O_DIRECTORY);
#endif
  if (fd == -1) return errno;
  cur = Fd(fd);
  for (int up = 0; up < 4096; ++up) {
    struct stat st;
    if (::fstat(cur.get(), &st) == -1) return errno;
    if (same_inode(st, root)) return EINVAL;
    Fd next;
    int nfd = open_at(cur.get(), "..", O_RDONLY | O_DIRECTORY);
#if defined(O_PATH)
    if (nfd == -1 && errno == EACCES) nfd = open_at(cur.get(), "..", O_PATH | O_DIRECTORY);
#endif
    if (nfd == -1) return 0;  // above a directory we may not search: not below root either
    next = Fd(nfd);
    struct stat up_st;
    if (::fstat(next.get(), &up_st) == -1) return errno;
    if (same_inode(up_st, st)) return 0;  // "/"
    cur = Fd(next.release());
  }
  return 0;
}

// ".<name>.cowcopy-<16 hex>", cut so that it stays a valid name (255 bytes)
// however long `name` is.
int holder_name(const Buf& name, Buf& out) {
  unsigned char rnd[8];
  if (::getentropy(rnd, sizeof rnd) == -1) return errno;
  static const char kHex[] = "0123456789abcdef";
  char tail[] = ".cowcopy-0123456789abcdef";
  constexpr size_t kTail = sizeof tail - 1;
  for (size_t i = 0; i < sizeof rnd; ++i) {
    tail[kTail - 16 + 2 * i] = kHex[rnd[i] >> 4];
    tail[kTail - 16 + 2 * i + 1] = kHex[rnd[i] & 15];
  }
  size_t keep = name.size() < 255 - 1 - kTail ? name.size() : 255 - 1 - kTail;
  out.clear();
  if (!out.append(".") || !out.append(name.c_str(), keep) || !out.append(tail, kTail)) return ENOMEM;
  return 0;
}

// The private directory a tree is cloned into (0700: no one else can reach
// or change what is inside). Unless committed, it is emptied and removed,
// always through descriptors and only while its name is still this inode.
class Holder {
 public:
  explicit Holder(int parentfd) : parent_(parentfd) {}
  Holder(const Holder&) = delete;
  Holder& operator=(const Holder&) = delete;
  ~Holder() {
    if (!made_) return;
    // The descriptors kept for this moment: a clone (or the walk of one)
    // that failed because the process ran out of them still leaves nothing.
    for (Fd& r : reserve_) r.reset();
    if (fd_.valid()) remove_inside(fd_.get());
    remove();
  }

  int make(const Buf& destname) {
    for (int tries = 0; tries < 8; ++tries) {
      if (int err = holder_name(destname, name_)) return err;
      if (::mkdirat(parent_, name_.c_str(), 0700) == 0) break;
      if (errno != EEXIST || tries == 7) return errno;
    }
    made_ = true;
#ifdef COWCOPY_SHIM_HOOKS
    if (shim_hooks::after_holder_mkdir) shim_hooks::after_holder_mkdir(parent_, name_.c_str());
#endif
    int err = open_dir_at(parent_, name_.c_str(), fd_);
    if (err == 0 && ::fstat(fd_.get(), &st_) == -1) err = errno;
    bool fresh = false;
    if (err == 0) err = is_fresh(fresh);
    if (err == 0 && !fresh) {
      // Someone who can write the parent put another directory at this
      // name between the mkdir and the open: it is not filled, not emptied
      // and not removed (its owner's files stay), and the call fails.
      fd_.reset();
      made_ = false;
      return ESTALE;
    }
    // What removing it needs (remove_inside: a directory and a listing at
    // a time), set aside now, while there are descriptors to have.
    for (Fd& r : reserve_) {
      if (err == 0) {
        int fd = ::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0);
        if (fd == -1) err = errno;
        r = Fd(fd);
      }
    }
    if (err != 0) {
      // Its identity or contents were never seen, or it is still empty: only
      // an empty directory of this random name can go, which loses nothing
      // of anyone's.
      for (Fd& r : reserve_) r.reset();
      fd_.reset();
      made_ = false;
      ::unlinkat(parent_, name_.c_str(), AT_REMOVEDIR);
    }
    return err;
  }

  int fd() const { return fd_.get(); }

 private:
  // What mkdirat just made looks like this: a directory of ours, nobody
  // else's permission bits, nothing in it.
  // 0 and `fresh`, or the errno of a listing that failed (descriptors ran
  // out: then only an rmdir, which removes nothing but an empty directory).
  int is_fresh(bool& fresh) const {
    fresh = false;
    if (!S_ISDIR(st_.st_mode) || st_.st_uid != ::geteuid() || (st_.st_mode & 077) != 0) return 0;
    Names names;
    if (int err = list_dir(fd_.get(), names)) return err;
    fresh = names.empty();
    return 0;
  }

 public:

  // After the clone left it: only the empty holder goes.
  void commit() {
    for (Fd& r : reserve_) r.reset();
    fd_.reset();
    remove();
    made_ = false;
  }

 private:
  // An rmdir removes only an empty directory: a lost race deletes nothing.
  void remove() {
    struct stat now;
    if (stat_at(parent_, name_.c_str(), now) == 0 && same_inode(now, st_)) {
      ::unlinkat(parent_, name_.c_str(), AT_REMOVEDIR);
    }
  }

  int parent_;
  Buf name_;
  Fd fd_;
  Fd reserve_[3];
  struct stat st_ {};
  bool made_ = false;
};

// The answer when the clone is not the tree the walk saw.
void changed(TreeAnswer& a) {
  if (!a.ineligible.append("the source changed while it was cloned")) a.err = ENOMEM;
}

}  // namespace

TreeAnswer clone_tree(const char* src, const char* dest) {
  TreeAnswer a;
  Buf dir, name;
  if ((a.err = split(dest, true, dir, name))) return a;
  Fd parent;
  if ((a.err = open_parent(dir, parent))) return a;
  struct stat there;
  int gone = stat_at(parent.get(), name.c_str(), there);
  if (gone != ENOENT) {
    a.err = gone == 0 ? EEXIST : gone;
    return a;
  }

  Fd root;
  if ((a.err = open_dir_at(AT_FDCWD, src, root))) return a;
  struct stat root_st;
  if (::fstat(root.get(), &root_st) == -1) {
    a.err = errno;
    return a;
  }
  if ((a.err = check_not_inside(parent.get(), root_st))) return a;
  Scan seen(root_st.st_dev, true);
  scan_tree(root.get(), seen);
  root.reset();
  if (seen.err) {
    a.err = seen.err;
    return a;
  }
  if (!seen.ineligible.empty()) {
    a.ineligible = static_cast<Buf&&>(seen.ineligible);
    return a;
  }

  Holder holder(parent.get());
  if ((a.err = holder.make(name))) return a;
  // A clone a signal interrupted may have left part of the tree: it goes
  // before the next try (the OS call itself is not retried for that reason).
  for (int tries = 0; (a.err = os_clonefileat(AT_FDCWD, src, holder.fd(), name.c_str())) == EINTR && tries < 3; ++tries) {
    remove_inside(holder.fd());
  }
#ifdef COWCOPY_SHIM_HOOKS
  if (shim_hooks::after_clone) shim_hooks::after_clone(a.err);
#endif
  if (a.err) return a;
  // The clone was made by name: it must be the tree the walk saw (the
  // source may have been swapped or changed since). Nobody else can change
  // it inside the holder, so what is counted now is what `dest` will hold.
  Fd clone;
  struct stat clone_st;
  if (open_dir_at(holder.fd(), name.c_str(), clone) != 0 || ::fstat(clone.get(), &clone_st) == -1) {
    changed(a);
    return a;
  }
  Scan made(clone_st.st_dev, false);
  scan_tree(clone.get(), made);
  clone.reset();
  if (made.err) {
    a.err = made.err;  // the holder goes on the way out
    return a;
  }
  if (!made.ineligible.empty() || made.files != seen.files || made.dirs != seen.dirs ||
      made.symlinks != seen.symlinks || made.bytes != seen.bytes) {
    changed(a);
    return a;
  }
  if ((a.err = os_rename_excl(holder.fd(), name.c_str(), parent.get(), name.c_str()))) return a;
  holder.commit();
  a.files = made.files;
  a.dirs = made.dirs;
  a.symlinks = made.symlinks;
  a.bytes = made.bytes;
  return a;
}

int clone_file(int srcfd, const char* dest) {
  Buf dir, name;
  if (int err = split(dest, false, dir, name)) return err;
  Fd parent;
  if (int err = open_parent(dir, parent)) return err;
  return os_fclonefileat(srcfd, parent.get(), name.c_str());
}

}  // namespace cowcopy_layer
