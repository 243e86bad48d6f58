// The macOS clone layer (src-native/clone-layer/) with no Node, over its
// Linux shim built with -DCOWCOPY_SHIM_HOOKS, on real filesystems: argv[1]
// is a scratch directory on btrfs; the ext4 mount is found beside it
// (COWCOPY_MOUNT_ROOT, default /var/tmp/cowcopy-mounts). Built and run by
// test/platforms/clone-layer.test.mjs and test/sanitize.sh.
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../../src-native/clone-layer/layer.h"
#include "../../src-native/clone-layer/shim_hooks.h"
#include "layer_test_util.h"

using cowcopy_layer::clone_file;
using cowcopy_layer::clone_tree;
using cowcopy_layer::TreeAnswer;
namespace hooks = cowcopy_layer::shim_hooks;

static std::string btrfs, ext4;

static std::string rival_dir;  // what before_rename creates at the destination
static void rival(int todir, const char* to) {
  hooks::before_rename = nullptr;
  if (::mkdirat(todir, to, 0755) == 0) put(rival_dir + "/theirs", "not yours");
}

static std::string victim;       // another user's directory, swapped in at the holder's name
static std::string holder_taken;  // the holder's name (in the destination's parent) when it was swapped
static void swap_holder(int parentfd, const char* name) {
  hooks::after_holder_mkdir = nullptr;
  holder_taken = name;
  ::renameat(parentfd, name, parentfd, (holder_taken + ".moved").c_str());
  ::renameat(AT_FDCWD, victim.c_str(), parentfd, name);
}

static std::string grown;  // a file before_clone adds to the source
static void grow() {
  hooks::before_clone = nullptr;
  put(grown, "late");
}

static void file_tests() {
  const std::string src = btrfs + "/src";
  put(src, random_bytes(3 << 20), 04755);
  ::setxattr(src.c_str(), "user.tag", "v1", 2, 0);
  int fd = ::open(src.c_str(), O_RDONLY | O_CLOEXEC);
  int before = fds_now();

  expect(clone_file(fd, (btrfs + "/copy").c_str()) == 0, "btrfs: clone_file succeeds");
  expect(get(btrfs + "/copy") == get(src), "btrfs: the clone has the source's bytes");
  expect(shared_extents(btrfs + "/copy") > 0 && shared_extents(src) > 0, "btrfs: the clone shares extents");
  expect(mode_of(btrfs + "/copy") == 0755, "btrfs: the mode without setuid");
  char tag[8] = {0};
  expect(::getxattr((btrfs + "/copy").c_str(), "user.tag", tag, sizeof tag) == 2 && std::string(tag) == "v1",
         "btrfs: a user xattr comes along");

  put(btrfs + "/taken", "mine");
  expect(clone_file(fd, (btrfs + "/taken").c_str()) == EEXIST, "an existing destination: EEXIST");
  expect(get(btrfs + "/taken") == "mine", "the existing file is untouched");
  ::symlink("elsewhere", (btrfs + "/link").c_str());
  expect(clone_file(fd, (btrfs + "/link").c_str()) == EEXIST, "a symlink at the destination: EEXIST");
  expect(!exists(btrfs + "/elsewhere"), "the symlink is not followed");
  expect(clone_file(fd, (btrfs + "/copy2/").c_str()) == EISDIR, "a trailing slash: EISDIR");
  expect(clone_file(fd, (btrfs + "/nodir/x").c_str()) == ENOENT, "a missing directory: ENOENT");

  expect(clone_file(fd, (ext4 + "/copy").c_str()) == EXDEV, "btrfs to ext4: EXDEV");
  expect(!exists(ext4 + "/copy"), "btrfs to ext4: nothing left");
  put(ext4 + "/src", "ext4 data");
  int efd = ::open((ext4 + "/src").c_str(), O_RDONLY | O_CLOEXEC);
  expect(clone_file(efd, (ext4 + "/copy").c_str()) == ENOTSUP, "ext4: ENOTSUP");
  expect(!exists(ext4 + "/copy"), "ext4: no file left");
  ::close(efd);

  hooks::fail_file_clone_at = 1;
  hooks::fail_errno = ENOSPC;
  expect(clone_file(fd, (btrfs + "/full").c_str()) == ENOSPC, "a failing clone: its errno");
  expect(!exists(btrfs + "/full"), "a failing clone: no file left");
  expect(fds_now() == before, "clone_file leaks no descriptor");
  ::close(fd);
}

