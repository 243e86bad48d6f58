// Fault injection for cowcopy's native addon: an LD_PRELOAD library that
// interposes the libc functions the addon imports and, for calls made FROM
// the addon only (the caller's return address lies inside cowcopy.node),
// counts them or fails one of them. Node's and libuv's own calls pass
// through untouched.
//
// Built by test/failures/syscall-injection.test.mjs:
//   gcc -shared -fPIC -O2 -Wall -Wextra -Werror -o shim.so shim.c -ldl -lpthread
//
// Environment:
//   COWCOPY_FAULT=count                 log every counted call
//   COWCOPY_FAULT=<name>:<n>:<what>     fail the n-th call of <name> (1-based);
//                                       <n>+ fails it and every later one;
//                                       <name> * counts all calls together
//   COWCOPY_FAULT=count,<fault>,...     a comma-separated list of up to 8
//                                       faults (the first that matches fires),
//                                       with "count" also logging every call
//   COWCOPY_FAULT_OUT=<file>            where the log goes (appended)
//   COWCOPY_FAULT_LIB=<substring>       the addon's file name (cowcopy.node)
//   COWCOPY_FAULT_ANY_CALLER=1          act on calls from anywhere (Node, libuv)
// <what>: an errno name (EIO, ENOSPC, EDQUOT, EINTR, ...) or "short": a data
// transfer moves only half of what was asked (nothing fires for counts < 2).
// EINTR is never injected into close(): close must not be retried on Linux.
// An injected close() failure still closes the descriptor, as the kernel does.
//
// Log lines (one write each, O_APPEND, safe across threads):
//   C <name> <ordinal> <offset> <detail>   a counted call (count mode)
//   F <name> <ordinal> <offset> <what> <detail>   a fault fired
//   X <name>=<calls> ...                   at exit: calls per name
// <offset> is the return address minus the addon's load base: feed it (minus
// one) to `addr2line -f -C -e cowcopy.node` to name the calling function.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/xattr.h>
#include <unistd.h>

// ---- the names calls are counted under (one per kernel operation) ----
#define NAMES(X)                                                                         \
  X(open) X(openat) X(ioctl_ficlone) X(ioctl_ficlonerange) X(ioctl_fideduperange)      \
  X(ioctl) X(copy_file_range) X(sendfile) X(read) X(pread) X(write) X(pwrite)          \
  X(ftruncate) X(fchmod) X(fchmodat) X(fchown) X(fchownat) X(lchown) X(futimens)       \
  X(utimensat) X(fsetxattr) X(fgetxattr) X(flistxattr) X(fsync) X(fdatasync) X(close) \
  X(rename) X(renameat) X(renameat2) X(link) X(linkat) X(mkdir) X(mkdirat) X(symlink)  \
  X(symlinkat) X(readlink) X(readlinkat) X(unlink) X(unlinkat) X(lseek) X(fstat)       \
  X(fstatat) X(statx) X(getdents64) X(fcntl) X(dup) X(statfs) X(fstatfs) X(getrandom)  \
  X(getrlimit) X(fopen) X(pthread_create) X(syscall_other)

enum {
#define E(n) N_##n,
  NAMES(E)
#undef E
  N_COUNT
};
static const char *const kNames[] = {
#define S(n) #n,
    NAMES(S)
#undef S
};

// ---- configuration ----
enum { MODE_OFF, MODE_COUNT, MODE_FAIL };
enum { WHAT_ERRNO, WHAT_SHORT };
// Up to 8 faults, comma-separated: the first that matches a call fires.
struct Fault {
  int target;  // a name index, or N_COUNT for "*"
  unsigned long nth;
  int from_nth;  // "<n>+"
  int what;
  int err;
  char what_name[32];
};
static int g_mode;
static int g_count;  // log every call
static struct Fault g_faults[8];
static int g_nfaults;
static int g_out = -1;
static const char *g_lib = "cowcopy.node";
// COWCOPY_FAULT_ANY_CALLER=1: calls from anywhere count, Node's and libuv's
// too (the portable engine's tests fail libuv's copy_file_range this way).
static int g_any_caller = 0;

static _Atomic unsigned long g_calls[N_COUNT + 1];
static _Atomic uintptr_t g_lo, g_hi, g_base;

// ---- the real functions ----
#define REAL(ret, name, ...)                      \
  static ret (*real_##name)(__VA_ARGS__);         \
  static void resolve_##name(void) {              \
    real_##name = dlsym(RTLD_NEXT, #name);        \
  }
