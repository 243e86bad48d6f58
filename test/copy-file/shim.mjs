// Issue 12, the single-file engine: what copyFile promises about an existing
// destination, a changing source, setuid bits, temporary names and failed
// syscalls, each checked on the real filesystems. Syscalls that must fail (or
// a source that must shrink at one exact moment) are arranged by a tiny
// LD_PRELOAD shim built here and loaded only into a child process; the
// syscall itself still runs against the kernel.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { copyFile, copyFileSync, constants } from 'cowcopy'
import { PORTABLE } from './engines.mjs'
import { makeFile, onFs, sameBytes, tmpScratch } from './helpers.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const entry = path.join(root, 'dist/index.mjs')

// ---------------------------------------------------------------------------
// The shim: COWCOPY_TEST_SHIM lists what it does (comma-separated).
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

let shimPath = null
function shim(t) {
  if (shimPath) return shimPath
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'cowcopy-shim-'))
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, 'shim.c'), SHIM_C)
  shimPath = path.join(dir, 'shim.so')
  execFileSync('gcc', ['-shared', '-fPIC', '-O1', '-Wall', '-Werror', '-o', shimPath, path.join(dir, 'shim.c'), '-ldl'])
  return shimPath
}

/**
 * Runs copyFileSync(src, dest, opts) in a child process with the shim doing
 * `actions`; returns { result } or { error: { code, message } }.
 */
function copyUnderShim(t, actions, src, dest, opts, env = {}) {
  const code = `
    import { copyFileSync } from ${JSON.stringify(entry)}
    try {
      const r = copyFileSync(${JSON.stringify(src)}, ${JSON.stringify(dest)}, ${JSON.stringify(opts)})
      console.log(JSON.stringify({ result: r }))
    } catch (e) {
      console.log(JSON.stringify({ error: { code: e.code, message: e.message } }))
    }`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    encoding: 'utf8',
    env: { ...process.env, LD_PRELOAD: shim(t), COWCOPY_TEST_SHIM: actions.join(','), ...env },
  })
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

const names = (dir) => fs.readdirSync(dir).sort()
const tempNames = (dir) => names(dir).filter((n) => n.includes('.cowcopy-'))

// ---------------------------------------------------------------------------
// 2. reflink 'always' over a destination the clone refuses: left as it was.
for (const [label, copy] of [
  ["reflink 'always'", (s, d) => copyFileSync(s, d, { reflink: 'always' })],
  ['COPYFILE_FICLONE_FORCE', (s, d) => copyFileSync(s, d, constants.COPYFILE_FICLONE_FORCE)],
  ["promise reflink 'always'", (s, d) => copyFile(s, d, { reflink: 'always' })],
]) {
  onFs(t, 'btrfs', `${label} over a NODATACOW destination leaves it intact`, async (t, dir) => {
    const src = path.join(dir, 'src')
    const dest = path.join(dir, 'dest')
    makeFile(src, 5000)
    fs.writeFileSync(dest, '')
    execFileSync('chattr', ['+C', dest])
    makeFile(dest, 10000)
    const before = fs.readFileSync(dest)
    if (PORTABLE) {
      // DIFFERENCES.existingDestination: the clone goes to a new file beside
      // it (not NOCOW), renamed over the old one.
      const ino = fs.statSync(dest).ino
      t.equal((await copy(src, dest)).method, 'clone')
      t.ok(sameBytes(src, dest), 'the destination is the clone')
      t.not(fs.statSync(dest).ino, ino, 'a new inode')
    } else {
      await t.rejects(async () => copy(src, dest), { code: 'EINVAL' })
      t.same(fs.readFileSync(dest), before, 'destination unchanged, size and bytes')
    }
    // In a NOCOW directory every new file is NOCOW too: the clone is refused
    // on both engines (the portable one's temporary file included), and the
    // destination is left as it was, with nothing beside it.
    const nocow = path.join(dir, 'nocow')
    fs.mkdirSync(nocow)
    execFileSync('chattr', ['+C', nocow])
    const inNocow = path.join(nocow, 'dest')
    makeFile(inNocow, 10000)
    const old = fs.readFileSync(inNocow)
    await t.rejects(async () => copy(src, inNocow), { code: 'EINVAL' })
    t.same(fs.readFileSync(inNocow), old, 'in a NOCOW directory: destination unchanged, size and bytes')
    t.same(names(nocow), ['dest'], 'no temporary left')
  })
}

