// The `link` ladder (importFiles, copyDir and copyFiles): each file is placed
// by the first way in the caller's order that works -- clone, hardlink, copy
// -- and a way that turns out unavailable between two devices is remembered
// for the rest of the process, so the failed probe is paid once, not per
// file. Only errnos that mean "not available here" are remembered; a passing
// error (EAGAIN, ENOMEM) or a real one (ENOSPC, EIO, EDQUOT) never is.
#pragma once

#include <cstdint>

#include "copy_file.h"
#include "method_chain.h"

namespace cowcopy {

namespace link_memory {
// Whether anything is remembered at all (one relaxed load: the common case).
bool any();
bool dropped(Rung rung, uint64_t src_dev, uint64_t dest_dev);
void drop(Rung rung, uint64_t src_dev, uint64_t dest_dev);
// Forgets everything (tests; a remount may reuse a device number).
void reset();
}  // namespace link_memory

// A "not available" answer that is really about these two files (a btrfs
// NOCOW file): passed on for this file, never remembered for the devices.
bool clone_failure_is_per_file(int src, int dst, int err);

// Places one file by req.ladder. The request is borrowed mutable (its
// reflink mode is set per rung and restored). result.method is kHardlink for
// a link. With !req.overwrite, a name already taken fails with EEXIST and no
// reason (importFiles counts it as existing).
CopyResult place_file(CopyRequest& req);

}  // namespace cowcopy
