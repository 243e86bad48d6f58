// Cancellation and progress shared between a running copy and its caller.
// Plain memory: the binding points it at a JavaScript BigInt64Array, a C++
// caller at any int64 words. Read and written with atomic builtins.
#pragma once

#include <cstdint>

namespace cowcopy {

class Control {
 public:
  Control() = default;
  // cancel: one word the caller sets non-zero to stop the copy (or nullptr).
  // progress: [bytes done, bytes in total] the copy publishes (or nullptr).
  Control(int64_t* cancel, int64_t* progress) : cancel_(cancel), progress_(progress) {}

  bool cancelled() const { return cancel_ && __atomic_load_n(cancel_, __ATOMIC_RELAXED) != 0; }
  void total(uint64_t n) const {
    if (progress_) __atomic_store_n(&progress_[1], static_cast<int64_t>(n), __ATOMIC_RELAXED);
  }
  void done(uint64_t n) const {
    if (progress_) __atomic_store_n(&progress_[0], static_cast<int64_t>(n), __ATOMIC_RELAXED);
  }
  // The same cancel word, without progress: for the files of a batch.
  Control cancel_only() const { return Control(cancel_, nullptr); }

 private:
  int64_t* cancel_ = nullptr;
  int64_t* progress_ = nullptr;
};

}  // namespace cowcopy