for (const fsName of ['btrfs', 'xfs']) {
  onFs(t, fsName, "reflink 'always' over a longer destination still clones (partial last block)", async (t, dir) => {
    const src = path.join(dir, 'src')
    const dest = path.join(dir, 'dest')
    makeFile(src, 3 * 4096 + 100)
    makeFile(dest, 10 * 4096 + 7)
    const r = copyFileSync(src, dest, { reflink: 'always' })
    t.equal(r.method, 'clone')
    t.ok(sameBytes(src, dest), 'exact copy')
  })
}

onFs(t, 'btrfs', "reflink 'auto' over a NODATACOW destination copies the bytes", async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  makeFile(src, 5000)
  fs.writeFileSync(dest, '')
  execFileSync('chattr', ['+C', dest])
  makeFile(dest, 10000)
  const ino = fs.statSync(dest).ino
  const r = copyFileSync(src, dest)
  if (PORTABLE) {
    // DIFFERENCES.existingDestination: a new file (not NOCOW) replaces it, so the clone works.
    t.equal(r.method, 'clone')
    t.not(fs.statSync(dest).ino, ino, 'a new inode')
  } else t.not(r.method, 'clone')
  t.ok(sameBytes(src, dest), 'exact copy')
})

// ---------------------------------------------------------------------------
// 6. A source that shrinks during the copy: the copy holds what was copied,
// never zeros or an old tail up to the size the source had when opened.
for (const fsName of ['btrfs', 'xfs', 'ext4']) {
  onFs(t, fsName, 'sparse walk: a source shrunk after fstat is not padded', async (t, dir) => {
    const src = path.join(dir, 'shrinkme')
    const dest = path.join(dir, 'dest')
    const fd = fs.openSync(src, 'w')
    fs.writeSync(fd, Buffer.alloc(65536, 7), 0, 65536, 0)
    fs.ftruncateSync(fd, 4 << 20) // a hole to 4 MiB: a sparse walk
    fs.closeSync(fd)
    // Shrunk at the native walk's first SEEK_DATA, or at the portable loop's first read.
    const out = copyUnderShim(t, [PORTABLE ? 'shrink_read' : 'shrink_seek'], src, dest, { reflink: 'never' }, { COWCOPY_TEST_SHRINK: '0' })
    t.notOk(out.error, JSON.stringify(out.error))
    t.equal(fs.statSync(dest).size, 0, 'the copy ends where the source ended')
  })
}

for (const fsName of ['btrfs', 'xfs']) {
  onFs(t, fsName, 'clone over a longer destination: a source shrunk at the clone leaves no old tail', async (t, dir) => {
    const src = path.join(dir, 'shrinkme')
    const dest = path.join(dir, 'dest')
    makeFile(src, 8192)
    makeFile(dest, 16384)
    const head = fs.readFileSync(src).subarray(0, 4096)
    const out = copyUnderShim(t, ['shrink_clone'], src, dest, { reflink: 'always' }, { COWCOPY_TEST_SHRINK: '4096' })
    t.notOk(out.error, JSON.stringify(out.error))
    t.same(fs.readFileSync(dest), head, 'the 4096 bytes the clone took, nothing more')
  })
}

