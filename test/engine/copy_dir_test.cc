// copy_dir when the walk throws: a filter that throws std::bad_alloc (as a
// vector or string growing on the walker thread would) must end the call with
// ENOMEM, with the copy threads joined, not blocked on a queue nobody closes.
// Run by test/failures/exceptions.test.mjs with a timeout; argv[1] is a
// scratch directory on a real filesystem.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <new>
#include <stdexcept>
#include <string>

#include "../../src-native/engine/batch.h"
#include "test_util.h"

// Throws on its nth call; earlier calls keep everything.
class ThrowingFilter : public cowcopy::TreeFilter {
 public:
  ThrowingFilter(int nth, bool bad_alloc) : nth_(nth), bad_alloc_(bad_alloc) {}
  void keep(const std::vector<Entry>& entries, std::vector<char>& keep) override {
    (void)entries;
    if (++calls_ == nth_) {
      if (bad_alloc_) throw std::bad_alloc();
      throw std::runtime_error("filter failed");
    }
    keep.assign(keep.size(), 1);
  }

 private:
  int nth_;
  bool bad_alloc_;
  int calls_ = 0;
};

static void make_tree(const std::string& src) {
  ::mkdir(src.c_str(), 0755);
  for (int d = 0; d < 20; ++d) {
    std::string dir = src + "/d" + std::to_string(d);
    ::mkdir(dir.c_str(), 0755);
    for (int f = 0; f < 200; ++f) {
      std::string file = dir + "/f" + std::to_string(f);
      int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        (void)!::write(fd, "x", 1);
        ::close(fd);
      }
    }
  }
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  std::string src = std::string(argv[1]) + "/src";
  make_tree(src);
  int run = 0;
  for (int threads : {1, 2, 4}) {
    for (int nth : {1, 2, 15}) {
      for (bool bad_alloc : {true, false}) {
        cowcopy::BatchOptions opts;
        opts.concurrency = threads;
        ThrowingFilter filter(nth, bad_alloc);
        std::string dest = std::string(argv[1]) + "/dest" + std::to_string(run++);
        cowcopy::BatchResult r = cowcopy::copy_dir(src, dest, opts, &filter);
        std::string label = "threads " + std::to_string(threads) + ", throw on call " + std::to_string(nth) +
                            (bad_alloc ? " (bad_alloc)" : " (runtime_error)");
        expect(r.fatal == (bad_alloc ? ENOMEM : EIO),
               label + ": fatal " + std::to_string(r.fatal));
      }
    }
  }
  std::printf("%d checks, %d failed\n", checks, failures);
  return failures == 0 ? 0 : 1;
}
