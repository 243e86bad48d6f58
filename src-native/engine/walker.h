// The tree walker copyDir and importFiles share. One thread walks: it opens
// and makes directories relative to their parent's descriptor and hands the
// files of each directory, in chunks, to a pool of copy threads (or places
// them itself when it has none). What differs between the two calls -- where
// the entries come from and how each is placed -- is the subclass's:
// copy_dir.cc lists a source tree, import_files.cc follows a sorted manifest.
//
// Descriptors: each directory on the walker's path is a node; the ones above
// the current directory are closed when the descriptor budget is spent and
// opened again through ".." (proved to be the same inode) on the way back up,
// so a walk holds a bounded number of directories open at any depth.
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "batch_state.h"
#include "descriptor_budget.h"
#include "exceptions.h"
#include "unique_fd.h"
#include "work_queue.h"

namespace cowcopy {

class Walker;

// A directory pair (copyDir: source and destination; importFiles: the
// destination only), open while anything in it is pending. It keeps its
// name, not its path: paths are built from the chain of parents when an
// error needs one.
struct DirNode {
  ~DirNode();
  DirNode() = default;
  DirNode(const DirNode&) = delete;
  DirNode& operator=(const DirNode&) = delete;

  Walker* walker = nullptr;         // finishes it and counts its descriptors
  std::shared_ptr<DirNode> parent;  // null for the root
  std::string name;                 // in the parent (the root: "")
  UniqueFd src;                     // copyDir's source directory
  UniqueFd dst;
  struct stat st {};                // the source's fstat (copyDir)
  uint64_t dst_dev = 0;
  uint64_t dst_ino = 0;
  bool created = false;   // made by this call
  bool private_ = false;  // nobody else can create or rename a name in it
  bool acl = false;       // has (inherited) a default ACL
  bool finish_pending = true;  // false: nothing to do when it is done
  bool followed = false;       // reached through a symlink (dereference)
  bool lost = false;           // could not be reopened: moved or replaced since
  std::atomic<int> pins{0};    // chunks of its files handed over and not yet placed
  // Its destination is on overlayfs: 1, not: 0, not known yet: -1 (asked
  // once per filesystem of the walk, for hard links: dest_overlay()).
  std::atomic<signed char> overlay{-1};
  int fds = 0;                 // descriptors it holds (counted in the walker's share)

  bool open() const { return dst.valid(); }
  // Whether its destination is on overlayfs (1) or not (0). A directory
  // made in its parent is where the parent is: fstatfs once per directory
  // that was already there. Called with the directory pinned or on the
  // walker thread (it is open).
  signed char dest_overlay();
  // The path below the root, '/'-separated ("" for the root).
  std::string rel() const;
};

// A file of a directory, handed over in a chunk.
struct ChunkItem {
  std::string name;   // in the directory (copyDir)
  uint64_t ino = 0;   // what the open must find (copyDir: d_ino)
  size_t index = 0;   // the entry (importFiles)
};

struct Chunk {
  std::shared_ptr<DirNode> dir;
  std::vector<ChunkItem> items;
};

constexpr size_t kChunkFiles = 32;

class Walker {
 public:
  // per_dir: descriptors a directory node holds (2 for copyDir, 1 for importFiles).
  Walker(BatchState& state, DescriptorShare& share, int per_dir);
  virtual ~Walker();

  // Starts up to `copy_threads` threads (0 or 1: the walker places every
  // file itself), walks, drains, joins. `dirs_first` (btrfs): files are held
  // back until a batch of directories is made (see hand_over).
  void run(std::shared_ptr<DirNode> root, int copy_threads, bool dirs_first);

  // The directory's final metadata, once every file and directory in it is
  // done (on whichever thread lets it go last). 0 or an errno.
  virtual int finish(DirNode&) { return 0; }
  virtual void finish_failed(DirNode&, int) {}
  void closed(DirNode& node);  // its descriptors are given back

  BatchState& state() { return state_; }
  int threads() const { return threads_; }
  LocalStats& walker_stats() { return walker_stats_; }

 protected:
  virtual void walk() = 0;
  virtual void place_chunk(Chunk& chunk, CopyRequest& req, LocalStats& local) = 0;
  virtual CopyRequest request() const = 0;

  // Hands a chunk of the current directory's files over (or places it, with
  // no copy threads). False when the call stops.
  bool hand_over(Chunk& chunk);
  // Hands over what dirs_first held back.
  bool flush();
  // Waits until one more directory's descriptors fit the budget, closing
  // directories above the current one first; false when the call stops.
  bool room_for_dir();
  // Before files are placed: a call confined to fewer descriptors than its
  // floor, holding more than that (one directory more could not wait),
  // closes the directories above the current one.
  void keep_within_room();
  // Makes path_ end at index `depth`, reopening each directory on the way
  // up that was closed. 0, or an errno when path_[depth] could not be
  // proved to be the same directory (it is marked lost; nothing goes in).
  int climb_to(size_t depth);
  // Counts (and gives back) descriptors a subclass holds beside the path.
  void hold_extra(size_t n);
  void release_extra(size_t n);
  // Counts the descriptors a node just opened holds (already taken by room_for_dir).
  void opened(DirNode& node);

  BatchState& state_;
  std::vector<std::shared_ptr<DirNode>> path_;  // the root .. the current directory
  LocalStats walker_stats_;
  CopyRequest walker_req_;
  static const char* const kExceptionReason;

 private:
  void work();
  // A chunk taken from the queue, placed and let go (its directory may finish).
  void place_queued(Chunk& chunk, CopyRequest& req, LocalStats& local);
  // Queues a chunk; a walker that copies places the oldest queued one
  // itself instead of waiting for room. False when the call stops.
  bool push(Chunk& chunk);
  bool evict_one();
  bool close_noting_identity(DirNode& n);
  int reopen(size_t i);
  int reopen_side(size_t i, bool source, UniqueFd& out);
  void take_for_reopen();

  DescriptorShare& share_;
  const int per_dir_;
  WorkQueue<Chunk> queue_;
  std::atomic<size_t> in_flight_{0};  // chunks queued or being placed
  std::vector<Chunk> held_;           // dirs_first: made, not yet handed over
  size_t held_dirs_ = 0;
  size_t ahead_ = 0;                  // dirs_first: directories made before their files go
  bool inline_ = true;
  bool walker_copies_ = false;        // holds a copier's descriptors: places chunks when the queue is full
  int threads_ = 1;
  size_t closed_upto_ = 1;            // path_[1 .. closed_upto_) are known closed
};

}  // namespace cowcopy