// ---------------------------------------------------------------------------
// 9. setuid/setgid and ownership (as root).
const asRoot = process.getuid() === 0 ? {} : { skip: 'needs root' }
for (const [api, copy] of [
  ['sync', (s, d, o) => copyFileSync(s, d, o)],
  ['promise', (s, d, o) => copyFile(s, d, o)],
]) {
  t.test(`${api}: setuid/setgid follow cp's rule`, asRoot, async (t) => {
    const dir = tmpScratch(t)
    const src = path.join(dir, 'tool')
    fs.writeFileSync(src, '#!/bin/sh\n')
    fs.chownSync(src, 65534, 65534)
    fs.chmodSync(src, 0o6755)
    await copy(src, path.join(dir, 'plain'))
    let st = fs.statSync(path.join(dir, 'plain'))
    t.equal(st.mode & 0o7777, 0o755, "nobody's 6755 becomes root's 0755")
    t.equal(st.uid, 0)
    await copy(src, path.join(dir, 'owned'), { preserve: { ownership: true } })
    st = fs.statSync(path.join(dir, 'owned'))
    t.equal(st.mode & 0o7777, 0o6755, 'with ownership kept, the bits stay')
    t.equal(st.uid, 65534)
    t.equal(st.gid, 65534)
    fs.chownSync(src, 0, 0)
    fs.chmodSync(src, 0o6755)
    await copy(src, path.join(dir, 'mine'))
    st = fs.statSync(path.join(dir, 'mine'))
    t.equal(st.mode & 0o7777, 0o6755, "the copier's own file keeps them")
    // Over an existing destination too.
    fs.chownSync(src, 65534, 65534)
    fs.chmodSync(src, 0o6755)
    await copy(src, path.join(dir, 'mine'))
    t.equal(fs.statSync(path.join(dir, 'mine')).mode & 0o7777, 0o755, 'existing destination: dropped too')
  })
}

// ---------------------------------------------------------------------------
// 12. atomic.
for (const fsName of ['btrfs', 'xfs', 'ext4', 'tmpfs']) {
  onFs(t, fsName, 'atomic: names of 234-255 bytes', async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 10000)
    for (const name of ['a'.repeat(234), 'b'.repeat(255), 'é'.repeat(127) + 'x']) {
      const dest = path.join(dir, name)
      for (const overwrite of [true, false]) {
        fs.rmSync(dest, { force: true })
        copyFileSync(src, dest, { atomic: true, overwrite })
        t.ok(sameBytes(src, dest), `${Buffer.byteLength(name)} bytes, overwrite ${overwrite}`)
      }
      copyFileSync(src, dest, { atomic: true }) // over an existing one
      t.ok(sameBytes(src, dest))
    }
    // Without O_TMPFILE the temporary name is visible: it must fit too.
    const dest = path.join(dir, 'c'.repeat(255))
    const out = copyUnderShim(t, ['no_tmpfile'], src, dest, { atomic: true })
    t.notOk(out.error, JSON.stringify(out.error))
    t.ok(sameBytes(src, dest))
    t.same(tempNames(dir), [], 'no temporary left')
  })

  onFs(t, fsName, 'atomic: a symlink at dest is replaced, not followed', async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 10000)
    const dest = path.join(dir, 'dest')
    // A symlink to the source itself: a copy replaces the link.
    fs.symlinkSync('src', dest)
    copyFileSync(src, dest, { atomic: true })
    t.ok(fs.lstatSync(dest).isFile(), 'the link became a regular file')
    t.ok(sameBytes(src, dest))
    // A symlink to a directory: replaced too, the directory untouched.
    fs.rmSync(dest)
    fs.mkdirSync(path.join(dir, 'elsewhere'))
    fs.symlinkSync('elsewhere', dest)
    copyFileSync(src, dest, { atomic: true })
    t.ok(fs.lstatSync(dest).isFile())
    t.same(fs.readdirSync(path.join(dir, 'elsewhere')), [])
    // overwrite false: a (dangling) symlink takes the name.
    fs.rmSync(dest)
    fs.symlinkSync('nowhere', dest)
    t.throws(() => copyFileSync(src, dest, { atomic: true, overwrite: false }), { code: 'EEXIST' })
    t.ok(fs.lstatSync(dest).isSymbolicLink())
  })

  onFs(t, fsName, 'atomic + overwrite false onto the same file: EEXIST', async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 1000)
    fs.linkSync(src, path.join(dir, 'hard'))
    t.throws(() => copyFileSync(src, src, { atomic: true, overwrite: false }), { code: 'EEXIST' })
    t.throws(() => copyFileSync(src, path.join(dir, 'hard'), { atomic: true, overwrite: false }), { code: 'EEXIST' })
    t.equal(copyFileSync(src, src, { atomic: true }).method, 'none', 'overwrite: nothing to do')
  })
}

