// The three calls the clone layer needs from the OS, each returning 0 or a
// positive errno in the platform's own numbering. macOS has them natively
// (os_clone_darwin.cc); os_clone_linux_shim.cc stands in for them on Linux
// so that the layer's logic runs and is tested on real btrfs/XFS.
//
// Semantics every implementation keeps (those of macOS clonefile):
// - the destination name must not exist (EEXIST), and is never followed;
// - a regular file's clone shares its data blocks, gets the source's mode
//   with setuid/setgid turned off and its extended attributes; owner and
//   timestamps are those of a new file made by the caller;
// - a directory's clone is the whole hierarchy below it, symlinks copied
//   verbatim, never followed;
// - ENOTSUP when the volume cannot clone, EXDEV across volumes.
#pragma once

namespace cowcopy_layer {

// Which implementation is linked: "darwin" or "linux-shim".
extern const char* const kOsCloneName;

// Clones the regular file open on `srcfd` to `name` in the directory `dstdirfd`.
int os_fclonefileat(int srcfd, int dstdirfd, const char* name);

// Clones `src` (relative to `srcdirfd`, or AT_FDCWD) to `name` in
// `dstdirfd`. A failure may leave part of a directory's clone behind at
// `name`; EINTR is returned, not retried, for that reason.
int os_clonefileat(int srcdirfd, const char* src, int dstdirfd, const char* name);

// Renames `from` to `to`; EEXIST when `to` exists (it is never replaced).
int os_rename_excl(int fromdir, const char* from, int todir, const char* to);

}  // namespace cowcopy_layer
