// cloneRange / copyRange / dedupeRange / probe, sync and promise. Paths are
// opened here (inside the job, on the worker thread for promises) and closed
// here; numeric fds are the caller's and never closed.
#include <fcntl.h>
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "binding_util.h"
#include "engine/range.h"
#include "engine/sys.h"
#include "engine/unique_fd.h"

namespace cowcopy_napi {
namespace {

using cowcopy::RangeError;
using cowcopy::UniqueFd;

// A file argument: a path to open, or a descriptor that stays the caller's.
struct FileArg {
  std::string path;
  int fd = -1;
  bool is_path() const { return fd < 0; }
};

bool read_file_arg(const Napi::Value& v, FileArg& out) {
  if (v.IsNumber()) {
    out.fd = v.As<Napi::Number>().Int32Value();
    return out.fd >= 0;
  }
  return read_path(v, out.path);
}

bool read_u64(const Napi::Value& v, uint64_t& out) {
  if (!v.IsBigInt()) return false;
  bool lossless = false;
  out = v.As<Napi::BigInt>().Uint64Value(&lossless);
  return lossless;
}

// Opens a path argument (or lends the fd). 0 or errno.
int open_arg(const FileArg& a, int flags, UniqueFd& owned, int& fd) {
  if (!a.is_path()) {
    fd = a.fd;
    return 0;
  }
  int raw = cowcopy::retry_eintr([&] { return ::open(a.path.c_str(), flags | O_CLOEXEC | O_NOCTTY, 0666); });
  if (raw == -1) return errno;
  owned = UniqueFd(raw);
  fd = raw;
  return 0;
}

Napi::Value path_or_undefined(Napi::Env env, const FileArg& a) {
  return a.is_path() ? Napi::Value(path_value(env, a.path)) : env.Undefined();
}

Napi::Value range_error(Napi::Env env, const RangeError& e, const FileArg* src, const FileArg* dest) {
  AddonData* data = env.GetInstanceData<AddonData>();
  Napi::Value reason = e.reason.empty() ? env.Undefined() : Napi::String::New(env, e.reason);
  return data->make_error.Call({Napi::Number::New(env, e.err), reason,
                                src ? path_or_undefined(env, *src) : env.Undefined(),
                                dest ? path_or_undefined(env, *dest) : env.Undefined(),
                                Napi::String::New(env, e.syscall ? e.syscall : "unknown")});
}

Napi::Value u64(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

// One operation: `work` runs on the calling thread (sync) or a libuv worker
// (promise); `finish` turns its outcome into a value, or an error when it
// returns with ok = false.
struct Job {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  std::function<void()> run;
  std::function<Napi::Value(Napi::Env, bool&)> finish;
};

void ExecuteJob(napi_env, void* data) {
  auto* job = static_cast<Job*>(data);
  try {
    job->run();
  } catch (...) {
  }
}

void CompleteJob(napi_env raw_env, napi_status, void* data) {
  std::unique_ptr<Job> job(static_cast<Job*>(data));
  Napi::Env env(raw_env);
  Napi::HandleScope scope(env);
  bool ok = false;
  napi_value value;
  try {
    value = job->finish(env, ok);
  } catch (const Napi::Error& e) {
    value = e.Value();
    ok = false;
  }
  if (ok) napi_resolve_deferred(raw_env, job->deferred, value);
  else napi_reject_deferred(raw_env, job->deferred, value);
  napi_delete_async_work(raw_env, job->work);
}

Napi::Value dispatch(Napi::Env env, bool sync, std::unique_ptr<Job> job, const char* name) {
  if (sync) {
    job->run();
    bool ok = false;
    Napi::Value v = job->finish(env, ok);
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
    Napi::Error::New(env, "cowcopy native: could not queue the job").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  job.release();
  return Napi::Value(env, promise);
}

Napi::Value bad_args(Napi::Env env) {
  Napi::TypeError::New(env, "cowcopy native: bad arguments").ThrowAsJavaScriptException();
  return env.Undefined();
}

// (src, dest, srcOffset, destOffset, length, sync) for clone and copy.
struct PairArgs {
  FileArg src, dest;
  uint64_t src_off = 0, dst_off = 0, len = 0;
};

// Opens both sides of a range call (paths owned here, fds lent) and runs op;
// a path destination is closed here, where close() may still report an error.
template <class Op>
RangeError with_pair(const PairArgs& a, const char* sc, Op op) {
  UniqueFd s_own, d_own;
  int s = -1, d = -1;
  if (int err = open_arg(a.src, O_RDONLY, s_own, s)) return RangeError{err, sc, {}};
  if (int err = open_arg(a.dest, O_WRONLY | O_CREAT, d_own, d)) return RangeError{err, sc, {}};
  RangeError e = op(s, d);
  if (e.err == 0 && d_own.valid()) {
    if (int err = d_own.close_checked()) e = RangeError{err, "close", {}};
  }
  return e;
}

bool read_pair(const Napi::CallbackInfo& info, PairArgs& a) {
  return info.Length() >= 6 && read_file_arg(info[0], a.src) && read_file_arg(info[1], a.dest) &&
         read_u64(info[2], a.src_off) && read_u64(info[3], a.dst_off) && read_u64(info[4], a.len);
}

Napi::Value CloneRange(const Napi::CallbackInfo& info) {
  auto args = std::make_shared<PairArgs>();
  if (!read_pair(info, *args)) return bad_args(info.Env());
  auto result = std::make_shared<RangeError>();
  auto job = std::make_unique<Job>();
  job->run = [args, result] {
    *result = with_pair(*args, "ioctl_ficlonerange", [&](int s, int d) {
      return cowcopy::clone_range(s, args->src_off, d, args->dst_off, args->len);
    });
  };
  job->finish = [args, result](Napi::Env env, bool& ok) -> Napi::Value {
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
  job->run = [args, out] {
    out->e = with_pair(*args, "copy_file_range", [&](int s, int d) {
      return cowcopy::copy_range(s, args->src_off, d, args->dst_off, args->len, out->copied);
    });
  };
  job->finish = [args, out](Napi::Env env, bool& ok) -> Napi::Value {
    ok = out->e.err == 0;
    return ok ? u64(env, out->copied) : range_error(env, out->e, &args->src, &args->dest);
  };
  return dispatch(info.Env(), info[5].ToBoolean(), std::move(job), "cowcopy.copyRange");
}

// (src, offset, length, targets: [fileArg, offset][], sync)
Napi::Value DedupeRange(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct Args {
    FileArg src;
    uint64_t off = 0, len = 0;
    std::vector<FileArg> files;
    std::vector<cowcopy::DedupeTarget> targets;
    std::vector<int> open_errors;
    RangeError e;
  };
  auto a = std::make_shared<Args>();
  if (info.Length() < 5 || !read_file_arg(info[0], a->src) || !read_u64(info[1], a->off) ||
      !read_u64(info[2], a->len) || !info[3].IsArray()) {
    return bad_args(env);
  }
  Napi::Array list = info[3].As<Napi::Array>();
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value row = list.Get(i);
    if (!row.IsArray()) return bad_args(env);
    FileArg f;
    cowcopy::DedupeTarget t;
    if (!read_file_arg(row.As<Napi::Array>().Get(0u), f) || !read_u64(row.As<Napi::Array>().Get(1u), t.offset)) {
      return bad_args(env);
    }
    a->files.push_back(std::move(f));
    a->targets.push_back(t);
  }
  auto job = std::make_unique<Job>();
  job->run = [a] {
    UniqueFd s_own;
    int s = -1;
    const char* sc = "ioctl_fideduperange";
    if (int err = open_arg(a->src, O_RDONLY, s_own, s)) return void(a->e = RangeError{err, sc, {}});
    std::vector<UniqueFd> owned(a->files.size());
    std::vector<cowcopy::DedupeTarget> usable;
    std::vector<size_t> index;
    for (size_t i = 0; i < a->files.size(); ++i) {
      int fd = -1;
      // Read-only is enough for dedupe when we own the file (or are root).
      if (int err = open_arg(a->files[i], O_RDONLY, owned[i], fd)) {
        a->targets[i].err = err;
        continue;
      }
      a->targets[i].fd = fd;
      usable.push_back(a->targets[i]);
      index.push_back(i);
    }
    a->e = cowcopy::dedupe_range(s, a->off, a->len, usable);
    for (size_t k = 0; k < usable.size(); ++k) a->targets[index[k]] = usable[k];
  };
  job->finish = [a](Napi::Env env, bool& ok) -> Napi::Value {
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
        row.Set("error", range_error(env, RangeError{t.err, "ioctl_fideduperange", {}}, &a->src, &a->files[i]));
      }
      out.Set(i, row);
    }
    return out;
  };
  return dispatch(env, info[4].ToBoolean(), std::move(job), "cowcopy.dedupeRange");
}

// (dir, sync)
Napi::Value Probe(const Napi::CallbackInfo& info) {
  auto dir = std::make_shared<FileArg>();
  if (info.Length() < 2 || !read_path(info[0], dir->path)) return bad_args(info.Env());
  struct Out {
    RangeError e;
    cowcopy::ProbeResult r;
  };
  auto out = std::make_shared<Out>();
  auto job = std::make_unique<Job>();
  job->run = [dir, out] { out->e = cowcopy::probe(dir->path, out->r); };
  job->finish = [dir, out](Napi::Env env, bool& ok) -> Napi::Value {
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
  exports.Set("cloneRange", Napi::Function::New(env, CloneRange, "cloneRange"));
  exports.Set("copyRange", Napi::Function::New(env, CopyRange, "copyRange"));
  exports.Set("dedupeRange", Napi::Function::New(env, DedupeRange, "dedupeRange"));
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
}

}  // namespace cowcopy_napi
