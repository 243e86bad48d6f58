// The clone layer's Node-API glue: checks arguments before anything is
// touched, runs clone_file / clone_tree inline (Sync) or on a libuv worker
// thread (promise), and answers with errno numbers and plain objects; lib/
// turns those into Node-style errors. Paths are bytes end to end: a Buffer
// may hold a name that is not UTF-8. The plain C Node-API (no node-addon-api)
// so that the addon needs no C++ runtime: every failure is a status checked
// here, never an exception.
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "layer.h"
#include "napi_util.h"
#include "os_clone.h"

namespace {

using namespace cowcopy_layer::napi_util;
using cowcopy_layer::Buf;
using cowcopy_layer::TreeAnswer;

// Successful clones in this process, whichever thread made them (tests).
// Read and bumped only through __atomic builtins.
uint64_t g_file_clones = 0;
uint64_t g_tree_clones = 0;

// A path argument as its bytes into `out`: a string (UTF-8) or a Buffer (as
// is). False with an exception pending when it is neither or holds a NUL.
bool read_path(napi_env env, napi_value v, const char* name, Buf& out) {
  char message[128];
  napi_valuetype type;
  bool buffer = false;
  if (!ok(env, napi_typeof(env, v, &type))) return false;
  if (type == napi_string) {
    size_t len = 0;
    if (!ok(env, napi_get_value_string_utf8(env, v, nullptr, 0, &len))) return false;
    char* at = out.grow(len);
    if (!at) return throw_enomem(env), false;
    if (!ok(env, napi_get_value_string_utf8(env, v, at, len + 1, &len))) return false;
  } else if (!ok(env, napi_is_buffer(env, v, &buffer))) {
    return false;
  } else if (buffer) {
    void* data = nullptr;
    size_t len = 0;
    if (!ok(env, napi_get_buffer_info(env, v, &data, &len))) return false;
    if (!out.append(static_cast<const char*>(data), len)) return throw_enomem(env), false;
  } else {
    snprintf(message, sizeof message, "The \"%s\" argument must be of type string or an instance of Buffer", name);
    throw_coded(env, napi_create_type_error, "ERR_INVALID_ARG_TYPE", message);
    return false;
  }
  // A NUL would cut the path short at the system call: refuse it whole.
  if (memchr(out.data(), 0, out.size())) {
    snprintf(message, sizeof message, "The argument '%s' must be a string or Buffer without null bytes", name);
    throw_coded(env, napi_create_type_error, "ERR_INVALID_ARG_VALUE", message);
    return false;
  }
  return true;
}

bool read_fd(napi_env env, napi_value v, int& fd) {
  napi_valuetype type;
  if (!ok(env, napi_typeof(env, v, &type))) return false;
  if (type != napi_number) {
    throw_coded(env, napi_create_type_error, "ERR_INVALID_ARG_TYPE", "The \"srcFd\" argument must be of type number");
    return false;
  }
  double d = 0;
  if (!ok(env, napi_get_value_double(env, v, &d))) return false;
  // In range first (NaN fails it), so that the cast is defined.
  if (!(d >= 0 && d <= 2147483647.0) || static_cast<double>(static_cast<int>(d)) != d) {
    throw_coded(env, napi_create_range_error, "ERR_OUT_OF_RANGE",
                "The value of \"srcFd\" is out of range: an integer >= 0 and <= 2147483647");
    return false;
  }
  fd = static_cast<int>(d);
  return true;
}

int run_file(int fd, const char* dest) {
  int err = cowcopy_layer::clone_file(fd, dest);
  if (err == 0) __atomic_fetch_add(&g_file_clones, 1, __ATOMIC_RELAXED);
  return err;
}

// A TreeAnswer as plain data, which a malloc'd job can hold: `why` is
// malloc'd (null when eligible) and freed by whoever builds the JS object.
struct TreeResult {
  int err;
  char* why;
  size_t why_len;
  uint64_t files, dirs, symlinks, bytes;
};

void run_tree(const char* src, const char* dest, TreeResult& r) {
  TreeAnswer a = cowcopy_layer::clone_tree(src, dest);
  if (a.err == 0 && a.ineligible.empty()) __atomic_fetch_add(&g_tree_clones, 1, __ATOMIC_RELAXED);
  r.err = a.err;
  r.why_len = a.ineligible.size();
  r.why = a.ineligible.release();
  r.files = a.files;
  r.dirs = a.dirs;
  r.symlinks = a.symlinks;
  r.bytes = a.bytes;
}

// { errno, ineligible, files, dirs, symlinks, bytes }; frees r.why.
napi_value tree_object(napi_env env, TreeResult& r) {
  napi_value o, why;
  bool done = ok(env, napi_create_object(env, &o)) && set_number(env, o, "errno", r.err);
  // The reason may quote a path that is not UTF-8: decoded lossily, it is a message.
  if (done) {
    done = ok(env, r.why ? napi_create_string_utf8(env, r.why, r.why_len, &why) : napi_get_undefined(env, &why)) &&
           ok(env, napi_set_named_property(env, o, "ineligible", why));
  }
  done = done && set_number(env, o, "files", static_cast<double>(r.files)) &&
         set_number(env, o, "dirs", static_cast<double>(r.dirs)) &&
         set_number(env, o, "symlinks", static_cast<double>(r.symlinks)) &&
         set_number(env, o, "bytes", static_cast<double>(r.bytes));
  free(r.why);
  r.why = nullptr;
  return done ? o : nullptr;
}

napi_value CloneFileSync(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  Buf dest;
  if (!args(env, info, argv, 2) || !read_fd(env, argv[0], fd) || !read_path(env, argv[1], "dest", dest)) return nullptr;
  return number(env, run_file(fd, dest.c_str()));
}

napi_value CloneTreeSync(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Buf src, dest;
  if (!args(env, info, argv, 2) || !read_path(env, argv[0], "src", src) || !read_path(env, argv[1], "dest", dest)) {
    return nullptr;
  }
  TreeResult r;
  run_tree(src.c_str(), dest.c_str(), r);
  return tree_object(env, r);
}

napi_value Counters(napi_env env, napi_callback_info) {
  napi_value o;
  if (!ok(env, napi_create_object(env, &o))) return nullptr;
  bool done = set_number(env, o, "fileClones", static_cast<double>(__atomic_load_n(&g_file_clones, __ATOMIC_RELAXED))) &&
              set_number(env, o, "treeClones", static_cast<double>(__atomic_load_n(&g_tree_clones, __ATOMIC_RELAXED)));
  return done ? o : nullptr;
}

// A promise form's state: plain data in one calloc'd block that also holds
// copies of its paths, freed once the promise is settled on the JS thread.
struct Job {
  napi_async_work work;
  napi_deferred deferred;
  bool tree;
  int fd;
  const char* src;
  const char* dest;
  int err;            // clone_file's answer
  TreeResult answer;  // clone_tree's
};

// A job for `src` (tree) or `fd` (file) to `dest`; null with ENOMEM thrown.
Job* new_job(napi_env env, const Buf* src, int fd, const Buf& dest) {
  size_t srclen = src ? src->size() + 1 : 0;
  Job* job = static_cast<Job*>(calloc(1, sizeof(Job) + srclen + dest.size() + 1));
  if (!job) return throw_enomem(env), nullptr;
  char* at = reinterpret_cast<char*>(job + 1);
  job->tree = src != nullptr;
  job->fd = fd;
  if (src) memcpy(at, src->c_str(), srclen);
  job->src = at;
  job->dest = static_cast<const char*>(memcpy(at + srclen, dest.c_str(), dest.size() + 1));
  return job;
}

void free_job(Job* job) {
  free(job->answer.why);
  free(job);
}

// On a libuv worker thread: no Node-API here.
void execute(napi_env, void* data) {
  Job* job = static_cast<Job*>(data);
  if (job->tree) {
    run_tree(job->src, job->dest, job->answer);
  } else {
    job->err = run_file(job->fd, job->dest);
  }
}

// Back on the JS thread: settles the promise and frees everything.
void complete(napi_env env, napi_status status, void* data) {
  Job* job = static_cast<Job*>(data);
  napi_value value = nullptr;
  if (status == napi_ok) value = job->tree ? tree_object(env, job->answer) : number(env, job->err);
  if (value) {
    napi_resolve_deferred(env, job->deferred, value);
  } else {
    // The answer could not be made (or the work was cancelled): the
    // promise rejects with why, never stays pending.
    napi_value err = nullptr;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &err);
    napi_value msg;
    if (!err && napi_create_string_utf8(env, "cowcopy clone layer: the job failed", NAPI_AUTO_LENGTH, &msg) == napi_ok) {
      napi_create_error(env, nullptr, msg, &err);
    }
    if (!err) napi_get_undefined(env, &err);
    napi_reject_deferred(env, job->deferred, err);
  }
  napi_delete_async_work(env, job->work);
  free_job(job);
}

