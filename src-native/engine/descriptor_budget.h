// The descriptors cowcopy's batch calls may hold, one budget for the whole
// process: every tree walk (copyDir, importFiles) and every batch (copyFiles)
// draws from it, so calls running at once see each other's descriptors.
//
// A call is admitted with a floor it keeps until it ends: enough to always
// make progress alone (a directory pair and the one below it, the root, one
// copy thread's files). What it holds beyond the floor (more copy threads,
// directories kept open ahead of or behind the walker) is taken from what is
// left of the process's share, and when that is spent the call waits for
// its own copies in flight, never fails: a low limit makes a copy slower,
// never EMFILE.
#pragma once

#include <cstddef>
#include <cstdint>

namespace cowcopy {

// Descriptors this process has open now, or -1 when that cannot be told.
long open_descriptors();

class DescriptorShare {
 public:
  // Waits until `floor` descriptors fit the process's share, nothing else
  // holds any, or the word `cancel` points to is set (then cancelled() is
  // true: the caller stops before touching anything); counts them. Let in
  // alone with fewer than `floor` free, the call keeps within those:
  // try_take refuses past them.
  explicit DescriptorShare(size_t floor, const int64_t* cancel = nullptr);
  bool cancelled() const { return cancelled_; }
  ~DescriptorShare();
  DescriptorShare(const DescriptorShare&) = delete;
  DescriptorShare& operator=(const DescriptorShare&) = delete;

  // Counts n more, from the floor while it lasts, else from the process's
  // share: false (nothing counted) when that is spent.
  bool try_take(size_t n);
  // Counts n more even past the share (a step that cannot be put off).
  void take(size_t n);
  // n fewer (any thread).
  void give(size_t n);
  // Counts n more from the process's share only, never from the floor
  // (copy threads beyond the first, which the floor does not cover): false
  // when the share has no room. give_extra gives them back.
  bool try_take_extra(size_t n);
  void give_extra(size_t n);
  // Waits at most `ms` for another call or thread to give some back.
  void wait_for_change(int ms);
  size_t held() const;
  // Let in with fewer than its floor free, and holding more than those.
  bool beyond_room() const;

 private:
  size_t floor_;
  size_t room_;       // what it may hold: the floor, or less when fewer were free
  bool confined_ = false;  // let in with fewer than its floor free: room_ < floor_
  size_t held_ = 0;   // under the process lock
  size_t extra_ = 0;  // taken by try_take_extra, not yet given back
  bool cancelled_ = false;
};

}  // namespace cowcopy
