#include "descriptor_budget.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <new>

#include "dir_listing.h"
#include "sys.h"
#include "unique_fd.h"

namespace cowcopy {

long open_descriptors() {
  int fd = retry_eintr([] { return ::open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC); });
  if (fd == -1) return -1;
  UniqueFd dir(fd);
  alignas(8) char buf[4096];
  long n = 0;
  if (each_entry(fd, buf, sizeof buf, [&](const char*, unsigned char, uint64_t) { return ++n, true; }) != 0) {
    return -1;
  }
  return n > 0 ? n - 1 : 0;  // less the one that lists them
}

namespace {

struct Process {
  std::mutex mu;
  std::condition_variable changed;
  size_t held = 0;   // every call's floor and what each took beyond it
  size_t share = 0;  // what all calls together may hold (set at each admission)
};

// Built when the addon loads, never destroyed: a copy thread may still run
// while the process exits. (Not a function-local static: no init guard.)
alignas(Process) unsigned char g_storage[sizeof(Process)];
Process* const g_process = new (g_storage) Process;

Process& process() { return *g_process; }

constexpr size_t kMost = 16384;

// What all calls together may hold: the limit less every descriptor open
// now (cowcopy's own among them: counted twice while calls run, which only
// errs towards fewer) and a margin for what the process opens meanwhile;
// at most 16 384. `free` is the limit less what is open, no margin.
size_t compute_share(size_t* free = nullptr) {
  struct rlimit rl;
  if (free) *free = kMost;
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return kMost;
  const long open = open_descriptors();
  const size_t limit = static_cast<size_t>(rl.rlim_cur);
  const size_t others = open < 0 ? limit / 4 : static_cast<size_t>(open);
  const size_t margin = 8 + limit / 16;
  if (free) *free = limit > others ? limit - others : 0;
  const size_t share = limit > others + margin ? limit - others - margin : 0;
  return share < kMost ? share : kMost;
}

void wait_a_little(std::unique_lock<std::mutex>& lock, Process& p, int ms) {
  // (system_clock: wait_for's steady clock needs pthread_cond_clockwait,
  // glibc 2.30, newer than the 2.28 the prebuilds target.)
  p.changed.wait_until(lock, std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
}

}  // namespace

DescriptorShare::DescriptorShare(size_t floor, const int64_t* cancel) : floor_(floor), room_(floor) {
  Process& p = process();
  std::unique_lock<std::mutex> lock(p.mu);
  size_t free = kMost;
  p.share = compute_share(&free);
  while (p.held != 0 && p.held + floor > p.share) {
    if (cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED) != 0) {
      cancelled_ = true;
      break;
    }
    wait_a_little(lock, p, 50);
    p.share = compute_share(&free);
  }
  // Alone, a call is let in even when fewer than its floor are free: it
  // then keeps within what is free (the walker closes directories above
  // its own sooner), and still counts its whole floor against others.
  if (p.held == 0 && free < floor) {
    room_ = free;
    confined_ = true;
  }
  p.held += floor;
  held_ = 0;
}

DescriptorShare::~DescriptorShare() {
  Process& p = process();
  std::lock_guard<std::mutex> lock(p.mu);
  p.held -= floor_ + (held_ > floor_ ? held_ - floor_ : 0) + extra_;
  p.changed.notify_all();
}

bool DescriptorShare::try_take_extra(size_t n) {
  Process& p = process();
  std::lock_guard<std::mutex> lock(p.mu);
  if (confined_ || p.held + n > p.share) return false;
  p.held += n;
  extra_ += n;
  return true;
}

void DescriptorShare::give_extra(size_t n) {
  Process& p = process();
  std::lock_guard<std::mutex> lock(p.mu);
  p.held -= n;
  extra_ -= n;
  p.changed.notify_all();
}

bool DescriptorShare::try_take(size_t n) {
  Process& p = process();
  std::lock_guard<std::mutex> lock(p.mu);
  if (confined_ && held_ + n > room_) return false;
  const size_t beyond_now = held_ > floor_ ? held_ - floor_ : 0;
  const size_t beyond_then = held_ + n > floor_ ? held_ + n - floor_ : 0;
  const size_t more = beyond_then - beyond_now;
  if (more > 0 && p.held + more > p.share) return false;
  p.held += more;
  held_ += n;
  return true;
}

void DescriptorShare::take(size_t n) {
  Process& p = process();
  std::lock_guard<std::mutex> lock(p.mu);
  const size_t beyond_now = held_ > floor_ ? held_ - floor_ : 0;
  const size_t beyond_then = held_ + n > floor_ ? held_ + n - floor_ : 0;
  p.held += beyond_then - beyond_now;
  held_ += n;
}

void DescriptorShare::give(size_t n) {
  Process& p = process();
  std::lock_guard<std::mutex> lock(p.mu);
  const size_t beyond_now = held_ > floor_ ? held_ - floor_ : 0;
  held_ -= n;
  const size_t beyond_then = held_ > floor_ ? held_ - floor_ : 0;
  p.held -= beyond_now - beyond_then;
  p.changed.notify_all();  // (also wakes a walker waiting for its own copies)
}

void DescriptorShare::wait_for_change(int ms) {
  Process& p = process();
  std::unique_lock<std::mutex> lock(p.mu);
  wait_a_little(lock, p, ms);
}

bool DescriptorShare::beyond_room() const {
  if (!confined_) return false;
  std::lock_guard<std::mutex> lock(process().mu);
  return held_ > room_;
}

size_t DescriptorShare::held() const {
  Process& p = process();
  std::lock_guard<std::mutex> lock(p.mu);
  return held_;
}

}  // namespace cowcopy
