// What the range calls (range_clone_copy.cc, range_dedupe.cc, range_files.cc)
// share: how they fail, and the checks on files and ranges.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#include "range.h"
#include "stat_calls.h"
#include "sys.h"

namespace cowcopy {
namespace range_detail {

inline RangeError fail(int err, const char* syscall, std::string reason = {}) {
  RangeError e;
  e.err = err;
  e.syscall = syscall;
  e.reason = std::move(reason);
  return e;
}

inline std::string num(uint64_t v) { return std::to_string(v); }

// Both must be regular files; a directory is EISDIR.
inline int check_regular(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return EISDIR;
  if (!S_ISREG(st.st_mode)) return EINVAL;
  return 0;
}

// Out of line: one copy in the addon, so one call site for the fault tests
// (test/fault-injection.test.mjs) however many range files call it.
[[gnu::noinline]] inline int fstat_retry(int fd, struct stat& st) {
  return retry_eintr([&] { return sys_fstat(fd, &st); });
}

inline bool overlap(uint64_t a, uint64_t b, uint64_t len) { return a < b + len && b < a + len; }

// off + len fits in a loff_t (lib/range.ts checks first; this is for any
// other caller of the engine).
inline bool fits(uint64_t off, uint64_t len) { return off <= kMaxOffset && len <= kMaxOffset - off; }

inline const char* const kPastMaxOffset = "the range ends past the largest file offset (2^63 - 1)";

}  // namespace range_detail
}  // namespace cowcopy
