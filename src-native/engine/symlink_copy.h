// A symbolic link of a tree copy, made again in the destination.
#pragma once

#include <string>

#include "preserve.h"

namespace cowcopy {

struct SymlinkOptions {
  bool overwrite = true;  // an existing name is replaced (never a directory)
  Preserve preserve;      // owner and times (set on the link itself)
  // Non-empty: a relative target is made absolute against this directory
  // (the source link's own, absolute), as fs.cp does without verbatimSymlinks.
  std::string base;
};

// Copies the link `name` of src_dir to `name` in dst_dir. 0 or an errno
// (kReplacedErr when the name was swapped for another user's file meanwhile).
int copy_symlink(int src_dir, int dst_dir, const std::string& name, const SymlinkOptions& o);

// An absolute path made canonical without looking at the filesystem, as
// Node's path.resolve does: empty and "." segments dropped, ".." takes one
// back (never above "/"), no trailing slash.
std::string normalize_absolute(const std::string& p);

}  // namespace cowcopy
