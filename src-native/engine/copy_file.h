// copy_file: one whole copy, from open to close, on the calling thread.
// Plain C++ with no N-API: the binding runs it on a worker thread or inline.
#pragma once

#include <cstdint>
#include <string>

#include "method.h"

namespace cowcopy {

struct CopyRequest {
  std::string src;
  std::string dest;
  ReflinkMode reflink = ReflinkMode::kAuto;
  bool overwrite = true;  // false: fail with EEXIST when dest exists (COPYFILE_EXCL)
};

struct CopyResult {
  int err = 0;                   // 0 or a positive errno
  const char* reason = nullptr;  // a clearer text than strerror(err), when we have one
  Method method = Method::kNone; // the method that moved the data (or failed last)
  uint64_t bytes = 0;            // bytes now in the destination from the source
};

CopyResult copy_file(const CopyRequest& req);

}  // namespace cowcopy
