#include "binding_util.h"

namespace cowcopy_napi {

bool read_path(const Napi::Value& v, std::string& out) {
  if (v.IsBuffer()) {
    auto buf = v.As<Napi::Buffer<char>>();
    out.assign(buf.Data(), buf.Length());
    return true;
  }
  if (!v.IsString()) return false;
  // One conversion into a stack buffer covers every usual path; a longer one
  // takes the two-call route (length first, then the bytes).
  char stack[1024];
  size_t len = 0;
  if (napi_get_value_string_utf8(v.Env(), v, stack, sizeof stack, &len) != napi_ok) return false;
  if (len < sizeof stack - 1) {
    out.assign(stack, len);
  } else {
    out = v.As<Napi::String>().Utf8Value();
  }
  return true;
}

bool read_flags(Napi::Env env, const Napi::Value& v, CommonOptions& out) {
  uint32_t flags = v.As<Napi::Number>().Uint32Value();
  switch (flags & kReflinkMask) {
    case 0: out.reflink = cowcopy::ReflinkMode::kAuto; break;
    case 1: out.reflink = cowcopy::ReflinkMode::kAlways; break;
    case 2: out.reflink = cowcopy::ReflinkMode::kNever; break;
    default:
      Napi::RangeError::New(env, "cowcopy native: bad reflink mode").ThrowAsJavaScriptException();
      return false;
  }
  out.overwrite = !(flags & kNoOverwrite);
  out.sparse = !(flags & kDense);
  out.atomic = flags & kAtomic;
  out.fsync = flags & kFsync;
  out.stop_on_error = flags & kStopOnError;
  out.list_files = flags & kListFiles;
  out.preserve.timestamps = flags & kKeepTimestamps;
  out.preserve.ownership = flags & kKeepOwnership;
  out.preserve.xattrs = flags & kKeepXattrs;
  return true;
}

int64_t* control_words(const Napi::Value& v, size_t words) {
  if (!v.IsTypedArray()) return nullptr;
  auto arr = v.As<Napi::TypedArray>();
  if (arr.TypedArrayType() != napi_bigint64_array || arr.ElementLength() < words) return nullptr;
  return v.As<Napi::TypedArrayOf<int64_t>>().Data();
}

Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(info.Env(), "cowcopy native: expected a function").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  info.Env().GetInstanceData<AddonData>()->make_error = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value make_error(Napi::Env env, int err, const char* reason, const std::string& src,
                       const std::string& dest, const char* syscall) {
  AddonData* data = env.GetInstanceData<AddonData>();
  Napi::Value why = reason ? Napi::String::New(env, reason) : env.Undefined();
  Napi::Value sys = syscall ? Napi::String::New(env, syscall) : env.Undefined();
  return data->make_error.Call(
      {Napi::Number::New(env, err), why, path_value(env, src), path_value(env, dest), sys});
}

Napi::String path_value(Napi::Env env, const std::string& p) {
  return Napi::String::New(env, p.data(), p.size());
}

}  // namespace cowcopy_napi
