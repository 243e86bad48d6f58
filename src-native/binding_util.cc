#include "binding_util.h"

#include <cstring>

namespace cowcopy_napi {

namespace {

// What fs says of a path with a NUL in it. lib/validate.ts checks first, but
// a Buffer can change after that check (an options getter): c_str() would
// then end the path at the NUL and name another file.
[[noreturn]] void throw_nul(Napi::Env env, const char* name, size_t at) {
  Napi::TypeError e = Napi::TypeError::New(
      env, std::string("The argument '") + name +
               "' must be a string, Uint8Array, or URL without null bytes. Received a path with a null byte at " +
               std::to_string(at));
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_VALUE"));
  throw e;
}

void check_no_nul(Napi::Env env, const std::string& s, const char* name) {
  // strlen stops at the first NUL: short of size() when there is one.
  const size_t at = std::strlen(s.c_str());
  if (at != s.size()) throw_nul(env, name, at);
}

enum class ReadString { kRead, kNotString, kFailed };
ReadString read_string(const Napi::Value& v, std::string& out);

}  // namespace

bool read_path(const Napi::Value& v, std::string& out, const char* name) {
  // A string first: the usual path, read without a type check before it
  // (importFiles reads tens of thousands).
  switch (read_string(v, out)) {
    case ReadString::kRead:
      check_no_nul(v.Env(), out, name);
      return true;
    case ReadString::kFailed:
      return false;
    case ReadString::kNotString:
      break;
  }
  if (!v.IsBuffer()) return false;
  auto buf = v.As<Napi::Buffer<char>>();
  out.assign(buf.Data(), buf.Length());
  check_no_nul(v.Env(), out, name);
  return true;
}

namespace {

ReadString read_string(const Napi::Value& v, std::string& out) {
  // One conversion into a stack buffer covers every usual path. The
  // conversion stops before a character that does not fit, so a result
  // within 4 bytes (the longest UTF-8 character) of the end may be cut:
  // then the exact length first, and the bytes into a string that size.
  char stack[1024];
  size_t len = 0;
  const napi_status st = napi_get_value_string_utf8(v.Env(), v, stack, sizeof stack, &len);
  if (st == napi_string_expected) return ReadString::kNotString;
  if (st != napi_ok) return ReadString::kFailed;
  if (len + 4 < sizeof stack) {
    out.assign(stack, len);
    return ReadString::kRead;
  }
  if (napi_get_value_string_utf8(v.Env(), v, nullptr, 0, &len) != napi_ok) return ReadString::kFailed;
  out.assign(len + 1, '\0');
  size_t copied = 0;
  if (napi_get_value_string_utf8(v.Env(), v, &out[0], len + 1, &copied) != napi_ok || copied != len) {
    return ReadString::kFailed;
  }
  out.resize(len);
  return ReadString::kRead;
}

}  // namespace

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
  out.paths_as_buffers = flags & kPathsAsBuffers;
  out.preserve.timestamps = flags & kKeepTimestamps;
  out.preserve.ownership = flags & kKeepOwnership;
  out.preserve.xattrs = flags & kKeepXattrs;
  const uint32_t rungs = (flags >> kLadderShift) & 3u;
  if (rungs != 0) {
    out.ladder.count = static_cast<int>(rungs);
    for (uint32_t i = 0; i < rungs; ++i) {
      uint32_t r = (flags >> (kLadderShift + 2 + 2 * i)) & 3u;
      if (r > 2) {
        Napi::RangeError::New(env, "cowcopy native: bad link rung").ThrowAsJavaScriptException();
        return false;
      }
      out.ladder.rungs[i] = static_cast<cowcopy::Rung>(r);
    }
  }
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

Napi::Value SetResultFactory(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsFunction()) {
    Napi::TypeError::New(info.Env(), "cowcopy native: expected a function").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  info.Env().GetInstanceData<AddonData>()->make_result = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value make_error(Napi::Env env, int err, const char* reason, const std::string& src,
                       const std::string& dest, const char* syscall, bool as_buffer) {
  AddonData* data = env.GetInstanceData<AddonData>();
  Napi::Value why = reason ? Napi::String::New(env, reason) : env.Undefined();
  Napi::Value sys = syscall ? Napi::String::New(env, syscall) : env.Undefined();
  return data->make_error.Call(
      {Napi::Number::New(env, err), why, path_value(env, src, as_buffer), path_value(env, dest, as_buffer), sys});
}

bool valid_utf8(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    // RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF, so
    // the bytes and V8's decoding of them round-trip exactly.
    int n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c == 0xe0) n = 2, lo = 0xa0;
    else if (c == 0xed) n = 2, hi = 0x9f;
    else if (c >= 0xe1 && c <= 0xef) n = 2;
    else if (c == 0xf0) n = 3, lo = 0x90;
    else if (c >= 0xf1 && c <= 0xf3) n = 3;
    else if (c == 0xf4) n = 3, hi = 0x8f;
    else return false;
    if (end - p <= n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (int i = 2; i <= n; ++i) {
      if (p[i] < 0x80 || p[i] > 0xbf) return false;
    }
    p += n + 1;
  }
  return true;
}

Napi::Value path_value(Napi::Env env, const std::string& p, bool as_buffer) {
  if (as_buffer || !valid_utf8(p)) return Napi::Buffer<char>::Copy(env, p.data(), p.size());
  return Napi::String::New(env, p.data(), p.size());
}

}  // namespace cowcopy_napi
