#include "import_root.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <new>
#include <vector>

#include "atomic_dest.h"
#include "dir_listing.h"
#include "open_path.h"
#include "stat_calls.h"
#include "sys.h"

namespace cowcopy {
namespace {

const char* const kStageExists = "destination exists (stage: true builds a new directory and renames it there)";

bool same(const struct stat& a, uint64_t dev, uint64_t ino) {
  return static_cast<uint64_t>(a.st_dev) == dev && static_cast<uint64_t>(a.st_ino) == ino;
}

// Whether `name` in `dir` is (still) the inode (dev, ino).
bool still(int dir, const char* name, uint64_t dev, uint64_t ino) {
  struct stat now;
  return sys_fstatat(dir, name, &now, AT_SYMLINK_NOFOLLOW) == 0 && same(now, dev, ino);
}

int open_dir_nofollow(int dir, const char* name) {
  return retry_eintr([&] { return ::openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC); });
}

int make_root_at(const std::string& path, bool& created, int depth) {
  created = false;
  if (retry_eintr([&] { return ::mkdir(path.c_str(), 0777); }) == 0) {
    created = true;
    return 0;
  }
  if (errno == EEXIST) return 0;
  if (errno != ENOENT || depth > 4096) return errno;
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;
  size_t slash = path.rfind('/', end - 1);
  if (slash == std::string::npos || slash == 0) return ENOENT;
  bool parent_created;
  if (int err = make_root_at(path.substr(0, slash), parent_created, depth + 1)) return err;
  return make_root_at(path, created, depth);
}

}  // namespace

int make_root(const std::string& path, bool& created) { return make_root_at(path, created, 0); }

bool marker_present(int root, const std::string& rel) {
  int dir = root;
  UniqueFd held;
  size_t start = 0;
  for (size_t slash; (slash = rel.find('/', start)) != std::string::npos; start = slash + 1) {
    const std::string name = rel.substr(start, slash - start);
    int fd = open_dir_nofollow(dir, name.c_str());
    if (fd == -1) return false;
    held = UniqueFd(fd);
    dir = fd;
  }
  struct stat st;
  return sys_fstatat(dir, rel.c_str() + start, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode);
}

// Depth first without recursion (a relPath may nest thousands of
// directories: a worker thread's stack must not pay per level). Only the
// directory being emptied is open; the way back up is "..", proved to be the
// directory that was entered.
bool remove_tree(int parent, const char* name, const struct stat& ours) {
  struct Level {
    std::string name;  // in the level above (or in `parent`)
    uint64_t dev, ino;
  };
  std::unique_ptr<char[]> buf(new (std::nothrow) char[8192]);
  if (!buf) return false;
  UniqueFd cur(open_dir_nofollow(parent, name));
  struct stat st;
  if (!cur.valid() || sys_fstat(cur.get(), &st) == -1 || !same(st, ours.st_dev, ours.st_ino)) return false;
  try {
    std::vector<Level> stack{Level{name, static_cast<uint64_t>(ours.st_dev), static_cast<uint64_t>(ours.st_ino)}};
    for (;;) {
      bool descended = false, removed = false, failed = false;
      if (::lseek(cur.get(), 0, SEEK_SET) == -1) return false;
      int err = each_entry(cur.get(), buf.get(), 8192, [&](const char* child, unsigned char, uint64_t) {
        if (retry_eintr([&] { return ::unlinkat(cur.get(), child, 0); }) == 0) {
          removed = true;
          return true;
        }
        if (errno != EISDIR && errno != EPERM) return true;  // stays; rmdir below fails
        UniqueFd down(open_dir_nofollow(cur.get(), child));
        struct stat cst;
        if (!down.valid() || sys_fstat(down.get(), &cst) == -1) {
          failed = true;
          return false;
        }
        stack.push_back(Level{child, static_cast<uint64_t>(cst.st_dev), static_cast<uint64_t>(cst.st_ino)});
        cur = std::move(down);
        descended = true;
        return false;
      });
      if (err || failed) return false;
      if (descended || removed) continue;  // (removed: list again from the start)
      // Empty, or only entries that would not go: this level is done.
      Level done = std::move(stack.back());
      stack.pop_back();
      if (stack.empty()) {
        cur.reset();
        return still(parent, name, done.dev, done.ino) &&
               retry_eintr([&] { return ::unlinkat(parent, name, AT_REMOVEDIR); }) == 0;
      }
      UniqueFd up(retry_eintr([&] { return ::openat(cur.get(), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC); }));
      if (!up.valid() || sys_fstat(up.get(), &st) == -1 || !same(st, stack.back().dev, stack.back().ino)) return false;
      cur = std::move(up);
      if (!still(cur.get(), done.name.c_str(), done.dev, done.ino) ||
          retry_eintr([&] { return ::unlinkat(cur.get(), done.name.c_str(), AT_REMOVEDIR); }) == -1) {
        return false;
      }
    }
  } catch (...) {
    return false;
  }
}

