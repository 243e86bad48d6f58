// Helpers the N-API glue files share: argument reading, option bits,
// per-environment state (the error factory), paths back to JavaScript.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "engine/method.h"
#include "engine/preserve.h"

namespace cowcopy_napi {

// A path as a string (UTF-8, never cut) or a Buffer (raw bytes). false for
// other types.
// A NUL inside (a Buffer changed after lib/ checked it) throws fs's
// ERR_INVALID_ARG_VALUE TypeError for argument `name`: never cut short.
bool read_path(const Napi::Value& v, std::string& out, const char* name = "path");

// Option bits, as lib/validate.ts FLAG packs them: keep in step.
enum Flags : uint32_t {
  kReflinkMask = 3,  // 0 auto, 1 always, 2 never
  kNoOverwrite = 1u << 2,
  kDense = 1u << 3,
  kAtomic = 1u << 4,
  kFsync = 1u << 5,
  kKeepTimestamps = 1u << 6,
  kKeepOwnership = 1u << 7,
  kKeepXattrs = 1u << 8,
  kStopOnError = 1u << 9,
  kListFiles = 1u << 10,
  kPathsAsBuffers = 1u << 11,  // results give paths as Buffers (the caller passed Buffers)
  // The `link` ladder: bits 12-13 the number of rungs (0: the default,
  // clone then copy), then two bits per rung from bit 14 (0 clone,
  // 1 hardlink, 2 copy).
  kLadderShift = 12,
};

struct CommonOptions {
  cowcopy::ReflinkMode reflink = cowcopy::ReflinkMode::kAuto;
  bool overwrite = true;
  bool sparse = true;
  bool atomic = false;
  bool fsync = false;
  bool stop_on_error = false;
  bool list_files = false;
  bool paths_as_buffers = false;
  cowcopy::Preserve preserve;
  cowcopy::Ladder ladder;
};

// false (and a pending JS exception) for a bad reflink code.
bool read_flags(Napi::Env env, const Napi::Value& v, CommonOptions& out);

// A BigInt64Array of at least `words` elements, or nullptr.
int64_t* control_words(const Napi::Value& v, size_t words);

// Per-environment state: lib/ registers the function that turns an errno
// into a Node-style error, so promises settle with the final value.
struct AddonData {
  Napi::FunctionReference make_error;
  Napi::FunctionReference make_result;  // (method code, bytes) => copyFile's result
};

Napi::Value SetErrorFactory(const Napi::CallbackInfo& info);
Napi::Value SetResultFactory(const Napi::CallbackInfo& info);

// (errno, reason, src, dest, syscall) through the registered factory;
// syscall nullptr: 'copyfile'. Paths as path_value gives them.
Napi::Value make_error(Napi::Env env, int err, const char* reason, const std::string& src,
                       const std::string& dest, const char* syscall = nullptr, bool as_buffer = false);

// True when `s` is well-formed UTF-8 (RFC 3629), so decoding it loses nothing.
bool valid_utf8(const std::string& s);

// A path back to JavaScript without losing a byte: a string when the bytes
// are valid UTF-8 (and `as_buffer` is false), else a Buffer of the bytes.
Napi::Value path_value(Napi::Env env, const std::string& p, bool as_buffer = false);

// copyFiles, copyDir, importFiles, resetLinkMemory (batch_binding.cc).
void register_batch(Napi::Env env, Napi::Object exports);

// cloneRange, copyRange, dedupeRange, probe (range_binding.cc).
void register_range(Napi::Env env, Napi::Object exports);

}  // namespace cowcopy_napi
