#include "manifest.h"

#include <algorithm>

namespace cowcopy {

bool valid_rel_path(const std::string& rel) {
  if (rel.empty() || rel[0] == '/' || rel.find('\0') != std::string::npos) return false;
  size_t start = 0;
  for (;;) {
    size_t slash = rel.find('/', start);
    size_t len = (slash == std::string::npos ? rel.size() : slash) - start;
    if (len == 0) return false;  // "a//b" or a trailing slash
    if (len == 1 && rel[start] == '.') return false;
    if (len == 2 && rel[start] == '.' && rel[start + 1] == '.') return false;
    if (slash == std::string::npos) return true;
    start = slash + 1;
  }
}

size_t dir_part(const std::string& rel) {
  size_t s = rel.rfind('/');
  return s == std::string::npos ? 0 : s;
}

int compare_dirs(std::string_view a, std::string_view b) {
  // The first byte that differs decides (std::mismatch: memcmp's speed on
  // the long prefixes paths share).
  const size_t n = std::min(a.size(), b.size());
  const auto end = a.begin() + static_cast<std::ptrdiff_t>(n);
  for (auto d = std::mismatch(a.begin(), end, b.begin()); d.first != end;
       d = std::mismatch(d.first + 1, end, d.second + 1)) {
    const unsigned char x = *d.first == '/' ? 0 : static_cast<unsigned char>(*d.first);
    const unsigned char y = *d.second == '/' ? 0 : static_cast<unsigned char>(*d.second);
    if (x != y) return x < y ? -1 : 1;  // (equal only for '/' against a NUL)
  }
  return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

namespace {

// dir is a directory above rel.
bool is_above(const std::string& dir, const std::string& rel) {
  return rel.size() > dir.size() && rel[dir.size()] == '/' && rel.compare(0, dir.size(), dir) == 0;
}

}  // namespace

// Whether no relPath is listed twice and no file is also the directory of
// another entry, walking the entries grouped by directory, parents first
// (`order`). A directory's names are sorted on their own (twice: equal
// neighbours). A stack holds the directories above the current one that
// have files, with their sorted names: a file is another entry's directory
// exactly when some directory below it is a group, and the nearest group
// above that one then has the file's name as the next component (a group
// deeper than the nearest was checked the same way when it came, against
// the one nearest to it). So each group costs one prefix test per stack
// entry it pops and one binary search: no hashing (no chosen collisions),
// nothing quadratic in depth.
bool no_bad_entry(const Entries& entries, const std::vector<size_t>& order) {
  struct Group {
    std::string_view dir;
    std::vector<std::string_view> names;  // sorted
  };
  std::vector<Group> above;
  const size_t n = order.size();
  for (size_t i = 0; i < n;) {
    const std::string& first = entries[order[i]].first;
    const std::string_view dir(first.data(), dir_part(first));
    Group g{dir, {}};
    size_t j = i;
    for (; j < n; ++j) {
      const std::string& rel = entries[order[j]].first;
      const size_t d = dir_part(rel);
      if (std::string_view(rel.data(), d) != dir) break;
      const size_t skip = d == 0 && rel.find('/') == std::string::npos ? 0 : d + 1;
      g.names.emplace_back(rel.data() + skip, rel.size() - skip);
    }
    i = j;
    std::sort(g.names.begin(), g.names.end());
    if (std::adjacent_find(g.names.begin(), g.names.end()) != g.names.end()) return false;
    auto contains = [](std::string_view outer, std::string_view inner) {
      return outer.empty() || (inner.size() > outer.size() && inner[outer.size()] == '/' &&
                               inner.compare(0, outer.size(), outer) == 0);
    };
    while (!above.empty() && !contains(above.back().dir, dir)) above.pop_back();
    if (!above.empty()) {
      const Group& top = above.back();
      const size_t from = top.dir.empty() ? 0 : top.dir.size() + 1;
      const size_t slash = dir.find('/', from);
      const std::string_view next = dir.substr(from, slash == std::string_view::npos ? std::string_view::npos : slash - from);
      if (std::binary_search(top.names.begin(), top.names.end(), next)) return false;
    }
    above.push_back(std::move(g));
  }
  return true;
}

// The entry to name, by sorting, not hashing: comparisons bounded by
// n log n whatever the names (no chosen collisions), and a deep path costs
// its length once per comparison, not once per directory above it.
BadEntry find_bad_entry(const Entries& entries, const std::vector<size_t>& manifest) {
  const size_t n = entries.size();
  for (size_t i = 0; i < n; ++i) {
    if (!valid_rel_path(entries[i].first)) return BadEntry{static_cast<long>(i), EntryProblem::kRelPath};
  }
  if (no_bad_entry(entries, manifest)) return BadEntry{};
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const std::string& x = entries[a].first;
    const std::string& y = entries[b].first;
    const int c = compare_dirs(x, y);  // a directory's entries right after it ("a", "a/x", "a-b")
    return c != 0 ? c < 0 : a < b;
  });
  // Listed again: equal neighbours. The one named is the earliest entry
  // whose path an earlier one has.
  long twice = -1;
  for (size_t k = 1; k < n; ++k) {
    if (entries[order[k]].first == entries[order[k - 1]].first) {
      const long i = static_cast<long>(order[k]);
      if (twice < 0 || i < twice) twice = i;
    }
  }
  if (twice >= 0) return BadEntry{twice, EntryProblem::kTwice};
  // A file that is also a directory: walking the sorted entries, `above`
  // holds the files above the current entry, shallowest first. The one
  // named is the shallowest file above the earliest entry that has one
  // (the directory lib/import.ts meets first).
  std::vector<size_t> above;
  long first_entry = -1;
  long file = -1;
  for (size_t k = 0; k < n; ++k) {
    const std::string& rel = entries[order[k]].first;
    while (!above.empty() && !is_above(entries[above.back()].first, rel)) above.pop_back();
    if (!above.empty() && (first_entry < 0 || static_cast<long>(order[k]) < first_entry)) {
      first_entry = static_cast<long>(order[k]);
      file = static_cast<long>(above.front());
    }
    above.push_back(order[k]);
  }
  if (file >= 0) return BadEntry{file, EntryProblem::kFileAndDir};
  return BadEntry{};
}

// Runs of consecutive entries in one directory (as a manifest usually
// lists them), sorted by directory and then by where each starts: within a
// directory the entries keep the order given. Sorted, not hashed: no names
// chosen to collide make it slower than n log n comparisons.
std::vector<size_t> manifest_order(const Entries& entries) {
  struct Run {
    std::string_view dir;
    size_t start;
    size_t end;
  };
  std::vector<Run> runs;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& rel = entries[i].first;
    const std::string_view dir(rel.data(), dir_part(rel));
    if (!runs.empty() && runs.back().dir == dir) runs.back().end = i + 1;
    else runs.push_back(Run{dir, i, i + 1});
  }
  std::sort(runs.begin(), runs.end(), [](const Run& a, const Run& b) {
    const int c = compare_dirs(a.dir, b.dir);
    return c != 0 ? c < 0 : a.start < b.start;
  });
  std::vector<size_t> order;
  order.reserve(entries.size());
  for (const Run& r : runs) {
    for (size_t i = r.start; i < r.end; ++i) order.push_back(i);
  }
  return order;
}

}  // namespace cowcopy
