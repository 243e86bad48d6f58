// importFiles' manifest checks from C++ with no Node: find_bad_entry
// against the rule written out the slow way (docs/api.md's: the first entry
// whose relPath an earlier one has; else the file that is the first
// directory met, in entry order and parents first), on random manifests
// from a fixed seed over a few names that sort around '/' ('a', "a-b",
// "a.b", '\xff'), in random entry orders and depths. Built and run by
// test/import-files/manifest.test.mjs.
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "../../src-native/engine/manifest.h"

using cowcopy::BadEntry;
using cowcopy::EntryProblem;
using cowcopy::Entries;

static BadEntry by_the_rule(const Entries& e) {
  std::map<std::string, long> seen;
  for (size_t i = 0; i < e.size(); ++i) {
    if (!seen.emplace(e[i].first, static_cast<long>(i)).second) return BadEntry{static_cast<long>(i), EntryProblem::kTwice};
  }
  std::set<std::string> met;
  for (const auto& entry : e) {
    const std::string& rel = entry.first;
    for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
      const std::string dir = rel.substr(0, slash);
      if (!met.insert(dir).second) continue;
      auto file = seen.find(dir);
      if (file != seen.end()) return BadEntry{file->second, EntryProblem::kFileAndDir};
    }
  }
  return BadEntry{};
}

static uint64_t state = 20261208;
static size_t rnd(size_t n) {
  state = state * 6364136223846793005ull + 1442695040888963407ull;
  return static_cast<size_t>((state >> 33) % n);
}

int main() {
  const char* const names[] = {"a", "b", "a-b", "a.b", "\xff", "c"};
  long checks = 0, failures = 0, bad = 0;
  for (int run = 0; run < 200000; ++run) {
    Entries e;
    const size_t count = 1 + rnd(run % 10 == 0 ? 40 : 9);
    const size_t deepest = 1 + rnd(run % 7 == 0 ? 8 : 4);
    for (size_t i = 0; i < count; ++i) {
      std::string rel;
      const size_t depth = 1 + rnd(deepest);
      for (size_t d = 0; d < depth; ++d) rel += (d ? "/" : "") + std::string(names[rnd(run % 3 == 0 ? 2 : 6)]);
      e.emplace_back(rel, "src");
    }
    const BadEntry want = by_the_rule(e);
    const BadEntry got = cowcopy::find_bad_entry(e, cowcopy::manifest_order(e));
    ++checks;
    if (want.index >= 0) ++bad;
    if (got.index != want.index || got.problem != want.problem) {
      if (++failures <= 5) {
        std::printf("FAIL run %d: got %ld/%d, want %ld/%d:", run, got.index, static_cast<int>(got.problem), want.index,
                    static_cast<int>(want.problem));
        for (const auto& x : e) std::printf(" [%s]", x.first.c_str());
        std::printf("\n");
      }
    }
  }
  // Both kinds were tried, in numbers.
  if (bad < checks / 10 || bad > checks * 9 / 10) {
    ++failures;
    std::printf("FAIL: %ld of %ld manifests were bad: not a mix\n", bad, checks);
  }
  std::printf("%ld checks (%ld bad manifests), %ld failed\n", checks, bad, failures);
  return failures == 0 ? 0 : 1;
}
