// import_files: a package (or a build cache entry) from a content-addressed
// store -- a list of relative path -> source file -- placed under one
// destination directory: the directories made once each, relative to their
// parent's descriptor, every file by the `link` ladder on a pool of threads,
// a marker file last. No N-API here.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "batch.h"
#include "manifest.h"

namespace cowcopy {

struct ImportOptions {
  BatchOptions batch;     // overwrite false: a taken name is kept and counted (existing)
  long marker = -1;       // index of the entry placed last, only when all others are in place
  bool stage = false;     // build in a hidden sibling directory, renamed to dest_root at the end
};

// `entries`: (relPath, source path). relPath: '/'-separated, relative, no
// empty, "." or ".." components (checked again here: EINVAL, nothing made).
// Result paths: dest_root + "/" + relPath, and the source as given.
BatchResult import_files(const std::string& dest_root, const std::vector<std::pair<std::string, std::string>>& entries,
                         const ImportOptions& opts);

}  // namespace cowcopy
