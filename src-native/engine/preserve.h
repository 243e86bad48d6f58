// Metadata after the data: owner, extended attributes, mode, timestamps.
#pragma once

#include <sys/stat.h>

namespace cowcopy {

struct Preserve {
  bool timestamps = false;  // atime and mtime, with nanoseconds
  bool ownership = false;   // uid and gid; setuid/setgid are kept only with the source's
                            // owner (chown done) or when the copier is that owner / in that group
  bool xattrs = false;      // user.* always; trusted.*, security.*, system.* when permitted
};

// Applies, in the order that keeps each step from undoing another: fchown
// (which clears setuid bits and security.capability), xattrs, fchmod (the
// source's mode, always), futimens last. Returns 0 or a positive errno.
// `created`: the destination is new (see apply_mode). `mode_set`: it was
// created with its final mode, so no fchmod is needed unless chown ran.
int finish_metadata(int src, int dst, const struct stat& src_st, const Preserve& p, bool created,
                    bool mode_set = false);

}  // namespace cowcopy
