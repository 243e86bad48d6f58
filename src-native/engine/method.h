// The ways one file's data can reach another, in the order they are tried.
#pragma once

namespace cowcopy {

// The numeric values cross into JavaScript (lib/native.ts METHODS): keep in step.
enum class Method {
  kNone = 0,           // nothing had to move: source and destination are one file
  kClone,          // ioctl(FICLONE): shared extents, no data written
  kCopyFileRange,  // copy_file_range(2): in-kernel, may reflink or copy server-side
  kSendfile,       // sendfile(2): in-kernel page copy, never shares extents
  kReadWrite,      // pread/pwrite through a user-space buffer
  kHardlink,       // linkat(2): the destination is another name of the source's inode
};

constexpr int kMethodCount = 6;

enum class ReflinkMode {
  kAuto,    // clone when the filesystem can, else the fastest real copy
  kAlways,  // clone or fail with the kernel's errno
  kNever,   // a real, unshared copy of the bytes
  // The ladder's 'copy' rung: kAuto's chain without FICLONE
  // (copy_file_range may still share extents server-side, as the filesystem
  // decides). Never set by a caller directly.
  kCopyOnly,
};

// One way of placing a file in the `link` ladder (importFiles, copyDir,
// copyFiles): tried in the caller's order until one works.
enum class Rung : unsigned char { kClone = 0, kHardlink = 1, kCopy = 2 };

struct Ladder {
  Rung rungs[3] = {Rung::kClone, Rung::kCopy, Rung::kCopy};
  int count = 2;  // default: clone, else copy (kAuto)
  bool has(Rung r) const {
    for (int i = 0; i < count; ++i) {
      if (rungs[i] == r) return true;
    }
    return false;
  }
  bool is_default() const { return count == 2 && rungs[0] == Rung::kClone && rungs[1] == Rung::kCopy; }
};

const char* method_name(Method m);

// Not a kernel errno here: a data mover returns it when it moved nothing at
// offset 0, so the next method gets to decide whether the source is empty.
constexpr int kNoProgress = -1;

}  // namespace cowcopy