for (const fsName of ['btrfs', 'xfs', 'ext4']) {
  onFs(t, fsName, 'atomic + overwrite false with O_TMPFILE: no temporary name ever exists', async (t, dir) => {
    const src = path.join(dir, 'src')
    const dest = path.join(dir, 'dest')
    makeFile(src, 10000)
    // Any link to a temporary name fails: the copy must not need one.
    const out = copyUnderShim(t, ['fail_tmp_link'], src, dest, { atomic: true, overwrite: false })
    t.notOk(out.error, JSON.stringify(out.error))
    t.ok(sameBytes(src, dest))
    const again = copyUnderShim(t, ['fail_tmp_link'], src, dest, { atomic: true, overwrite: false })
    t.equal(again.error?.code, 'EEXIST')
    t.same(names(dir), ['dest', 'src'])
  })
}

// 21. atomic + fsync: the directory fsync fails after the rename.
onFs(t, 'xfs', 'atomic + fsync: a failed directory sync says the destination was replaced', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  makeFile(src, 10000)
  makeFile(dest, 500)
  const out = copyUnderShim(t, ['fail_dir_fsync'], src, dest, { atomic: true, fsync: true })
  t.equal(out.error?.code, 'EIO')
  t.match(out.error?.message, /in place \(destination replaced\), but its directory could not be synced/)
  t.ok(sameBytes(src, dest), 'the destination is the new file, as the error says')
  t.same(tempNames(dir), [])
})

// 25. atomic + overwrite false, no RENAME_NOREPLACE: link, then unlink.
onFs(t, 'xfs', 'atomic + overwrite false without RENAME_NOREPLACE: a failed unlink is not a success', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  makeFile(src, 10000)
  const out = copyUnderShim(t, ['no_tmpfile', 'no_noreplace', 'fail_tmp_unlink_once'], src, dest,
    { atomic: true, overwrite: false })
  t.equal(out.error?.code, 'EIO', 'reported')
  t.same(names(dir), ['src'], 'no destination, no hidden second name')
  const ok = copyUnderShim(t, ['no_tmpfile', 'no_noreplace'], src, dest, { atomic: true, overwrite: false })
  t.notOk(ok.error, 'the fallback works when unlink does')
  t.same(names(dir), ['dest', 'src'])
  t.equal(fs.statSync(dest).nlink, 1)
})

// 17. A failed close(): the created file is removed only while it is ours.
onFs(t, 'xfs', 'a failed close removes the created file, never the one now at its name', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'closeme')
  makeFile(src, 10000)
  // A clone (the portable engine: by fs.copyFile), and a copy by read/write
  // (the portable engine: its own loop).
  for (const opts of [{}, { reflink: 'never' }]) {
    fs.rmSync(dest, { force: true })
    fs.writeFileSync(dest + '.other', 'someone else')
    const out = copyUnderShim(t, ['close_swap'], src, dest, opts)
    t.equal(out.error?.code, 'EIO', `${JSON.stringify(opts)}: the failed close is reported`)
    t.equal(fs.readFileSync(dest, 'utf8'), 'someone else', 'the other file survives')
    t.same(names(dir), ['closeme', 'src'], 'nothing else left')
  }
})

// ---------------------------------------------------------------------------
// 3 and 7/8, engine side: replace_by_rename and the OpenRules, from C++ with
// no binding in the way (test/engine/copy_file_test.cc).
const ENGINE = ['copy_file', 'open_path', 'copy_data', 'fallback', 'sparse', 'preserve', 'atomic_dest', 'ladder']
let engineBin = null
function engineTest(t) {
  if (engineBin) return engineBin
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'cowcopy-engine-'))
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  engineBin = path.join(dir, 'copy_file_test')
  execFileSync('g++', ['-std=c++17', '-O1', '-Wall', '-Wextra', '-Werror', '-D_FILE_OFFSET_BITS=64', '-pthread', '-o', engineBin,
    path.join(root, 'test/engine/copy_file_test.cc'),
    ...ENGINE.map((f) => path.join(root, `src-native/engine/${f}.cc`))])
  return engineBin
}

for (const fsName of ['btrfs', 'xfs', 'ext4', 'tmpfs']) {
  onFs(t, fsName, 'engine: replace_by_rename and the open rules', async (t, dir) => {
    let out
    try {
      out = execFileSync(engineTest(t), [dir], { encoding: 'utf8' })
    } catch (e) {
      out = e.stdout + (e.stderr || '')
    }
    t.match(out, /^\d+ checks, 0 failed$/m, out.trim())
  })
}
