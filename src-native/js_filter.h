// copyDir's JS filter as the engine's TreeFilter: the walker thread asks the
// main thread once per directory, through a thread-safe function, and waits.
#pragma once

#include <napi.h>

#include <vector>

#include "engine/batch.h"

namespace cowcopy_napi {

class JsFilter : public cowcopy::TreeFilter {
 public:
  explicit JsFilter(bool paths_as_buffers) : paths_as_buffers_(paths_as_buffers) {}
  // Every way out of the binding (an early return included) releases the
  // thread-safe function: a live one keeps the event loop running forever.
  ~JsFilter() override { release(); }
  JsFilter(const JsFilter&) = delete;
  JsFilter& operator=(const JsFilter&) = delete;

  // Main thread: fn(relPaths[], types[]) -> booleans[] becomes the filter.
  bool init(Napi::Env env, Napi::Function fn);
  void release();

  // Walker thread: fills `keep`, or clears it to stop the walk.
  void keep(const std::vector<Entry>& entries, std::vector<char>& keep) override;

 private:
  struct Call;
  static void CallJs(napi_env env, napi_value js_fn, void* context, void* data);

  bool paths_as_buffers_;
  napi_threadsafe_function tsfn_ = nullptr;
};

}  // namespace cowcopy_napi
