#include "dest_root.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "import_root.h"
#include "open_path.h"
#include "stat_calls.h"
#include "sys.h"

namespace cowcopy {

int open_dest_root(const std::string& path, RootMaking how, DirNode& root, const char*& reason) {
  root.created = false;
  if (how.parents) {
    if (int err = make_root(path, root.created)) return err;
  } else if (retry_eintr([&] { return ::mkdir(path.c_str(), 0700); }) == 0) {
    root.created = true;
  } else if (errno != EEXIST) {
    return errno;
  }
  const int nofollow = root.created ? O_NOFOLLOW : 0;
  int fd = retry_eintr([&] { return ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | nofollow); });
  if (fd == -1) {
    const int err = errno;
    if (err == ENOTDIR) reason = "destination is not a directory";
    return err;
  }
  root.dst = UniqueFd(fd);
  // (proved by its descriptor; without an fstat, only while it is empty)
  auto fail = [&](int err, bool provable = true) {
    if (root.created) remove_dir_if_ours(AT_FDCWD, path.c_str(), provable ? fd : -1);
    root.created = false;
    root.dst.reset();
    return err;
  };
  struct stat st;
  if (sys_fstat(fd, &st) == -1) return fail(errno, false);
  root.dst_dev = static_cast<uint64_t>(st.st_dev);
  root.dst_ino = static_cast<uint64_t>(st.st_ino);
  if (int err = root.created ? check_fresh_dir(fd, !how.parents) : 0) {
    // Swapped in between mkdir and open: not ours to fill, chmod or remove.
    if (err == kReplacedErr) {
      root.created = false;
      root.dst.reset();
      reason = kReplacedReason;
      return err;
    }
    return fail(err);
  }
  if (root.created) root.acl = has_default_acl(fd);
  return 0;
}

}  // namespace cowcopy