int StagedRoot::make(const std::string& dest_root, UniqueFd& root, const char*& reason) {
  size_t end = dest_root.size();
  while (end > 1 && dest_root[end - 1] == '/') --end;
  size_t slash = dest_root.rfind('/', end - 1);
  std::string parent_path = slash == std::string::npos ? "." : (slash == 0 ? "/" : dest_root.substr(0, slash));
  const size_t from = slash == std::string::npos ? 0 : slash + 1;
  base_ = dest_root.substr(from, end - from);
  if (base_.empty() || base_ == "." || base_ == "..") {
    reason = "destination has no name to stage under";
    return EINVAL;
  }
  int pfd = retry_eintr([&] { return ::open(parent_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (pfd == -1) return errno;
  parent_ = UniqueFd(pfd);
  struct stat st;
  if (sys_fstatat(pfd, base_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    reason = kStageExists;
    return EEXIST;
  }
  if (errno != ENOENT) return errno;
  for (int attempt = 0;; ++attempt) {
    staged_ = temp_name(base_);
    if (retry_eintr([&] { return ::mkdirat(pfd, staged_.c_str(), 0700); }) == 0) break;
    if (errno != EEXIST || attempt == 7) return errno;
  }
  int fd = open_dir_nofollow(pfd, staged_.c_str());
  if (fd == -1) {
    int err = errno;
    remove_dir_if_ours(pfd, staged_.c_str(), -1);  // only while empty
    return err;
  }
  root = UniqueFd(fd);
  if (int err = check_fresh_dir(fd)) {
    // Not ours (swapped in since mkdirat): left alone. Unproved: removed while empty.
    if (err != kReplacedErr) remove_dir_if_ours(pfd, staged_.c_str(), fd);
    if (err == kReplacedErr) reason = kReplacedReason;
    staged_.clear();
    return err;
  }
  if (sys_fstat(fd, &st_) == -1) {
    int err = errno;
    remove_dir_if_ours(pfd, staged_.c_str(), fd);  // just made: empty
    staged_.clear();
    return err;
  }
  return 0;
}

// Only a complete staged tree gets mkdir's mode, just before it is renamed
// into place: a failed one stays 0700 while it is removed, so nobody else
// can enter it and plant something that would stop that.
int StagedRoot::commit(int root, mode_t umask, const char*& reason) {
  const mode_t um = umask <= 0777 ? umask : 022;
  if (retry_eintr([&] { return ::fchmod(root, 0777 & ~um); }) == -1) return errno;
  int err = rename_noreplace(parent_.get(), staged_.c_str(), base_.c_str());
  if (err == EEXIST || err == ENOTEMPTY) {
    reason = kStageExists;
    return EEXIST;
  }
  if (err == 0) staged_.clear();
  return err;
}

void StagedRoot::discard() {
  if (staged_.empty()) return;
  remove_tree(parent_.get(), staged_.c_str(), st_);
  staged_.clear();
}

}  // namespace cowcopy