#define NEED(name) \
  do {             \
    if (!real_##name) resolve_##name(); \
  } while (0)

REAL(int, open, const char *, int, ...)
REAL(int, open64, const char *, int, ...)
REAL(int, openat, int, const char *, int, ...)
REAL(int, openat64, int, const char *, int, ...)
REAL(int, __open_2, const char *, int)
REAL(int, __open64_2, const char *, int)
REAL(int, __openat_2, int, const char *, int)
REAL(int, __openat64_2, int, const char *, int)
REAL(int, ioctl, int, unsigned long, ...)
REAL(ssize_t, copy_file_range, int, off64_t *, int, off64_t *, size_t, unsigned)
REAL(ssize_t, sendfile, int, int, off_t *, size_t)
REAL(ssize_t, sendfile64, int, int, off64_t *, size_t)
REAL(ssize_t, read, int, void *, size_t)
REAL(ssize_t, __read_chk, int, void *, size_t, size_t)
REAL(ssize_t, pread, int, void *, size_t, off_t)
REAL(ssize_t, pread64, int, void *, size_t, off64_t)
REAL(ssize_t, __pread64_chk, int, void *, size_t, off64_t, size_t)
REAL(ssize_t, write, int, const void *, size_t)
REAL(ssize_t, pwrite, int, const void *, size_t, off_t)
REAL(ssize_t, pwrite64, int, const void *, size_t, off64_t)
REAL(int, ftruncate, int, off_t)
REAL(int, ftruncate64, int, off64_t)
REAL(int, fchmod, int, mode_t)
REAL(int, fchmodat, int, const char *, mode_t, int)
REAL(int, fchown, int, uid_t, gid_t)
REAL(int, fchownat, int, const char *, uid_t, gid_t, int)
REAL(int, lchown, const char *, uid_t, gid_t)
REAL(int, futimens, int, const struct timespec *)
REAL(int, utimensat, int, const char *, const struct timespec *, int)
REAL(int, fsetxattr, int, const char *, const void *, size_t, int)
REAL(ssize_t, fgetxattr, int, const char *, void *, size_t)
REAL(ssize_t, flistxattr, int, char *, size_t)
REAL(int, fsync, int)
REAL(int, fdatasync, int)
REAL(int, close, int)
REAL(int, rename, const char *, const char *)
REAL(int, renameat, int, const char *, int, const char *)
REAL(int, renameat2, int, const char *, int, const char *, unsigned)
REAL(int, link, const char *, const char *)
REAL(int, linkat, int, const char *, int, const char *, int)
REAL(int, mkdir, const char *, mode_t)
REAL(int, mkdirat, int, const char *, mode_t)
REAL(int, symlink, const char *, const char *)
REAL(int, symlinkat, const char *, int, const char *)
REAL(ssize_t, readlink, const char *, char *, size_t)
REAL(ssize_t, readlinkat, int, const char *, char *, size_t)
REAL(int, unlink, const char *)
REAL(int, unlinkat, int, const char *, int)
REAL(off_t, lseek, int, off_t, int)
REAL(off64_t, lseek64, int, off64_t, int)
REAL(int, fstat, int, struct stat *)
REAL(int, fstat64, int, struct stat64 *)
REAL(int, fstatat, int, const char *, struct stat *, int)
REAL(int, fstatat64, int, const char *, struct stat64 *, int)
REAL(int, stat, const char *, struct stat *)
REAL(int, stat64, const char *, struct stat64 *)
REAL(int, lstat, const char *, struct stat *)
REAL(int, lstat64, const char *, struct stat64 *)
REAL(int, statx, int, const char *, int, unsigned, struct statx *)
REAL(ssize_t, getdents64, int, void *, size_t)
REAL(int, fcntl, int, int, ...)
REAL(int, fcntl64, int, int, ...)
REAL(int, dup, int)
REAL(int, dup2, int, int)
REAL(int, dup3, int, int, int)
REAL(int, statfs, const char *, struct statfs *)
REAL(int, statfs64, const char *, struct statfs64 *)
REAL(int, fstatfs, int, struct statfs *)
REAL(int, fstatfs64, int, struct statfs64 *)
REAL(ssize_t, getrandom, void *, size_t, unsigned)
REAL(int, getrlimit, __rlimit_resource_t, struct rlimit *)
REAL(int, getrlimit64, __rlimit_resource_t, struct rlimit64 *)
REAL(FILE *, fopen, const char *, const char *)
REAL(FILE *, fopen64, const char *, const char *)
REAL(int, pthread_create, pthread_t *, const pthread_attr_t *, void *(*)(void *), void *)
REAL(long, syscall, long, ...)
REAL(void *, dlopen, const char *, int)
REAL(int, access, const char *, int)
REAL(int, faccessat, int, const char *, int, int)

// ---- logging (raw system calls only: nothing here may be intercepted) ----
static void out_write(const char *s, size_t n) {
  if (g_out >= 0) (void)!syscall(SYS_write, g_out, s, n);
}

static void append_escaped(char *buf, size_t cap, size_t *len, const char *s) {
  for (; s && *s && *len + 4 < cap; ++s) {
    unsigned char c = (unsigned char)*s;
    if (c <= ' ' || c >= 0x7f || c == '%') *len += (size_t)snprintf(buf + *len, cap - *len, "%%%02x", c);
    else buf[(*len)++] = (char)c;
  }
  buf[*len] = 0;
}

static void log_call(char kind, int name, unsigned long ord, uintptr_t ra, const char *path, long num,
                     const char *what) {
  char line[600];
  size_t len = (size_t)snprintf(line, sizeof line, "%c %s %lu 0x%lx", kind, kNames[name], ord,
                                (unsigned long)(ra - atomic_load(&g_base)));
  if (what) len += (size_t)snprintf(line + len, sizeof line - len, " %s", what);
  len += (size_t)snprintf(line + len, sizeof line - len, " %ld:", num);
  if (path) {
    // Paths are shown relative to nothing: only the last 120 bytes matter.
    size_t pl = strlen(path);
    append_escaped(line, sizeof line - 2, &len, pl > 120 ? path + pl - 120 : path);
  }
  line[len++] = '\n';
  out_write(line, len);
}

// ---- is the caller the addon? ----
static int find_addon(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  (void)data;
  if (!info->dlpi_name || !strstr(info->dlpi_name, g_lib)) return 0;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t a = info->dlpi_addr + ph->p_vaddr;
    if (a < lo) lo = a;
    if (a + ph->p_memsz > hi) hi = a + ph->p_memsz;
  }
  if (hi == 0) return 0;
  atomic_store(&g_base, info->dlpi_addr);
  atomic_store(&g_lo, lo);
  atomic_store(&g_hi, hi);
  return 1;
}

