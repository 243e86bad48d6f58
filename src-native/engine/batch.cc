#include "batch.h"

#include <fcntl.h>
#include <sys/vfs.h>

#include <atomic>
#include <new>

#include "batch_state.h"
#include "descriptor_budget.h"
#include "copy_file.h"
#include "ladder.h"
#include "threads.h"

namespace cowcopy {

// glibc_compat.h points libstdc++ here: never "single-threaded".
extern "C" char cowcopy_libc_single_threaded;
char cowcopy_libc_single_threaded = 0;

int default_concurrency(long magic) {
  // Measured on the 2-core VM with bench/tree.js's 10 000-file tree, median
  // of 9 runs, copyDir at 1 / 2 / 3 copy threads (ms), quiet machine, images
  // a day old: btrfs 457 / 425 / 490, xfs 416 / 229 / 251, ext4 421 / 219 /
  // 217. (On fresh images btrfs was 190 / 249 / 237 and 1 was the default:
  // clones into one subvolume serialise more as its trees grow? Two runs
  // today agree on 2, by 7 %; the C loop gains 1.29x from a second thread
  // there, so copyDir still leaves about 1.26x on the table on btrfs.)
  // With more than one, the walker is a thread of its own.
  switch (static_cast<unsigned long>(magic)) {
    case kBtrfsMagic: return 2;  // btrfs
    case 0x58465342: return 2;  // xfs
    case 0xef53: return 2;      // ext4
    case 0x01021994: return 2;  // tmpfs
    default: return 2;
  }
}

namespace {
// The caller's concurrency, else the measured default for the filesystem
// type (2 when it is unknown), kept within 1..64.
int clamp_threads(int asked, bool known, long magic) {
  int n = asked > 0 ? asked : (known ? default_concurrency(magic) : 2);
  return n < 1 ? 1 : (n > 64 ? 64 : n);
}
}  // namespace

int BatchState::threads_for(const std::string& dest_dir) const {
  struct statfs sfs;
  if (opts.concurrency > 0) return clamp_threads(opts.concurrency, false, 0);
  const bool known = ::statfs(dest_dir.c_str(), &sfs) == 0;
  return clamp_threads(0, known, known ? sfs.f_type : 0);
}

int BatchState::threads_for_fd(int dest_dir, bool& btrfs) const {
  struct statfs sfs;
  const bool known = ::fstatfs(dest_dir, &sfs) == 0;
  btrfs = known && static_cast<unsigned long>(sfs.f_type) == kBtrfsMagic;
  return clamp_threads(opts.concurrency, known, known ? sfs.f_type : 0);
}

void BatchState::add_error(std::string src, std::string dest, int err, const char* reason) {
  std::lock_guard<std::mutex> lock(mu);
  result.errors.push_back(BatchError{std::move(src), std::move(dest), err, reason});
  if (opts.stop_on_error || (opts.error_on_exist && err == EEXIST)) stop.store(true, std::memory_order_relaxed);
}

void BatchState::add_skipped(std::string path, const char* type) {
  std::lock_guard<std::mutex> lock(mu);
  result.skipped.push_back(Skipped{std::move(path), type});
}

void BatchState::fail(int err, const char* reason) noexcept {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (result.fatal == 0) {
      result.fatal = err;
      result.fatal_reason = reason;
    }
  }
  stop.store(true, std::memory_order_relaxed);
}

void BatchState::merge(const LocalStats& s) {
  std::lock_guard<std::mutex> lock(mu);
  result.files += s.files;
  result.bytes += s.bytes;
  result.dirs += s.dirs;
  result.symlinks += s.symlinks;
  result.existing += s.existing;
  result.overlay_links += s.overlay_links;
  for (int i = 0; i < kMethodCount; ++i) result.methods[i] += s.methods[i];
}

bool BatchState::should_stop() const {
  return stop.load(std::memory_order_relaxed) ||
         (opts.cancel && __atomic_load_n(opts.cancel, __ATOMIC_RELAXED) != 0);
}

