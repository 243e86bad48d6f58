// dedupe_range: FIDEDUPERANGE from one open source to open targets, each
// judged on its own; a partial last block is compared here, never shared.
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <new>

#include "range.h"
#include "range_checks.h"
#include "sys.h"

namespace cowcopy {

using namespace range_detail;

namespace {

constexpr uint64_t kDedupeChunk = 16u << 20;  // what btrfs does per call anyway

// Reads n bytes at off into buf, looping short reads; returns how many were
// read (fewer only at the end of the file), or -1 with errno.
ssize_t read_at(int fd, char* buf, size_t n, uint64_t off) {
  size_t done = 0;
  while (done < n) {
    ssize_t got = retry_eintr([&] { return ::pread(fd, buf + done, n - done, static_cast<off_t>(off + done)); });
    if (got == -1) return -1;
    if (got == 0) break;
    done += static_cast<size_t>(got);
  }
  return static_cast<ssize_t>(done);
}

// glibc declares ioctl noexcept (__THROW), so the compiler may leave its call
// sites out of a caller's unwind table, and an exception from inside it
// (test/trust-range.test.mjs preloads an ioctl that throws std::bad_alloc)
// would be std::terminate instead of an error. Through a plain pointer the
// call may throw, and unwinds to the guard in range_files.cc like any other.
int (*const volatile fideduperange_ioctl)(int, unsigned long, ...) = ::ioctl;

// Compares n bytes of a at a_off with b at b_off (buf: 2 * n bytes): 1 the
// same, 0 different (or one ends first), -1 with errno.
int same_bytes(int a, uint64_t a_off, int b, uint64_t b_off, size_t n, char* buf) {
  ssize_t ga = read_at(a, buf, n, a_off);
  if (ga == -1) return -1;
  ssize_t gb = read_at(b, buf + n, n, b_off);
  if (gb == -1) return -1;
  return static_cast<size_t>(ga) == n && ga == gb && std::memcmp(buf, buf + n, n) == 0 ? 1 : 0;
}

const char* const kTailUnaligned =
    "the offsets must be multiples of the filesystem block size (the range ends in a partial block)";
const char* const kTailPastEnd = "the range ends past the end of the target";
const char* const kTailUnread = "the partial last block could not be read to compare it";

}  // namespace

RangeError dedupe_range(int src, uint64_t off, uint64_t len, std::vector<DedupeTarget>& targets) {
  const char* sc = "ioctl_fideduperange";
  struct stat s;
  if (fstat_retry(src, s) == -1) return fail(errno, sc);
  if (int err = check_regular(s)) return fail(err, sc, err == EINVAL ? "the source is not a regular file" : "");
  uint64_t size = static_cast<uint64_t>(s.st_size);
  if (len == 0) len = off < size ? size - off : 0;
  if (!fits(off, len)) return fail(EINVAL, sc, kPastMaxOffset);
  if (off + len > size) {
    return fail(EINVAL, sc, "the range ends at " + num(off + len) + ", past the end of the source (" + num(size) + " bytes)");
  }
  // The block size the kernel aligns to (s_blocksize; statfs says it on
  // btrfs, XFS, ocfs2). Calls of whole blocks (16 MiB when the block size
  // divides it).
  struct statfs sfs;
  if (retry_eintr([&] { return ::fstatfs(src, &sfs); }) == -1) return fail(errno, sc);
  const uint64_t bs = sfs.f_bsize > 0 ? static_cast<uint64_t>(sfs.f_bsize) : 4096;
  const uint64_t chunk = kDedupeChunk >= bs ? kDedupeChunk - kDedupeChunk % bs : bs;
  // One target per call: targets may advance by different amounts.
  const size_t bytes = sizeof(file_dedupe_range) + sizeof(file_dedupe_range_info);
  std::unique_ptr<char[]> mem(new (std::nothrow) char[bytes]);
  if (!mem) return fail(ENOMEM, sc);
  auto* req = reinterpret_cast<file_dedupe_range*>(mem.get());
  std::unique_ptr<char[]> tail_buf;
  for (DedupeTarget& t : targets) {
    struct stat d;
    if (fstat_retry(t.fd, d) == -1) {
      t.err = errno;
      continue;
    }
    if (int err = check_regular(d)) {
      t.err = err;
      continue;
    }
    if (!fits(t.offset, len)) {
      t.err = EINVAL;
      t.reason = kPastMaxOffset;
      continue;
    }
    if (d.st_dev == s.st_dev && d.st_ino == s.st_ino && overlap(off, t.offset, len)) {
      t.err = EINVAL;
      t.reason = "the source and target ranges overlap within one file";
      continue;
    }
    // A partial last block is shared only where the range ends at both
    // files' ends. Anywhere else the kernel (generic_remap_checks with
    // REMAP_FILE_CAN_SHORTEN) cuts the range down to whole blocks, compares
    // only those (since 5750676b64a5, July 2022, v5.19 and stable: for a
    // range under one block, nothing at all), shares them, and still answers
    // SAME with bytes_deduped = the length asked (vfs_dedupe_file_range,
    // since 4.19). Older kernels compared the tail but might share it into
    // the middle of the target. So that tail is never sent: it is compared
    // here, by reading both, and counted as compared, never as shared.
    const uint64_t dsize = static_cast<uint64_t>(d.st_size);
    const bool at_both_ends = off + len == size && t.offset + len == dsize;
    const uint64_t tail = at_both_ends ? 0 : len % bs;
    const uint64_t body = len - tail;
    if (tail) {
      // The kernel's own checks, which it would make on the whole range.
      if (off % bs != 0 || t.offset % bs != 0) {
        t.err = EINVAL;
        t.reason = kTailUnaligned;
        continue;
      }
      if (t.offset + len > dsize) {
        t.err = EINVAL;
        t.reason = kTailPastEnd;
        continue;
      }
      if (!tail_buf) {
        tail_buf.reset(new (std::nothrow) char[2 * bs]);
        if (!tail_buf) return fail(ENOMEM, sc);
      }
    }
    // With whole blocks to share, the tail is compared first: a difference
    // shares nothing, as when the kernel finds one in a single call.
    auto tail_same = [&]() -> bool {
      int r = same_bytes(src, off + body, t.fd, t.offset + body, static_cast<size_t>(tail), tail_buf.get());
      if (r == -1) {
        t.err = errno;
        t.reason = kTailUnread;
      } else if (r == 0) {
        t.same = false;
      }
      return r == 1;
    };
    if (tail && body > 0 && !tail_same()) continue;
    // Without (tail only), one call of 0 bytes still makes the kernel's
    // checks on the pair (permission, one filesystem, support); then the
    // tail is compared.
    bool probe_only = tail && body == 0;
    while (t.deduped < body || probe_only) {
      uint64_t want = body - t.deduped < chunk ? body - t.deduped : chunk;
      std::memset(mem.get(), 0, bytes);
      req->src_offset = off + t.deduped;
      req->src_length = want;
      req->dest_count = 1;
      req->info[0].dest_fd = t.fd;
      req->info[0].dest_offset = t.offset + t.deduped;
      if (retry_eintr([&] { return fideduperange_ioctl(src, FIDEDUPERANGE, req); }) == -1) {
        // A failure of the call as such (EXDEV, EOPNOTSUPP, EINVAL on the
        // range): this target's, since each call has one.
        t.err = errno;
        break;
      }
      const file_dedupe_range_info& info = req->info[0];
      if (info.status < 0) {
        t.err = -info.status;
        break;
      }
      if (probe_only) {
        tail_same();
        break;
      }
      if (info.status == FILE_DEDUPE_RANGE_DIFFERS) {
        t.same = false;
        break;
      }
      if (info.bytes_deduped == 0) break;  // nothing more will come (end of the target)
      t.deduped += info.bytes_deduped < want ? info.bytes_deduped : want;
    }
  }
  return {};
}

}  // namespace cowcopy