void *dlopen(const char *file, int flags) {
  NEED(dlopen);
  void *h = real_dlopen(file, flags);
  if (h && file && strstr(file, g_lib) && atomic_load(&g_hi) == 0) {
    dl_iterate_phdr(find_addon, NULL);
  }
  return h;
}

static inline int from_addon(uintptr_t ra) {
  if (g_any_caller) return g_mode != MODE_OFF;
  return g_mode != MODE_OFF && ra >= atomic_load_explicit(&g_lo, memory_order_relaxed) &&
         ra < atomic_load_explicit(&g_hi, memory_order_relaxed);
}

// What to do with this call: 0 pass, 1 fail with errno (*err), 2 make it short.
// `can_short`: the call moves a count that can be halved.
static int decide(int name, uintptr_t ra, const char *path, long num, int can_short, int *err) {
  unsigned long ord = atomic_fetch_add(&g_calls[name], 1) + 1;
  unsigned long all = atomic_fetch_add(&g_calls[N_COUNT], 1) + 1;
  if (g_count) log_call('C', name, ord, ra, path, num, NULL);
  for (int i = 0; i < g_nfaults; ++i) {
    const struct Fault *f = &g_faults[i];
    unsigned long n = f->target == N_COUNT ? all : ord;
    if (f->target != N_COUNT && f->target != name) continue;
    if (f->from_nth ? n < f->nth : n != f->nth) continue;
    if (f->what == WHAT_SHORT && !can_short) continue;
    if (f->what == WHAT_ERRNO && f->err == EINTR && name == N_close) continue;
    log_call('F', name, ord, ra, path, num, f->what_name);
    *err = f->err;
    return f->what == WHAT_SHORT ? 2 : 1;
  }
  return 0;
}

