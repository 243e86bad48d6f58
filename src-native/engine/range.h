// Range operations on open descriptors: clone (FICLONERANGE), copy
// (copy_file_range, falling back to pread/pwrite), dedupe (FIDEDUPERANGE),
// and probe (what a directory's filesystem can do, by trying). The caller
// opens and closes the files; nothing here closes a descriptor it was given.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cowcopy {

struct RangeError {
  int err = 0;
  const char* syscall = nullptr;  // 'ioctl_ficlonerange', 'copy_file_range', ...
  std::string reason;             // which value is wrong and why, when we know
};

// length 0: to the end of the source. The kernel's alignment rules apply:
// offsets are multiples of the block size; the length too, unless the range
// ends at the source's end. Overlapping ranges of one file are EINVAL.
RangeError clone_range(int src, uint64_t src_off, int dst, uint64_t dst_off, uint64_t len);

// length 0: to the end of the source. Copies until `len` bytes or the end of
// the source; `copied` says how many. Across filesystems (EXDEV) and where
// copy_file_range is missing, pread/pwrite does it.
RangeError copy_range(int src, uint64_t src_off, int dst, uint64_t dst_off, uint64_t len, uint64_t& copied);

struct DedupeTarget {
  int fd = -1;
  uint64_t offset = 0;
  uint64_t deduped = 0;  // out
  bool same = true;      // out: false = the data differs (nothing shared from there on)
  int err = 0;           // out: this target failed with err
};

// Shares [off, off + len) of src with each target where the bytes are equal.
// The kernel may do less than asked per call (16 MiB on btrfs): looped until
// done; each target's status is checked separately. Returns an error only
// for a failure of the whole call (bad source, bad range).
RangeError dedupe_range(int src, uint64_t off, uint64_t len, std::vector<DedupeTarget>& targets);

struct ProbeResult {
  std::string fs_type;
  uint64_t block_size = 0;
  bool clone = false;
  bool dedupe = false;
  bool copy_file_range = false;
};

// Tries each operation on two temporary files in dir (anonymous O_TMPFILE, or
// names removed right after they are made): nothing is ever left behind.
RangeError probe(const std::string& dir, ProbeResult& out);

const char* fs_type_name(unsigned long magic);

}  // namespace cowcopy
