// The addon's entry: copyFileSync and copyFile (arguments in, the engine
// inline or as an AsyncJob, the result out), and the other bindings'
// registration. Node-style errors are built by lib/errors.ts's factory.
#include <napi.h>

#include <memory>
#include <utility>

#include "async_job.h"
#include "binding_util.h"
#include "engine/copy_file.h"
#include "engine/exceptions.h"

namespace {

using cowcopy::CopyRequest;
using cowcopy::CopyResult;
using cowcopy_napi::make_error;
using cowcopy_napi::read_path;

bool read_request(const Napi::CallbackInfo& info, CopyRequest& req) {
  if (info.Length() < 3 || !read_path(info[0], req.src, "src") || !read_path(info[1], req.dest, "dest") ||
      !info[2].IsNumber()) {
    Napi::TypeError::New(info.Env(), "cowcopy native: bad arguments").ThrowAsJavaScriptException();
    return false;
  }
  cowcopy_napi::CommonOptions o;
  if (!cowcopy_napi::read_flags(info.Env(), info[2], o)) return false;
  req.reflink = o.reflink;
  req.overwrite = o.overwrite;
  req.sparse = o.sparse;
  req.atomic = o.atomic;
  req.fsync = o.fsync;
  req.preserve = o.preserve;
  return true;
}

// Sync results go into a Float64Array the caller reuses ([errno, method,
// bytes]) rather than a new object per call: per-file overhead is what batch
// users pay 10 000 times. Returns the engine's reason text, if any.
Napi::Value CopyFileSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CopyRequest req;
  if (!read_request(info, req)) return env.Undefined();
  // One napi_get_typedarray_info for type, length and data (the wrapper's
  // three accessors asked three times: a profile showed it per file).
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  bool is_typed = false;
  if (info.Length() < 4 || napi_is_typedarray(env, info[3], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, info[3], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_float64_array || length < 3) {
    Napi::TypeError::New(env, "cowcopy native: bad result array").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double* out = static_cast<double*>(data);
  CopyResult r;
  try {
    r = cowcopy::copy_file(req);
  } catch (...) {
    r = CopyResult();
    r.err = cowcopy::current_exception_errno();
  }
  out[0] = r.err;
  out[1] = static_cast<double>(r.method);
  out[2] = static_cast<double>(r.bytes);
  return r.reason ? Napi::String::New(env, r.reason) : env.Undefined();
}

// One promise copy.
class CopyJob : public cowcopy_napi::AsyncJob {
 public:
  CopyJob() : AsyncJob("copyfile") {}
  CopyRequest req;

 private:
  CopyResult result_;

  void run() override { result_ = cowcopy::copy_file(req); }

  Napi::Value settle(Napi::Env env, int thrown, bool& ok) override {
    if (thrown) {
      result_ = CopyResult();
      result_.err = thrown;
    }
    const CopyResult& r = result_;
    ok = r.err == 0;
    if (!ok) return make_error(env, r.err, r.reason, req.src, req.dest);
    // lib/ registers a factory: its object literal is cheaper than two
    // property sets from here (each interns its key and changes the map).
    const Napi::FunctionReference& make = env.GetInstanceData<cowcopy_napi::AddonData>()->make_result;
    if (!make.IsEmpty()) {
      return make.Call({Napi::Number::New(env, static_cast<double>(r.method)),
                        Napi::Number::New(env, static_cast<double>(r.bytes))});
    }
    Napi::Object o = Napi::Object::New(env);
    o.Set("method", cowcopy::method_name(r.method));
    o.Set("bytes", static_cast<double>(r.bytes));
    return o;
  }
};

Napi::Value CopyFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto job = std::make_unique<CopyJob>();
  if (!read_request(info, job->req)) return env.Undefined();
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    int64_t* words = cowcopy_napi::control_words(info[3], 3);
    if (!words || !job->hold(env, info[3])) {
      Napi::TypeError::New(env, "cowcopy native: bad control array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    job->req.control = cowcopy::Control(&words[0], &words[1]);
  }
  return cowcopy_napi::AsyncJob::queue(env, std::move(job), "cowcopy.copyFile");
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("copyFileSync", Napi::Function::New(env, CopyFileSync, "copyFileSync"));
  exports.Set("copyFile", Napi::Function::New(env, CopyFile, "copyFile"));
  exports.Set("setErrorFactory", Napi::Function::New(env, cowcopy_napi::SetErrorFactory, "setErrorFactory"));
  exports.Set("setResultFactory", Napi::Function::New(env, cowcopy_napi::SetResultFactory, "setResultFactory"));
  cowcopy_napi::register_batch(env, exports);
  cowcopy_napi::register_range(env, exports);
  // Which sources this binary was built from (src-native/source-hash.js).
#define COWCOPY_STR2(x) #x
#define COWCOPY_STR(x) COWCOPY_STR2(x)
  exports.Set("sourceHash", Napi::String::New(env, COWCOPY_STR(COWCOPY_SOURCE_HASH)));
  env.SetInstanceData(new cowcopy_napi::AddonData());
  return exports;
}

}  // namespace

NODE_API_MODULE(cowcopy, Init)
