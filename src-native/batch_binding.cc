// copyFiles, copyDir, importFiles: arguments in, the batch engine as an
// AsyncJob (it starts its own copy threads), the result object
// (batch_result.h) out. copyDir's JS filter: js_filter.h.
#include <napi.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "async_job.h"
#include "batch_result.h"
#include "binding_util.h"
#include "engine/batch.h"
#include "engine/import.h"
#include "engine/ladder.h"
#include "js_filter.h"

namespace cowcopy_napi {
namespace {

using cowcopy::BatchOptions;
using cowcopy::BatchResult;

// The umask without changing it (umask(2) can only be read by setting it,
// which would race with other threads creating files). When it cannot be
// read (no /proc, a kernel before 4.7): 07777, "unknown", which makes the
// engine never create a file with its final mode (it checks that the umask
// leaves the mode whole) but always fchmod it.
mode_t read_umask() {
  constexpr mode_t kUnknown = 07777;
  FILE* f = std::fopen("/proc/self/status", "re");
  if (!f) return kUnknown;
  char line[256];
  mode_t mask = kUnknown;
  while (std::fgets(line, sizeof line, f)) {
    unsigned int m;
    if (std::sscanf(line, "Umask: %o", &m) == 1) {
      mask = static_cast<mode_t>(m & 0777);
      break;
    }
  }
  std::fclose(f);
  return mask;
}

enum class Kind { kFiles, kCopyDir, kImport };

class BatchJob : public AsyncJob {
 public:
  explicit BatchJob(Kind kind) : AsyncJob(syscall_of(kind)), kind(kind) {}

  const Kind kind;
  long marker = -1;  // importFiles
  bool stage = false;
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string src, dest;
  BatchOptions opts;
  bool paths_as_buffers = false;
  std::unique_ptr<JsFilter> filter;

 private:
  BatchResult result_;

  static const char* syscall_of(Kind k) {
    return k == Kind::kCopyDir ? "copydir" : (k == Kind::kImport ? "importfiles" : "copyfiles");
  }

  void run() override {
    // Read here, off the main thread (a read of /proc/self/status), and
    // closer to when the files are created with it.
    opts.umask = read_umask();
    if (kind == Kind::kCopyDir) {
      result_ = cowcopy::copy_dir(src, dest, opts, filter.get());
    } else if (kind == Kind::kImport) {
      cowcopy::ImportOptions io;
      io.batch = opts;
      io.marker = marker;
      io.stage = stage;
      result_ = cowcopy::import_files(dest, pairs, io);
    } else {
      result_ = cowcopy::copy_files(pairs, opts);
    }
  }

  Napi::Value settle(Napi::Env env, int thrown, bool& ok) override {
    if (filter) filter->release();
    if (thrown) {
      result_ = BatchResult();
      result_.fatal = thrown;
    }
    const BatchResult& r = result_;
    ok = r.fatal == 0;
    if (ok) return object(env);
    Napi::Value err = make_error(env, r.fatal, r.fatal_reason, src, dest, syscall_of(kind), paths_as_buffers);
    // Cancelled: what was done before the stop stays, and is said (the
    // facade puts it on the AbortError).
    if (r.fatal == ECANCELED && err.IsObject()) err.As<Napi::Object>().Set("result", object(env));
    // importFiles' entry at fault (lib/import.ts names it as fs would).
    if (r.bad_entry >= 0 && err.IsObject()) {
      const char* problems[] = {"", "relPath", "twice", "fileAndDir"};
      const int p = r.bad_entry_problem;
      err.As<Napi::Object>().Set("entryIndex", Napi::Number::New(env, static_cast<double>(r.bad_entry)));
      err.As<Napi::Object>().Set("entryProblem", Napi::String::New(env, problems[p >= 0 && p < 4 ? p : 0]));
    }
    return err;
  }

