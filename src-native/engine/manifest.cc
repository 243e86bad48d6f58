#include "manifest.h"

#include <algorithm>
#include <unordered_map>

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
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = a[i] == '/' ? 0 : static_cast<unsigned char>(a[i]);
    unsigned char y = b[i] == '/' ? 0 : static_cast<unsigned char>(b[i]);
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() == b.size() ? 0 : (a.size() < b.size() ? -1 : 1);
}

BadEntry find_bad_entry(const Entries& entries) {
  std::unordered_map<std::string_view, size_t> files;
  files.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& rel = entries[i].first;
    if (!valid_rel_path(rel)) return BadEntry{static_cast<long>(i), EntryProblem::kRelPath};
    if (!files.emplace(std::string_view(rel), i).second) return BadEntry{static_cast<long>(i), EntryProblem::kTwice};
  }
  // Every directory above an entry, each once (the entries of one directory
  // usually come together: the previous entry's is skipped first).
  std::unordered_map<std::string_view, bool> dirs;
  std::string_view prev;
  bool have_prev = false;
  for (const auto& e : entries) {
    const std::string_view rel(e.first);
    const std::string_view parent = rel.substr(0, dir_part(e.first));
    if (parent.empty() || (have_prev && parent == prev)) continue;
    prev = parent;
    have_prev = true;
    if (dirs.count(parent)) continue;
    for (size_t slash = rel.find('/'); slash != std::string_view::npos && slash <= parent.size();
         slash = rel.find('/', slash + 1)) {
      const std::string_view dir = rel.substr(0, slash);
      if (!dirs.emplace(dir, true).second) continue;
      auto f = files.find(dir);
      if (f != files.end()) return BadEntry{static_cast<long>(f->second), EntryProblem::kFileAndDir};
    }
  }
  return BadEntry{};
}

// Each distinct directory part is found once (a hash of the views), then
// only those are sorted; the entries follow by a counting sort of their
// directory's rank.
std::vector<size_t> manifest_order(const Entries& entries) {
  std::unordered_map<std::string_view, size_t> index;  // directory -> group
  std::vector<std::string_view> names;                 // per group
  std::vector<size_t> group(entries.size());
  index.reserve(entries.size() / 4 + 16);
  size_t prev = static_cast<size_t>(-1);
  std::string_view prev_dir;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string& rel = entries[i].first;
    std::string_view dir(rel.data(), dir_part(rel));
    if (prev != static_cast<size_t>(-1) && dir == prev_dir) {
      group[i] = prev;
      continue;
    }
    auto it = index.emplace(dir, names.size()).first;
    if (it->second == names.size()) names.push_back(dir);
    group[i] = prev = it->second;
    prev_dir = dir;
  }
  std::vector<size_t> dirs(names.size());
  for (size_t g = 0; g < dirs.size(); ++g) dirs[g] = g;
  std::sort(dirs.begin(), dirs.end(), [&](size_t a, size_t b) { return compare_dirs(names[a], names[b]) < 0; });
  std::vector<size_t> start(names.size() + 1, 0);
  std::vector<size_t> rank(names.size());
  for (size_t r = 0; r < dirs.size(); ++r) rank[dirs[r]] = r;
  for (size_t i = 0; i < entries.size(); ++i) start[rank[group[i]] + 1] += 1;
  for (size_t r = 0; r < names.size(); ++r) start[r + 1] += start[r];
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) order[start[rank[group[i]]]++] = i;
  return order;
}

}  // namespace cowcopy