// A tree with files, subdirectories, a read-only directory and symlinks of
// every kind; returns its byte total.
static uint64_t make_tree(const std::string& t) {
  ::mkdir(t.c_str(), 0755);
  ::mkdir((t + "/sub").c_str(), 0750);
  ::mkdir((t + "/sub/deep").c_str(), 0755);
  ::mkdir((t + "/empty").c_str(), 0700);
  ::mkdir((t + "/ro").c_str(), 0755);
  std::string big = random_bytes(1 << 20);
  put(t + "/a", "alpha");
  put(t + "/sub/b", "bravo", 0600);
  put(t + "/sub/deep/c", big);
  put(t + "/ro/d", "delta");
  ::chmod((t + "/ro").c_str(), 0555);
  ::symlink("a", (t + "/to-a").c_str());
  ::symlink("nowhere/at/all", (t + "/dangling").c_str());
  ::symlink("/etc/passwd", (t + "/sub/outside").c_str());
  return 5 + 5 + big.size() + 5;
}

static void tree_tests() {
  const std::string src = btrfs + "/tree";
  uint64_t bytes = make_tree(src);
  int before = fds_now();

  TreeAnswer a = clone_tree(src.c_str(), (btrfs + "/out").c_str());
  expect(a.err == 0 && a.ineligible.empty(), "btrfs: clone_tree succeeds (" + std::to_string(a.err) + " " + a.ineligible.c_str() + ")");
  expect(a.files == 4 && a.dirs == 5 && a.symlinks == 3 && a.bytes == bytes,
         "btrfs: the counts (" + std::to_string(a.files) + " " + std::to_string(a.dirs) + " " + std::to_string(a.symlinks) +
             " " + std::to_string(a.bytes) + ")");
  expect(get(btrfs + "/out/sub/deep/c") == get(src + "/sub/deep/c"), "btrfs: the bytes");
  expect(shared_extents(btrfs + "/out/sub/deep/c") > 0, "btrfs: extents shared");
  expect(link_of(btrfs + "/out/dangling") == "nowhere/at/all" && link_of(btrfs + "/out/sub/outside") == "/etc/passwd" &&
             link_of(btrfs + "/out/to-a") == "a",
         "symlinks verbatim");
  expect(mode_of(btrfs + "/out/ro") == 0555 && mode_of(btrfs + "/out/sub") == 0750 && mode_of(btrfs + "/out/sub/b") == 0600,
         "modes copied");
  expect(holders(btrfs) == 0, "no holder left beside the destination");

  TreeAnswer again = clone_tree(src.c_str(), (btrfs + "/out").c_str());
  expect(again.err == EEXIST, "an existing destination: EEXIST");
  expect(clone_tree(src.c_str(), (src + "/sub/inside").c_str()).err == EINVAL, "into itself: EINVAL");
  expect(!exists(src + "/sub/inside") && holders(src + "/sub") == 0, "into itself: nothing made");

  ::mkfifo((src + "/sub/fifo").c_str(), 0644);
  TreeAnswer fifo = clone_tree(src.c_str(), (btrfs + "/f").c_str());
  expect(fifo.err == 0 && std::strstr(fifo.ineligible.c_str(), "FIFO"), "a FIFO: ineligible (" + std::string(fifo.ineligible.c_str()) + ")");
  expect(!exists(btrfs + "/f") && holders(btrfs) == 0, "a FIFO: nothing created");
  ::unlink((src + "/sub/fifo").c_str());

  put(src + "/sub/suid", "x", 04755);  // this process's own (geteuid())
  TreeAnswer suid = clone_tree(src.c_str(), (btrfs + "/s").c_str());
  expect(suid.err == 0 && std::strstr(suid.ineligible.c_str(), "setuid"), "an own setuid file: ineligible");
  expect(!exists(btrfs + "/s") && holders(btrfs) == 0, "an own setuid file: nothing created");
  ::unlink((src + "/sub/suid").c_str());

  rival_dir = btrfs + "/r";
  hooks::before_rename = rival;
  TreeAnswer raced = clone_tree(src.c_str(), (btrfs + "/r").c_str());
  expect(raced.err == EEXIST, "a destination made before the rename: EEXIST");
  expect(get(btrfs + "/r/theirs") == "not yours" && !exists(btrfs + "/r/a"), "the other directory untouched");
  expect(holders(btrfs) == 0, "a lost race: nothing of ours left");

  // Another user's directory swapped in between the holder's mkdir and its
  // open: not filled, not emptied, not removed.
  victim = btrfs + "/victim";
  ::mkdir(victim.c_str(), 0700);
  put(victim + "/secret", "theirs");
  ::chown(victim.c_str(), 1234, 1234);
  hooks::after_holder_mkdir = swap_holder;
  TreeAnswer stolen = clone_tree(src.c_str(), (btrfs + "/h").c_str());
  expect(stolen.err == ESTALE, "a directory swapped in at the holder's name: ESTALE (" + std::to_string(stolen.err) + ")");
  const std::string swapped = btrfs + "/" + holder_taken;
  expect(!holder_taken.empty() && get(swapped + "/secret") == "theirs", "the other user's directory: not emptied");
  expect(!exists(swapped + "/h"), "nor filled");
  expect(!exists(btrfs + "/h"), "nothing at the destination");
  ::unlink((swapped + "/secret").c_str());
  ::rmdir(swapped.c_str());
  ::rmdir((swapped + ".moved").c_str());  // the real holder, empty, under the name it was moved to

  grown = src + "/sub/late";
  hooks::before_clone = grow;
  TreeAnswer changed = clone_tree(src.c_str(), (btrfs + "/c").c_str());
  expect(changed.err == 0 && std::strstr(changed.ineligible.c_str(), "changed"), "a source changed before the clone: ineligible");
  expect(!exists(btrfs + "/c") && holders(btrfs) == 0, "a source changed before the clone: nothing left");
  ::unlink(grown.c_str());

  // The third file's clone fails: the read-only directory may already be filled.
  hooks::fail_file_clone_at = 3;
  hooks::fail_errno = EIO;
  TreeAnswer midway = clone_tree(src.c_str(), (btrfs + "/m").c_str());
  expect(midway.err == EIO, "a clone failing midway: its errno");
  expect(!exists(btrfs + "/m") && holders(btrfs) == 0, "a clone failing midway: nothing left");
  hooks::fail_file_clone_at = 0;

  make_tree(ext4 + "/tree");
  TreeAnswer e = clone_tree((ext4 + "/tree").c_str(), (ext4 + "/out").c_str());
  expect(e.err == ENOTSUP, "ext4: ENOTSUP");
  expect(!exists(ext4 + "/out") && holders(ext4) == 0, "ext4: nothing left at the destination or beside it");
  expect(clone_tree(src.c_str(), (ext4 + "/x").c_str()).err == EXDEV, "btrfs to ext4: EXDEV");
  expect(!exists(ext4 + "/x") && holders(ext4) == 0, "btrfs to ext4: nothing left");
  expect(fds_now() == before, "clone_tree leaks no descriptor");
}