// The common prologue: `act` is what to do; a failure returns `fail_ret`.
#define ENTER(name, path, num, can_short)                                                  \
  uintptr_t ra_ = (uintptr_t)__builtin_extract_return_addr(__builtin_return_address(0)); \
  int err_ = 0;                                                                          \
  int act_ = from_addon(ra_) ? decide(N_##name, ra_, (path), (long)(num), (can_short), &err_) : 0
#define FAIL_IF(ret)      \
  do {                    \
    if (act_ == 1) {      \
      errno = err_;       \
      return ret;         \
    }                     \
  } while (0)
#define SHORTEN(count) (act_ == 2 ? (count) / 2 : (count))

// ---- setup ----
static const struct {
  const char *name;
  int value;
} kErrnos[] = {
    {"EIO", EIO},         {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT},   {"EINTR", EINTR},
    {"EPERM", EPERM},     {"EACCES", EACCES}, {"ENOMEM", ENOMEM},   {"EINVAL", EINVAL},
    {"EXDEV", EXDEV},     {"ENOSYS", ENOSYS}, {"EOPNOTSUPP", EOPNOTSUPP}, {"ENOTSUP", ENOTSUP},
    {"EBADF", EBADF},     {"EFBIG", EFBIG},   {"EROFS", EROFS},     {"ENOENT", ENOENT},
    {"EEXIST", EEXIST},   {"EAGAIN", EAGAIN}, {"ENAMETOOLONG", ENAMETOOLONG}, {"EMFILE", EMFILE},
    {"ENFILE", ENFILE},   {"ETXTBSY", ETXTBSY}, {"ENOTTY", ENOTTY}, {"ELOOP", ELOOP},
};

// Parses a COWCOPY_FAULT value into g_faults / g_count / g_mode. -1 if malformed.
static int configure(const char *spec) {
  g_nfaults = 0;
  g_count = 0;
  g_mode = MODE_OFF;
  if (!spec || !*spec) return 0;
  char buf[512];
  snprintf(buf, sizeof buf, "%s", spec);
  char *save = NULL;
  for (char *one = strtok_r(buf, ",", &save); one; one = strtok_r(NULL, ",", &save)) {
    char name[64], nth[32], what[32];
    if (strcmp(one, "count") == 0) {
      g_count = 1;
      continue;
    }
    struct Fault *f = &g_faults[g_nfaults];
    if (g_nfaults == 8 || sscanf(one, "%63[^:]:%31[^:]:%31s", name, nth, what) != 3) return -1;
    f->target = -1;
    if (strcmp(name, "*") == 0) f->target = N_COUNT;
    for (int i = 0; i < N_COUNT; ++i) {
      if (strcmp(name, kNames[i]) == 0) f->target = i;
    }
    char *end;
    f->nth = strtoul(nth, &end, 10);
    f->from_nth = *end == '+';
    snprintf(f->what_name, sizeof f->what_name, "%s", what);
    f->err = 0;
    if (strcmp(what, "short") == 0) {
      f->what = WHAT_SHORT;
    } else {
      f->what = WHAT_ERRNO;
      for (size_t i = 0; i < sizeof kErrnos / sizeof kErrnos[0]; ++i) {
        if (strcmp(what, kErrnos[i].name) == 0) f->err = kErrnos[i].value;
      }
    }
    if (f->target < 0 || f->nth == 0 || (f->what == WHAT_ERRNO && f->err == 0)) return -1;
    g_nfaults++;
  }
  for (int i = 0; i <= N_COUNT; ++i) atomic_store(&g_calls[i], 0);
  g_mode = g_nfaults ? MODE_FAIL : MODE_COUNT;
  return 0;
}

static void open_out(const char *out) {
  if (g_out >= 0) syscall(SYS_close, g_out);
  g_out = -1;
  if (out && *out) {
    g_out = (int)syscall(SYS_openat, AT_FDCWD, out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  }
}

static void write_totals(void);

__attribute__((constructor)) static void shim_init(void) {
  const char *lib = getenv("COWCOPY_FAULT_LIB");
  if (lib && *lib) g_lib = lib;
  const char *any = getenv("COWCOPY_FAULT_ANY_CALLER");
  g_any_caller = any && strcmp(any, "1") == 0;
  const char *spec = getenv("COWCOPY_FAULT");
  if (!spec || !*spec) return;
  open_out(getenv("COWCOPY_FAULT_OUT"));
  if (configure(spec) != 0) {
    fprintf(stderr, "cowcopy fault shim: bad COWCOPY_FAULT '%s'\n", spec);
    _exit(97);
  }
}

// Control from a running process (test/fault/driver.mjs --serve), which
// cannot set its own environment for the shim: fs.accessSync on
//   /cowcopy-fault-control/arm/<out file, '/' as %2f>/<spec>   new faults, counters from 0
//   /cowcopy-fault-control/disarm                             totals to the log, all off
// answers 0 when done, -1 EINVAL when malformed; without the shim, ENOENT.
#define CONTROL "/cowcopy-fault-control/"
static int control(const char *path) {
  const char *cmd = path + sizeof CONTROL - 1;
  if (strcmp(cmd, "disarm") == 0) {
    write_totals();
    configure(NULL);
    open_out(NULL);
    return 0;
  }
  if (strncmp(cmd, "arm/", 4) != 0) return -1;
  cmd += 4;
  const char *slash = strchr(cmd, '/');
  if (!slash) return -1;
  char out[1024];
  size_t n = 0;
  for (const char *p = cmd; p < slash && n + 1 < sizeof out; ++p) {
    if (strncmp(p, "%2f", 3) == 0) {
      out[n++] = '/';
      p += 2;
    } else {
      out[n++] = *p;
    }
  }
  out[n] = 0;
  configure(NULL);
  open_out(out);
  return configure(slash + 1);
}

static void write_totals(void) {
  if (g_mode == MODE_OFF || g_out < 0) return;
  char line[4096];
  size_t len = (size_t)snprintf(line, sizeof line, "X");
  for (int i = 0; i < N_COUNT; ++i) {
    unsigned long c = atomic_load(&g_calls[i]);
    if (c && len < sizeof line - 64) len += (size_t)snprintf(line + len, sizeof line - len, " %s=%lu", kNames[i], c);
  }
  line[len++] = '\n';
  out_write(line, len);
}

__attribute__((destructor)) static void shim_fini(void) { write_totals(); }

// ---- the interposed functions ----
static int mode_arg(int flags, va_list ap) {
  return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, int) : 0;
}

#define OPEN_LIKE(fn, canon)                  \
  int fn(const char *path, int flags, ...) {  \
    va_list ap;                               \
    va_start(ap, flags);                      \
    int mode = mode_arg(flags, ap);           \
    va_end(ap);                               \
    ENTER(canon, path, flags, 0);             \
    FAIL_IF(-1);                              \
    NEED(fn);                                 \
    return real_##fn(path, flags, mode);      \
  }
OPEN_LIKE(open, open)
OPEN_LIKE(open64, open)

#define OPENAT_LIKE(fn)                                \
  int fn(int dir, const char *path, int flags, ...) {  \
    va_list ap;                                        \
    va_start(ap, flags);                               \
    int mode = mode_arg(flags, ap);                    \
    va_end(ap);                                        \
    ENTER(openat, path, flags, 0);                     \
    FAIL_IF(-1);                                       \
    NEED(fn);                                          \
    return real_##fn(dir, path, flags, mode);          \
  }
OPENAT_LIKE(openat)
OPENAT_LIKE(openat64)

int __open_2(const char *path, int flags) {
  ENTER(open, path, flags, 0);
  FAIL_IF(-1);
  NEED(__open_2);
  return real___open_2(path, flags);
}
int __open64_2(const char *path, int flags) {
  ENTER(open, path, flags, 0);
  FAIL_IF(-1);
  NEED(__open64_2);
  return real___open64_2(path, flags);
}
int __openat_2(int dir, const char *path, int flags) {
  ENTER(openat, path, flags, 0);
  FAIL_IF(-1);
  NEED(__openat_2);
  return real___openat_2(dir, path, flags);
}
int __openat64_2(int dir, const char *path, int flags) {
  ENTER(openat, path, flags, 0);
  FAIL_IF(-1);
  NEED(__openat64_2);
  return real___openat64_2(dir, path, flags);
}

int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void *arg = va_arg(ap, void *);
  va_end(ap);
  int name = req == FICLONE             ? N_ioctl_ficlone
             : req == FICLONERANGE      ? N_ioctl_ficlonerange
             : req == FIDEDUPERANGE     ? N_ioctl_fideduperange
                                        : N_ioctl;
  uintptr_t ra_ = (uintptr_t)__builtin_extract_return_addr(__builtin_return_address(0));
  int err_ = 0;
  int act_ = from_addon(ra_) ? decide(name, ra_, NULL, fd, 0, &err_) : 0;
  FAIL_IF(-1);
  NEED(ioctl);
  return real_ioctl(fd, req, arg);
}

