#include "copy_data.h"

#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <memory>

#include "stat_calls.h"
#include "sys.h"

namespace cowcopy {

// One syscall moves at most this much, so a cancel request is seen within
// ~100 ms even on a slow disk (300 MB/s) and progress moves smoothly, while
// the syscall count stays negligible (32 per GiB).
constexpr uint64_t kKernelChunk = 32u << 20;
// User-space copies: large enough to amortise syscalls, small enough for the
// cache (coreutils settled on 256 KiB after measuring).
constexpr size_t kBufferSize = 256u << 10;

namespace {

size_t chunk_for(uint64_t offset, uint64_t end, uint64_t limit) {
  return static_cast<size_t>(std::min<uint64_t>(limit, end - offset));
}

// After each chunk: publish progress, then stop if the caller asked to.
int after_chunk(DataState& state, uint64_t moved) {
  state.offset += moved;
  state.control.done(state.offset);
  return state.control.cancelled() ? ECANCELED : 0;
}

}  // namespace

int clone_whole(DataState& state, bool dst_empty) {
  // Over an existing file the kernel keeps the old tail past the clone,
  // and no size read before or after can say how much a source changing
  // meanwhile gave (a race test saw the old destination's bytes under a
  // source truncated and rewritten). So the range is explicit: the size
  // seen at open, which the caller then cuts the file to. A source that
  // shrank below it fails the clone (EINVAL) instead of padding. An empty
  // source still asks the kernel (length 0 is "to the end"; the caller
  // cuts the file to 0): 'always' must get the kernel's own verdict.
  // Into an empty file the same range proves the size the clone took
  // (no fstat after it) where the filesystem takes one ending at the
  // source's end; else, or on EINVAL (a source that shrank since, or grew
  // from a size that is not a whole number of blocks: only the last block
  // of a file may be partial), the whole file, below.
  if (!dst_empty || (state.size_by_range && state.src_size > 0)) {
    struct file_clone_range range = {};
    range.src_fd = state.src;
    range.src_length = state.src_size;
    if (retry_eintr([&] { return ::ioctl(state.dst, FICLONERANGE, &range); }) == 0) {
      state.offset = state.src_size;
      state.control.done(state.offset);
      return 0;
    }
    if (!dst_empty || errno != EINVAL) return errno;
  }
  if (retry_eintr([&] { return ::ioctl(state.dst, FICLONE, state.src); }) == -1) return errno;
  // An empty destination now has exactly the size the clone took, even
  // from a source that changed meanwhile: no invented bytes.
  struct stat st;
  if (sys_fstat(state.dst, &st) == -1) return errno;
  state.offset = static_cast<uint64_t>(st.st_size);
  state.dst_known = true;
  state.dst_dev = static_cast<uint64_t>(st.st_dev);
  state.dst_ino = static_cast<uint64_t>(st.st_ino);
  state.dst_mode = static_cast<uint32_t>(st.st_mode & 07777);
  state.control.done(state.offset);
  return 0;
}

int copy_file_range_span(DataState& state, uint64_t end) {
  if (state.control.cancelled()) return ECANCELED;
  const uint64_t started = state.offset;
  while (state.offset < end) {
    loff_t in = static_cast<loff_t>(state.offset);
    loff_t out = in;
    size_t want = chunk_for(state.offset, end, kKernelChunk);
    ssize_t n = retry_eintr([&] { return ::copy_file_range(state.src, &in, state.dst, &out, want, 0); });
    if (n == -1) return errno;
    // The kernel bounds copy_file_range by i_size, which /proc and /sys files
    // report as 0: nothing at offset 0 lets the next method find out.
    if (n == 0) return started == 0 && state.offset == 0 ? kNoProgress : 0;
    if (int err = after_chunk(state, static_cast<uint64_t>(n))) return err;
  }
  return 0;
}

int sendfile_span(DataState& state, uint64_t end) {
  if (state.control.cancelled()) return ECANCELED;
  // sendfile writes at the destination's file position.
  auto seek = [&] { return ::lseek(state.dst, static_cast<off_t>(state.offset), SEEK_SET); };
  if (retry_eintr(seek) == -1) return errno;
  while (state.offset < end) {
    off_t in = static_cast<off_t>(state.offset);
    size_t want = chunk_for(state.offset, end, kKernelChunk);
    ssize_t n = retry_eintr([&] { return ::sendfile(state.dst, state.src, &in, want); });
    if (n == -1) return errno;
    if (n == 0) return 0;
    if (int err = after_chunk(state, static_cast<uint64_t>(n))) return err;
  }
  return 0;
}

int read_write_span(DataState& state, uint64_t end) {
  if (state.control.cancelled()) return ECANCELED;
  std::unique_ptr<char[]> buf(new (std::nothrow) char[kBufferSize]);
  if (!buf) return ENOMEM;
  // Progress and the cancel check every 32 MiB, as for the kernel methods.
  uint64_t since_check = 0;
  while (state.offset < end) {
    size_t want = chunk_for(state.offset, end, kBufferSize);
    ssize_t got = retry_eintr(
        [&] { return ::pread(state.src, buf.get(), want, static_cast<off_t>(state.offset)); });
    if (got == -1) return errno;
    if (got == 0) break;
    size_t done = 0;
    while (done < static_cast<size_t>(got)) {
      ssize_t put = retry_eintr([&] {
        return ::pwrite(state.dst, buf.get() + done, static_cast<size_t>(got) - done,
                        static_cast<off_t>(state.offset + done));
      });
      if (put == -1) return errno;
      // pwrite returning 0 for a non-zero count would loop forever.
      if (put == 0) return EIO;
      done += static_cast<size_t>(put);
    }
    state.offset += done;
    since_check += done;
    if (since_check >= kKernelChunk) {
      since_check = 0;
      if (int err = after_chunk(state, 0)) return err;
    }
  }
  state.control.done(state.offset);
  return 0;
}

int move_data(Method m, DataState& state, uint64_t end) {
  switch (m) {
    case Method::kClone: return clone_whole(state, false);
    case Method::kCopyFileRange: return copy_file_range_span(state, end);
    case Method::kSendfile: return sendfile_span(state, end);
    case Method::kReadWrite: return read_write_span(state, end);
    case Method::kNone: return 0;
    case Method::kHardlink: return EINVAL;  // not a data mover
  }
  return EINVAL;
}

}  // namespace cowcopy
