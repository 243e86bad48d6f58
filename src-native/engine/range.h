// Range operations: clone (FICLONERANGE), copy (copy_file_range, falling
// back to pread/pwrite), dedupe (FIDEDUPERANGE). The *_range functions
// (range_clone_copy.cc, range_dedupe.cc) work on open descriptors and close
// none; the *_files functions (range_files.cc) open paths (through
// open_path) or take held descriptors, and close what they opened or held.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "unique_fd.h"

namespace cowcopy {

struct RangeError {
  int err = 0;
  const char* syscall = nullptr;  // 'ioctl_ficlonerange', 'copy_file_range', ...
  std::string reason;             // which value is wrong and why, when we know
};

// The largest file offset the kernel takes (loff_t is signed).
constexpr uint64_t kMaxOffset = INT64_MAX;

// length 0: to the end of the source. The kernel's alignment rules apply:
// offsets are multiples of the block size; the length too, unless the range
// ends at the source's end. Overlapping ranges of one file are EINVAL.
RangeError clone_range(int src, uint64_t src_off, int dst, uint64_t dst_off, uint64_t len);

// length 0: to the end of the source, which is where a read returns 0, not
// st_size (a /proc file says 0). Copies until `len` bytes or the end of the
// source; `copied` says how many. Across filesystems (EXDEV) and where
// copy_file_range is missing, pread/pwrite does it.
RangeError copy_range(int src, uint64_t src_off, int dst, uint64_t dst_off, uint64_t len, uint64_t& copied);

struct DedupeTarget {
  int fd = -1;
  uint64_t offset = 0;
  uint64_t deduped = 0;  // out: bytes really shared (never a tail that was only compared)
  bool same = true;      // out: false = the data differs (nothing shared from there on)
  int err = 0;           // out: this target failed with err
  const char* reason = nullptr;  // out: why, when err alone does not say
};

// Shares [off, off + len) of src with each target where the bytes are equal.
// The kernel may do less than asked per call (16 MiB on btrfs): looped until
// done; each target's status is checked separately. A range ending in a
// partial block that is not at the end of both files cannot be shared: that
// tail is compared by reading (different: same = false, nothing shared), and
// `deduped` counts only the whole blocks before it. Returns an error only
// for a failure of the whole call (bad source, bad range).
RangeError dedupe_range(int src, uint64_t off, uint64_t len, std::vector<DedupeTarget>& targets);

// A file argument of a range call: a path the call opens itself (through
// open_path: never blocking, regular files only, relative to AT_FDCWD), or a
// caller's descriptor held as a duplicate made when the call was made. A
// promise call runs later on another thread, and the caller may close its
// number meanwhile (FileHandle.close() does not wait for us): the next open
// reuses the number, and must not receive the data.
struct RangeFile {
  bool by_fd = false;
  std::string path;  // !by_fd
  UniqueFd held;     // by_fd: F_DUPFD_CLOEXEC of the caller's descriptor
  int hold_err = 0;  // by_fd: why it could not be duplicated (EBADF, EMFILE)
};

// Duplicates `fd` now, on the calling thread.
void hold_fd(RangeFile& f, int fd);

// The whole operation on RangeFiles: opens the paths (the source first, so a
// missing source creates nothing), runs the *_range function, closes what it
// opened or held. A destination the call created is removed when the call
// fails. Never throws: an exception (std::bad_alloc) is ENOMEM.
RangeError clone_files(RangeFile& src, uint64_t src_off, RangeFile& dst, uint64_t dst_off, uint64_t len);
RangeError copy_files(RangeFile& src, uint64_t src_off, RangeFile& dst, uint64_t dst_off, uint64_t len,
                      uint64_t& copied);
// targets[i] goes with files[i]; a target that cannot be opened gets its own
// error, the others go on. Targets are opened read-only (enough for the owner
// of the file and for root).
RangeError dedupe_files(RangeFile& src, uint64_t off, uint64_t len, std::vector<RangeFile>& files,
                        std::vector<DedupeTarget>& targets);

}  // namespace cowcopy
