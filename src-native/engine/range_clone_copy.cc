// clone_range (FICLONERANGE) and copy_range (copy_file_range, else
// pread/pwrite) between two open descriptors.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <new>

#include "method_chain.h"
#include "open_path.h"
#include "range.h"
#include "range_checks.h"
#include "sys.h"

namespace cowcopy {

using namespace range_detail;

namespace {

constexpr uint64_t kChunk = 32u << 20;

// Resolves length 0 ("to the end of the source", by st_size) and the shared checks.
RangeError prepare(const char* syscall, int src, uint64_t src_off, int dst, uint64_t dst_off, uint64_t& len,
                   struct stat& s, struct stat& d) {
  if (!fits(src_off, len) || !fits(dst_off, len)) return fail(EINVAL, syscall, kPastMaxOffset);
  if (fstat_retry(src, s) == -1 || fstat_retry(dst, d) == -1) return fail(errno, syscall);
  if (int err = check_regular(s)) return fail(err, syscall, err == EINVAL ? "the source is not a regular file" : "");
  if (int err = check_regular(d)) return fail(err, syscall, err == EINVAL ? "the destination is not a regular file" : "");
  uint64_t size = static_cast<uint64_t>(s.st_size);
  if (len == 0) len = src_off < size ? size - src_off : 0;
  if (s.st_dev == d.st_dev && s.st_ino == d.st_ino && len > 0 && overlap(src_off, dst_off, len)) {
    return fail(EINVAL, syscall, "the source and destination ranges overlap within one file");
  }
  return {};
}

// Turns the kernel's bare EINVAL for FICLONERANGE into the rule that failed.
std::string explain_clone_einval(int dst, uint64_t src_off, uint64_t dst_off, uint64_t len, uint64_t src_size) {
  struct statfs sfs;
  const bool known = retry_eintr([&] { return ::fstatfs(dst, &sfs); }) == 0 && sfs.f_bsize > 0;
  uint64_t bs = known ? static_cast<uint64_t>(sfs.f_bsize) : 4096;
  std::string b = num(bs);
  if (src_off % bs) return "srcOffset " + num(src_off) + " is not a multiple of the filesystem block size " + b;
  if (dst_off % bs) return "destOffset " + num(dst_off) + " is not a multiple of the filesystem block size " + b;
  if (src_off + len > src_size) {
    return "the range ends at " + num(src_off + len) + ", past the end of the source (" + num(src_size) + " bytes)";
  }
  if (len % bs && src_off + len != src_size) {
    return "length " + num(len) + " is not a multiple of the filesystem block size " + b +
           " and the range does not end at the end of the source";
  }
  if (len % bs) {
    return "length " + num(len) + " ends in a partial block, which can only be cloned to the end of the destination";
  }
  return "the filesystem refused the range";
}

}  // namespace

RangeError clone_range(int src, uint64_t src_off, int dst, uint64_t dst_off, uint64_t len) {
  const char* sc = "ioctl_ficlonerange";
  struct stat s, d;
  const uint64_t asked = len;
  if (RangeError e = prepare(sc, src, src_off, dst, dst_off, len, s, d); e.err) return e;
  struct file_clone_range arg;
  arg.src_fd = src;
  arg.src_offset = src_off;
  // 0 stays 0: the kernel then clones to the source's end as it is now, not
  // as fstat saw it a moment ago.
  arg.src_length = asked;
  arg.dest_offset = dst_off;
  if (retry_eintr([&] { return ::ioctl(dst, FICLONERANGE, &arg); }) == -1) {
    int err = errno;
    if (err == EINVAL) return fail(err, sc, explain_clone_einval(dst, src_off, dst_off, len, static_cast<uint64_t>(s.st_size)));
    if (err == EXDEV) return fail(err, sc, "the files are on different filesystems");
    if (err == EOPNOTSUPP) return fail(err, sc, "this filesystem cannot share extents");
    if (err == EAGAIN) return fail(err, sc, kCloneNotNowReason);
    return fail(err, sc);
  }
  return {};
}

RangeError copy_range(int src, uint64_t src_off, int dst, uint64_t dst_off, uint64_t len, uint64_t& copied) {
  const char* sc = "copy_file_range";
  copied = 0;
  struct stat s, d;
  const bool to_end = len == 0;
  if (RangeError e = prepare(sc, src, src_off, dst, dst_off, len, s, d); e.err) return e;
  // To the end: until a read returns 0, whatever st_size said. Not within
  // one file: what is written would be read again, without end.
  const bool same_file = s.st_dev == d.st_dev && s.st_ino == d.st_ino;
  const uint64_t limit = to_end && !same_file ? kMaxOffset - std::max(src_off, dst_off) : len;
  bool kernel = true;
  while (copied < limit) {
    uint64_t want = limit - copied < kChunk ? limit - copied : kChunk;
    if (kernel) {
      loff_t in = static_cast<loff_t>(src_off + copied);
      loff_t out = static_cast<loff_t>(dst_off + copied);
      ssize_t n = retry_eintr([&] { return ::copy_file_range(src, &in, dst, &out, want, 0); });
      if (n > 0) {
        copied += static_cast<uint64_t>(n);
        continue;
      }
      if (n == 0 && copied > 0) break;  // end of the source
      // 0 at the start (a /proc file's size says 0), or an answer the
      // engine's errno table (method_chain.cc) sorts as "another method": read
      // and write instead, from where the kernel stopped.
      if (n == 0 || verdict(Method::kCopyFileRange, errno) == Verdict::kNextMethod) {
        kernel = false;
        continue;
      }
      return fail(errno, sc);
    }
    static thread_local std::unique_ptr<char[]> buf;
    constexpr size_t kBuf = 256u << 10;
    if (!buf) buf.reset(new (std::nothrow) char[kBuf]);
    if (!buf) return fail(ENOMEM, sc);
    size_t chunk = want < kBuf ? static_cast<size_t>(want) : kBuf;
    ssize_t got = retry_eintr([&] { return ::pread(src, buf.get(), chunk, static_cast<off_t>(src_off + copied)); });
    if (got == -1) return fail(errno, "read");
    if (got == 0) break;
    for (ssize_t done = 0; done < got;) {
      ssize_t put = retry_eintr([&] {
        return ::pwrite(dst, buf.get() + done, static_cast<size_t>(got - done),
                        static_cast<off_t>(dst_off + copied + static_cast<uint64_t>(done)));
      });
      if (put == -1) return fail(errno, "write");
      if (put == 0) return fail(EIO, "write");
      done += put;
    }
    copied += static_cast<uint64_t>(got);
  }
  return {};
}

}  // namespace cowcopy
