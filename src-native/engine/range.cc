#include "range.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <system_error>

#include "fallback.h"
#include "open_path.h"
#include "stat_calls.h"
#include "sys.h"
#include "unique_fd.h"

namespace cowcopy {
namespace {

constexpr uint64_t kChunk = 32u << 20;
constexpr uint64_t kDedupeChunk = 16u << 20;  // what btrfs does per call anyway

RangeError fail(int err, const char* syscall, std::string reason = {}) {
  RangeError e;
  e.err = err;
  e.syscall = syscall;
  e.reason = std::move(reason);
  return e;
}

std::string num(uint64_t v) { return std::to_string(v); }

// Both must be regular files; a directory is EISDIR.
int check_regular(const struct stat& st) {
  if (S_ISDIR(st.st_mode)) return EISDIR;
  if (!S_ISREG(st.st_mode)) return EINVAL;
  return 0;
}

int fstat_retry(int fd, struct stat& st) {
  return retry_eintr([&] { return sys_fstat(fd, &st); });
}

bool overlap(uint64_t a, uint64_t b, uint64_t len) { return a < b + len && b < a + len; }

// off + len fits in a loff_t (lib/range.ts checks first; this is for any
// other caller of the engine).
bool fits(uint64_t off, uint64_t len) { return off <= kMaxOffset && len <= kMaxOffset - off; }

const char* const kPastMaxOffset = "the range ends past the largest file offset (2^63 - 1)";

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

const char* fs_type_name(unsigned long magic) {
  switch (magic) {
    case 0x9123683e: return "btrfs";
    case 0x58465342: return "xfs";
    case 0xef53: return "ext4";
    case 0x01021994: return "tmpfs";
    case 0x6969: return "nfs";
    case 0x794c7630: return "overlay";
    case 0x65735546: return "fuse";
    case 0xff534d42: return "cifs";
    case 0xfe534d42: return "smb2";
    case 0xca451a4e: return "bcachefs";
    case 0x2fc12fc1: return "zfs";
    case 0x7461636f: return "ocfs2";
    case 0x00c36400: return "ceph";
    case 0x4d44: return "vfat";
    case 0x5346544e: return "ntfs";
    case 0xf2f52010: return "f2fs";
    case 0x858458f6: return "ramfs";
    case 0x9fa0: return "proc";
    case 0x62656572: return "sysfs";
    default: return nullptr;
  }
}

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
      // engine's errno table (fallback.cc) sorts as "another method": read
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

namespace {

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
// sites out of a caller's unwind table, and an exception from inside it (the
// fault tests preload an ioctl that throws std::bad_alloc) would be
// std::terminate instead of an error. Through a plain pointer the call may
// throw, and unwinds to guarded() like any other.
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

int current_exception_errno() noexcept {
  try {
    throw;
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  } catch (const std::system_error& e) {
    return e.code().value() > 0 ? e.code().value() : EIO;
  } catch (...) {
    return EIO;
  }
}

void hold_fd(RangeFile& f, int fd) {
  f.by_fd = true;
  int raw = retry_eintr([&] { return ::fcntl(fd, F_DUPFD_CLOEXEC, 0); });
  if (raw == -1) {
    f.hold_err = errno;
    return;
  }
  f.held = UniqueFd(raw);
}

namespace {

// One side of a range call, open.
struct Side {
  UniqueFd fd;
  bool created = false;  // the call made this file: removed if the call fails
};

RangeError take_held(RangeFile& f, Side& side, const char* sc) {
  if (f.hold_err) return fail(f.hold_err, sc);
  side.fd = std::move(f.held);
  return {};
}

RangeError fail_open(int err, const char* sc, const char* reason) {
  return fail(err, sc, reason ? reason : "");
}

RangeError open_source(RangeFile& f, Side& side, const char* sc) {
  if (f.by_fd) return take_held(f, side, sc);
  struct stat st;
  const char* reason = nullptr;
  if (int err = open_regular(AT_FDCWD, f.path.c_str(), O_RDONLY, OpenRules{}, side.fd, st, reason)) {
    return fail_open(err, sc, reason);
  }
  // O_NONBLOCK stays (see copy_file.cc open_source): EAGAIN, never a hang.
  return {};
}

// A destination path is created (0666 less the umask, as open(2) with O_CREAT
// did) or the regular file there is opened; never a FIFO, never through a
// dangling symlink.
RangeError open_destination(RangeFile& f, Side& side, const char* sc) {
  if (f.by_fd) return take_held(f, side, sc);
  struct stat st;
  const char* reason = nullptr;
  if (int err = open_dest(AT_FDCWD, f.path.c_str(), O_WRONLY, 0666, true, OpenRules{}, side.fd, st, side.created,
                          reason)) {
    return fail_open(err, sc, reason);
  }
  return {};
}

// The name, when it still names the file `was` describes: a close() that
// failed left no descriptor for remove_if_ours to compare with.
void remove_if_same(const std::string& path, const struct stat& was) {
  struct stat now;
  if (retry_eintr([&] { return sys_fstatat(AT_FDCWD, path.c_str(), &now, AT_SYMLINK_NOFOLLOW); }) == 0 &&
      now.st_dev == was.st_dev && now.st_ino == was.st_ino) {
    retry_eintr([&] { return ::unlinkat(AT_FDCWD, path.c_str(), 0); });
  }
}

// Closes the destination; close() can be the first to report a failed
// write-back (NFS, quotas). On failure a destination the call created goes.
RangeError close_destination(RangeFile& f, Side& d, RangeError e) {
  if (e.err == 0 && d.created) {
    struct stat st;
    if (fstat_retry(d.fd.get(), st) == -1) {
      e = fail(errno, "fstat");
    } else if (int err = d.fd.close_checked()) {
      remove_if_same(f.path, st);
      return fail(err, "close");
    }
  } else if (e.err == 0) {
    if (int err = d.fd.close_checked()) return fail(err, "close");
  }
  if (e.err != 0 && d.created && d.fd.valid()) remove_if_ours(AT_FDCWD, f.path.c_str(), d.fd.get());
  d.fd.reset();
  return e;
}

// An exception is an error, never success: std::bad_alloc is ENOMEM.
template <class F>
RangeError guarded(const char* sc, F f) noexcept {
  try {
    return f();
  } catch (...) {
    return RangeError{current_exception_errno(), sc, {}};
  }
}

template <class Op>
RangeError with_pair(RangeFile& src, RangeFile& dst, const char* sc, Op op) noexcept {
  Side s, d;
  RangeError e = guarded(sc, [&] {
    if (RangeError err = open_source(src, s, sc); err.err) return err;
    if (RangeError err = open_destination(dst, d, sc); err.err) return err;
    return op(s.fd.get(), d.fd.get());
  });
  src.held.reset();  // a held descriptor not taken because the call failed first
  dst.held.reset();
  s.fd.reset();
  if (!d.fd.valid()) return e;
  return close_destination(dst, d, std::move(e));
}

// A dedupe target is not a source: say so when it is refused.
const char* as_target(const char* reason) {
  static const mode_t kinds[] = {S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK, S_IFLNK, 0};
  for (mode_t m : kinds) {
    if (reason == not_regular_reason(m, true)) return not_regular_reason(m, false);
  }
  return reason;
}

}  // namespace

RangeError clone_files(RangeFile& src, uint64_t src_off, RangeFile& dst, uint64_t dst_off, uint64_t len) {
  return with_pair(src, dst, "ioctl_ficlonerange",
                   [&](int s, int d) { return clone_range(s, src_off, d, dst_off, len); });
}

RangeError copy_files(RangeFile& src, uint64_t src_off, RangeFile& dst, uint64_t dst_off, uint64_t len,
                      uint64_t& copied) {
  copied = 0;
  RangeError e = with_pair(src, dst, "copy_file_range",
                           [&](int s, int d) { return copy_range(s, src_off, d, dst_off, len, copied); });
  if (e.err == EAGAIN && e.reason.empty()) e.reason = kWouldBlockReason;
  if (e.err) copied = 0;
  return e;
}

RangeError dedupe_files(RangeFile& src, uint64_t off, uint64_t len, std::vector<RangeFile>& files,
                        std::vector<DedupeTarget>& targets) {
  const char* sc = "ioctl_fideduperange";
  RangeError e = guarded(sc, [&] {
    Side s;
    if (RangeError err = open_source(src, s, sc); err.err) return err;
    std::vector<Side> opened(files.size());
    std::vector<DedupeTarget> usable;
    std::vector<size_t> index;
    usable.reserve(files.size());
    index.reserve(files.size());
    for (size_t i = 0; i < files.size() && i < targets.size(); ++i) {
      RangeFile& f = files[i];
      if (f.by_fd) {
        if (RangeError err = take_held(f, opened[i], sc); err.err) {
          targets[i].err = err.err;
          continue;
        }
      } else {
        struct stat st;
        const char* reason = nullptr;
        if (int err = open_regular(AT_FDCWD, f.path.c_str(), O_RDONLY, OpenRules{}, opened[i].fd, st, reason)) {
          targets[i].err = err;
          targets[i].reason = as_target(reason);
          continue;
        }
      }
      targets[i].fd = opened[i].fd.get();
      usable.push_back(targets[i]);
      index.push_back(i);
    }
    RangeError err = dedupe_range(s.fd.get(), off, len, usable);
    for (size_t k = 0; k < usable.size(); ++k) targets[index[k]] = usable[k];
    return err;
  });
  src.held.reset();
  for (RangeFile& f : files) f.held.reset();
  return e;
}

RangeError probe(const std::string& dir, ProbeResult& out) {
  const char* sc = "probe";
  struct statfs sfs;
  if (retry_eintr([&] { return ::statfs(dir.c_str(), &sfs); }) == -1) return fail(errno, sc);
  unsigned long magic = static_cast<unsigned long>(sfs.f_type);
  const char* name = fs_type_name(magic);
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%lx", magic);
  out.fs_type = name ? name : hex;
  out.block_size = static_cast<uint64_t>(sfs.f_bsize);

  // Two nameless files: O_TMPFILE, or a name removed as soon as it exists.
  auto make_temp = [&](UniqueFd& fd) -> int {
    int raw = retry_eintr([&] { return ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600); });
    if (raw != -1) {
      fd = UniqueFd(raw);
      return 0;
    }
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) return errno;
    for (int attempt = 0; attempt < 8; ++attempt) {
      std::string path = dir + "/.cowcopy-probe-" + std::to_string(::getpid()) + "-" + std::to_string(attempt);
      raw = retry_eintr([&] { return ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600); });
      if (raw != -1) {
        ::unlink(path.c_str());
        fd = UniqueFd(raw);
        return 0;
      }
      if (errno != EEXIST) return errno;
    }
    return EEXIST;
  };
  UniqueFd a, b;
  if (int err = make_temp(a)) return fail(err, sc);
  if (int err = make_temp(b)) return fail(err, sc);
  uint64_t bs = out.block_size >= 512 && out.block_size <= (1u << 20) ? out.block_size : 4096;
  std::unique_ptr<char[]> data(new (std::nothrow) char[bs * 2]);
  if (!data) return fail(ENOMEM, sc);
  for (uint64_t i = 0; i < bs * 2; ++i) data[i] = static_cast<char>('c' + i % 7);
  // Short writes looped, EINTR retried: a probe must not say "no" because a
  // signal arrived.
  auto write_all = [&](int fd) {
    errno = 0;
    for (uint64_t done = 0; done < bs * 2;) {
      ssize_t n = retry_eintr([&] { return ::pwrite(fd, data.get() + done, bs * 2 - done, static_cast<off_t>(done)); });
      if (n <= 0) return false;
      done += static_cast<uint64_t>(n);
    }
    return retry_eintr([&] { return ::fsync(fd); }) == 0;
  };
  if (!write_all(a.get())) return fail(errno ? errno : EIO, sc);

