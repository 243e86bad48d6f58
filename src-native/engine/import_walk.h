// importFiles' walk (import_files.cc sets up the root and runs it): the
// entries, sorted by directory, are the walk; each directory is made once,
// relative to its parent's descriptor.
#pragma once

#include <string>
#include <vector>

#include "import.h"
#include "walker.h"

namespace cowcopy {

// A directory made under this umask (known: at most 0777) is one nobody
// but its owner can put a name in.
inline bool umask_keeps_others_out(mode_t um) { return um <= 0777 && (um & 022) == 022; }

class ImportWalk : public Walker {
 public:
  ImportWalk(BatchState& state, DescriptorShare& share, const Entries& entries, const ImportOptions& opts,
             const std::string& dest_root, std::vector<size_t> order)
      : Walker(state, share, 1),
        entries_(entries),
        opts_(opts),
        dest_root_(dest_root),
        order_(std::move(order)),
        overwrite_(opts.batch.overwrite) {}

  // Staged: the whole tree is under a 0700 root no one else can enter.
  void set_hidden() { hidden_ = true; }
  // The marker is missing from a destination that exists: replace what is there.
  void force_overwrite() { overwrite_ = true; }
  // The marker is there: whatever is missing is placed atomically, so a
  // killed re-import never leaves a partial file under a marker that says
  // "complete".
  void force_atomic() { atomic_ = true; }

  // After every other entry: the marker, atomically, only when all of them
  // are in place.
  void place_marker();

 private:
  // The destination leaf is never followed nor opened when it exists
  // (replaced by rename, or kept); the source is the caller's path. A store
  // file that is a symlink is refused (ELOOP), never followed: whoever can
  // write the store could point it at a file the caller can read and the
  // destination's readers cannot (README, Security: trees other people wrote).
  // Files are written in place under their names (O_EXCL), an existing one
  // replaced through a temporary file and rename. O_TMPFILE for every file
  // was measured 1.4x slower on XFS and 1.24x on btrfs (the unlinked inode
  // list serialises the threads); a killed import's partial file is handled
  // by the marker instead.
  CopyRequest request() const override;

  void place_chunk(Chunk& chunk, CopyRequest& req, LocalStats& local) override;

  void walk() override;

  // Makes path_ the chain of directories down to `dir` (relative to the
  // root, "" for the root itself), making what is missing.
  int enter(std::string_view dir, const char*& reason);

  int open_child(std::string name, const char*& reason);

  const Entries& entries_;
  const ImportOptions& opts_;
  const std::string& dest_root_;
  const std::vector<size_t> order_;
  bool overwrite_;
  bool atomic_ = false;
  bool hidden_ = false;
  // The marker's directory: a descriptor of its own, kept from when the
  // walk was in it until the marker is placed (never looked up again by
  // name: a directory moved meanwhile takes its marker with it; one
  // removed makes the marker fail). Not on the path: no parent.
  std::shared_ptr<DirNode> marker_dir_;
  int marker_err_ = 0;
  void keep_marker_dir(const DirNode& dir);
};

}  // namespace cowcopy