ssize_t copy_file_range(int in, off64_t *inoff, int out, off64_t *outoff, size_t len, unsigned flags) {
  ENTER(copy_file_range, NULL, len, len >= 2);
  FAIL_IF(-1);
  NEED(copy_file_range);
  return real_copy_file_range(in, inoff, out, outoff, SHORTEN(len), flags);
}
ssize_t sendfile(int out, int in, off_t *off, size_t count) {
  ENTER(sendfile, NULL, count, count >= 2);
  FAIL_IF(-1);
  NEED(sendfile);
  return real_sendfile(out, in, off, SHORTEN(count));
}
ssize_t sendfile64(int out, int in, off64_t *off, size_t count) {
  ENTER(sendfile, NULL, count, count >= 2);
  FAIL_IF(-1);
  NEED(sendfile64);
  return real_sendfile64(out, in, off, SHORTEN(count));
}

ssize_t read(int fd, void *buf, size_t count) {
  ENTER(read, NULL, count, count >= 2);
  FAIL_IF(-1);
  NEED(read);
  return real_read(fd, buf, SHORTEN(count));
}
ssize_t __read_chk(int fd, void *buf, size_t count, size_t buflen) {
  ENTER(read, NULL, count, count >= 2);
  FAIL_IF(-1);
  NEED(__read_chk);
  return real___read_chk(fd, buf, SHORTEN(count), buflen);
}
ssize_t pread(int fd, void *buf, size_t count, off_t off) {
  ENTER(pread, NULL, count, count >= 2);
  FAIL_IF(-1);
  NEED(pread);
  return real_pread(fd, buf, SHORTEN(count), off);
}
ssize_t pread64(int fd, void *buf, size_t count, off64_t off) {
  ENTER(pread, NULL, count, count >= 2);
  FAIL_IF(-1);
  NEED(pread64);
  return real_pread64(fd, buf, SHORTEN(count), off);
}
ssize_t __pread64_chk(int fd, void *buf, size_t count, off64_t off, size_t buflen) {
  ENTER(pread, NULL, count, count >= 2);
  FAIL_IF(-1);
  NEED(__pread64_chk);
  return real___pread64_chk(fd, buf, SHORTEN(count), off, buflen);
}
ssize_t write(int fd, const void *buf, size_t count) {
  ENTER(write, NULL, count, count >= 2);
  FAIL_IF(-1);
  NEED(write);
  return real_write(fd, buf, SHORTEN(count));
}
ssize_t pwrite(int fd, const void *buf, size_t count, off_t off) {
  ENTER(pwrite, NULL, count, count >= 2);
  FAIL_IF(-1);
  NEED(pwrite);
  return real_pwrite(fd, buf, SHORTEN(count), off);
}
ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t off) {
  ENTER(pwrite, NULL, count, count >= 2);
  FAIL_IF(-1);
  NEED(pwrite64);
  return real_pwrite64(fd, buf, SHORTEN(count), off);
}

