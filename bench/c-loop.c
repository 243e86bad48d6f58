// The C per-file floor for bench/tree.js and bench/store.js: reads a job
// list, then times doing it. Lines:
//   "D\tdir"           mkdir (0755, parents listed first)
//   "L\ttarget\tpath"  symlink
//   "F\tsrc\tdest"     open + create + FICLONE, else copy_file_range + close (a tree copy)
//   "K\tsrc\tdest"     open + create + FICLONE + close (a failed clone is an error)
//   "C\tsrc\tdest"     open + create + copy_file_range until done + close
//   "H\tsrc\tdest"     linkat
// A created file gets its mode from the source's name, as pnpm's store does
// (0755 for "-exec", else 0644, under the umask): no stat of the source.
// Directories and symlinks are made first on one thread, then the files
// are dealt round-robin over 1..N threads. Prints the microseconds all of it
// took. Built by the bench scripts with the system C compiler; not part of
// the package.
//
// Checked mode ("C loop, same checks" in bench/tree.js and bench/store.js,
// bench/syscalls.js): the per-file and per-directory system calls copyDir
// and importFiles make (read with strace: bench/syscalls.js prints both),
// relative to directory descriptors, with the work list ready-made: no
// getdents64, no readlinkat, no path joined or resolved twice. A list is
// either all checked lines or none:
//   "R\tsrc\tdest"           a tree copy's root, directory 0: open + fstat
//                            src; mkdir dest 0700, open + fstat it
//   "I\tdest"                an import's root, directory 0: mkdir 0777, open
//   "d\tparent\tname"        a directory in directory #parent (numbered from
//                            0 in list order, parents first). Tree: openat +
//                            fstat of the source's, mkdirat 0700, openat +
//                            fstat; import: mkdirat 0777, openat
//   "s\tdir\ttarget\tname"   symlinkat in directory #dir
//   "f\tdir\tname"           a tree file: openat in the source directory,
//                            fstat, openat(O_CREAT|O_EXCL, the source's mode)
//                            in the destination, FICLONE (once refused,
//                            copy_file_range from then on, as the engine's
//                            ladder remembers), fstat (the size the copy took),
//                            close, close: 7 calls for a clone
//   "k\tdir\tsrc\tname"      an import's clone: open(src), fstat, openat(dir,
//                            name, O_CREAT|O_EXCL, the source's mode),
//                            FICLONE (a failure is an error), fstat, close, close
//   "c\tdir\tsrc\tname"      an import's copy: the same with copy_file_range
//   "h\tdir\tsrc\tname"      an import's hard link: open(src), fstat,
//                            linkat(fd, "", dir, name, AT_EMPTY_PATH), close
// The directories and symlinks are made first on one thread, the files
// dealt round-robin over the threads, then (one thread, children first) a
// tree's directories get their source's mode with fchmod (copyDir keeps a
// directory it made 0700 until its contents are done) and every directory
// descriptor is closed: all of it timed.
//
// With COWCOPY_C_LOOP_MARK=<path> set, access(<path>-begin) and
// access(<path>-end) bracket the timed part, untimed (bench/syscalls.js
// counts the calls between them).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct job {
  char kind;
  int dir;  // checked mode: the directory it goes in (-1: none)
  char *a, *b;
};

struct dir {
  int src, dst;  // src: -1 for an import
  mode_t mode;   // the source's (a tree's)
};

static struct job *jobs;
static size_t count;
static struct dir *dirs;
static size_t ndirs;
static int threads;
static int no_clone;  // checked "f": FICLONE was refused once (read and set racily: a hint)

static void die(const char *what, const char *path) {
  fprintf(stderr, "%s %s: ", what, path);
  perror(NULL);
  exit(1);
}

static mode_t store_mode(const char *src) {
  size_t n = strlen(src);
  return n > 5 && strcmp(src + n - 5, "-exec") == 0 ? 0755 : 0644;
}

static void copy_range(int in, int out, const char *dest) {
  ssize_t n;
  do n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0); while (n > 0);
  if (n < 0) die("copy_file_range", dest);
}

// fstat as the engine calls it (src-native/engine/stat_calls.h), not glibc's
// newer fstatat(fd, "", AT_EMPTY_PATH).
static int sys_fstat(int fd, struct stat *st) { return (int)syscall(SYS_fstat, fd, st); }

