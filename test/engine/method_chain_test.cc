// The method chain's errno table, row by row, from C++ with no Node: which errno lets a
// method hand over to the next, and which must surface. Built and run by
// test/copy-file/engine.test.mjs.
#include <cerrno>
#include <cstdio>
#include <initializer_list>

#include "../../src-native/engine/method_chain.h"

using cowcopy::Method;
using cowcopy::ReflinkMode;

static int failures = 0;
static int checks = 0;

static void expect(ReflinkMode mode, Method failed, int err, Method want, const char* label) {
  ++checks;
  Method got = cowcopy::next_method(mode, failed, err);
  if (got != want) {
    ++failures;
    std::printf("FAIL %s: got %s, want %s\n", label, cowcopy::method_name(got), cowcopy::method_name(want));
  }
}

#define ROW(mode, failed, err, want) expect(mode, failed, err, want, #mode " " #failed " " #err)

int main() {
  const auto A = ReflinkMode::kAuto;
  const auto N = ReflinkMode::kNever;
  const auto W = ReflinkMode::kAlways;
  const auto Clone = Method::kClone, Cfr = Method::kCopyFileRange, Send = Method::kSendfile,
             Rw = Method::kReadWrite, None = Method::kNone;

  // The chain each mode starts.
  ++checks;
  if (cowcopy::first_method(A) != Clone || cowcopy::first_method(W) != Clone ||
      cowcopy::first_method(N) != Send) {
    ++failures;
    std::printf("FAIL first_method\n");
  }

  // FICLONE: "not available here" falls through to copy_file_range.
  for (int e : {EXDEV, EOPNOTSUPP, ENOSYS, ENOTTY, EINVAL, EBADF, EPERM, EACCES, ETXTBSY, EAGAIN})
    ROW(A, Clone, e, Cfr);
  // ...real failures stop at once.
  for (int e : {ENOSPC, EDQUOT, EIO, ENOMEM, EFBIG, EROFS, EISDIR}) ROW(A, Clone, e, None);
  // 'always': never another method, whatever the errno.
  for (int e : {EXDEV, EOPNOTSUPP, EINVAL, ENOSPC}) ROW(W, Clone, e, None);

  // copy_file_range -> sendfile (EAGAIN: OpenZFS block cloning; EACCES: CephFS before 4.20).
  for (int e : {EXDEV, EOPNOTSUPP, ENOSYS, EINVAL, EBADF, EPERM, EACCES, ETXTBSY, EAGAIN, cowcopy::kNoProgress})
    ROW(A, Cfr, e, Send);
  for (int e : {ENOSPC, EDQUOT, EIO, ENOMEM, EFBIG, ESTALE, EROFS}) ROW(A, Cfr, e, None);

  // sendfile -> read/write, in 'auto' and 'never' alike.
  for (auto m : {A, N}) {
    for (int e : {EINVAL, ENOSYS, EOPNOTSUPP, EAGAIN}) ROW(m, Send, e, Rw);
    for (int e : {ENOSPC, EDQUOT, EIO, ENOMEM, EFBIG, EXDEV}) ROW(m, Send, e, None);
  }

  // The verdicts behind the chain: EINTR is retried at the call, never a
  // reason to move on; a clone's EAGAIN moves on but is not "no clones here".
  ++checks;
  if (cowcopy::verdict(Cfr, EINTR) != cowcopy::Verdict::kRetry || cowcopy::verdict(Send, EINTR) != cowcopy::Verdict::kRetry ||
      cowcopy::verdict(Clone, EAGAIN) != cowcopy::Verdict::kNextMethod || cowcopy::clone_not_available(EAGAIN) ||
      !cowcopy::clone_not_available(EOPNOTSUPP) || cowcopy::verdict(Rw, EAGAIN) != cowcopy::Verdict::kFailed) {
    ++failures;
    std::printf("FAIL verdict\n");
  }

  // read/write is the end of the chain.
  for (int e : {EINVAL, EIO, ENOSPC}) ROW(A, Rw, e, None);

  std::printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
