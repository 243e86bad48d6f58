// What every C++ engine test counts checks with (expect: a failed check
// prints FAIL and its label; main exits with the failures), open descriptors
// and a file's contents. Not a test of its own (test/sanitize.sh builds only *.cc).
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <string>

static int failures = 0;
static int checks = 0;

static inline void expect(bool ok, const std::string& label) {
  ++checks;
  if (!ok) {
    ++failures;
    std::printf("FAIL %s\n", label.c_str());
    std::fflush(stdout);
  }
}

// Descriptors open in this process (of the first 1024).
static inline int fds_now() {
  int n = 0;
  for (int fd = 0; fd < 1024; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1) ++n;
  }
  return n;
}

// The file's contents, or "<missing>" when it cannot be opened.
static inline std::string get(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd == -1) return "<missing>";
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}