void BatchState::file_done(LocalStats& local, const CopyResult& r, const std::function<std::string()>& src,
                           const std::function<std::string()>& dest) {
  if (opts.list_files) {
    std::lock_guard<std::mutex> lock(mu);
    result.copied.push_back(CopiedFile{src(), dest(), r.method, r.bytes});
  }
  local.files += 1;
  local.bytes += r.bytes;
  local.methods[static_cast<int>(r.method)] += 1;
  if (r.on_overlay) local.overlay_links += 1;
  if (opts.progress) {
    __atomic_add_fetch(&opts.progress[0], static_cast<int64_t>(r.bytes), __ATOMIC_RELAXED);
    __atomic_add_fetch(&opts.progress[1], 1, __ATOMIC_RELAXED);
  }
}

CopyRequest BatchState::file_request() const {
  CopyRequest req;
  req.reflink = opts.reflink;
  req.overwrite = opts.overwrite;
  req.sparse = opts.sparse;
  req.preserve = opts.preserve;
  req.umask = opts.umask;
  req.control = Control(opts.cancel, nullptr);
  // A batch never opens or truncates an existing destination: a failed file
  // keeps its old content, a symlink at the name is replaced, not followed.
  req.replace_by_rename = true;
  req.ladder = opts.ladder;
  req.remember = true;
  return req;
}

void run_threads(int n, const std::function<void()>& body, BatchState& state) {
  auto guarded = [&] {
    try {
      body();
    } catch (const std::bad_alloc&) {
      state.fail(ENOMEM, nullptr);
    } catch (...) {
      state.fail(EIO, "internal error in the batch (an exception)");
    }
  };
  std::vector<Thread> threads(static_cast<size_t>(n > 1 ? n - 1 : 0));
  state.result.threads = start_all(threads, guarded) + 1;
  guarded();  // the calling thread works too
  for (auto& t : threads) t.join();
}

namespace {

BatchResult copy_files_unguarded(const std::vector<std::pair<std::string, std::string>>& pairs,
                                 const BatchOptions& opts) {
  BatchState state(opts);
  std::atomic<size_t> next{0};
  int n = state.threads_for(pairs.empty() ? std::string(".") : [&] {
    // The first destination's directory decides the filesystem type.
    const std::string& d = pairs.front().second;
    size_t slash = d.rfind('/');
    return slash == std::string::npos ? std::string(".") : (slash == 0 ? std::string("/") : d.substr(0, slash));
  }());
  if (static_cast<size_t>(n) > pairs.size()) n = pairs.empty() ? 1 : static_cast<int>(pairs.size());
  // Each thread holds a source, a destination, a temporary file and the
  // destination's directory at most: the first thread's from the call's
  // floor, the others' only while the process's descriptor budget has room.
  constexpr size_t kPerThread = 4;
  DescriptorShare share(kPerThread, opts.cancel);
  if (share.cancelled()) {
    state.result.fatal = ECANCELED;
    return std::move(state.result);
  }
  int fit = 1;  // the calling thread: the floor
  while (fit < n && share.try_take_extra(kPerThread)) ++fit;
  n = fit;
  auto body = [&] {
    LocalStats local;
    CopyRequest req = state.file_request();
    for (;;) {
      if (state.should_stop()) break;
      size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= pairs.size()) break;
      req.src = pairs[i].first;
      req.dest = pairs[i].second;
      CopyResult r = place_file(req);
      if (r.err == 0) {
        state.file_done(local, r, [&] { return pairs[i].first; }, [&] { return pairs[i].second; });
      } else if (r.err != ECANCELED) {
        state.add_error(pairs[i].first, pairs[i].second, r.err, r.reason);
      }
    }
    state.merge(local);
  };
  run_threads(n, body, state);
  if (opts.cancel && __atomic_load_n(opts.cancel, __ATOMIC_RELAXED) != 0) state.result.fatal = ECANCELED;
  return std::move(state.result);
}

}  // namespace

BatchResult copy_files(const std::vector<std::pair<std::string, std::string>>& pairs,
                       const BatchOptions& opts) {
  try {
    return copy_files_unguarded(pairs, opts);
  } catch (const std::bad_alloc&) {
    // Before any thread started (no memory for the state): nothing copied.
    BatchResult r;
    r.fatal = ENOMEM;
    return r;
  }
}

}  // namespace cowcopy
