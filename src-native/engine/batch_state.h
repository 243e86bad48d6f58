// What the threads of one batch share: options, the result under a mutex,
// the stop flag. Per-thread counters are merged once, at the thread's end.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>

#include "batch.h"
#include "copy_file.h"

namespace cowcopy {

struct LocalStats {
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t dirs = 0;
  uint64_t symlinks = 0;
  uint64_t existing = 0;
  uint64_t overlay_links = 0;
  uint64_t methods[kMethodCount] = {};
};

struct BatchState {
  explicit BatchState(const BatchOptions& o) : opts(o) {}

  const BatchOptions& opts;
  std::mutex mu;
  BatchResult result;
  std::atomic<bool> stop{false};

  int threads_for(const std::string& dest_dir) const;
  // The same for an open destination directory (one fstatfs); `btrfs`:
  // whether it is one (the walkers make directories ahead there).
  int threads_for_fd(int dest_dir, bool& btrfs) const;
  void add_error(std::string src, std::string dest, int err, const char* reason);
  void add_skipped(std::string path, const char* type);
  // The whole call fails (the first reason wins) and every thread stops.
  // Allocates nothing: it is what an exception handler calls.
  void fail(int err, const char* reason) noexcept;
  void merge(const LocalStats& s);
  bool should_stop() const;
  // A file copied; src/dest are only built when the caller listed files.
  void file_done(LocalStats& local, const CopyResult& r, const std::function<std::string()>& src,
                 const std::function<std::string()>& dest);
  // A request with the batch's options; the caller fills in the paths.
  CopyRequest file_request() const;
};

// Runs body on n threads (the calling thread is one of them) and waits. An
// exception from body stops the batch and fails it (ENOMEM for bad_alloc).
void run_threads(int n, const std::function<void()>& body, BatchState& state);

}  // namespace cowcopy
