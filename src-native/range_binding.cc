// cloneRange / copyRange / dedupeRange / probe, sync and promise. The
// arguments are read here; a numeric fd (a FileHandle's too) is duplicated
// here, synchronously, so the job holds the file even if the caller closes
// its number before the job runs. Paths are opened by the engine, in the job.
// Nothing thrown in C++ reaches N-API: a job's exception is an error.
#include <fcntl.h>
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "binding_util.h"
#include "engine/range.h"

namespace cowcopy_napi {
namespace {

using cowcopy::RangeError;
using cowcopy::RangeFile;

// A file argument: a path the job opens, or a held duplicate of the caller's fd.
bool read_file_arg(const Napi::Value& v, RangeFile& out) {
  if (v.IsNumber()) {
    // Exactly an int32 >= 0, as lib/range.ts checked: never truncated
    // (Int32Value makes 1.5 fd 1 and NaN fd 0, stdout and stdin).
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 2147483647.0) || d != static_cast<double>(static_cast<int>(d))) return false;
    cowcopy::hold_fd(out, static_cast<int>(d));
    return true;
  }
  return read_path(v, out.path, "path");
}

bool read_u64(const Napi::Value& v, uint64_t& out) {
  if (!v.IsBigInt()) return false;
  bool lossless = false;
  out = v.As<Napi::BigInt>().Uint64Value(&lossless);
  return lossless;
}

Napi::Value path_or_undefined(Napi::Env env, const RangeFile& a) {
  return a.by_fd ? env.Undefined() : Napi::Value(path_value(env, a.path));
}

Napi::Value range_error(Napi::Env env, const RangeError& e, const RangeFile* src, const RangeFile* dest) {
  AddonData* data = env.GetInstanceData<AddonData>();
  Napi::Value reason = e.reason.empty() ? env.Undefined() : Napi::String::New(env, e.reason);
  return data->make_error.Call({Napi::Number::New(env, e.err), reason,
                                src ? path_or_undefined(env, *src) : env.Undefined(),
                                dest ? path_or_undefined(env, *dest) : env.Undefined(),
                                Napi::String::New(env, e.syscall ? e.syscall : "unknown")});
}

// When even building the Node-style error threw: a plain Error with a code.
napi_value last_resort_error(napi_env env, int err, const char* syscall) {
  const char* code = err == ENOMEM ? "ENOMEM" : "EIO";
  std::string text = std::string(code) + (err == ENOMEM ? ": not enough memory, " : ": i/o error, ") + syscall;
  napi_value c = nullptr, msg = nullptr, out = nullptr;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c) != napi_ok ||
      napi_create_string_utf8(env, text.c_str(), text.size(), &msg) != napi_ok ||
      napi_create_error(env, c, msg, &out) != napi_ok) {
    napi_get_undefined(env, &out);
  }
  return out;
}

