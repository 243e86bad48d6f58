// Cancellation and progress shared between a running copy and its caller.
// Plain memory: the binding points it at a JavaScript BigInt64Array, a C++
// caller at any three int64 words. Read and written with atomic builtins.
#pragma once

#include <cstdint>

namespace cowcopy {

class Control {
 public:
  // words[0]: cancel flag (caller writes non-zero); words[1]: bytes done;
  // words[2]: bytes in total. nullptr: nothing to report, nothing to cancel.
  explicit Control(int64_t* words = nullptr) : words_(words) {}

  bool cancelled() const { return words_ && __atomic_load_n(&words_[0], __ATOMIC_RELAXED) != 0; }
  void total(uint64_t n) const {
    if (words_) __atomic_store_n(&words_[2], static_cast<int64_t>(n), __ATOMIC_RELAXED);
  }
  void done(uint64_t n) const {
    if (words_) __atomic_store_n(&words_[1], static_cast<int64_t>(n), __ATOMIC_RELAXED);
  }

 private:
  int64_t* words_;
};

}  // namespace cowcopy
