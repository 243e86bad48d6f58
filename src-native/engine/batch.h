// Many copies in one call: a list of pairs (copy_files) or a whole tree
// (copy_dir), spread over a small pool of threads, each file through
// copy_file with the same reflink modes and error rules. No N-API here.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "method.h"
#include "preserve.h"

namespace cowcopy {

struct BatchOptions {
  ReflinkMode reflink = ReflinkMode::kAuto;
  bool overwrite = true;
  bool sparse = true;
  Preserve preserve;
  bool stop_on_error = false;
  int concurrency = 0;          // 0: chosen by the destination's filesystem type
  mode_t umask = 022;           // the process umask, read by the caller
  int64_t* cancel = nullptr;    // non-zero: stop (files in flight finish or are removed)
  int64_t* progress = nullptr;  // [bytes done, files done], updated as files finish
  bool list_files = false;      // record every copied file with its method (BatchResult.copied)
  Ladder ladder;                // how files are placed: clone, hardlink, copy (ladder.h)
  // copy_dir, fs.cp parity. dereference: a symlink in the source is followed
  // (through a descriptor: a file is copied, a directory walked, anything else
  // skipped; a link to an ancestor is refused as a cycle).
  bool dereference = false;
  // Non-empty: a relative symlink target is rewritten as an absolute path
  // resolved lexically against this absolute source root (fs.cp without
  // verbatimSymlinks). Empty: targets are copied verbatim (cp -a).
  std::string link_base;
  // Stop at the first EEXIST (overwrite false): lib/ rejects with it.
  bool error_on_exist = false;
};

struct CopiedFile {
  std::string src;
  std::string dest;
  Method method;
  uint64_t bytes;
};

struct BatchError {
  std::string src;
  std::string dest;
  int err = 0;
  const char* reason = nullptr;
};

struct Skipped {
  std::string path;  // source path
  const char* type;  // "fifo", "socket", "character device", "block device", "unknown"
};

struct BatchResult {
  uint64_t files = 0;
  uint64_t bytes = 0;
  uint64_t dirs = 0;
  uint64_t symlinks = 0;
  uint64_t existing = 0;  // importFiles without overwrite: names already taken, kept
  uint64_t methods[kMethodCount] = {};  // indexed by Method
  // Hardlinks made on overlayfs: each may have been a whole-file copy-up.
  uint64_t overlay_links = 0;
  std::vector<BatchError> errors;
  std::vector<Skipped> skipped;
  std::vector<CopiedFile> copied;  // with BatchOptions.list_files, in completion order
  int fatal = 0;                 // the whole call failed before copying (or was cancelled)
  const char* fatal_reason = nullptr;
  int threads = 0;               // how many copy threads ran
  // importFiles: the entry that made the call fail before anything was
  // touched (fatal EINVAL), and why (manifest.h EntryProblem); -1: none.
  long bad_entry = -1;
  int bad_entry_problem = 0;
};

// Asked once per directory, with the entries the walk is about to copy:
// `keep` gets one flag per entry (true: copy it). Called on the walker thread.
class TreeFilter {
 public:
  struct Entry {
    std::string rel;  // path relative to the source root, '/'-separated
    unsigned char type;  // DT_REG, DT_DIR, DT_LNK, ...
  };
  virtual ~TreeFilter() = default;
  virtual void keep(const std::vector<Entry>& entries, std::vector<char>& keep) = 0;
};

// Threads for a destination on filesystem `magic` (statfs f_type), measured
// with bench/tree.js: see the table in batch.cc.
constexpr unsigned long kBtrfsMagic = 0x9123683eUL;
int default_concurrency(long magic);

BatchResult copy_files(const std::vector<std::pair<std::string, std::string>>& pairs,
                       const BatchOptions& opts);

BatchResult copy_dir(const std::string& src_root, const std::string& dest_root,
                      const BatchOptions& opts, TreeFilter* filter);

}  // namespace cowcopy
