// Atomic replace: the data goes to a temporary file in the destination's
// directory, which is renamed over the destination only when complete. An
// anonymous O_TMPFILE is preferred: a crash leaves nothing behind.
#pragma once

#include <string>

#include "unique_fd.h"

namespace cowcopy {

class TempDest {
 public:
  // Opens the temporary file for `dest` (0600). 0 or a positive errno.
  int open(const std::string& dest);
  int fd() const { return fd_.get(); }
  // Puts the finished file in place: rename over `dest`, or, when `overwrite`
  // is false, fail with EEXIST if a file appeared there meanwhile. Closes the
  // file. `sync_dir`: fsync the directory afterwards so the name is durable.
  int publish(const std::string& dest, bool overwrite, bool sync_dir);
  // Drops the temporary file (called for every failure and abort).
  void discard();
  ~TempDest() { discard(); }

 private:
  int link_anonymous(const std::string& to);
  UniqueFd fd_;
  std::string dir_;
  std::string base_;
  std::string named_;  // the temporary's name, when not anonymous (or once linked)
};

// "dir/name" -> ("dir", "name"); "name" -> (".", "name"); "/name" -> ("/", "name").
void split_path(const std::string& path, std::string& dir, std::string& base);

}  // namespace cowcopy
