// importFiles' entries: relative paths checked, and an order in which one
// walker makes each directory once, parents first.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cowcopy {

using Entries = std::vector<std::pair<std::string, std::string>>;  // (relPath, source)

// relPath: '/'-separated, relative, no empty, "." or ".." components.
bool valid_rel_path(const std::string& rel);

// The first entry that cannot be placed as given, in the order lib/import.ts
// would name it: a relPath against the rules or listed again (in entry
// order), then a file that is also the directory of another entry (in the
// order the directories are first met). index -1: none.
enum class EntryProblem { kNone, kRelPath, kTwice, kFileAndDir };
struct BadEntry {
  long index = -1;
  EntryProblem problem = EntryProblem::kNone;
};
// `order`: manifest_order(entries). Linear in the entries when there is
// none (the names of each directory sorted on their own); the sort that
// names the entry runs only when there is one.
BadEntry find_bad_entry(const Entries& entries, const std::vector<size_t>& order);

// Length of rel's directory part ("" at the top: 0).
size_t dir_part(const std::string& rel);

// Directory parts compared component by component ('/' below every other
// byte): a parent sorts before its children.
int compare_dirs(std::string_view a, std::string_view b);

// The entries' indices grouped by directory, parents first; within a
// directory in the order given.
std::vector<size_t> manifest_order(const Entries& entries);

}  // namespace cowcopy
