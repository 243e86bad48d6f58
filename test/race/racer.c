// The racer of the race tests (test/security/race-*.test.mjs): swaps names as fast as it can while a copy
// runs, until SIGTERM (or its time limit), then prints how often each swap
// succeeded. Built by the test with gcc; started as an unprivileged user.
//
//   racer MAX_SECONDS OP... where OP is one of
//     x DIR A B     renameat2(A, B, RENAME_EXCHANGE) in DIR: both names always
//                   exist, each alternately holds the other's inode
//     r DIR A B T   A -> T, B -> A, T -> B with plain renames: windows where a
//                   name is missing
//     t FILE        truncates FILE to half its size, then writes the rest back
//
// Output, one line per OP: "<op> <index> <attempts> <successes>".
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

struct op {
  char kind;
  int dir;
  const char *a, *b, *t;
  int fd;       // t: the file
  char *data;   // t: its original content
  off_t size;
  unsigned long attempts, ok;
};

static int exchange(int dir, const char *a, const char *b) {
  return (int)syscall(SYS_renameat2, dir, a, dir, b, RENAME_EXCHANGE);
}

static int open_dir(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1) {
    fprintf(stderr, "racer: %s: %s\n", path, strerror(errno));
    exit(2);
  }
  return fd;
}

static int step(struct op *o) {
  switch (o->kind) {
    case 'x':
      return exchange(o->dir, o->a, o->b) == 0;
    case 'r': {
      int good = renameat(o->dir, o->a, o->dir, o->t) == 0;
      good &= renameat(o->dir, o->b, o->dir, o->a) == 0;
      good &= renameat(o->dir, o->t, o->dir, o->b) == 0;
      return good;
    }
    case 't': {
      off_t half = o->size / 2;
      if (ftruncate(o->fd, half) == -1) return 0;
      for (off_t done = half; done < o->size;) {
        ssize_t n = pwrite(o->fd, o->data + done, (size_t)(o->size - done), done);
        if (n <= 0) return 0;
        done += n;
      }
      return 1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: racer MAX_SECONDS OP...\n");
    return 2;
  }
  // Never outlive the test that started us.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  double max_seconds = atof(argv[1]);
  struct op ops[32];
  int n = 0;
  for (int i = 2; i < argc && n < 32;) {
    struct op *o = &ops[n++];
    memset(o, 0, sizeof *o);
    o->kind = argv[i][0];
    if (o->kind == 'x' && i + 3 < argc) {
      o->dir = open_dir(argv[i + 1]);
      o->a = argv[i + 2];
      o->b = argv[i + 3];
      i += 4;
    } else if (o->kind == 'r' && i + 4 < argc) {
      o->dir = open_dir(argv[i + 1]);
      o->a = argv[i + 2];
      o->b = argv[i + 3];
      o->t = argv[i + 4];
      i += 5;
    } else if (o->kind == 't' && i + 1 < argc) {
      o->fd = open(argv[i + 1], O_RDWR | O_CLOEXEC);
      struct stat st;
      if (o->fd == -1 || fstat(o->fd, &st) == -1) {
        fprintf(stderr, "racer: %s: %s\n", argv[i + 1], strerror(errno));
        return 2;
      }
      o->size = st.st_size;
      o->data = malloc((size_t)st.st_size + 1);
      if (!o->data || pread(o->fd, o->data, (size_t)st.st_size, 0) != st.st_size) {
        fprintf(stderr, "racer: cannot read %s\n", argv[i + 1]);
        return 2;
      }
      i += 2;
    } else {
      fprintf(stderr, "racer: bad operation at argument %d\n", i);
      return 2;
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  // Tell the test we are running: it starts copying only then.
  printf("ready\n");
  fflush(stdout);
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (unsigned long round = 0; !stop; ++round) {
    for (int i = 0; i < n; ++i) {
      ops[i].attempts++;
      ops[i].ok += (unsigned long)step(&ops[i]);
    }
    if ((round & 1023) == 0) {
      clock_gettime(CLOCK_MONOTONIC, &now);
      if ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 > max_seconds) break;
    }
  }
  for (int i = 0; i < n; ++i) printf("%c %d %lu %lu\n", ops[i].kind, i, ops[i].attempts, ops[i].ok);
  return 0;
}