static int is_file(char kind) { return strchr("FKCHfkch", kind) != NULL; }
static int is_checked(char kind) { return strchr("RIdsfkch", kind) != NULL; }

static void place(const struct job *j) {
  if (j->kind == 'H') {
    if (linkat(AT_FDCWD, j->a, AT_FDCWD, j->b, 0) != 0) die("linkat", j->b);
    return;
  }
  int in = open(j->a, O_RDONLY | O_CLOEXEC);
  if (in < 0) die("open", j->a);
  int out = open(j->b, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, store_mode(j->a));
  if (out < 0) die("open", j->b);
  if (j->kind == 'C') {
    copy_range(in, out, j->b);
  } else if (ioctl(out, FICLONE, in) != 0) {
    if (j->kind == 'K') die("FICLONE", j->b);
    copy_range(in, out, j->b);
  }
  close(out);
  close(in);
}

// Checked: one file, as the engine places it (src_dir -1: `src` is a path).
static void place_checked(const struct job *j) {
  const struct dir *d = &dirs[j->dir];
  const char *src = j->a;  // "f": the name in the source directory
  const char *name = j->kind == 'f' ? j->a : j->b;
  const int flags = O_RDONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC;
  int in = j->kind == 'f' ? openat(d->src, src, flags) : open(src, flags);
  if (in < 0) die("open", src);
  struct stat st;
  if (sys_fstat(in, &st) != 0) die("fstat", src);
  if (!S_ISREG(st.st_mode)) die("not a regular file:", src);
  if (j->kind == 'h') {
    if (linkat(in, "", d->dst, name, AT_EMPTY_PATH) != 0) {
      // Without CAP_DAC_READ_SEARCH: the descriptor's /proc link, as the engine does.
      char proc[64];
      if (errno != ENOENT && errno != EPERM) die("linkat", name);
      snprintf(proc, sizeof proc, "/proc/self/fd/%d", in);
      if (linkat(AT_FDCWD, proc, d->dst, name, AT_SYMLINK_FOLLOW) != 0) die("linkat", name);
    }
    close(in);
    return;
  }
  int out = openat(d->dst, name, O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY | O_CLOEXEC, st.st_mode & 0777);
  if (out < 0) die("openat", name);
  if (j->kind == 'c' || (j->kind == 'f' && __atomic_load_n(&no_clone, __ATOMIC_RELAXED))) {
    copy_range(in, out, name);
  } else if (ioctl(out, FICLONE, in) != 0) {
    if (j->kind == 'k') die("FICLONE", name);
    __atomic_store_n(&no_clone, 1, __ATOMIC_RELAXED);
    copy_range(in, out, name);
  }
  struct stat done;
  if (sys_fstat(out, &done) != 0) die("fstat", name);
  if (done.st_size != st.st_size) die("size changed:", name);
  if (close(out) != 0) die("close", name);
  close(in);
}

static void *run_files(void *arg) {
  long id = (long)arg;
  size_t nth = 0;
  for (size_t i = 0; i < count; i++) {
    if (!is_file(jobs[i].kind) || nth++ % (size_t)threads != (size_t)id) continue;
    if (is_checked(jobs[i].kind)) place_checked(&jobs[i]);
    else place(&jobs[i]);
  }
  return NULL;
}

// Checked: a directory (or a root), made and opened as copyDir (src, 0700
// until done) or importFiles (no src, 0777 under the umask) makes it.
static void make_dir(const struct job *j) {
  const int dflags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  struct dir d = {-1, -1, 0};
  struct stat st;
  if (j->kind == 'R') {
    d.src = open(j->a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d.src < 0 || sys_fstat(d.src, &st) != 0) die("open", j->a);
    d.mode = st.st_mode;
    if (mkdir(j->b, 0700) != 0) die("mkdir", j->b);
    d.dst = open(j->b, dflags);
    if (d.dst < 0 || sys_fstat(d.dst, &st) != 0) die("open", j->b);
  } else if (j->kind == 'I') {
    if (mkdir(j->a, 0777) != 0) die("mkdir", j->a);
    d.dst = open(j->a, dflags);
    if (d.dst < 0) die("open", j->a);
  } else {
    const struct dir *p = &dirs[j->dir];
    if (p->src >= 0) {
      d.src = openat(p->src, j->a, dflags);
      if (d.src < 0 || sys_fstat(d.src, &st) != 0) die("openat", j->a);
      d.mode = st.st_mode;
    }
    if (mkdirat(p->dst, j->a, p->src >= 0 ? 0700 : 0777) != 0) die("mkdirat", j->a);
    d.dst = openat(p->dst, j->a, dflags);
    if (d.dst < 0) die("openat", j->a);
    if (p->src >= 0 && sys_fstat(d.dst, &st) != 0) die("fstat", j->a);
  }
  dirs[ndirs++] = d;
}

