// Small helpers over the plain C Node-API for the clone layer's glue
// (layer_binding.cc): every call's status checked, with a JS exception
// pending whenever one failed, since the addon has no C++ exceptions to carry
// a failure out. Header-only so that binding.gyp's source list stays as is.
#pragma once

#include <node_api.h>

namespace cowcopy_layer {
namespace napi_util {

// False when `s` failed; a JS exception is then pending (Node's own, or one
// made here from the failed call's message).
inline bool ok(napi_env env, napi_status s) {
  if (s == napi_ok) return true;
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && !pending) {
    const napi_extended_error_info* info = nullptr;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, nullptr, info && info->error_message ? info->error_message : "Node-API call failed");
  }
  return false;
}

using ErrorMaker = napi_status (*)(napi_env, napi_value, napi_value, napi_value*);

// Throws `make`'s error (TypeError, RangeError) with `message` and `code`.
inline void throw_coded(napi_env env, ErrorMaker make, const char* code, const char* message) {
  napi_value c, m, err;
  if (ok(env, napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c)) &&
      ok(env, napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &m)) && ok(env, make(env, c, m, &err))) {
    napi_throw(env, err);
  }
}

inline void throw_enomem(napi_env env) { napi_throw_error(env, "ENOMEM", "cowcopy clone layer: out of memory"); }

inline bool set_number(napi_env env, napi_value o, const char* key, double n) {
  napi_value v;
  return ok(env, napi_create_double(env, n, &v)) && ok(env, napi_set_named_property(env, o, key, v));
}

inline napi_value number(napi_env env, double n) {
  napi_value v;
  return ok(env, napi_create_double(env, n, &v)) ? v : nullptr;
}

// Reads up to `n` arguments; the missing ones are undefined.
inline bool args(napi_env env, napi_callback_info info, napi_value* argv, size_t n) {
  size_t argc = n;
  return ok(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
}

inline bool set_string(napi_env env, napi_value o, const char* key, const char* value) {
  napi_value v;
  return ok(env, napi_create_string_utf8(env, value, NAPI_AUTO_LENGTH, &v)) && ok(env, napi_set_named_property(env, o, key, v));
}

inline bool set_function(napi_env env, napi_value o, const char* key, napi_callback cb) {
  napi_value f;
  return ok(env, napi_create_function(env, key, NAPI_AUTO_LENGTH, cb, nullptr, &f)) &&
         ok(env, napi_set_named_property(env, o, key, f));
}

}  // namespace napi_util
}  // namespace cowcopy_layer
