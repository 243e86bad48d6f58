#include "async_job.h"

#include <cerrno>
#include <cstdio>

#include "engine/exceptions.h"

namespace cowcopy_napi {

AsyncJob::~AsyncJob() {
  if (held_) napi_delete_reference(env_, held_);
  if (work_) napi_delete_async_work(env_, work_);
}

bool AsyncJob::hold(Napi::Env env, Napi::Value v) {
  env_ = env;
  return !held_ && napi_create_reference(env, v, 1, &held_) == napi_ok;
}

void AsyncJob::run_guarded() noexcept {
  try {
    run();
  } catch (...) {
    thrown_ = cowcopy::current_exception_errno();
  }
}

void AsyncJob::Execute(napi_env, void* data) { static_cast<AsyncJob*>(data)->run_guarded(); }

void AsyncJob::Complete(napi_env raw_env, napi_status status, void* data) {
  std::unique_ptr<AsyncJob> job(static_cast<AsyncJob*>(data));
  napi_handle_scope scope = nullptr;
  napi_open_handle_scope(raw_env, &scope);
  Napi::Env env(raw_env);
  bool ok = false;
  napi_value value = nullptr;
  try {
    if (status == napi_cancelled) {
      value = Napi::Error::New(env, "cowcopy native: cancelled").Value();
    } else {
      value = job->settle(env, job->thrown_, ok);
    }
  } catch (const Napi::Error& e) {
    value = e.Value();
    ok = false;
  } catch (...) {
    value = last_resort_error(raw_env, cowcopy::current_exception_errno(), job->syscall_);
    ok = false;
  }
  if (ok) napi_resolve_deferred(raw_env, job->deferred_, value);
  else napi_reject_deferred(raw_env, job->deferred_, value);
  job.reset();
  if (scope) napi_close_handle_scope(raw_env, scope);
}

Napi::Value AsyncJob::queue(Napi::Env env, std::unique_ptr<AsyncJob> job, const char* resource_name) {
  job->env_ = env;
  Napi::String name = Napi::String::New(env, resource_name);
  napi_value promise;
  if (napi_create_promise(env, &job->deferred_, &promise) != napi_ok ||
      napi_create_async_work(env, nullptr, name, Execute, Complete, job.get(), &job->work_) != napi_ok ||
      napi_queue_async_work(env, job->work_) != napi_ok) {
    Napi::Error::New(env, "cowcopy native: could not queue the job").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  job.release();  // Complete deletes it
  return Napi::Value(env, promise);
}

Napi::Value AsyncJob::run_sync(Napi::Env env, AsyncJob& job) {
  job.run_guarded();
  bool ok = false;
  Napi::Value v = job.settle(env, job.thrown_, ok);
  if (!ok) {
    Napi::Error(env, v).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return v;
}

napi_value last_resort_error(napi_env env, int err, const char* syscall) {
  const char* code = err == ENOMEM ? "ENOMEM" : "EIO";
  // On the stack: this runs where an allocation just failed.
  char text[160];
  std::snprintf(text, sizeof text, "%s: %s, %s", code, err == ENOMEM ? "not enough memory" : "i/o error", syscall);
  napi_value c = nullptr, msg = nullptr, out = nullptr;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c) != napi_ok ||
      napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
      napi_create_error(env, c, msg, &out) != napi_ok) {
    napi_get_undefined(env, &out);
  }
  return out;
}

Napi::Value guard_entry(const Napi::CallbackInfo& info, Napi::Value (*f)(const Napi::CallbackInfo&)) {
  try {
    return f(info);
  } catch (const Napi::Error&) {
    throw;  // node-addon-api turns it into the pending JavaScript exception
  } catch (...) {
    napi_throw(info.Env(), last_resort_error(info.Env(), cowcopy::current_exception_errno(), "cowcopy"));
    return info.Env().Undefined();
  }
}

}  // namespace cowcopy_napi