static void finish_dirs(void) {
  for (size_t i = ndirs; i-- > 0;) {
    if (dirs[i].src >= 0) {
      if (fchmod(dirs[i].dst, dirs[i].mode & 07777) != 0) die("fchmod", "a directory");
      close(dirs[i].src);
    }
    close(dirs[i].dst);
  }
}

static void mark(const char *what) {
  const char *m = getenv("COWCOPY_C_LOOP_MARK");
  if (!m) return;
  char path[4096];
  snprintf(path, sizeof path, "%s-%s", m, what);
  (void)access(path, F_OK);
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: c-loop LIST THREADS\n"); return 2; }
  threads = atoi(argv[2]);
  if (threads < 1 || threads > 64) { fprintf(stderr, "THREADS: 1..64\n"); return 2; }
  FILE *f = fopen(argv[1], "r");
  if (!f) die("fopen", argv[1]);
  size_t cap = 1024;
  jobs = malloc(cap * sizeof *jobs);
  char *line = NULL;
  size_t len = 0;
  size_t checked = 0, plain = 0, ndir_lines = 0;
  while (getline(&line, &len, f) > 0) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    if (line[0] == 0 || line[1] != '\t' || !strchr("DLFKCHRIdsfkch", line[0])) continue;
    char kind = line[0];
    // Up to four tab-separated fields after the kind.
    char *field[4] = {0};
    int n = 0;
    for (char *p = line + 2; p && n < 4; n++) {
      field[n] = p;
      p = strchr(p, '\t');
      if (p) *p++ = 0;
    }
    // Fields wanted by kind (a checked line's first is a directory number).
    static const char *const kinds = "DLFKCHRIdsfkch";
    static const int want[] = {1, 2, 2, 2, 2, 2, 2, 1, 2, 3, 2, 3, 3, 3};
    int w = want[strchr(kinds, kind) - kinds];
    if (n != w) { fprintf(stderr, "bad line (%c: %d fields, want %d)\n", kind, n, w); return 2; }
    if (count == cap) {
      cap *= 2;
      jobs = realloc(jobs, cap * sizeof *jobs);
    }
    struct job *j = &jobs[count++];
    j->kind = kind;
    j->dir = -1;
    int first = 0;
    if (strchr("dsfkch", kind)) {
      j->dir = atoi(field[0]);
      first = 1;
      if (j->dir < 0 || (size_t)j->dir >= ndir_lines) { fprintf(stderr, "bad directory number %d\n", j->dir); return 2; }
    }
    j->a = strdup(field[first]);
    j->b = first + 1 < n ? strdup(field[first + 1]) : NULL;
    if (strchr("RId", kind)) ndir_lines++;
    if (is_checked(kind)) checked++;
    else plain++;
  }
  free(line);
  fclose(f);
  if (checked && plain) { fprintf(stderr, "a list is all checked lines or none\n"); return 2; }
  if (checked && (count == 0 || !strchr("RI", jobs[0].kind))) { fprintf(stderr, "a checked list starts with its root (R or I)\n"); return 2; }
  if (checked) {
    // Every directory is held open until the end (two descriptors each for a tree).
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      setrlimit(RLIMIT_NOFILE, &rl);
    }
    dirs = malloc((ndir_lines ? ndir_lines : 1) * sizeof *dirs);
  }
  mark("begin");
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (size_t i = 0; i < count; i++) {
    const struct job *j = &jobs[i];
    if (j->kind == 'D' && mkdir(j->a, 0755) != 0) die("mkdir", j->a);
    if (j->kind == 'L' && symlink(j->a, j->b) != 0) die("symlink", j->b);
    if (strchr("RId", j->kind)) make_dir(j);
    if (j->kind == 's' && symlinkat(j->a, dirs[j->dir].dst, j->b) != 0) die("symlinkat", j->b);
  }
  pthread_t t[64];
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, run_files, (void *)i);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  if (checked) finish_dirs();
  clock_gettime(CLOCK_MONOTONIC, &t1);
  mark("end");
  printf("%ld\n", (long)((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000));
  return 0;
}
