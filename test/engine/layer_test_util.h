// Small checks clone_layer_test.cc reads the kernel with: modes, link
// targets, FIEMAP's shared extents, leftover holders (file contents, open
// descriptors and the check counter are in test_util.h). Not a test of its own
// (test/sanitize.sh builds only *.cc).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "test_util.h"

static void put(const std::string& path, const std::string& data, mode_t mode = 0644) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd == -1 || ::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size()) || ::fsync(fd) == -1 ||
      ::fchmod(fd, mode) == -1) {
    std::printf("setup failed: %s: %s\n", path.c_str(), std::strerror(errno));
    std::exit(2);
  }
  ::close(fd);
}

static std::string random_bytes(size_t n) {
  std::mt19937_64 gen(std::random_device{}());
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(gen());
  return s;
}

static bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

static unsigned mode_of(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 ? st.st_mode & 07777 : 0xffff;
}

static std::string link_of(const std::string& path) {
  char buf[4096];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
  return n < 0 ? "<none>" : std::string(buf, static_cast<size_t>(n));
}

// Extents FIEMAP marks shared (with another file: a clone's).
static int shared_extents(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd == -1) return -1;
  constexpr unsigned kMax = 64;
  std::vector<char> buf(sizeof(struct fiemap) + kMax * sizeof(struct fiemap_extent));
  auto* fm = reinterpret_cast<struct fiemap*>(buf.data());
  fm->fm_length = FIEMAP_MAX_OFFSET;
  fm->fm_flags = FIEMAP_FLAG_SYNC;
  fm->fm_extent_count = kMax;
  int shared = -1;
  if (::ioctl(fd, FS_IOC_FIEMAP, fm) == 0) {
    shared = 0;
    for (unsigned i = 0; i < fm->fm_mapped_extents; ++i) {
      if (fm->fm_extents[i].fe_flags & FIEMAP_EXTENT_SHARED) ++shared;
    }
  }
  ::close(fd);
  return shared;
}

// Names in `dir` that look like the layer's holder (".<name>.cowcopy-<hex>").
static int holders(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return -1;
  int n = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.' && std::strstr(e->d_name, ".cowcopy-")) ++n;
  }
  ::closedir(d);
  return n;
}

static std::string scratch_in(const std::string& dir) {
  std::string tmpl = dir + "/clone-layer-XXXXXX";
  if (!::mkdtemp(&tmpl[0])) {
    std::printf("setup failed: no scratch directory in %s: %s\n", dir.c_str(), std::strerror(errno));
    std::exit(2);
  }
  return tmpl;
}

static void remove_all(const std::string& dir) {
  std::string cmd = "chmod -R u+rwx '" + dir + "' 2>/dev/null; rm -rf '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) std::printf("note: %s not removed\n", dir.c_str());
}
