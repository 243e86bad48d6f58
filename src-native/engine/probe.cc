// probe: what a directory's filesystem can do (clone, dedupe,
// copy_file_range), found by trying on two nameless files.
#include "probe.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <new>

#include "range_checks.h"
#include "sys.h"
#include "unique_fd.h"

namespace cowcopy {

using range_detail::fail;

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
