// copy_dir (copyDir): like `cp -r --reflink=auto`, relative to directory
// descriptors all the way down (openat, mkdirat, getdents64, symlinkat),
// never joining and re-resolving paths. The entries come from listing each
// source directory; a directory this call makes stays 0700 until everything
// in it is done, then gets the source's metadata.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "copy_dir_walk.h"
#include "dest_root.h"
#include "exceptions.h"
#include "open_path.h"
#include "stat_calls.h"
#include "sys.h"

namespace cowcopy {
namespace {

BatchResult copy_dir_unguarded(const std::string& src_root, const std::string& dest_root,
                                const BatchOptions& opts, TreeFilter* filter) {
  BatchState state(opts);
  // The call's floor: the root pair, the current pair and the one below it,
  // one reopened through "..", a copy thread's files, a followed link.
  DescriptorShare share(13, opts.cancel);
  if (share.cancelled()) {
    state.result.fatal = ECANCELED;
    return std::move(state.result);
  }
  CopyDirWalk walk(state, share, filter, src_root, dest_root);
  auto root = std::make_shared<DirNode>();
  root->finish_pending = false;
  auto fatal = [&](int err, const char* reason = nullptr) {
    // A destination root we made (still empty) goes with the failure.
    if (root->created) remove_dir_if_ours(AT_FDCWD, dest_root.c_str(), root->dst.get());
    state.result.fatal = err;
    state.result.fatal_reason = reason;
    return std::move(state.result);
  };
  int fd = retry_eintr([&] { return ::open(src_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd == -1) return fatal(errno);
  root->src = UniqueFd(fd);
  if (sys_fstat(fd, &root->st) == -1) return fatal(errno);
  const char* reason = nullptr;
  if (int err = open_dest_root(dest_root, RootMaking{}, *root, reason)) return fatal(err, reason);
  walk.remember_dest_dir(*root);
  if (root->dst_dev == static_cast<uint64_t>(root->st.st_dev) && root->dst_ino == static_cast<uint64_t>(root->st.st_ino)) {
    return fatal(EINVAL, "cannot copy a directory onto itself");
  }
  // n threads copy: with n = 1 the walker itself, else n more threads while
  // the walker only walks.
  bool btrfs = false;
  const int n = state.threads_for_fd(root->dst.get(), btrfs);
  root->walker = &walk;
  root->finish_pending = true;
  share.take(2);
  root->fds = 2;
  state.result.dirs = 1;
  walk.run(std::move(root), n, btrfs);
  state.result.threads = walk.threads();
  if (walk.filter_error() && !state.result.fatal) state.result.fatal = walk.filter_error();
  if (opts.cancel && __atomic_load_n(opts.cancel, __ATOMIC_RELAXED) != 0) state.result.fatal = ECANCELED;
  return std::move(state.result);
}

}  // namespace

BatchResult copy_dir(const std::string& src_root, const std::string& dest_root, const BatchOptions& opts,
                      TreeFilter* filter) {
  try {
    return copy_dir_unguarded(src_root, dest_root, opts, filter);
  } catch (...) {
    // Before any thread started (no memory for the root's paths).
    BatchResult r;
    r.fatal = current_exception_errno();
    r.fatal_reason = "internal error in the tree copy (an exception)";
    return r;
  }
}

}  // namespace cowcopy