// Depth and an unreadable directory are answers, not errors.
static void bound_tests() {
  std::string deep = btrfs + "/deep";
  ::mkdir(deep.c_str(), 0755);
  std::string p = deep;
  for (int i = 0; i < 65; ++i) ::mkdir((p += "/d").c_str(), 0755);
  TreeAnswer a = clone_tree(deep.c_str(), (btrfs + "/deep-out").c_str());
  expect(std::strstr(a.ineligible.c_str(), "64"), "65 levels: ineligible");
  std::string ok = btrfs + "/ok64";
  ::mkdir(ok.c_str(), 0755);
  p = ok;
  for (int i = 0; i < 64; ++i) ::mkdir((p += "/d").c_str(), 0755);
  TreeAnswer b = clone_tree(ok.c_str(), (btrfs + "/ok64-out").c_str());
  expect(b.err == 0 && b.ineligible.empty() && b.dirs == 65, "64 levels: cloned");
}

// Descriptors running out just after the clone (another thread of the
// process took them; on macOS clonefileat itself needs none): the walk of the
// clone and, when it cannot finish, the removal must not need one per level.
// A 40-level tree, and after the clone only `spare` descriptors left.
static int spare = 0;
static int filler[4096];
static int filled = 0;
static void exhaust(int) {
  hooks::after_clone = nullptr;
  while (filled < 4096) {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd == -1) break;
    filler[filled++] = fd;
  }
  for (int i = 0; i < spare && filled > 0; ++i) ::close(filler[--filled]);
}
static void refill() {
  while (filled > 0) ::close(filler[--filled]);
}

