// copyFiles / copyDir: arguments in, the batch engine on a libuv worker
// thread (it starts its own copy threads), a BatchResult object out. A JS
// filter for copyDir is asked once per directory through a thread-safe
// function while the walker waits.
#include <napi.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <condition_variable>
#include <mutex>
#include <memory>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "binding_util.h"
#include "engine/batch.h"
#include "engine/import.h"
#include "engine/ladder.h"

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

// Asks the JS filter on the main thread and waits for its answer.
class JsFilter : public cowcopy::TreeFilter {
 public:
  // One question to the main thread; the walker waits on `cv` for `answered`.
  // (A mutex and condition variable rather than std::promise: std::future
  // needs pthread_once from glibc 2.34.)
  struct Call {
    const std::vector<Entry>* entries;
    std::vector<char>* keep;
    std::mutex mu;
    std::condition_variable cv;
    bool answered = false;
  };

  explicit JsFilter(bool paths_as_buffers) : paths_as_buffers_(paths_as_buffers) {}
  // Every way out of the binding (an early return included) releases the
  // thread-safe function: a live one keeps the event loop running forever.
  ~JsFilter() override { release(); }
  JsFilter(const JsFilter&) = delete;
  JsFilter& operator=(const JsFilter&) = delete;

  bool init(Napi::Env env, Napi::Function fn) {
    return napi_create_threadsafe_function(env, fn, nullptr, Napi::String::New(env, "cowcopy.filter"), 0,
                                           1, nullptr, nullptr, this, &CallJs, &tsfn_) == napi_ok;
  }
  void release() {
    if (tsfn_) napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
    tsfn_ = nullptr;
  }

  void keep(const std::vector<Entry>& entries, std::vector<char>& keep) override {
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

 private:
  static void answer(Call* call) {
    std::lock_guard<std::mutex> lock(call->mu);
    call->answered = true;
    call->cv.notify_one();
  }

  // The answer array into `keep`; anything else stops the walk.
  static void take(Call* call, const Napi::Value& out) {
    std::vector<char>& keep = *call->keep;
    if (out.IsArray() && out.As<Napi::Array>().Length() == call->entries->size()) {
      Napi::Array arr = out.As<Napi::Array>();
      for (uint32_t i = 0; i < keep.size(); ++i) keep[i] = arr.Get(i).ToBoolean().Value();
    } else {
      keep.clear();
    }
  }

  // Main thread: fn(relPaths[], types[]) -> booleans[]. lib/ wraps the
  // user's filter so it never throws here (and refuses a Promise: see
  // lib/batch.ts); anything else stops the walk. No exception may leave this
  // function: Node-API calls it directly, not through node-addon-api.
  static void CallJs(napi_env raw_env, napi_value js_fn, void* context, void* data) {
    auto* call = static_cast<Call*>(data);
    auto* self = static_cast<JsFilter*>(context);
    if (!raw_env) {
      call->keep->clear();  // environment going away
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
        take(call, Napi::Function(env, js_fn).Call({rels, types}));
      } catch (...) {
        call->keep->clear();
      }
    }
    answer(call);
  }

  bool paths_as_buffers_;
  napi_threadsafe_function tsfn_ = nullptr;
};

enum class Kind { kFiles, kTree, kImport };

struct BatchJob {
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
  napi_ref control = nullptr;
  Kind kind = Kind::kFiles;
  long marker = -1;  // importFiles
  bool stage = false;
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string src, dest;
  BatchOptions opts;
  bool paths_as_buffers = false;
  std::unique_ptr<JsFilter> filter;
  BatchResult result;
  std::string failure;
};

void Execute(napi_env, void* data) {
  auto* job = static_cast<BatchJob*>(data);
  try {
    // Read here, off the main thread (a read of /proc/self/status), and
    // closer to when the files are created with it.
    job->opts.umask = read_umask();
    if (job->kind == Kind::kTree) {
      job->result = cowcopy::copy_tree(job->src, job->dest, job->opts, job->filter.get());
    } else if (job->kind == Kind::kImport) {
      cowcopy::ImportOptions io;
      io.batch = job->opts;
      io.marker = job->marker;
      io.stage = job->stage;
      job->result = cowcopy::import_files(job->dest, job->pairs, io);
    } else {
      job->result = cowcopy::copy_files(job->pairs, job->opts);
    }
  } catch (const std::bad_alloc&) {
    job->result = BatchResult();  // empty vectors: nothing to allocate
    job->result.fatal = ENOMEM;
  } catch (const std::exception& e) {
    job->failure = std::string("cowcopy native: ") + e.what();
  } catch (...) {
    job->failure = "cowcopy native: unknown failure";
  }
}

const char* const kMethodNames[] = {"none", "clone", "copy_file_range", "sendfile", "readwrite", "hardlink"};
static_assert(sizeof kMethodNames / sizeof kMethodNames[0] == cowcopy::kMethodCount, "a name per Method");

const char* syscall_of(Kind k) {
  return k == Kind::kTree ? "copydir" : (k == Kind::kImport ? "importfiles" : "copyfiles");
}

// An array with one object per item, filled in by `fill`.
template <class T, class Fill>
Napi::Array rows(Napi::Env env, const std::vector<T>& items, Fill fill) {
  Napi::Array out = Napi::Array::New(env, items.size());
  for (uint32_t i = 0; i < items.size(); ++i) {
    Napi::Object row = Napi::Object::New(env);
    fill(row, items[i]);
    out.Set(i, row);
  }
  return out;
}