#define FD_CALL(ret, fn, canon, failret, params, args, num) \
  ret fn params {                                            \
    ENTER(canon, NULL, num, 0);                              \
    FAIL_IF(failret);                                        \
    NEED(fn);                                                \
    return real_##fn args;                                   \
  }
#define PATH_CALL(ret, fn, canon, failret, params, args, path, num) \
  ret fn params {                                                    \
    ENTER(canon, path, num, 0);                                      \
    FAIL_IF(failret);                                                \
    NEED(fn);                                                        \
    return real_##fn args;                                           \
  }

FD_CALL(int, ftruncate, ftruncate, -1, (int fd, off_t len), (fd, len), len)
FD_CALL(int, ftruncate64, ftruncate, -1, (int fd, off64_t len), (fd, len), len)
FD_CALL(int, fchmod, fchmod, -1, (int fd, mode_t m), (fd, m), m)
PATH_CALL(int, fchmodat, fchmodat, -1, (int d, const char *p, mode_t m, int f), (d, p, m, f), p, m)
FD_CALL(int, fchown, fchown, -1, (int fd, uid_t u, gid_t g), (fd, u, g), fd)
PATH_CALL(int, fchownat, fchownat, -1, (int d, const char *p, uid_t u, gid_t g, int f), (d, p, u, g, f), p, f)
PATH_CALL(int, lchown, lchown, -1, (const char *p, uid_t u, gid_t g), (p, u, g), p, 0)
FD_CALL(int, futimens, futimens, -1, (int fd, const struct timespec t[2]), (fd, t), fd)
PATH_CALL(int, utimensat, utimensat, -1, (int d, const char *p, const struct timespec t[2], int f), (d, p, t, f), p, f)
PATH_CALL(int, fsetxattr, fsetxattr, -1, (int fd, const char *n, const void *v, size_t s, int f), (fd, n, v, s, f), n, s)
PATH_CALL(ssize_t, fgetxattr, fgetxattr, -1, (int fd, const char *n, void *v, size_t s), (fd, n, v, s), n, s)
FD_CALL(ssize_t, flistxattr, flistxattr, -1, (int fd, char *l, size_t s), (fd, l, s), s)
FD_CALL(int, fsync, fsync, -1, (int fd), (fd), fd)
FD_CALL(int, fdatasync, fdatasync, -1, (int fd), (fd), fd)
PATH_CALL(int, rename, rename, -1, (const char *a, const char *b), (a, b), b, 0)
PATH_CALL(int, renameat, renameat, -1, (int da, const char *a, int db, const char *b), (da, a, db, b), b, 0)
PATH_CALL(int, renameat2, renameat2, -1, (int da, const char *a, int db, const char *b, unsigned f),
          (da, a, db, b, f), b, f)
