#include "range.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

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

bool overlap(uint64_t a, uint64_t b, uint64_t len) { return a < b + len && b < a + len; }

// Resolves length 0 ("to the end of the source") and the shared checks.
RangeError prepare(const char* syscall, int src, uint64_t src_off, int dst, uint64_t dst_off, uint64_t& len,
                   struct stat& s, struct stat& d) {
  if (sys_fstat(src, &s) == -1 || sys_fstat(dst, &d) == -1) return fail(errno, syscall);
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
  uint64_t bs = ::fstatfs(dst, &sfs) == 0 && sfs.f_bsize > 0 ? static_cast<uint64_t>(sfs.f_bsize) : 4096;
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
  if (RangeError e = prepare(sc, src, src_off, dst, dst_off, len, s, d); e.err) return e;
  struct file_clone_range arg;
  arg.src_fd = src;
  arg.src_offset = src_off;
  arg.src_length = len;
  arg.dest_offset = dst_off;
  if (retry_eintr([&] { return ::ioctl(dst, FICLONERANGE, &arg); }) == -1) {
    int err = errno;
    if (err == EINVAL) return fail(err, sc, explain_clone_einval(dst, src_off, dst_off, len, static_cast<uint64_t>(s.st_size)));
    if (err == EXDEV) return fail(err, sc, "the files are on different filesystems");
    if (err == EOPNOTSUPP) return fail(err, sc, "this filesystem cannot share extents");
    return fail(err, sc);
  }
  return {};
}

RangeError copy_range(int src, uint64_t src_off, int dst, uint64_t dst_off, uint64_t len, uint64_t& copied) {
  const char* sc = "copy_file_range";
  copied = 0;
  struct stat s, d;
  if (RangeError e = prepare(sc, src, src_off, dst, dst_off, len, s, d); e.err) return e;
  bool kernel = true;
  while (copied < len) {
    uint64_t want = len - copied < kChunk ? len - copied : kChunk;
    if (kernel) {
      loff_t in = static_cast<loff_t>(src_off + copied);
      loff_t out = static_cast<loff_t>(dst_off + copied);
      ssize_t n = retry_eintr([&] { return ::copy_file_range(src, &in, dst, &out, want, 0); });
      if (n > 0) {
        copied += static_cast<uint64_t>(n);
        continue;
      }
      if (n == 0 && copied > 0) break;  // end of the source
      // Across filesystems, without the syscall, or 0 at the start (a /proc
      // file's size says 0): read and write instead.
      if (n == 0 || errno == EXDEV || errno == ENOSYS || errno == EOPNOTSUPP || errno == EINVAL) {
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

RangeError dedupe_range(int src, uint64_t off, uint64_t len, std::vector<DedupeTarget>& targets) {
  const char* sc = "ioctl_fideduperange";
  struct stat s;
  if (sys_fstat(src, &s) == -1) return fail(errno, sc);
  if (int err = check_regular(s)) return fail(err, sc, err == EINVAL ? "the source is not a regular file" : "");
  uint64_t size = static_cast<uint64_t>(s.st_size);
  if (len == 0) len = off < size ? size - off : 0;
  if (off + len > size) {
    return fail(EINVAL, sc, "the range ends at " + num(off + len) + ", past the end of the source (" + num(size) + " bytes)");
  }
  // One target per call: targets may advance by different amounts.
  const size_t bytes = sizeof(file_dedupe_range) + sizeof(file_dedupe_range_info);
  std::unique_ptr<char[]> mem(new (std::nothrow) char[bytes]);
  if (!mem) return fail(ENOMEM, sc);
  auto* req = reinterpret_cast<file_dedupe_range*>(mem.get());
  for (DedupeTarget& t : targets) {
    struct stat d;
    if (sys_fstat(t.fd, &d) == -1) {
      t.err = errno;
      continue;
    }
    if (int err = check_regular(d)) {
      t.err = err;
      continue;
    }
    if (d.st_dev == s.st_dev && d.st_ino == s.st_ino && overlap(off, t.offset, len)) {
      t.err = EINVAL;
      continue;
    }
    while (t.deduped < len) {
      std::memset(mem.get(), 0, bytes);
      uint64_t want = len - t.deduped < kDedupeChunk ? len - t.deduped : kDedupeChunk;
      req->src_offset = off + t.deduped;
      req->src_length = want;
      req->dest_count = 1;
      req->info[0].dest_fd = t.fd;
      req->info[0].dest_offset = t.offset + t.deduped;
      if (retry_eintr([&] { return ::ioctl(src, FIDEDUPERANGE, req); }) == -1) {
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
      if (info.status == FILE_DEDUPE_RANGE_DIFFERS) {
        t.same = false;
        break;
      }
      if (info.bytes_deduped == 0) break;  // nothing more will come (end of the target)
      t.deduped += info.bytes_deduped;
    }
  }
  return {};
}

RangeError probe(const std::string& dir, ProbeResult& out) {
  const char* sc = "probe";
  struct statfs sfs;
  if (::statfs(dir.c_str(), &sfs) == -1) return fail(errno, sc);
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
  auto write_all = [&](int fd) {
    return ::pwrite(fd, data.get(), bs * 2, 0) == static_cast<ssize_t>(bs * 2) && ::fsync(fd) == 0;
  };
  if (!write_all(a.get())) return fail(errno ? errno : EIO, sc);

  out.clone = ::ioctl(b.get(), FICLONE, a.get()) == 0;
  if (::ftruncate(b.get(), 0) == -1) return fail(errno, sc);

  loff_t in = 0, o = 0;
  out.copy_file_range = ::copy_file_range(a.get(), &in, b.get(), &o, bs, 0) > 0;
  if (::ftruncate(b.get(), 0) == -1) return fail(errno, sc);

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
      out.dedupe = ::ioctl(a.get(), FIDEDUPERANGE, req) == 0 && req->info[0].status == FILE_DEDUPE_RANGE_SAME &&
                   req->info[0].bytes_deduped > 0;
    }
  }
  return {};
}

}  // namespace cowcopy
