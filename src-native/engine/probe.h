// What a directory's filesystem can do, found by trying (probe.cc).
#pragma once

#include <cstdint>
#include <string>

#include "range.h"

namespace cowcopy {

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

// statfs's f_type as a name ("btrfs"), or nullptr for one not listed.
const char* fs_type_name(unsigned long magic);

}  // namespace cowcopy