PATH_CALL(int, link, link, -1, (const char *a, const char *b), (a, b), b, 0)
PATH_CALL(int, linkat, linkat, -1, (int da, const char *a, int db, const char *b, int f), (da, a, db, b, f), b, f)
PATH_CALL(int, mkdir, mkdir, -1, (const char *p, mode_t m), (p, m), p, m)
PATH_CALL(int, mkdirat, mkdirat, -1, (int d, const char *p, mode_t m), (d, p, m), p, m)
PATH_CALL(int, symlink, symlink, -1, (const char *t, const char *p), (t, p), p, 0)
PATH_CALL(int, symlinkat, symlinkat, -1, (const char *t, int d, const char *p), (t, d, p), p, 0)
PATH_CALL(ssize_t, readlink, readlink, -1, (const char *p, char *b, size_t s), (p, b, s), p, s)
PATH_CALL(ssize_t, readlinkat, readlinkat, -1, (int d, const char *p, char *b, size_t s), (d, p, b, s), p, s)
PATH_CALL(int, unlink, unlink, -1, (const char *p), (p), p, 0)
PATH_CALL(int, unlinkat, unlinkat, -1, (int d, const char *p, int f), (d, p, f), p, f)
FD_CALL(off_t, lseek, lseek, -1, (int fd, off_t o, int w), (fd, o, w), w)
FD_CALL(off64_t, lseek64, lseek, -1, (int fd, off64_t o, int w), (fd, o, w), w)
FD_CALL(int, fstat, fstat, -1, (int fd, struct stat *s), (fd, s), fd)
FD_CALL(int, fstat64, fstat, -1, (int fd, struct stat64 *s), (fd, s), fd)
PATH_CALL(int, fstatat, fstatat, -1, (int d, const char *p, struct stat *s, int f), (d, p, s, f), p, f)
PATH_CALL(int, fstatat64, fstatat, -1, (int d, const char *p, struct stat64 *s, int f), (d, p, s, f), p, f)
PATH_CALL(int, stat, fstatat, -1, (const char *p, struct stat *s), (p, s), p, 0)
PATH_CALL(int, stat64, fstatat, -1, (const char *p, struct stat64 *s), (p, s), p, 0)
PATH_CALL(int, lstat, fstatat, -1, (const char *p, struct stat *s), (p, s), p, AT_SYMLINK_NOFOLLOW)
PATH_CALL(int, lstat64, fstatat, -1, (const char *p, struct stat64 *s), (p, s), p, AT_SYMLINK_NOFOLLOW)
PATH_CALL(int, statx, statx, -1, (int d, const char *p, int f, unsigned m, struct statx *s), (d, p, f, m, s), p, f)
FD_CALL(int, dup, dup, -1, (int fd), (fd), fd)
FD_CALL(int, dup2, dup, -1, (int fd, int to), (fd, to), fd)
FD_CALL(int, dup3, dup, -1, (int fd, int to, int f), (fd, to, f), fd)
PATH_CALL(int, statfs, statfs, -1, (const char *p, struct statfs *s), (p, s), p, 0)
PATH_CALL(int, statfs64, statfs, -1, (const char *p, struct statfs64 *s), (p, s), p, 0)
FD_CALL(int, fstatfs, fstatfs, -1, (int fd, struct statfs *s), (fd, s), fd)
FD_CALL(int, fstatfs64, fstatfs, -1, (int fd, struct statfs64 *s), (fd, s), fd)
FD_CALL(ssize_t, getrandom, getrandom, -1, (void *b, size_t n, unsigned f), (b, n, f), n)
FD_CALL(int, getrlimit, getrlimit, -1, (__rlimit_resource_t r, struct rlimit *l), (r, l), 0)
FD_CALL(int, getrlimit64, getrlimit, -1, (__rlimit_resource_t r, struct rlimit64 *l), (r, l), 0)
PATH_CALL(FILE *, fopen, fopen, NULL, (const char *p, const char *m), (p, m), p, 0)
PATH_CALL(FILE *, fopen64, fopen, NULL, (const char *p, const char *m), (p, m), p, 0)

