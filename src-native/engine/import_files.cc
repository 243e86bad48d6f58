// import_files: like pnpm's package importer, in one call. The entries,
// sorted by directory, are the walk: the walker makes each directory once,
// relative to its parent's descriptor (mkdirat, then opened with O_NOFOLLOW:
// a symlink already in the destination is never followed), and hands the
// files of each directory to the copy threads in chunks. The marker entry
// is placed after all others, and only when they all are.
#include "import.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "dest_root.h"
#include "import_root.h"
#include "import_walk.h"
#include "exceptions.h"
#include "open_path.h"
#include "stat_calls.h"
#include "sys.h"

namespace cowcopy {
namespace {

BatchResult import_unguarded(const std::string& dest_root, const Entries& entries, const ImportOptions& opts) {
  BatchOptions bopts = opts.batch;
  if (opts.stage) bopts.stop_on_error = true;  // one failure discards it all
  BatchState state(bopts);
  auto fatal = [&](int err, const char* reason = nullptr) {
    state.result.fatal = err;
    state.result.fatal_reason = reason;
    return std::move(state.result);
  };
  // Before anything is touched: each relPath against the rules (lib/import.ts
  // checks them too unless the manifest is plain strings), the duplicates and
  // the files that are also directories (manifest.cc, off the event loop).
  std::vector<size_t> order = manifest_order(entries);
  const BadEntry bad = find_bad_entry(entries, order);
  if (bad.index >= 0) {
    state.result.bad_entry = bad.index;
    state.result.bad_entry_problem = static_cast<int>(bad.problem);
    return fatal(EINVAL, bad.problem == EntryProblem::kTwice       ? "an entry's relative path is listed twice"
                         : bad.problem == EntryProblem::kFileAndDir ? "an entry is a file and also the directory of another entry"
                                                                    : "invalid relative path in the entries");
  }
  if (opts.marker >= static_cast<long>(entries.size())) return fatal(EINVAL, "marker is not an entry");

  // The call's floor: the root, the current directory and the one below,
  // one reopened through "..", the marker's, a copy thread's files.
  DescriptorShare share(9, opts.batch.cancel);
  if (share.cancelled()) return fatal(ECANCELED);
  auto root = std::make_shared<DirNode>();
  root->finish_pending = false;
  StagedRoot stage;
  if (opts.stage) {
    const char* reason = nullptr;
    if (int err = stage.make(dest_root, root->dst, reason)) return fatal(err, reason);
    root->created = true;
    root->private_ = true;  // 0700 until the rename: nobody else enters the staged tree
    const struct stat& root_st = stage.identity();
    root->dst_dev = static_cast<uint64_t>(root_st.st_dev);
    root->dst_ino = static_cast<uint64_t>(root_st.st_ino);
  } else {
    const char* reason = nullptr;
    if (int err = open_dest_root(dest_root, RootMaking{true}, *root, reason)) return fatal(err, reason);
    root->private_ = root->created && umask_keeps_others_out(bopts.umask) && !root->acl;
  }

  // Small imports (a package of a few files) stay on the calling thread:
  // starting threads would cost more than they save (and no fstatfs).
  const size_t most = 1 + entries.size() / (2 * kChunkFiles);
  int n = 1;
  bool dirs_first = false;
  if (most > 1) n = state.threads_for_fd(root->dst.get(), dirs_first);
  if (static_cast<size_t>(n) > most) n = static_cast<int>(most);
  ImportWalk walk(state, share, entries, opts, dest_root, std::move(order));
  if (opts.stage) walk.set_hidden();
  // pnpm's rule: a package directory without its marker is incomplete (a
  // killed import may have left a partial file under its name), so nothing
  // in it is kept as "existing": every entry is placed again. With the
  // marker there, entries already placed are trusted, and what is missing
  // is placed atomically (the marker stays in place meanwhile).
  if (!opts.stage && !root->created && opts.marker >= 0 && !opts.batch.overwrite) {
    if (marker_present(root->dst.get(), entries[static_cast<size_t>(opts.marker)].first)) walk.force_atomic();
    else walk.force_overwrite();
  }
  const bool root_created = root->created;
  std::shared_ptr<DirNode> keep_root = root;  // a staged root's descriptor, for its mode at the end
  root->walker = &walk;
  share.take(1);
  root->fds = 1;
  walk.run(std::move(root), n, dirs_first);
  walk.place_marker();
  state.result.threads = walk.threads();
  if (root_created) state.result.dirs += 1;

  const bool cancelled = opts.batch.cancel && __atomic_load_n(opts.batch.cancel, __ATOMIC_RELAXED) != 0;
  if (cancelled) state.result.fatal = ECANCELED;
  if (opts.stage) {
    int err = state.result.fatal;
    const char* reason = state.result.fatal_reason;
    if (err == 0 && !state.result.errors.empty()) {
      err = state.result.errors.front().err;
      reason = state.result.errors.front().reason;
    }
    if (err == 0) err = stage.commit(keep_root->dst.get(), bopts.umask, reason);
    keep_root.reset();
    if (err != 0) {
      stage.discard();
      if (state.result.fatal == 0 && !state.result.errors.empty() && err == state.result.errors.front().err) {
        // The first failed file is the reason: its paths, not the root's.
        return std::move(state.result);
      }
      state.result.fatal = err;
      state.result.fatal_reason = reason;
    }
  }
  return std::move(state.result);
}

}  // namespace

BatchResult import_files(const std::string& dest_root, const Entries& entries, const ImportOptions& opts) {
  try {
    return import_unguarded(dest_root, entries, opts);
  } catch (...) {
    BatchResult r;
    r.fatal = current_exception_errno();
    r.fatal_reason = "internal error in importFiles (an exception)";
    return r;
  }
}

}  // namespace cowcopy
