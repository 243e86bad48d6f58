// cloneRange / copyRange / dedupeRange / probe, sync and promise. The
// arguments are read here; a numeric fd (a FileHandle's too) is duplicated
// here, synchronously, so the job holds the file even if the caller closes
// its number before the job runs. Paths are opened by the engine, in the job
// (an AsyncJob, async_job.h).
#include <fcntl.h>
#include <napi.h>

#include <memory>
#include <utility>
#include <vector>

#include "async_job.h"
#include "binding_util.h"
#include "engine/probe.h"
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

Napi::Value u64(Napi::Env env, uint64_t v) { return Napi::BigInt::New(env, v); }

Napi::Value bad_args(Napi::Env env) {
  Napi::TypeError::New(env, "cowcopy native: bad arguments").ThrowAsJavaScriptException();
  return env.Undefined();
}

// One range call: its Sync form runs here, the other on the pool. An
// exception out of run() is an error with the call's syscall name.
class RangeJob : public AsyncJob {
 public:
  using AsyncJob::AsyncJob;

 protected:
  RangeError e_;

  // Success (e_.err == 0) and failure as values.
  virtual Napi::Value value(Napi::Env env) = 0;
  virtual Napi::Value error(Napi::Env env) = 0;

 private:
  Napi::Value settle(Napi::Env env, int thrown, bool& ok) final {
    if (thrown) e_ = RangeError{thrown, syscall(), {}};
    ok = e_.err == 0;
    return ok ? value(env) : error(env);
  }
};

Napi::Value dispatch(Napi::Env env, bool sync, std::unique_ptr<RangeJob> job, const char* resource_name) {
  if (sync) return AsyncJob::run_sync(env, *job);
  return AsyncJob::queue(env, std::move(job), resource_name);
}

// (src, dest, srcOffset, destOffset, length, sync) for clone and copy.
class PairJob : public RangeJob {
 public:
  using RangeJob::RangeJob;
  RangeFile src, dest;
  uint64_t src_off = 0, dst_off = 0, len = 0;

  bool read(const Napi::CallbackInfo& info) {
    return info.Length() >= 6 && read_file_arg(info[0], src) && read_file_arg(info[1], dest) &&
           read_u64(info[2], src_off) && read_u64(info[3], dst_off) && read_u64(info[4], len);
  }

 private:
  Napi::Value error(Napi::Env env) override { return range_error(env, e_, &src, &dest); }
};

class CloneRangeJob : public PairJob {
 public:
  CloneRangeJob() : PairJob("ioctl_ficlonerange") {}

 private:
  void run() override { e_ = cowcopy::clone_files(src, src_off, dest, dst_off, len); }
  Napi::Value value(Napi::Env env) override { return env.Undefined(); }
};

class CopyRangeJob : public PairJob {
 public:
  CopyRangeJob() : PairJob("copy_file_range") {}

 private:
  uint64_t copied_ = 0;
  void run() override { e_ = cowcopy::copy_files(src, src_off, dest, dst_off, len, copied_); }
  Napi::Value value(Napi::Env env) override { return u64(env, copied_); }
};

Napi::Value CloneRange(const Napi::CallbackInfo& info) {
  auto job = std::make_unique<CloneRangeJob>();
  if (!job->read(info)) return bad_args(info.Env());
  return dispatch(info.Env(), info[5].ToBoolean(), std::move(job), "cowcopy.cloneRange");
}

Napi::Value CopyRange(const Napi::CallbackInfo& info) {
  auto job = std::make_unique<CopyRangeJob>();
  if (!job->read(info)) return bad_args(info.Env());
  return dispatch(info.Env(), info[5].ToBoolean(), std::move(job), "cowcopy.copyRange");
}

class DedupeRangeJob : public RangeJob {
 public:
  DedupeRangeJob() : RangeJob("ioctl_fideduperange") {}
  RangeFile src;
  uint64_t off = 0, len = 0;
  std::vector<RangeFile> files;  // files[i] goes with targets[i]
  std::vector<cowcopy::DedupeTarget> targets;

 private:
  void run() override { e_ = cowcopy::dedupe_files(src, off, len, files, targets); }
  Napi::Value error(Napi::Env env) override { return range_error(env, e_, &src, nullptr); }
  Napi::Value value(Napi::Env env) override {
    Napi::Array out = Napi::Array::New(env, targets.size());
    for (uint32_t i = 0; i < targets.size(); ++i) {
      const auto& t = targets[i];
      Napi::Object row = Napi::Object::New(env);
      row.Set("bytesDeduped", u64(env, t.deduped));
      row.Set("status", t.err ? "error" : (t.same ? "same" : "differs"));
      if (t.err) {
        RangeError e{t.err, "ioctl_fideduperange", t.reason ? t.reason : ""};
        row.Set("error", range_error(env, e, &src, &files[i]));
      }
      out.Set(i, row);
    }
    return out;
  }
};

// (src, offset, length, targets: [fileArg, offset][], sync)
Napi::Value DedupeRange(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto job = std::make_unique<DedupeRangeJob>();
  if (info.Length() < 5 || !read_file_arg(info[0], job->src) || !read_u64(info[1], job->off) ||
      !read_u64(info[2], job->len) || !info[3].IsArray()) {
    return bad_args(env);
  }
  Napi::Array list = info[3].As<Napi::Array>();
  job->files.reserve(list.Length());
  job->targets.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value row = list.Get(i);
    if (!row.IsArray()) return bad_args(env);
    job->files.emplace_back();
    job->targets.emplace_back();
    if (!read_file_arg(row.As<Napi::Array>().Get(0u), job->files.back()) ||
        !read_u64(row.As<Napi::Array>().Get(1u), job->targets.back().offset)) {
      return bad_args(env);
    }
  }
  return dispatch(env, info[4].ToBoolean(), std::move(job), "cowcopy.dedupeRange");
}

class ProbeJob : public RangeJob {
 public:
  ProbeJob() : RangeJob("probe") {}
  RangeFile dir;

 private:
  cowcopy::ProbeResult r_;
  void run() override { e_ = cowcopy::probe(dir.path, r_); }
  Napi::Value error(Napi::Env env) override { return range_error(env, e_, &dir, nullptr); }
  Napi::Value value(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    o.Set("fsType", r_.fs_type);
    o.Set("blockSize", static_cast<double>(r_.block_size));
    o.Set("clone", r_.clone);
    o.Set("dedupe", r_.dedupe);
    o.Set("copyFileRange", r_.copy_file_range);
    return o;
  }
};

// (dir, sync)
Napi::Value Probe(const Napi::CallbackInfo& info) {
  auto job = std::make_unique<ProbeJob>();
  if (info.Length() < 2 || !read_path(info[0], job->dir.path)) return bad_args(info.Env());
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
