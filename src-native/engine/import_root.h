// importFiles' destination root: made (mkdir -p), or staged under a hidden
// name beside it and renamed into place when complete; and the removal of a
// staged tree that failed.
#pragma once

#include <sys/stat.h>

#include <string>

#include "unique_fd.h"

namespace cowcopy {

// mkdir -p for the destination root and its ancestors (0777 less the umask).
// `created`: the root is new.
int make_root(const std::string& path, bool& created);

// Whether the marker is a regular file at relPath under root, reached one
// directory at a time without following a symlink. Anything else (missing,
// a symlink on the way, an error) is "not there": the safe answer, which
// places every entry again.
bool marker_present(int root, const std::string& rel);

// stage: the tree is built in a private (0700) directory beside dest_root,
// under a name only this call knows.
class StagedRoot {
 public:
  // Makes and opens it; 0 or an errno with `reason` (EEXIST: dest_root is there).
  int make(const std::string& dest_root, UniqueFd& root, const char*& reason);
  // Gives the finished tree mkdir's mode and renames it to dest_root
  // (never over anything). 0 or an errno with `reason`.
  int commit(int root, mode_t umask, const char*& reason);
  // Removes what was built, only while the staged name is still the
  // directory this call made (someone who can write the parent may have
  // renamed it aside and put another user's directory there).
  void discard();
  const struct stat& identity() const { return st_; }

 private:
  UniqueFd parent_;
  std::string base_, staged_;
  struct stat st_ {};
};

// Removes the tree at `name` in `parent` while it is the directory `ours`
// (a tree this call made, private to it), never following a symlink, with
// two descriptors at most at any depth. False when something stays.
bool remove_tree(int parent, const char* name, const struct stat& ours);

}  // namespace cowcopy
