// A joinable thread on pthreads. std::thread would pull in the GLIBC_2.34
// versions of pthread_create/pthread_join (and GLIBCXX_3.4.30); this keeps
// the prebuilt addon loadable on glibc 2.28.
#pragma once

#include <functional>
#include <vector>

namespace cowcopy {

class Thread {
 public:
  Thread() = default;
  Thread(const Thread&) = delete;
  Thread& operator=(const Thread&) = delete;
  Thread(Thread&& other) noexcept : id_(other.id_), running_(other.running_) { other.running_ = false; }
  ~Thread() { join(); }

  // false when no thread could be started (the caller does the work itself).
  bool start(std::function<void()> body);
  void join();

 private:
  unsigned long id_ = 0;
  bool running_ = false;
};

// Starts one thread per element running `body`, stopping at the first that
// cannot start (the ones that did, and the caller, do the work). Returns how
// many started. The caller joins them (or lets ~Thread do it).
int start_all(std::vector<Thread>& threads, const std::function<void()>& body);

}  // namespace cowcopy
