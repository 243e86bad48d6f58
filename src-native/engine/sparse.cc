#include "sparse.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "stat_calls.h"
#include "sys.h"

namespace cowcopy {

bool looks_sparse(const struct stat& st) {
  return st.st_size > 0 && static_cast<uint64_t>(st.st_blocks) * 512 < static_cast<uint64_t>(st.st_size);
}

namespace {

int end_at_eof(DataState& state) {
  struct stat st;
  if (sys_fstat(state.src, &st) == -1) return errno;
  const uint64_t now = std::min(static_cast<uint64_t>(st.st_size), state.src_size);
  if (now > state.offset) state.offset = now;
  state.control.done(state.offset);
  return 0;
}

}  // namespace

int copy_sparse(Method m, DataState& state) {
  const uint64_t size = state.src_size;
  while (state.offset < size) {
    off_t data =
        retry_eintr([&] { return ::lseek(state.src, static_cast<off_t>(state.offset), SEEK_DATA); });
    if (data == -1) {
      // ENXIO: no data from here to end of file. Either a hole runs to the
      // end, or the file ended here (it shrank since it was opened): then
      // the copy ends too, never padded to the old size.
      if (errno == ENXIO) return end_at_eof(state);
      // A filesystem without SEEK_DATA: copy the rest densely.
      if (errno == EINVAL) return move_data(m, state, size);
      return errno;
    }
    off_t hole = retry_eintr([&] { return ::lseek(state.src, data, SEEK_HOLE); });
    if (hole == -1) return errno;
    state.offset = static_cast<uint64_t>(data);
    uint64_t end = static_cast<uint64_t>(hole);
    if (end > size) end = size;
    if (int err = move_data(m, state, end)) return err;
    // The source shrank while we copied: what is left is gone.
    if (state.offset < end) return 0;
  }
  state.offset = size;
  state.control.done(state.offset);
  return 0;
}

}  // namespace cowcopy
