// A walk's destination root, once for copyDir and importFiles: made when
// missing, opened (never through a symlink swapped in for one this call
// made), proved to be the call's own and empty when it made it, and
// identified (device, inode; whether a default ACL decides new files'
// modes).
#pragma once

#include <string>

#include "walker.h"

namespace cowcopy {

struct RootMaking {
  // mkdir -p, 0777 less the umask (importFiles); else one mkdir 0700, which
  // the walk opens to others only when it is done (copyDir).
  bool parents = false;
};

// Fills root.dst, created, dst_dev, dst_ino and acl. 0, or an errno (with
// `reason` when clearer than strerror); on failure a root this call made is
// removed again (only while the name is still that empty directory).
int open_dest_root(const std::string& path, RootMaking how, DirNode& root, const char*& reason);

}  // namespace cowcopy