  Napi::Object object(Napi::Env env) const {
    return batch_result(env, result_, opts.list_files, paths_as_buffers, kind == Kind::kImport);
  }
};

// Common tail: options, control words, queue the work.
Napi::Value start(const Napi::CallbackInfo& info, std::unique_ptr<BatchJob> job, size_t flags_at) {
  Napi::Env env = info.Env();
  CommonOptions o;
  if (!info[flags_at].IsNumber() || !read_flags(env, info[flags_at], o)) {
    if (!env.IsExceptionPending()) Napi::TypeError::New(env, "cowcopy native: bad flags").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  job->opts.reflink = o.reflink;
  job->opts.overwrite = o.overwrite;
  job->opts.sparse = o.sparse;
  job->opts.preserve = o.preserve;
  job->opts.stop_on_error = o.stop_on_error;
  job->opts.list_files = o.list_files;
  job->opts.ladder = o.ladder;
  job->paths_as_buffers = o.paths_as_buffers;
  job->opts.concurrency = info[flags_at + 1].IsNumber() ? info[flags_at + 1].As<Napi::Number>().Int32Value() : 0;
  Napi::Value control = info[flags_at + 2];
  if (!control.IsUndefined()) {
    int64_t* words = control_words(control, 3);
    if (!words || !job->hold(env, control)) {
      Napi::TypeError::New(env, "cowcopy native: bad control array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    job->opts.cancel = &words[0];
    job->opts.progress = &words[1];
  }
  const char* names[] = {"cowcopy.copyFiles", "cowcopy.copyDir", "cowcopy.importFiles"};
  const char* name = names[static_cast<int>(job->kind)];
  return AsyncJob::queue(env, std::move(job), name);
}

// copyFiles(srcs: (string|Buffer)[], dests: (string|Buffer)[], flags, concurrency, control?)
Napi::Value CopyFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsArray() || !info[1].IsArray()) {
    Napi::TypeError::New(env, "cowcopy native: bad arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array srcs = info[0].As<Napi::Array>();
  Napi::Array dests = info[1].As<Napi::Array>();
  auto job = std::make_unique<BatchJob>(Kind::kFiles);
  uint32_t n = srcs.Length();
  if (dests.Length() != n) {
    Napi::TypeError::New(env, "cowcopy native: bad arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  job->pairs.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (!read_path(srcs.Get(i), job->pairs[i].first) || !read_path(dests.Get(i), job->pairs[i].second)) {
      Napi::TypeError::New(env, "cowcopy native: bad path").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  return start(info, std::move(job), 2);
}

// copyDir's own option bits, beside binding_util.h Flags (lib/engine.ts
// TREE_FLAG: keep in step).
enum TreeFlags : uint32_t {
  kDereference = 1u << 24,
  kErrorOnExist = 1u << 25,
};

// copyDir(src, dest, flags, concurrency, control?, filter?, linkBase?)
// linkBase: the absolute source root that relative symlink targets are
// resolved against (fs.cp without verbatimSymlinks); absent: verbatim.
Napi::Value CopyDir(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto job = std::make_unique<BatchJob>(Kind::kCopyDir);
  if (info.Length() < 6 || !read_path(info[0], job->src) || !read_path(info[1], job->dest)) {
    Napi::TypeError::New(env, "cowcopy native: bad arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() > 6 && !info[6].IsUndefined() && !read_path(info[6], job->opts.link_base)) {
    Napi::TypeError::New(env, "cowcopy native: bad link base").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info[2].IsNumber()) {
    const uint32_t bits = info[2].As<Napi::Number>().Uint32Value();
    job->opts.dereference = bits & kDereference;
    job->opts.error_on_exist = bits & kErrorOnExist;
  }
  if (info[5].IsFunction()) {
    const bool bufs = info[2].IsNumber() && (info[2].As<Napi::Number>().Uint32Value() & kPathsAsBuffers);
    job->filter = std::make_unique<JsFilter>(bufs);
    if (!job->filter->init(env, info[5].As<Napi::Function>())) {
      Napi::Error::New(env, "cowcopy native: could not set up the filter").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  return start(info, std::move(job), 2);
}

// importFiles(destDir, rels: (string|Buffer)[], srcs: (string|Buffer)[], flags, concurrency, control?,
//             marker: number (-1: none), stage: boolean)
Napi::Value ImportFiles(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto job = std::make_unique<BatchJob>(Kind::kImport);
  if (info.Length() < 8 || !read_path(info[0], job->dest) || !info[1].IsArray() || !info[2].IsArray() ||
      !info[6].IsNumber()) {
    Napi::TypeError::New(env, "cowcopy native: bad arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array rels = info[1].As<Napi::Array>();
  Napi::Array srcs = info[2].As<Napi::Array>();
  uint32_t n = rels.Length();
  if (srcs.Length() != n) {
    Napi::TypeError::New(env, "cowcopy native: bad arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  job->pairs.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    if (!read_path(rels.Get(i), job->pairs[i].first, "relPath") || !read_path(srcs.Get(i), job->pairs[i].second)) {
      if (!env.IsExceptionPending()) Napi::TypeError::New(env, "cowcopy native: bad path").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  job->marker = info[6].As<Napi::Number>().Int64Value();
  if (job->marker < -1 || job->marker >= static_cast<long>(n)) job->marker = -1;
  job->stage = info[7].ToBoolean().Value();
  return start(info, std::move(job), 3);
}

// Forgets which ladder rungs were found unavailable (tests).
Napi::Value ResetLinkMemory(const Napi::CallbackInfo& info) {
  cowcopy::link_memory::reset();
  return info.Env().Undefined();
}

}  // namespace

void register_batch(Napi::Env env, Napi::Object exports) {
  exports.Set("importFiles", Napi::Function::New(env, ImportFiles, "importFiles"));
  exports.Set("resetLinkMemory", Napi::Function::New(env, ResetLinkMemory, "resetLinkMemory"));
  exports.Set("copyFiles", Napi::Function::New(env, CopyFiles, "copyFiles"));
  exports.Set("copyDir", Napi::Function::New(env, CopyDir, "copyDir"));
}

}  // namespace cowcopy_napi
