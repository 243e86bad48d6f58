#include "js_filter.h"

#include <condition_variable>
#include <mutex>

#include "binding_util.h"

namespace cowcopy_napi {

// One question to the main thread; the walker waits on `cv` for `answered`.
// (A mutex and condition variable rather than std::promise: std::future
// needs pthread_once from glibc 2.34.)
struct JsFilter::Call {
  const std::vector<Entry>* entries;
  std::vector<char>* keep;
  std::mutex mu;
  std::condition_variable cv;
  bool answered = false;
};

bool JsFilter::init(Napi::Env env, Napi::Function fn) {
  return napi_create_threadsafe_function(env, fn, nullptr, Napi::String::New(env, "cowcopy.filter"), 0, 1, nullptr,
                                         nullptr, this, &CallJs, &tsfn_) == napi_ok;
}

void JsFilter::release() {
  if (tsfn_) napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
  tsfn_ = nullptr;
}

void JsFilter::keep(const std::vector<Entry>& entries, std::vector<char>& keep) {
  Call call;
  call.entries = &entries;
  call.keep = &keep;
  if (napi_call_threadsafe_function(tsfn_, &call, napi_tsfn_blocking) != napi_ok) {
    keep.clear();  // the walker stops: size mismatch
    return;
  }
  std::unique_lock<std::mutex> lock(call.mu);
  call.cv.wait(lock, [&] { return call.answered; });
}

// Main thread. lib/ wraps the user's filter so it never throws here (and
// refuses a Promise: see lib/copy-dir.ts); an answer that is not an array of
// the entries' length, or anything else, stops the walk. No exception may
// leave this function: Node-API calls it directly, not through
// node-addon-api.
void JsFilter::CallJs(napi_env raw_env, napi_value js_fn, void* context, void* data) {
  auto* call = static_cast<Call*>(data);
  auto* self = static_cast<JsFilter*>(context);
  std::vector<char>& keep = *call->keep;
  if (!raw_env) {
    keep.clear();  // environment going away
  } else {
    try {
      Napi::Env env(raw_env);
      Napi::HandleScope scope(env);
      const auto& entries = *call->entries;
      Napi::Array rels = Napi::Array::New(env, entries.size());
      Napi::Array types = Napi::Array::New(env, entries.size());
      for (uint32_t i = 0; i < entries.size(); ++i) {
        rels.Set(i, path_value(env, entries[i].rel, self->paths_as_buffers_));
        types.Set(i, Napi::Number::New(env, entries[i].type));
      }
      Napi::Value out = Napi::Function(env, js_fn).Call({rels, types});
      if (out.IsArray() && out.As<Napi::Array>().Length() == entries.size()) {
        Napi::Array arr = out.As<Napi::Array>();
        for (uint32_t i = 0; i < keep.size(); ++i) keep[i] = arr.Get(i).ToBoolean().Value();
      } else {
        keep.clear();
      }
    } catch (...) {
      keep.clear();
    }
  }
  std::lock_guard<std::mutex> lock(call->mu);
  call->answered = true;
  call->cv.notify_one();
}

}  // namespace cowcopy_napi