  out.clone = retry_eintr([&] { return ::ioctl(b.get(), FICLONE, a.get()); }) == 0;
  if (retry_eintr([&] { return ::ftruncate(b.get(), 0); }) == -1) return fail(errno, sc);

  loff_t in = 0, o = 0;
  out.copy_file_range = retry_eintr([&] { return ::copy_file_range(a.get(), &in, b.get(), &o, bs, 0); }) > 0;
  if (retry_eintr([&] { return ::ftruncate(b.get(), 0); }) == -1) return fail(errno, sc);

  if (write_all(b.get())) {
    const size_t bytes = sizeof(file_dedupe_range) + sizeof(file_dedupe_range_info);
    std::unique_ptr<char[]> mem(new (std::nothrow) char[bytes]());
    if (mem) {
      auto* req = reinterpret_cast<file_dedupe_range*>(mem.get());
      req->src_offset = 0;
      req->src_length = bs;
      req->dest_count = 1;
      req->info[0].dest_fd = b.get();
      req->info[0].dest_offset = 0;
      out.dedupe = retry_eintr([&] { return ::ioctl(a.get(), FIDEDUPERANGE, req); }) == 0 &&
                   req->info[0].status == FILE_DEDUPE_RANGE_SAME && req->info[0].bytes_deduped > 0;
    }
  }
  return {};
}

}  // namespace cowcopy
