// The per-file floor for bench/tree.js: for each "src\tdest" line of a list,
// open + create + FICLONE (else copy_file_range) + close, on 1..N threads.
// Prints the microseconds the copies took (the list is read before timing).
// Built by bench/tree.js with the system C compiler; not part of the package.
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static char **srcs, **dests;
static size_t count;
static int threads;

static void *run(void *arg) {
  long id = (long)arg;
  for (size_t i = (size_t)id; i < count; i += (size_t)threads) {
    int in = open(srcs[i], O_RDONLY | O_CLOEXEC);
    if (in < 0) { perror(srcs[i]); exit(1); }
    int out = open(dests[i], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) { perror(dests[i]); exit(1); }
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
  FILE *f = fopen(argv[1], "r");
  if (!f) { perror(argv[1]); return 1; }
  size_t cap = 1024;
  srcs = malloc(cap * sizeof *srcs);
  dests = malloc(cap * sizeof *dests);
  char *line = NULL;
  size_t len = 0;
  while (getline(&line, &len, f) > 0) {
    char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
    if (!tab) continue;
    if (nl) *nl = 0;
    *tab = 0;
    if (count == cap) {
      cap *= 2;
      srcs = realloc(srcs, cap * sizeof *srcs);
      dests = realloc(dests, cap * sizeof *dests);
    }
    srcs[count] = strdup(line);
    dests[count] = strdup(tab + 1);
    count++;
  }
  fclose(f);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  pthread_t t[64];
  for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, run, (void *)i);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%ld\n", (long)((b.tv_sec - a.tv_sec) * 1000000L + (b.tv_nsec - a.tv_nsec) / 1000));
  return 0;
}
