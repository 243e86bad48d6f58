// copy_file() from C++ with no Node: the batch-side rules (replace_by_rename,
// source and destination OpenRules) checked on a real filesystem before any
// binding sets them. Built and run by test/copy-file/engine.test.mjs with a
// scratch directory as argv[1].
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../../src-native/engine/copy_file.h"
#include "test_util.h"

using cowcopy::CopyRequest;
using cowcopy::CopyResult;
using cowcopy::Method;

static std::string root;

static std::string path(const std::string& name) { return root + "/" + name; }

static void write_file(const std::string& name, const std::string& data) {
  int fd = ::open(path(name).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd == -1 || ::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) {
    std::printf("setup failed: %s\n", name.c_str());
    std::exit(2);
  }
  ::close(fd);
}

static std::string read_file(const std::string& name) { return get(path(name)); }

static ino_t inode(const std::string& name) {
  struct stat st;
  return ::lstat(path(name).c_str(), &st) == 0 ? st.st_ino : 0;
}

// Names in the scratch directory that look like a leftover temporary.
static int temps() {
  int n = 0;
  std::string cmd = "ls -A '" + root + "' | grep -c cowcopy- ";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p && std::fscanf(p, "%d", &n) != 1) n = -1;
  if (p) ::pclose(p);
  return n;
}

static CopyRequest request(int dir, const std::string& src, const std::string& dest) {
  CopyRequest req;
  req.src_dir = dir;
  req.dest_dir = dir;
  req.src = src;
  req.dest = dest;
  req.replace_by_rename = true;
  return req;
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  root = argv[1];
  int dir = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir == -1) return 2;
  const int fds_before = fds_now();
  std::string big(1 << 20, 'n');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  write_file("src", big);

  // A new destination: created in place.
  CopyResult r = cowcopy::copy_file(request(dir, "src", "new"));
  expect(r.err == 0 && read_file("new") == big, "new destination copied");

  // An existing destination: replaced by a new inode, never opened.
  write_file("old", "old content");
  ino_t before = inode("old");
  r = cowcopy::copy_file(request(dir, "src", "old"));
  expect(r.err == 0 && read_file("old") == big, "existing destination replaced");
  expect(inode("old") != before, "replaced by rename (a new inode)");
  expect(temps() == 0, "no temporary left after a replacement");

  // A failure (EFBIG under a file size limit) keeps the old content.
  write_file("keep", "old content");
  ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit saved, small = {65536, 65536};
  ::getrlimit(RLIMIT_FSIZE, &saved);
  small.rlim_max = saved.rlim_max;
  ::setrlimit(RLIMIT_FSIZE, &small);
  CopyRequest req = request(dir, "src", "keep");
  req.reflink = cowcopy::ReflinkMode::kNever;
  r = cowcopy::copy_file(req);
  ::setrlimit(RLIMIT_FSIZE, &saved);
  expect(r.err == EFBIG, "EFBIG reported (got " + std::to_string(r.err) + ")");
  expect(read_file("keep") == "old content", "a failed replacement keeps the old content");
  expect(temps() == 0, "no temporary left after a failure");

  // A symlink at the name is replaced, never followed.
  write_file("victim", "outside");
  ::symlinkat("victim", dir, "link");
  r = cowcopy::copy_file(request(dir, "src", "link"));
  struct stat st;
  expect(r.err == 0 && ::lstat(path("link").c_str(), &st) == 0 && S_ISREG(st.st_mode), "symlink replaced");
  expect(read_file("victim") == "outside", "the symlink's target untouched");

  // A directory at the name: EISDIR.
  ::mkdirat(dir, "adir", 0755);
  r = cowcopy::copy_file(request(dir, "src", "adir"));
  expect(r.err == EISDIR, "directory: EISDIR");

  // The source itself under another name: nothing to do.
  write_file("self", "self");
  ::linkat(dir, "self", dir, "self2", 0);
  r = cowcopy::copy_file(request(dir, "self", "self2"));
  expect(r.err == 0 && r.method == Method::kNone && read_file("self") == "self", "same inode: nothing done");

  // overwrite false: EEXIST, untouched.
  write_file("excl", "excl");
  req = request(dir, "src", "excl");
  req.overwrite = false;
  r = cowcopy::copy_file(req);
  expect(r.err == EEXIST && read_file("excl") == "excl", "overwrite false: EEXIST");

  // Full paths (copyFiles): relative to the destination's parent directory.
  write_file("full", "full");
  req = request(AT_FDCWD, path("src"), path("full"));
  r = cowcopy::copy_file(req);
  expect(r.err == 0 && read_file("full") == big, "AT_FDCWD with a full path: replaced");
  expect(temps() == 0, "no temporary left (full path)");

  // A source that is not the listed inode: skipped, nothing removed or made.
  write_file("listed", "listed");
  req = request(dir, "src", "listed");
  req.src_rules.expect_ino = inode("src") + 1000000;
  r = cowcopy::copy_file(req);
  expect(r.err == cowcopy::kReplacedErr && read_file("listed") == "listed", "replaced source: dest intact");
  req.dest = "never-made";
  r = cowcopy::copy_file(req);
  expect(r.err == cowcopy::kReplacedErr && inode("never-made") == 0, "replaced source: nothing created");
  req.replace_by_rename = false;
  req.dest = "listed";
  r = cowcopy::copy_file(req);
  expect(r.err == cowcopy::kReplacedErr && read_file("listed") == "listed", "in place: dest intact");

  // A source symlink under nofollow: ELOOP, nothing created.
  ::symlinkat("src", dir, "srclink");
  req = request(dir, "srclink", "from-link");
  req.src_rules.nofollow = true;
  r = cowcopy::copy_file(req);
  expect(r.err == ELOOP && inode("from-link") == 0, "source symlink refused, nothing created");

  // Without replace_by_rename, dest_rules.nofollow refuses a symlink leaf.
  req = request(dir, "src", "link2");
  ::symlinkat("victim", dir, "link2");
  req.replace_by_rename = false;
  req.dest_rules.nofollow = true;
  r = cowcopy::copy_file(req);
  expect(r.err == ELOOP && read_file("victim") == "outside", "in place: symlink leaf refused");

  expect(fds_now() == fds_before, "no descriptor leaked (" + std::to_string(fds_now() - fds_before) + ")");
  ::close(dir);
  std::printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
