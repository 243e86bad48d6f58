// The C reference for bench/tree.js: reads a job list, then times doing it.
// Lines: "D\tdir" mkdir (0755, parents listed first), "L\ttarget\tpath"
// symlink, "F\tsrc\tdest" open + create + FICLONE (else copy_file_range) +
// close. Directories and symlinks are made first on one thread, then the
// files on 1..N threads. Prints the microseconds all of it took.
// Built by bench/tree.js with the system C compiler; not part of the package.
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

static void *run_files(void *arg) {
  long id = (long)arg;
  size_t nth = 0;
  for (size_t i = 0; i < count; i++) {
    if (jobs[i].kind != 'F' || nth++ % (size_t)threads != (size_t)id) continue;
    int in = open(jobs[i].a, O_RDONLY | O_CLOEXEC);
    if (in < 0) { perror(jobs[i].a); exit(1); }
    int out = open(jobs[i].b, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) { perror(jobs[i].b); exit(1); }
    if (ioctl(out, FICLONE, in) != 0) {
      ssize_t n;
      do n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0); while (n > 0);
      if (n < 0) { perror("copy_file_range"); exit(1); }
    }
    close(out);
    close(in);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: c-loop LIST THREADS\n"); return 2; }
  threads = atoi(argv[2]);
  if (threads < 1 || threads > 64) { fprintf(stderr, "THREADS: 1..64\n"); return 2; }
  FILE *f = fopen(argv[1], "r");
  if (!f) { perror(argv[1]); return 1; }
  size_t cap = 1024;
  jobs = malloc(cap * sizeof *jobs);
  char *line = NULL;
  size_t len = 0;
  while (getline(&line, &len, f) > 0) {
    char *nl = strchr(line, '\n');
    if (nl) *nl = 0;
    if (line[0] == 0 || line[1] != '\t') continue;
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
  fclose(f);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (size_t i = 0; i < count; i++) {
    if (jobs[i].kind == 'D' && mkdir(jobs[i].a, 0755) != 0) { perror(jobs[i].a); return 1; }
    if (jobs[i].kind == 'L' && symlink(jobs[i].a, jobs[i].b) != 0) { perror(jobs[i].b); return 1; }
  }
  pthread_t t[64];
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, run_files, (void *)i);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("%ld\n", (long)((t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000));
  return 0;
}
