// An LD_PRELOAD shim for copyFileSync in a child process, built here and
// loaded only there; the syscalls still run against the kernel.
// COWCOPY_TEST_SHIM lists what it does (comma-separated): no_tmpfile and
// no_noreplace refuse O_TMPFILE and RENAME_NOREPLACE; fail_tmp_link and
// fail_tmp_unlink_once fail a link to / the first unlink of a temporary name;
// fail_dir_fsync fails a directory fsync; close_swap fails close() while
// another file takes the name; shrink_read, shrink_seek and shrink_clone
// truncate the source (to COWCOPY_TEST_SHRINK) at its first read, SEEK_DATA
// or clone.
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildShim } from '../helpers.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const entry = path.join(root, 'dist/index.mjs')

const SHIM_C = String.raw`
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

static int on(const char* what) {
  const char* s = getenv("COWCOPY_TEST_SHIM");
  if (!s) return 0;
  size_t n = strlen(what);
  for (const char* p = s; (p = strstr(p, what)) != NULL; p += n)
    if ((p == s || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return 1;
  return 0;
}
static int fd_path(int fd, char* out, size_t size) {
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(proc, out, size - 1);
  if (n < 0) return -1;
  out[n] = 0;
  return 0;
}
static int ends_with(const char* s, const char* tail) {
  size_t a = strlen(s), b = strlen(tail);
  return a >= b && strcmp(s + a - b, tail) == 0;
}
#define REAL(name) static __typeof__(name)* real_##name; if (!real_##name) real_##name = dlsym(RTLD_NEXT, #name)

static int tmpfile_refused(int flags) { return on("no_tmpfile") && (flags & O_TMPFILE) == O_TMPFILE; }
int openat(int dir, const char* p, int flags, ...) {
  REAL(openat);
  va_list ap; va_start(ap, flags); mode_t m = va_arg(ap, mode_t); va_end(ap);
  if (tmpfile_refused(flags)) { errno = EOPNOTSUPP; return -1; }
  return real_openat(dir, p, flags, m);
}
int openat64(int dir, const char* p, int flags, ...) {
  REAL(openat64);
  va_list ap; va_start(ap, flags); mode_t m = va_arg(ap, mode_t); va_end(ap);
  if (tmpfile_refused(flags)) { errno = EOPNOTSUPP; return -1; }
  return real_openat64(dir, p, flags, m);
}
int open(const char* p, int flags, ...) {
  REAL(open);
  va_list ap; va_start(ap, flags); mode_t m = va_arg(ap, mode_t); va_end(ap);
  if (tmpfile_refused(flags)) { errno = EOPNOTSUPP; return -1; }
  return real_open(p, flags, m);
}
int open64(const char* p, int flags, ...) {
  REAL(open64);
  va_list ap; va_start(ap, flags); mode_t m = va_arg(ap, mode_t); va_end(ap);
  if (tmpfile_refused(flags)) { errno = EOPNOTSUPP; return -1; }
  return real_open64(p, flags, m);
}
static int close_swapped(int fd);
long syscall(long n, ...) {
  REAL(syscall);
  va_list ap; va_start(ap, n);
  long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long),
       d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
  va_end(ap);
  if (n == SYS_renameat2 && (e & 1) && on("no_noreplace")) { errno = EINVAL; return -1; }
  // libuv (the portable engine's fs calls) closes with syscall(SYS_close).
  if (n == SYS_close && close_swapped((int)a)) return -1;
  return real_syscall(n, a, b, c, d, e, f);
}
static int unlink_failed;
static int unlink_fails(const char* p) {
  if (on("fail_tmp_unlink_once") && strstr(p, ".cowcopy-") && !unlink_failed) {
    unlink_failed = 1; errno = EIO; return 1;
  }
  return 0;
}
int unlinkat(int dir, const char* p, int flags) {
  REAL(unlinkat);
  if (unlink_fails(p)) return -1;
  return real_unlinkat(dir, p, flags);
}
// fs.unlink (the portable engine) calls unlink(2) by name.
int unlink(const char* p) {
  REAL(unlink);
  if (unlink_fails(p)) return -1;
  return real_unlink(p);
}
int linkat(int d1, const char* p1, int d2, const char* p2, int flags) {
  REAL(linkat);
  if (on("fail_tmp_link") && strstr(p2, ".cowcopy-")) { errno = EIO; return -1; }
  return real_linkat(d1, p1, d2, p2, flags);
}
int fsync(int fd) {
  REAL(fsync);
  struct stat st;
  if (on("fail_dir_fsync") && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) { errno = EIO; return -1; }
  return real_fsync(fd);
}
static int close_swapped(int fd) {
  REAL(close);
  char p[4096];
  if (!on("close_swap") || fd_path(fd, p, sizeof p) != 0) return 0;
  // closeme, or the portable engine's temporary name for it.
  char* slash = strrchr(p, '/');
  if (!slash || (strcmp(slash, "/closeme") != 0 && strncmp(slash, "/.closeme.cowcopy-", 18) != 0)) return 0;
  // close() reports a failed write-back, and meanwhile someone else's file
  // took the name.
  real_close(fd);
  *slash = 0;
  char other[4200], name[4200];
  snprintf(other, sizeof other, "%s/closeme.other", p);
  snprintf(name, sizeof name, "%s/closeme", p);
  // (In a directory the call made, the other file is written now.)
  { FILE* f = fopen(other, "wx"); if (f) { fputs("someone else", f); fclose(f); } }
  rename(other, name);
  errno = EIO;
  return 1;
}
int close(int fd) {
  REAL(close);
  if (close_swapped(fd)) return -1;
  return real_close(fd);
}
static int shrunk;
static void maybe_shrink(int fd) {
  char p[4096];
  if (shrunk || fd_path(fd, p, sizeof p) != 0 || !ends_with(p, "/shrinkme")) return;
  shrunk = 1;
  truncate(p, atoll(getenv("COWCOPY_TEST_SHRINK")));
}
// The portable engine has no SEEK_DATA: its own loop's first read is the moment.
ssize_t pread64(int fd, void* buf, size_t n, off_t off) {
  REAL(pread64);
  if (on("shrink_read")) maybe_shrink(fd);
  return real_pread64(fd, buf, n, off);
}
ssize_t preadv64(int fd, const struct iovec* iov, int count, off_t off) {
  REAL(preadv64);
  if (on("shrink_read")) maybe_shrink(fd);
  return real_preadv64(fd, iov, count, off);
}
off_t lseek(int fd, off_t off, int whence) {
  REAL(lseek);
  if (on("shrink_seek") && whence == SEEK_DATA) maybe_shrink(fd);
  return real_lseek(fd, off, whence);
}
off_t lseek64(int fd, off_t off, int whence) {
  REAL(lseek64);
  if (on("shrink_seek") && whence == SEEK_DATA) maybe_shrink(fd);
  return real_lseek64(fd, off, whence);
}
int ioctl(int fd, unsigned long req, ...) {
  REAL(ioctl);
  va_list ap; va_start(ap, req); void* arg = va_arg(ap, void*); va_end(ap);
  if (on("shrink_clone") && req == FICLONE) maybe_shrink((int)(long)arg);
  if (on("shrink_clone") && req == FICLONERANGE) maybe_shrink((int)((struct file_clone_range*)arg)->src_fd);
  return real_ioctl(fd, req, arg);
}
`

/**
 * Runs copyFileSync(src, dest, opts) in a child process with the shim doing
 * `actions`; returns { result } or { error: { code, message } }.
 */
export function copyUnderShim(t, actions, src, dest, opts, env = {}) {
  const code = `
    import { copyFileSync } from ${JSON.stringify(entry)}
    try {
      const r = copyFileSync(${JSON.stringify(src)}, ${JSON.stringify(dest)}, ${JSON.stringify(opts)})
      console.log(JSON.stringify({ result: r }))
    } catch (e) {
      console.log(JSON.stringify({ error: { code: e.code, message: e.message } }))
    }`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', env: shimEnv(actions, env) })
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

/** A child's environment with the shim loaded, doing `actions`. */
export function shimEnv(actions, env = {}) {
  return { ...process.env, LD_PRELOAD: buildShim(SHIM_C), COWCOPY_TEST_SHIM: actions.join(','), ...env }
}

export const names = (dir) => fs.readdirSync(dir).sort()
export const tempNames = (dir) => names(dir).filter((n) => n.includes('.cowcopy-'))
