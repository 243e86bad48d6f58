// The async-job glue the bindings share. A job's run() does the engine's work
// on a libuv worker thread (or inline, for a Sync form) without touching
// JavaScript; settle() turns its outcome into the value the promise resolves
// or rejects with. Raw napi_async_work rather than Napi::AsyncWorker: the
// latter allocates a resource object and a persistent reference per call,
// which a batch of small copies pays for every file. No C++ exception
// reaches Node-API: one out of run() reaches settle() as an errno
// (engine/exceptions.h), one out of settle() rejects the promise.
#pragma once

#include <napi.h>

#include <memory>

namespace cowcopy_napi {

class AsyncJob {
 public:
  // syscall: the name the last-resort error gives (settle() itself threw).
  explicit AsyncJob(const char* syscall) : syscall_(syscall) {}
  // Main thread: deletes the async work and the held reference.
  virtual ~AsyncJob();
  AsyncJob(const AsyncJob&) = delete;
  AsyncJob& operator=(const AsyncJob&) = delete;

  // Keeps `v` (a control array the engine writes into while it runs) alive
  // until the job is gone. false when it could not.
  bool hold(Napi::Env env, Napi::Value v);

  // Queues the job; its promise, or undefined with a JavaScript exception
  // pending. The job is deleted on the main thread once settled.
  static Napi::Value queue(Napi::Env env, std::unique_ptr<AsyncJob> job, const char* resource_name);
  // Runs the job on this thread: settle()'s value, or undefined with it thrown.
  static Napi::Value run_sync(Napi::Env env, AsyncJob& job);

 protected:
  const char* syscall() const { return syscall_; }
  // The engine's part; no JavaScript.
  virtual void run() = 0;
  // The outcome as a value; ok = false rejects (or throws) with it. thrown:
  // the errno of an exception out of run(), 0 for none: never success.
  virtual Napi::Value settle(Napi::Env env, int thrown, bool& ok) = 0;

 private:
  void run_guarded() noexcept;
  static void Execute(napi_env env, void* data);
  static void Complete(napi_env env, napi_status status, void* data);

  const char* syscall_;
  napi_env env_ = nullptr;
  napi_async_work work_ = nullptr;
  napi_deferred deferred_ = nullptr;
  napi_ref held_ = nullptr;
  int thrown_ = 0;
};

// A plain Error with code ENOMEM or EIO ("ENOMEM: not enough memory,
// <syscall>"), for when building the Node-style error threw too.
napi_value last_resort_error(napi_env env, int err, const char* syscall);

// An entry point whose C++ exceptions (std::bad_alloc reading the arguments
// or building a Sync form's result) become that last-resort error instead of
// node-addon-api's generic one.
Napi::Value guard_entry(const Napi::CallbackInfo& info, Napi::Value (*f)(const Napi::CallbackInfo&));
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  return guard_entry(info, F);
}

}  // namespace cowcopy_napi
