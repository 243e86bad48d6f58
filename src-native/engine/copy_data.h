// Data movers: each moves the source's bytes from state.offset up to `end`
// (or end of file) into the same offsets of the destination, loops over short
// transfers, and checks for cancellation between chunks.
#pragma once

#include <cstdint>

#include "control.h"
#include "method.h"

namespace cowcopy {

constexpr uint64_t kToEof = UINT64_MAX;

struct DataState {
  int src = -1;
  int dst = -1;
  uint64_t offset = 0;    // the source is in the destination up to here
  uint64_t src_size = 0;  // st_size when opened (a clone takes the whole file)
  Control control;
  // The destination's identity and permission bits, when a step already
  // fstat-ed it (a clone into an empty file): the caller reuses them instead
  // of asking again.
  bool dst_known = false;
  uint64_t dst_dev = 0, dst_ino = 0;
  uint32_t dst_mode = 0;  // st_mode & 07777
  // The caller needs neither (a new file in a directory only this call can
  // write, its mode known from the umask): a clone into the empty file
  // names the size seen at open, so no fstat has to say what it took.
  bool size_by_range = false;
};

// 0 on success, else a positive errno, kNoProgress or ECANCELED. On failure
// state.offset tells how far the data got, so the next method can resume.
// `dst_empty`: the destination has no data, so its size after the clone is
// the clone's. Sets state.offset to what the copy holds of the source.
int clone_whole(DataState& state, bool dst_empty);
int copy_file_range_span(DataState& state, uint64_t end);
int sendfile_span(DataState& state, uint64_t end);
int read_write_span(DataState& state, uint64_t end);

int move_data(Method m, DataState& state, uint64_t end);

}  // namespace cowcopy