ssize_t getdents64(int fd, void *buf, size_t count) {
  ENTER(getdents64, NULL, count, count >= 2048);
  FAIL_IF(-1);
  NEED(getdents64);
  return real_getdents64(fd, buf, SHORTEN(count));
}

// Never inject EINTR here either: close is not retried, the fd is gone.
int close(int fd) {
  ENTER(close, NULL, fd, 0);
  NEED(close);
  int r = real_close(fd);
  if (act_ == 1) {
    errno = err_;
    return -1;
  }
  return r;
}

#define FCNTL_LIKE(fn)                          \
  int fn(int fd, int cmd, ...) {                \
    va_list ap;                                 \
    va_start(ap, cmd);                          \
    long arg = va_arg(ap, long);                \
    va_end(ap);                                 \
    ENTER(fcntl, NULL, cmd, 0);                 \
    FAIL_IF(-1);                                \
    NEED(fn);                                   \
    return real_##fn(fd, cmd, arg);             \
  }
FCNTL_LIKE(fcntl)
FCNTL_LIKE(fcntl64)

// pthread_create reports its error as the return value.
int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*f)(void *), void *arg) {
  ENTER(pthread_create, NULL, 0, 0);
  if (act_ == 1) return err_ == EINTR ? EAGAIN : err_;
  NEED(pthread_create);
  return real_pthread_create(t, a, f, arg);
}

// syscall(2): named by the system call number; getdents64's count can be shortened.
long syscall(long nr, ...) {
  va_list ap;
  va_start(ap, nr);
  long a[6];
  for (int i = 0; i < 6; ++i) a[i] = va_arg(ap, long);
  va_end(ap);
  uintptr_t ra_ = (uintptr_t)__builtin_extract_return_addr(__builtin_return_address(0));
  int act_ = 0, err_ = 0;
  if (from_addon(ra_)) {
    int name = N_syscall_other;
    const char *path = NULL;
    int can_short = 0;
    switch (nr) {
      case SYS_fstat: name = N_fstat; break;
      case SYS_newfstatat: name = N_fstatat; path = (const char *)a[1]; break;
      case SYS_statx: name = N_statx; path = (const char *)a[1]; break;
      case SYS_getdents64: name = N_getdents64; can_short = a[2] >= 2048; break;
      case SYS_renameat2: name = N_renameat2; path = (const char *)a[3]; break;
      case SYS_renameat: name = N_renameat; path = (const char *)a[3]; break;
      case SYS_openat: name = N_openat; path = (const char *)a[1]; break;
      case SYS_close: name = N_close; break;
      case SYS_copy_file_range: name = N_copy_file_range; can_short = a[4] >= 2; break;
      default: break;
    }
    act_ = decide(name, ra_, path, nr, can_short, &err_);
    if (act_ == 2) a[nr == SYS_copy_file_range ? 4 : 2] /= 2;
    if (act_ == 1 && nr == SYS_close) {
      NEED(syscall);
      real_syscall(nr, a[0]);
      errno = err_;
      return -1;
    }
  }
  FAIL_IF(-1);
  NEED(syscall);
  return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

// ---- control calls (never from the addon) ----
static int control(const char *path);
int access(const char *path, int mode) {
  if (strncmp(path, CONTROL, sizeof CONTROL - 1) == 0) {
    if (control(path) == 0) return 0;
    errno = EINVAL;
    return -1;
  }
  NEED(access);
  return real_access(path, mode);
}
int faccessat(int dir, const char *path, int mode, int flags) {
  if (strncmp(path, CONTROL, sizeof CONTROL - 1) == 0) {
    if (control(path) == 0) return 0;
    errno = EINVAL;
    return -1;
  }
  NEED(faccessat);
  return real_faccessat(dir, path, mode, flags);
}
