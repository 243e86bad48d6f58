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
};

enum class ReflinkMode {
  kAuto,    // clone when the filesystem can, else the fastest real copy
  kAlways,  // clone or fail with the kernel's errno
  kNever,   // a real, unshared copy of the bytes
};

const char* method_name(Method m);

// Not a kernel errno here: a data mover returns it when it moved nothing at
// offset 0, so the next method gets to decide whether the source is empty.
constexpr int kNoProgress = -1;

}  // namespace cowcopy