Napi::Value u64(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

// One operation: `run` runs on the calling thread (sync) or a libuv worker
// (promise) and must not touch JavaScript; `finish` turns its outcome into a
// value, or an error when it sets ok = false. `thrown` is the errno of an
// exception out of run() (0: none): it is an error, never success.
struct Job {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  const char* syscall = "unknown";
  int thrown = 0;
  std::function<void()> run;
  std::function<Napi::Value(Napi::Env, int thrown, bool& ok)> finish;
};

void run_job(Job& job) noexcept {
  try {
    job.run();
  } catch (...) {
    job.thrown = cowcopy::current_exception_errno();
  }
}

void ExecuteJob(napi_env, void* data) { run_job(*static_cast<Job*>(data)); }

void CompleteJob(napi_env raw_env, napi_status, void* data) {
  std::unique_ptr<Job> job(static_cast<Job*>(data));
  Napi::Env env(raw_env);
  napi_handle_scope scope = nullptr;
  napi_open_handle_scope(raw_env, &scope);
  bool ok = false;
  napi_value value = nullptr;
  try {
    value = job->finish(env, job->thrown, ok);
  } catch (const Napi::Error& e) {
    value = e.Value();
    ok = false;
  } catch (...) {
    value = last_resort_error(raw_env, cowcopy::current_exception_errno(), job->syscall);
    ok = false;
  }
  if (ok) napi_resolve_deferred(raw_env, job->deferred, value);
  else napi_reject_deferred(raw_env, job->deferred, value);
  napi_delete_async_work(raw_env, job->work);
  if (scope) napi_close_handle_scope(raw_env, scope);
}

Napi::Value dispatch(Napi::Env env, bool sync, std::unique_ptr<Job> job, const char* name) {
  if (sync) {
    run_job(*job);
    bool ok = false;
    Napi::Value v = job->finish(env, job->thrown, ok);
    if (!ok) {
      Napi::Error(env, v).ThrowAsJavaScriptException();
      return env.Undefined();
    }
    return v;
  }
  napi_value promise;
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_async_work(env, nullptr, Napi::String::New(env, name), ExecuteJob, CompleteJob, job.get(),
                             &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    if (job->work) napi_delete_async_work(env, job->work);
    Napi::Error::New(env, "cowcopy native: could not queue the job").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  job.release();
  return Napi::Value(env, promise);
}

// Every entry point: a C++ exception (std::bad_alloc while reading the
// arguments or building the result) becomes a JavaScript error here instead
// of unwinding into N-API (std::terminate).
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value guarded(const Napi::CallbackInfo& info) {
  try {
    return F(info);
  } catch (const Napi::Error&) {
    throw;  // node-addon-api turns it into the pending JavaScript exception
  } catch (...) {
    napi_throw(info.Env(), last_resort_error(info.Env(), cowcopy::current_exception_errno(), "cowcopy"));
    return info.Env().Undefined();
  }
}

Napi::Value bad_args(Napi::Env env) {
  Napi::TypeError::New(env, "cowcopy native: bad arguments").ThrowAsJavaScriptException();
  return env.Undefined();
}

// (src, dest, srcOffset, destOffset, length, sync) for clone and copy.
struct PairArgs {
  RangeFile src, dest;
  uint64_t src_off = 0, dst_off = 0, len = 0;
};

bool read_pair(const Napi::CallbackInfo& info, PairArgs& a) {
  return info.Length() >= 6 && read_file_arg(info[0], a.src) && read_file_arg(info[1], a.dest) &&
         read_u64(info[2], a.src_off) && read_u64(info[3], a.dst_off) && read_u64(info[4], a.len);
}

Napi::Value CloneRange(const Napi::CallbackInfo& info) {
  auto args = std::make_shared<PairArgs>();
  if (!read_pair(info, *args)) return bad_args(info.Env());
  auto result = std::make_shared<RangeError>();
  auto job = std::make_unique<Job>();
  job->syscall = "ioctl_ficlonerange";
  job->run = [args, result] {
    *result = cowcopy::clone_files(args->src, args->src_off, args->dest, args->dst_off, args->len);
  };
  job->finish = [args, result](Napi::Env env, int thrown, bool& ok) -> Napi::Value {
    if (thrown) *result = RangeError{thrown, "ioctl_ficlonerange", {}};
    ok = result->err == 0;
    return ok ? env.Undefined() : range_error(env, *result, &args->src, &args->dest);
  };
  return dispatch(info.Env(), info[5].ToBoolean(), std::move(job), "cowcopy.cloneRange");
}

Napi::Value CopyRange(const Napi::CallbackInfo& info) {
  auto args = std::make_shared<PairArgs>();
  if (!read_pair(info, *args)) return bad_args(info.Env());
  struct Out {
    RangeError e;
    uint64_t copied = 0;
  };
  auto out = std::make_shared<Out>();
  auto job = std::make_unique<Job>();
  job->syscall = "copy_file_range";
  job->run = [args, out] {
    out->e = cowcopy::copy_files(args->src, args->src_off, args->dest, args->dst_off, args->len,
                                 out->copied);
  };
  job->finish = [args, out](Napi::Env env, int thrown, bool& ok) -> Napi::Value {
    if (thrown) out->e = RangeError{thrown, "copy_file_range", {}};
    ok = out->e.err == 0;
    return ok ? u64(env, out->copied) : range_error(env, out->e, &args->src, &args->dest);
  };
  return dispatch(info.Env(), info[5].ToBoolean(), std::move(job), "cowcopy.copyRange");
}

// (src, offset, length, targets: [fileArg, offset][], sync)
Napi::Value DedupeRange(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct Args {
    RangeFile src;
    uint64_t off = 0, len = 0;
    std::vector<RangeFile> files;
    std::vector<cowcopy::DedupeTarget> targets;
    RangeError e;
  };
  auto a = std::make_shared<Args>();
  if (info.Length() < 5 || !read_file_arg(info[0], a->src) || !read_u64(info[1], a->off) ||
      !read_u64(info[2], a->len) || !info[3].IsArray()) {
    return bad_args(env);
  }
  Napi::Array list = info[3].As<Napi::Array>();
  a->files.reserve(list.Length());
  a->targets.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value row = list.Get(i);
    if (!row.IsArray()) return bad_args(env);
    a->files.emplace_back();
    a->targets.emplace_back();
    if (!read_file_arg(row.As<Napi::Array>().Get(0u), a->files.back()) ||
        !read_u64(row.As<Napi::Array>().Get(1u), a->targets.back().offset)) {
      return bad_args(env);
    }
  }
  auto job = std::make_unique<Job>();
  job->syscall = "ioctl_fideduperange";
  job->run = [a] { a->e = cowcopy::dedupe_files(a->src, a->off, a->len, a->files, a->targets); };
  job->finish = [a](Napi::Env env, int thrown, bool& ok) -> Napi::Value {
    if (thrown) a->e = RangeError{thrown, "ioctl_fideduperange", {}};
    if (a->e.err) {
      ok = false;
      return range_error(env, a->e, &a->src, nullptr);
    }
    ok = true;
    Napi::Array out = Napi::Array::New(env, a->targets.size());
    for (uint32_t i = 0; i < a->targets.size(); ++i) {
      const auto& t = a->targets[i];
      Napi::Object row = Napi::Object::New(env);
      row.Set("bytesDeduped", u64(env, t.deduped));
      row.Set("status", t.err ? "error" : (t.same ? "same" : "differs"));
      if (t.err) {
        RangeError e{t.err, "ioctl_fideduperange", t.reason ? t.reason : ""};
        row.Set("error", range_error(env, e, &a->src, &a->files[i]));
      }
      out.Set(i, row);
    }
    return out;
  };
  return dispatch(env, info[4].ToBoolean(), std::move(job), "cowcopy.dedupeRange");
}

// (dir, sync)
Napi::Value Probe(const Napi::CallbackInfo& info) {
  auto dir = std::make_shared<RangeFile>();
  if (info.Length() < 2 || !read_path(info[0], dir->path)) return bad_args(info.Env());
  struct Out {
    RangeError e;
    cowcopy::ProbeResult r;
  };
  auto out = std::make_shared<Out>();
  auto job = std::make_unique<Job>();
  job->syscall = "probe";
  job->run = [dir, out] { out->e = cowcopy::probe(dir->path, out->r); };
  job->finish = [dir, out](Napi::Env env, int thrown, bool& ok) -> Napi::Value {
    if (thrown) out->e = RangeError{thrown, "probe", {}};
    if (out->e.err) {
      ok = false;
      return range_error(env, out->e, dir.get(), nullptr);
    }
    ok = true;
    Napi::Object o = Napi::Object::New(env);
    o.Set("fsType", out->r.fs_type);
    o.Set("blockSize", static_cast<double>(out->r.block_size));
    o.Set("clone", out->r.clone);
    o.Set("dedupe", out->r.dedupe);
    o.Set("copyFileRange", out->r.copy_file_range);
    return o;
  };
  return dispatch(info.Env(), info[1].ToBoolean(), std::move(job), "cowcopy.probe");
}

}  // namespace

void register_range(Napi::Env env, Napi::Object exports) {
  exports.Set("cloneRange", Napi::Function::New(env, guarded<CloneRange>, "cloneRange"));
  exports.Set("copyRange", Napi::Function::New(env, guarded<CopyRange>, "copyRange"));
  exports.Set("dedupeRange", Napi::Function::New(env, guarded<DedupeRange>, "dedupeRange"));
  exports.Set("probe", Napi::Function::New(env, guarded<Probe>, "probe"));
}

}  // namespace cowcopy_napi
