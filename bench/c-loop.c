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
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct job {
  char kind;
  char *a, *b;
};

static struct job *jobs;
static size_t count;
static int threads;

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

static void *run_files(void *arg) {
  long id = (long)arg;
  size_t nth = 0;
  for (size_t i = 0; i < count; i++) {
    if (jobs[i].kind == 'D' || jobs[i].kind == 'L' || nth++ % (size_t)threads != (size_t)id) continue;
    place(&jobs[i]);
  }
  return NULL;
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
  while (getline(&line, &len, f) > 0) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    if (line[0] == 0 || line[1] != '\t' || !strchr("DLFKCH", line[0])) continue;
    char *a = line + 2, *b = strchr(a, '\t');
    if (b) *b++ = 0;
    if (line[0] != 'D' && !b) continue;
    if (count == cap) {
      cap *= 2;
      jobs = realloc(jobs, cap * sizeof *jobs);
    }
    jobs[count].kind = line[0];
    jobs[count].a = strdup(a);
    jobs[count].b = b ? strdup(b) : NULL;
    count++;
  }
  free(line);
  fclose(f);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (size_t i = 0; i < count; i++) {
    if (jobs[i].kind == 'D' && mkdir(jobs[i].a, 0755) != 0) die("mkdir", jobs[i].a);
    if (jobs[i].kind == 'L' && symlink(jobs[i].a, jobs[i].b) != 0) die("symlink", jobs[i].b);
  }
  pthread_t t[64];
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, run_files, (void *)i);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%ld\n", (long)((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000));
  return 0;
}