static void fd_exhaustion_tests() {
  std::string deep = btrfs + "/fdeep";
  ::mkdir(deep.c_str(), 0755);
  std::string p = deep;
  for (int i = 0; i < 40; ++i) {
    ::mkdir((p += "/d").c_str(), 0755);
    put(p + "/f", "x");
  }
  struct rlimit saved;
  ::getrlimit(RLIMIT_NOFILE, &saved);
  struct rlimit low = saved;
  low.rlim_cur = 512;
  ::setrlimit(RLIMIT_NOFILE, &low);
  int before = fds_now();
  for (int s : {0, 1, 2, 4, 8}) {
    spare = s;
    std::string out = btrfs + "/fout" + std::to_string(s);
    hooks::after_clone = exhaust;
    TreeAnswer a = clone_tree(deep.c_str(), out.c_str());
    refill();
    std::string what = std::to_string(s) + " descriptors left after the clone";
    if (a.err == 0 && a.ineligible.empty()) {
      expect(a.files == 40 && a.dirs == 41 && get(out + "/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/d/f") == "x",
             what + ": cloned whole");
    } else {
      expect(!exists(out), what + ": not cloned (" + std::to_string(a.err) + " " + a.ineligible.c_str() + "), nothing at the destination");
    }
    expect(holders(btrfs) == 0, what + ": no holder left beside the destination");
  }
  // One descriptor left after the holder's mkdir: it can be opened but not
  // listed. An empty holder of ours, not someone else's directory: removed.
  hooks::after_holder_mkdir = [](int, const char*) {
    hooks::after_holder_mkdir = nullptr;
    spare = 1;
    exhaust(0);
  };
  TreeAnswer h = clone_tree(deep.c_str(), (btrfs + "/fholder").c_str());
  refill();
  expect(h.err == EMFILE, "no descriptor to list the holder: EMFILE (" + std::to_string(h.err) + ")");
  expect(!exists(btrfs + "/fholder") && holders(btrfs) == 0, "no descriptor to list the holder: no holder left");
  expect(fds_now() == before, "no descriptor leaked");
  ::setrlimit(RLIMIT_NOFILE, &saved);
}

// As a user without privileges (uid 65534, when this runs as root): a
// cloned read-only directory must still be emptied when the rename loses.
static void as_other_user(const std::string& scratch) {
  if (::geteuid() != 0) return;
  std::string home = scratch + "/u65534";
  ::chmod(scratch.c_str(), 0755);  // a mkdtemp directory: 65534 must pass through it
  ::mkdir(home.c_str(), 0755);
  if (::chown(home.c_str(), 65534, 65534) == -1) return expect(false, "chown for uid 65534");
  std::fflush(stdout);
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) == -1 || ::setresgid(65534, 65534, 65534) == -1 || ::setresuid(65534, 65534, 65534) == -1) {
      std::_Exit(100);
    }
    failures = 0;
    make_tree(home + "/tree");
    ::chmod((home + "/tree/ro").c_str(), 0755);
    ::mkdir((home + "/tree/ro/inner").c_str(), 0755);
    put(home + "/tree/ro/inner/e", "echo");
    ::chmod((home + "/tree/ro/inner").c_str(), 0500);
    ::chmod((home + "/tree/ro").c_str(), 0555);
    rival_dir = home + "/out";
    hooks::before_rename = rival;
    TreeAnswer lost = clone_tree((home + "/tree").c_str(), (home + "/out").c_str());
    expect(lost.err == EEXIST, "uid 65534: a lost rename: EEXIST");
    expect(holders(home) == 0, "uid 65534: the read-only clone removed with its holder");
    TreeAnswer won = clone_tree((home + "/tree").c_str(), (home + "/won").c_str());
    expect(won.err == 0 && won.ineligible.empty() && mode_of(home + "/won/ro/inner") == 0500, "uid 65534: cloned");
    std::fflush(stdout);
    std::_Exit(failures > 99 ? 99 : failures);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "uid 65534: the child's checks (exit " + std::to_string(status) + ")");
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::printf("usage: clone_layer_test <scratch dir on btrfs>\n");
    return 2;
  }
  btrfs = argv[1];
  const char* mounts = std::getenv("COWCOPY_MOUNT_ROOT");
  ext4 = scratch_in(std::string(mounts ? mounts : "/var/tmp/cowcopy-mounts") + "/ext4");
  file_tests();
  tree_tests();
  bound_tests();
  fd_exhaustion_tests();
  as_other_user(btrfs);
  remove_all(ext4);
  std::printf("%d checks, %d failures\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