// Queues `job` (which this takes) and returns its promise.
napi_value start(napi_env env, Job* job) {
  napi_value name, promise;
  if (!ok(env, napi_create_string_utf8(env, "cowcopy:clone-layer", NAPI_AUTO_LENGTH, &name)) ||
      !ok(env, napi_create_async_work(env, nullptr, name, execute, complete, job, &job->work))) {
    free_job(job);
    return nullptr;
  }
  if (!ok(env, napi_create_promise(env, &job->deferred, &promise))) {
    napi_delete_async_work(env, job->work);
    free_job(job);
    return nullptr;
  }
  if (!ok(env, napi_queue_async_work(env, job->work))) {
    // Settled now, so that the deferred is not left pending.
    napi_value err;
    if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_reject_deferred(env, job->deferred, err);
    napi_delete_async_work(env, job->work);
    free_job(job);
  }
  return promise;
}

napi_value CloneFile(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  int fd;
  Buf dest;
  if (!args(env, info, argv, 2) || !read_fd(env, argv[0], fd) || !read_path(env, argv[1], "dest", dest)) return nullptr;
  Job* job = new_job(env, nullptr, fd, dest);
  return job ? start(env, job) : nullptr;
}

napi_value CloneTree(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Buf src, dest;
  if (!args(env, info, argv, 2) || !read_path(env, argv[0], "src", src) || !read_path(env, argv[1], "dest", dest)) {
    return nullptr;
  }
  Job* job = new_job(env, &src, 0, dest);
  return job ? start(env, job) : nullptr;
}

#define COWCOPY_STR2(x) #x
#define COWCOPY_STR(x) COWCOPY_STR2(x)

}  // namespace

NAPI_MODULE_INIT() {
  // lib/native.ts tells this addon from the Linux engine by `kind`.
  bool done = set_string(env, exports, "kind", "clone-layer") &&
              set_string(env, exports, "os", cowcopy_layer::kOsCloneName) &&
              // Which sources this binary was built from (src-native/source-hash.js).
              set_string(env, exports, "sourceHash", COWCOPY_STR(COWCOPY_SOURCE_HASH)) &&
              set_function(env, exports, "cloneFileSync", CloneFileSync) &&
              set_function(env, exports, "cloneFile", CloneFile) &&
              set_function(env, exports, "cloneTreeSync", CloneTreeSync) &&
              set_function(env, exports, "cloneTree", CloneTree) && set_function(env, exports, "counters", Counters);
  return done ? exports : nullptr;
}
