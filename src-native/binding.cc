// The only file that knows N-API: converts arguments, runs the engine inline
// (Sync) or on a libuv worker thread (promise), and turns its result into a
// plain object. Node-style errors are built in lib/errors.ts from that object.
#include <napi.h>

#include <cerrno>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include "binding_util.h"
#include "engine/copy_file.h"

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
  } catch (const std::bad_alloc&) {
    r = CopyResult();
    r.err = ENOMEM;
  } catch (const std::exception& e) {
    Napi::Error::New(env, std::string("cowcopy native: ") + e.what()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  out[0] = r.err;
  out[1] = static_cast<double>(r.method);
  out[2] = static_cast<double>(r.bytes);
  return r.reason ? Napi::String::New(env, r.reason) : env.Undefined();
}

// One promise copy. Raw napi_async_work rather than Napi::AsyncWorker: the
// latter allocates a resource object and a persistent reference per call,
// which a batch of 10 000 small clones pays for 10 000 times.
struct CopyJob {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref control = nullptr;  // keeps the control array alive while the copy runs
  CopyRequest req;
  CopyResult result;
  std::string failure;  // set when the engine threw (it does not, but never let it escape)
};

void ExecuteCopy(napi_env, void* data) {
  auto* job = static_cast<CopyJob*>(data);
  try {
    job->result = cowcopy::copy_file(job->req);
  } catch (const std::bad_alloc&) {
    job->result = CopyResult();
    job->result.err = ENOMEM;
  } catch (const std::exception& e) {
    job->failure = std::string("cowcopy native: ") + e.what();
  } catch (...) {
    job->failure = "cowcopy native: unknown failure";
  }
}

Napi::Value settle_value(Napi::Env env, CopyJob& job, bool& ok) {
  ok = false;
  if (!job.failure.empty()) return Napi::Error::New(env, job.failure).Value();
  const CopyResult& r = job.result;
  if (r.err == 0) {
    ok = true;
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
  return make_error(env, r.err, r.reason, job.req.src, job.req.dest);
}

void CompleteCopy(napi_env raw_env, napi_status status, void* data) {
  std::unique_ptr<CopyJob> job(static_cast<CopyJob*>(data));
  Napi::Env env(raw_env);
  Napi::HandleScope scope(env);
  napi_value value;
  bool ok = false;
  try {
    if (status == napi_cancelled) {
      value = Napi::Error::New(env, "cowcopy native: copy cancelled").Value();
    } else {
      value = settle_value(env, *job, ok);
    }
  } catch (const Napi::Error& e) {
    value = e.Value();
    ok = false;
  } catch (...) {
    // Out of memory building the result: no exception may reach Node-API.
    ok = false;
    napi_value msg = nullptr;
    napi_create_string_utf8(raw_env, "ENOMEM: out of memory, copyfile", NAPI_AUTO_LENGTH, &msg);
    if (napi_create_error(raw_env, nullptr, msg, &value) != napi_ok) napi_get_undefined(raw_env, &value);
  }
  if (ok) {
    napi_resolve_deferred(raw_env, job->deferred, value);
  } else {
    napi_reject_deferred(raw_env, job->deferred, value);
  }
  if (job->control) napi_delete_reference(raw_env, job->control);
  napi_delete_async_work(raw_env, job->work);
}

Napi::Value CopyFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto job = std::make_unique<CopyJob>();
  if (!read_request(info, job->req)) return env.Undefined();
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    int64_t* words = cowcopy_napi::control_words(info[3], 3);
    if (!words || napi_create_reference(env, info[3], 1, &job->control) != napi_ok) {
      Napi::TypeError::New(env, "cowcopy native: bad control array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    job->req.control = cowcopy::Control(&words[0], &words[1]);
  }
  napi_value promise;
  // A reference to a string needs Node-API 10; a fresh one-byte string is cheap.
  Napi::String name = Napi::String::New(env, "cowcopy.copyFile");
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_async_work(env, nullptr, name, ExecuteCopy, CompleteCopy,
                             job.get(), &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    Napi::Error::New(env, "cowcopy native: could not queue the copy").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  job.release();  // CompleteCopy owns it now (and the control reference)
  return Napi::Value(env, promise);
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