Napi::Object result_object(Napi::Env env, BatchJob& job);

Napi::Value to_js(Napi::Env env, BatchJob& job, bool& ok) {
  ok = false;
  if (!job.failure.empty()) return Napi::Error::New(env, job.failure).Value();
  BatchResult& r = job.result;
  if (r.fatal) {
    Napi::Value err = make_error(env, r.fatal, r.fatal_reason, job.src, job.dest, syscall_of(job.kind), job.paths_as_buffers);
    // Cancelled: what was done before the stop stays, and is said (the
    // facade puts it on the AbortError).
    if (r.fatal == ECANCELED && err.IsObject()) err.As<Napi::Object>().Set("result", result_object(env, job));
    return err;
  }
  ok = true;
  return result_object(env, job);
}

Napi::Object result_object(Napi::Env env, BatchJob& job) {
  BatchResult& r = job.result;
  const bool bufs = job.paths_as_buffers;
  Napi::Object o = Napi::Object::New(env);
  o.Set("files", static_cast<double>(r.files));
  o.Set("bytes", static_cast<double>(r.bytes));
  o.Set("dirs", static_cast<double>(r.dirs));
  o.Set("symlinks", static_cast<double>(r.symlinks));
  o.Set("threads", r.threads);
  if (job.kind == Kind::kImport) o.Set("existing", static_cast<double>(r.existing));
  Napi::Object methods = Napi::Object::New(env);
  for (int i = 1; i < cowcopy::kMethodCount; ++i) methods.Set(kMethodNames[i], static_cast<double>(r.methods[i]));
  methods.Set("none", static_cast<double>(r.methods[0]));
  o.Set("methods", methods);
  o.Set("overlayLinks", static_cast<double>(r.overlay_links));
  o.Set("errors", rows(env, r.errors, [&](Napi::Object row, const auto& e) {
    row.Set("src", path_value(env, e.src, bufs));
    row.Set("dest", path_value(env, e.dest, bufs));
    // The error's own path/dest: strings where that loses nothing, as fs gives them.
    row.Set("error", make_error(env, e.err, e.reason, e.src, e.dest));
  }));
  o.Set("skipped", rows(env, r.skipped, [&](Napi::Object row, const auto& k) {
    row.Set("path", path_value(env, k.path, bufs));
    row.Set("type", k.type);
  }));
  if (job.opts.list_files) {
    o.Set("copied", rows(env, r.copied, [&](Napi::Object row, const auto& c) {
      row.Set("src", path_value(env, c.src, bufs));
      row.Set("dest", path_value(env, c.dest, bufs));
      row.Set("method", kMethodNames[static_cast<int>(c.method)]);
      row.Set("bytes", static_cast<double>(c.bytes));
    }));
  }
  return o;
}

void Complete(napi_env raw_env, napi_status status, void* data) {
  std::unique_ptr<BatchJob> job(static_cast<BatchJob*>(data));
  Napi::Env env(raw_env);
  Napi::HandleScope scope(env);
  if (job->filter) job->filter->release();
  napi_value value;
  bool ok = false;
  try {
    value = status == napi_cancelled ? Napi::Error::New(env, "cowcopy native: cancelled").Value()
                                     : to_js(env, *job, ok);
  } catch (const Napi::Error& e) {
    value = e.Value();
    ok = false;
  } catch (...) {
    // Out of memory building the result: no exception may reach Node-API.
    ok = false;
    napi_value msg = nullptr;
    napi_create_string_utf8(raw_env, "ENOMEM: out of memory, cowcopy", NAPI_AUTO_LENGTH, &msg);
    if (napi_create_error(raw_env, nullptr, msg, &value) != napi_ok) napi_get_undefined(raw_env, &value);
  }
  if (ok) napi_resolve_deferred(raw_env, job->deferred, value);
  else napi_reject_deferred(raw_env, job->deferred, value);
  if (job->control) napi_delete_reference(raw_env, job->control);
  napi_delete_async_work(raw_env, job->work);
}

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
    if (!words || napi_create_reference(env, control, 1, &job->control) != napi_ok) {
      Napi::TypeError::New(env, "cowcopy native: bad control array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    job->opts.cancel = &words[0];
    job->opts.progress = &words[1];
  }
  napi_value promise;
  const char* names[] = {"cowcopy.copyFiles", "cowcopy.copyDir", "cowcopy.importFiles"};
  Napi::String name = Napi::String::New(env, names[static_cast<int>(job->kind)]);
  if (napi_create_promise(env, &job->deferred, &promise) != napi_ok ||
      napi_create_async_work(env, nullptr, name, Execute, Complete, job.get(), &job->work) != napi_ok ||
      napi_queue_async_work(env, job->work) != napi_ok) {
    Napi::Error::New(env, "cowcopy native: could not queue the batch").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  job.release();
  return Napi::Value(env, promise);
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
  auto job = std::make_unique<BatchJob>();
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

// copyDir's own option bits, beside binding_util.h Flags (lib/batch.ts
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
  auto job = std::make_unique<BatchJob>();
  job->kind = Kind::kTree;
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
  auto job = std::make_unique<BatchJob>();
  job->kind = Kind::kImport;
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
