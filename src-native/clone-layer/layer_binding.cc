// The clone layer's N-API glue: checks arguments before anything is
// touched, runs clone_file / clone_tree inline (Sync) or on a libuv worker
// thread (promise), and answers with errno numbers and plain objects; lib/
// turns those into Node-style errors. Paths are bytes end to end: a Buffer
// may hold a name that is not UTF-8.
#include <napi.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <new>
#include <string>

#include "layer.h"
#include "os_clone.h"

namespace {

using cowcopy_layer::TreeAnswer;

// Successful clones in this process, whichever thread made them (tests).
std::atomic<uint64_t> g_file_clones{0};
std::atomic<uint64_t> g_tree_clones{0};

[[noreturn]] void throw_with_code(Napi::Error err, const char* code) {
  err.Set("code", Napi::String::New(err.Env(), code));
  throw err;
}

// A path argument as its bytes: a string (UTF-8) or a Buffer (as is).
std::string read_path(const Napi::Value& v, const char* name) {
  std::string out;
  if (v.IsString()) {
    out = v.As<Napi::String>().Utf8Value();
  } else if (v.IsBuffer()) {
    auto b = v.As<Napi::Buffer<char>>();
    out.assign(b.Data(), b.Length());
  } else {
    throw_with_code(Napi::TypeError::New(v.Env(), std::string("The \"") + name +
                                                      "\" argument must be of type string or an instance of Buffer"),
                    "ERR_INVALID_ARG_TYPE");
  }
  // A NUL would cut the path short at the system call: refuse it whole.
  if (out.find('\0') != std::string::npos) {
    throw_with_code(Napi::TypeError::New(v.Env(), std::string("The argument '") + name +
                                                      "' must be a string or Buffer without null bytes"),
                    "ERR_INVALID_ARG_VALUE");
  }
  return out;
}

int read_fd(const Napi::Value& v) {
  if (!v.IsNumber()) {
    throw_with_code(Napi::TypeError::New(v.Env(), "The \"srcFd\" argument must be of type number"),
                    "ERR_INVALID_ARG_TYPE");
  }
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 2147483647.0) || std::floor(d) != d) {
    throw_with_code(Napi::RangeError::New(v.Env(), "The value of \"srcFd\" is out of range: an integer >= 0 and <= 2147483647"),
                    "ERR_OUT_OF_RANGE");
  }
  return static_cast<int>(d);
}

int run_file(int fd, const std::string& dest) {
  int err = cowcopy_layer::clone_file(fd, dest.c_str());
  if (err == 0) g_file_clones.fetch_add(1, std::memory_order_relaxed);
  return err;
}

TreeAnswer run_tree(const std::string& src, const std::string& dest) {
  TreeAnswer a = cowcopy_layer::clone_tree(src.c_str(), dest.c_str());
  if (a.err == 0 && a.ineligible.empty()) g_tree_clones.fetch_add(1, std::memory_order_relaxed);
  return a;
}

Napi::Object tree_object(Napi::Env env, const TreeAnswer& a) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("errno", Napi::Number::New(env, a.err));
  // The reason may quote a path that is not UTF-8: decoded lossily, it is a message.
  o.Set("ineligible", a.ineligible.empty() ? env.Undefined() : Napi::String::New(env, a.ineligible));
  o.Set("files", Napi::Number::New(env, static_cast<double>(a.files)));
  o.Set("dirs", Napi::Number::New(env, static_cast<double>(a.dirs)));
  o.Set("symlinks", Napi::Number::New(env, static_cast<double>(a.symlinks)));
  o.Set("bytes", Napi::Number::New(env, static_cast<double>(a.bytes)));
  return o;
}

// A promise settled from a worker thread's result. The layer does not throw
// (it answers ENOMEM), but nothing may escape a worker thread regardless.
class Job : public Napi::AsyncWorker {
 public:
  explicit Job(Napi::Env env) : Napi::AsyncWorker(env, "cowcopy:clone-layer"), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      run();
    } catch (const std::exception& e) {
      SetError(std::string("cowcopy clone layer: ") + e.what());
    } catch (...) {
      SetError("cowcopy clone layer: unknown failure");
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }
  virtual void run() = 0;
  Napi::Promise::Deferred deferred_;
};

class FileJob : public Job {
 public:
  FileJob(Napi::Env env, int fd, std::string dest) : Job(env), fd_(fd), dest_(std::move(dest)) {}

 private:
  void run() override { err_ = run_file(fd_, dest_); }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), err_)); }
  int fd_;
  std::string dest_;
  int err_ = 0;
};

class TreeJob : public Job {
 public:
  TreeJob(Napi::Env env, std::string src, std::string dest) : Job(env), src_(std::move(src)), dest_(std::move(dest)) {}

 private:
  void run() override { answer_ = run_tree(src_, dest_); }
  void OnOK() override { deferred_.Resolve(tree_object(Env(), answer_)); }
  std::string src_;
  std::string dest_;
  TreeAnswer answer_;
};

Napi::Value CloneFileSync(const Napi::CallbackInfo& info) {
  int fd = read_fd(info[0]);
  std::string dest = read_path(info[1], "dest");
  return Napi::Number::New(info.Env(), run_file(fd, dest));
}

Napi::Value CloneFile(const Napi::CallbackInfo& info) {
  int fd = read_fd(info[0]);
  std::string dest = read_path(info[1], "dest");
  auto* job = new FileJob(info.Env(), fd, std::move(dest));
  Napi::Promise p = job->promise();
  job->Queue();  // deletes itself once settled
  return p;
}

Napi::Value CloneTreeSync(const Napi::CallbackInfo& info) {
  std::string src = read_path(info[0], "src");
  std::string dest = read_path(info[1], "dest");
  return tree_object(info.Env(), run_tree(src, dest));
}

Napi::Value CloneTree(const Napi::CallbackInfo& info) {
  std::string src = read_path(info[0], "src");
  std::string dest = read_path(info[1], "dest");
  auto* job = new TreeJob(info.Env(), std::move(src), std::move(dest));
  Napi::Promise p = job->promise();
  job->Queue();
  return p;
}

Napi::Value Counters(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("fileClones", Napi::Number::New(info.Env(), static_cast<double>(g_file_clones.load())));
  o.Set("treeClones", Napi::Number::New(info.Env(), static_cast<double>(g_tree_clones.load())));
  return o;
}

#define COWCOPY_STR2(x) #x
#define COWCOPY_STR(x) COWCOPY_STR2(x)

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // lib/native.ts tells this addon from the Linux engine by `kind`.
  exports.Set("kind", Napi::String::New(env, "clone-layer"));
  exports.Set("os", Napi::String::New(env, cowcopy_layer::kOsCloneName));
  // Which sources this binary was built from (src-native/source-hash.js).
  exports.Set("sourceHash", Napi::String::New(env, COWCOPY_STR(COWCOPY_SOURCE_HASH)));
  exports.Set("cloneFileSync", Napi::Function::New(env, CloneFileSync, "cloneFileSync"));
  exports.Set("cloneFile", Napi::Function::New(env, CloneFile, "cloneFile"));
  exports.Set("cloneTreeSync", Napi::Function::New(env, CloneTreeSync, "cloneTreeSync"));
  exports.Set("cloneTree", Napi::Function::New(env, CloneTree, "cloneTree"));
  exports.Set("counters", Napi::Function::New(env, Counters, "counters"));
  return exports;
}

}  // namespace

NODE_API_MODULE(cowcopy, Init)
