#include "threads.h"

#include <pthread.h>

#include <memory>
#include <new>

#if defined(__GLIBC__) && defined(__x86_64__)
__asm__(".symver pthread_create, pthread_create@GLIBC_2.2.5");
__asm__(".symver pthread_join, pthread_join@GLIBC_2.2.5");
#elif defined(__GLIBC__) && defined(__aarch64__)
__asm__(".symver pthread_create, pthread_create@GLIBC_2.17");
__asm__(".symver pthread_join, pthread_join@GLIBC_2.17");
#endif

namespace cowcopy {
namespace {

void* trampoline(void* arg) {
  std::unique_ptr<std::function<void()>> body(static_cast<std::function<void()>*>(arg));
  try {
    (*body)();
  } catch (...) {
    // The copy threads report through their batch; nothing may escape here.
  }
  return nullptr;
}

}  // namespace

bool Thread::start(std::function<void()> body) {
  auto* heap = new (std::nothrow) std::function<void()>(std::move(body));
  if (!heap) return false;
  pthread_t id;
  if (pthread_create(&id, nullptr, trampoline, heap) != 0) {
    delete heap;
    return false;
  }
  id_ = static_cast<unsigned long>(id);
  running_ = true;
  return true;
}

void Thread::join() {
  if (!running_) return;
  pthread_join(static_cast<pthread_t>(id_), nullptr);
  running_ = false;
}

int start_all(std::vector<Thread>& threads, const std::function<void()>& body) {
  int started = 0;
  for (auto& t : threads) {
    if (!t.start(body)) break;
    ++started;
  }
  return started;
}

}  // namespace cowcopy

#if defined(__GLIBC__)
// Emitted by GCC 11+ for array new with a run-time length; exported by
// libstdc++ only since GLIBCXX_3.4.29 (std::vector uses it). Our own copy keeps the
// addon loadable with older libstdc++ (it only ever throws).
namespace std {
[[noreturn]] void __throw_bad_array_new_length() {
  throw std::bad_array_new_length();
}
}  // namespace std
#endif
