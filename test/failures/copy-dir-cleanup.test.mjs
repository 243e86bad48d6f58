// copyDir (and copyFiles) over trees and destinations another user can write
// (issue 12, items 3, 7, 8, 10, 17, 22, 23, 24): a listed entry swapped
// before it is opened is never copied from outside the tree; a symlink in the
// destination is never followed; pre-existing directories keep their mode; a
// replaced symlink is replaced atomically; a failure leaves nothing the call
// created. The swaps happen in the copyDir filter, which the walk calls after
// listing a directory and before copying anything in it: deterministic races.
// Failures no filesystem gives on demand come from a small LD_PRELOAD shim
// built here (it fails one named call on one named path, nothing else).
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { copyDir, copyFiles } from 'cowcopy'
import { needMounts, onFs, openFds, tmpScratch } from './helpers.mjs'
import { LAYER, PORTABLE, TIME_SLACK_NS } from './engines.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

const write = (file, data, mode = 0o644) => {
  fs.writeFileSync(file, data, { mode })
  fs.chmodSync(file, mode)
}
const modeOf = (p) => fs.lstatSync(p).mode & 0o7777
const errorFor = (r, name) => r.errors.find((e) => path.basename(e.src) === name)

// ---------------------------------------------------------------- item 7

for (const concurrency of [1, 2]) {
  onFs(t, 'xfs', `7: a listed file swapped for a symlink to a secret is not copied (concurrency ${concurrency})`, async (t, dir) => {
    const src = path.join(dir, 'src')
    const dest = path.join(dir, 'dest')
    const secret = path.join(dir, 'secret')
    fs.mkdirSync(src)
    write(secret, 'TOP SECRET', 0o600)
    write(path.join(src, 'a'), 'public a')
    write(path.join(src, 'b'), 'public b')
    const r = await copyDir(src, dest, {
      concurrency,
      filter: (rel) => {
        if (rel === 'a') {
          fs.unlinkSync(path.join(src, 'a'))
          fs.symlinkSync(secret, path.join(src, 'a'))
        }
        return true
      },
    })
    t.notOk(fs.existsSync(path.join(dest, 'a')) && fs.readFileSync(path.join(dest, 'a'), 'utf8') === 'TOP SECRET',
      'the secret was not copied')
    t.notOk(fs.existsSync(path.join(dest, 'a')), 'nothing created at its name')
    const e = errorFor(r, 'a')
    t.ok(e, 'an error entry names the file')
    t.equal(e?.error.code, 'ELOOP', 'ELOOP: the leaf is a symlink, not followed')
    t.equal(fs.readFileSync(path.join(dest, 'b'), 'utf8'), 'public b', 'the other file copied')
    t.equal(r.files, 1)
  })
}

onFs(t, 'xfs', '7: a listed file swapped for a FIFO: no hang, an error entry, nothing created', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(src)
  write(path.join(src, 'a'), 'public a')
  const r = await copyDir(src, dest, {
    concurrency: 1,
    filter: (rel) => {
      if (rel === 'a') {
        // Made before a is gone: an unlink first let XFS give the FIFO a's
        // inode number, which the native listing check cannot tell apart.
        execFileSync('mkfifo', [path.join(src, 'a.fifo')])
        fs.renameSync(path.join(src, 'a.fifo'), path.join(src, 'a'))
      }
      return true
    },
  })
  t.notOk(fs.existsSync(path.join(dest, 'a')), 'nothing created')
  const e = errorFor(r, 'a')
  t.ok(e, 'an error entry names the file')
  if (PORTABLE) {
    // No inode in Node's listing to compare with (engines.mjs DIFFERENCES.listedInode):
    // refused as any FIFO is, by the fstat of the descriptor opened O_NONBLOCK.
    t.equal(e?.error.code, 'EINVAL')
    t.match(e?.error.message, /source is a FIFO, not a regular file/)
  } else t.match(e?.error.message, /replaced while being copied/)
})

onFs(t, 'xfs', '7: a listed file swapped for another regular file (inode mismatch) is skipped', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(src)
  write(path.join(src, 'a'), 'public a')
  const other = path.join(dir, 'other')
  write(other, 'NOT FROM THE LISTING', 0o600)
  const r = await copyDir(src, dest, {
    concurrency: 2,
    filter: (rel) => {
      if (rel === 'a') fs.renameSync(other, path.join(src, 'a'))
      return true
    },
  })
  if (PORTABLE) {
    // Node's listing has no inode (engines.mjs DIFFERENCES.listedInode): the
    // regular file found at the name when it is opened is copied, with its own mode.
    t.same(r.errors, [])
    t.equal(fs.readFileSync(path.join(dest, 'a'), 'utf8'), 'NOT FROM THE LISTING', 'what was at the name, a file of the tree by then')
    t.equal(modeOf(path.join(dest, 'a')), 0o600, 'at its own mode, no wider')
    return
  }
  t.notOk(fs.existsSync(path.join(dest, 'a')), 'the other file was not copied')
  const e = errorFor(r, 'a')
  t.ok(e, 'an error entry names the file')
  t.match(e?.error.message, /replaced while being copied/)
  t.equal(e?.error.errno, -116, 'ESTALE (open_path.h kReplacedErr)')
})

onFs(t, 'xfs', '7: a listed directory swapped for another directory is skipped', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
  write(path.join(src, 'sub', 'f'), 'public')
  const outside = path.join(dir, 'outside')
  fs.mkdirSync(outside)
  write(path.join(outside, 'secret'), 'TOP SECRET', 0o600)
  const r = await copyDir(src, dest, {
    filter: (rel) => {
      if (rel === 'sub') {
        fs.renameSync(path.join(src, 'sub'), path.join(dir, 'sub.old'))
        fs.renameSync(outside, path.join(src, 'sub'))
      }
      return true
    },
  })
  if (PORTABLE) {
    // Node's listing has no inode (engines.mjs DIFFERENCES.listedInode): the
    // directory at the name when the walk reaches it is copied, never the one moved away.
    t.same(r.errors, [])
    t.same(fs.readdirSync(path.join(dest, 'sub')), ['secret'], 'what was at the name, a directory of the tree by then')
    t.equal(modeOf(path.join(dest, 'sub', 'secret')), 0o600, 'its file at its own mode, no wider')
    return
  }
  t.notOk(fs.existsSync(path.join(dest, 'sub')), 'the directory that was not listed is not copied')
  const e = errorFor(r, 'sub')
  t.ok(e, 'an error entry names the directory')
  t.match(e?.error.message, /replaced while being copied/)
})

// ---------------------------------------------------------------- items 8, 3

// Batches replace an existing destination through a temporary file and
// renameat: a symlink at the name is replaced, never written through.

onFs(t, 'xfs', '8: merging over a symlink planted at a file position never writes through it', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  const outside = path.join(dir, 'outside')
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
  fs.mkdirSync(dest)
  fs.mkdirSync(outside)
  write(path.join(src, 'f'), 'from the source', 0o755)
  write(path.join(src, 'sub', 'g'), 'from the source too')
  const secret = path.join(outside, 'secret')
  write(secret, 'secret content', 0o600)
  fs.symlinkSync(secret, path.join(dest, 'f'))
  fs.symlinkSync(outside, path.join(dest, 'sub'))
  const r = await copyDir(src, dest)
  t.equal(fs.readFileSync(secret, 'utf8'), 'secret content', 'the secret keeps its content')
  t.equal(modeOf(secret), 0o600, 'and its mode')
  t.same(fs.readdirSync(outside), ['secret'], 'nothing written into the directory the planted link points at')
  t.ok(errorFor(r, 'sub'), 'a symlink where a directory goes is an error')
  const f = path.join(dest, 'f')
  if (errorFor(r, 'f')) {
    t.equal(errorFor(r, 'f').error.code, 'ELOOP', 'refused, not followed')
    t.ok(fs.lstatSync(f).isSymbolicLink(), 'the link left as it was')
  }
  t.ok(fs.lstatSync(f).isFile(), 'dest/f is a regular file now')
  if (fs.lstatSync(f).isFile()) {
    t.equal(fs.readFileSync(f, 'utf8'), 'from the source')
    t.equal(modeOf(f), 0o755)
  }
})

onFs(t, 'xfs', '3: copyFiles replaces a symlink at the destination, never writes through it', async (t, dir) => {
  const secret = path.join(dir, 'secret')
  write(secret, 'secret content', 0o600)
  write(path.join(dir, 'a'), 'new content')
  fs.symlinkSync(secret, path.join(dir, 'b'))
  const r = await copyFiles([[path.join(dir, 'a'), path.join(dir, 'b')]])
  t.equal(fs.readFileSync(secret, 'utf8'), 'secret content', 'the secret keeps its content')
  t.equal(modeOf(secret), 0o600, 'and its mode')
  t.ok(fs.lstatSync(path.join(dir, 'b')).isFile(), 'the link replaced by the file')
  t.same(r.errors, [])
})

// ---------------------------------------------------------------- item 10

for (const preserve of [false, true]) {
  onFs(t, 'xfs', `10: pre-existing directories keep their mode (preserve: ${preserve})`, async (t, dir) => {
    const src = path.join(dir, 'src')
    const dest = path.join(dir, 'dest')
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
    fs.mkdirSync(path.join(src, 'new'))
    write(path.join(src, 'sub', 'f'), 'x')
    fs.chmodSync(src, 0o777)
    fs.chmodSync(path.join(src, 'sub'), 0o777)
    fs.chmodSync(path.join(src, 'new'), 0o750)
    fs.mkdirSync(path.join(dest, 'sub'), { recursive: true })
    fs.chmodSync(dest, 0o700)
    fs.chmodSync(path.join(dest, 'sub'), 0o700)
    const r = await copyDir(src, dest, { preserve })
    t.same(r.errors, [])
    t.equal(modeOf(dest), 0o700, 'destDir keeps its mode')
    t.equal(modeOf(path.join(dest, 'sub')), 0o700, 'an existing subdirectory keeps its mode')
    t.equal(modeOf(path.join(dest, 'new')), 0o750, 'a directory the call created takes the source mode')
    if (preserve) {
      const s = fs.statSync(path.join(src, 'sub'))
      // To the microsecond on the portable engine (test/engines.mjs TIME_SLACK_NS).
      t.ok(Math.abs(fs.statSync(path.join(dest, 'sub')).mtimeMs - s.mtimeMs) <= Number(TIME_SLACK_NS) / 1e6, 'timestamps still applied to an existing one (cp -p)')
    }
  })
}

// ---------------------------------------------------------------- item 22

t.test('22: replacing a symlink whose new link cannot be made keeps the old one, real errno', async (t) => {
  // XFS refuses symlink targets over 1024 bytes (ENAMETOOLONG); btrfs takes them.
  const dirs = needMounts(t, 'btrfs', 'xfs')
  if (!dirs) return
  const src = fs.mkdtempSync(path.join(dirs[0], 'tt-'))
  const dest = fs.mkdtempSync(path.join(dirs[1], 'tt-'))
  t.teardown(() => {
    fs.rmSync(src, { recursive: true, force: true })
    fs.rmSync(dest, { recursive: true, force: true })
  })
  fs.symlinkSync('x'.repeat(2000), path.join(src, 'l'))
  fs.symlinkSync('short', path.join(src, 'm'))
  fs.symlinkSync('old-target', path.join(dest, 'l'))
  fs.symlinkSync('old-m', path.join(dest, 'm'))
  fs.mkdirSync(path.join(dest, 'd'))
  fs.symlinkSync('to-a-dir', path.join(src, 'd'))
  const r = await copyDir(src, dest)
  t.equal(fs.readlinkSync(path.join(dest, 'l')), 'old-target', 'the old link is still there')
  t.equal(errorFor(r, 'l')?.error.code, 'ENAMETOOLONG', 'the real errno, not EEXIST')
  t.equal(fs.readlinkSync(path.join(dest, 'm')), 'short', 'a replaceable link replaced')
  t.equal(errorFor(r, 'd')?.error.code, 'EISDIR', 'a directory at the name is not replaced')
  t.ok(fs.statSync(path.join(dest, 'd')).isDirectory())
  t.same(fs.readdirSync(dest).sort(), ['d', 'l', 'm'], 'no temporary name left')
  t.equal(r.symlinks, 1)
})

onFs(t, 'xfs', '22/24: symlinks with preserve, overwrite false: new ones made complete, existing ones kept', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(src)
  fs.mkdirSync(dest)
  fs.symlinkSync('new-target', path.join(src, 'new'))
  fs.symlinkSync('other-target', path.join(src, 'old'))
  fs.symlinkSync('old-target', path.join(dest, 'old'))
  const when = new Date('2001-02-03T04:05:06Z')
  fs.lutimesSync(path.join(src, 'new'), when, when)
  const r = await copyDir(src, dest, { preserve: true, overwrite: false })
  t.equal(fs.readlinkSync(path.join(dest, 'new')), 'new-target')
  t.equal(fs.lstatSync(path.join(dest, 'new')).mtimeMs, when.getTime(), 'its timestamps')
  t.equal(errorFor(r, 'old')?.error.code, 'EEXIST')
  t.equal(fs.readlinkSync(path.join(dest, 'old')), 'old-target', 'the existing link kept')
  t.same(fs.readdirSync(dest).sort(), ['new', 'old'], 'no temporary name left')
  t.equal(r.symlinks, 1)
})

// ------------------------------------------- items 23, 24: the LD_PRELOAD shim

const SHIM = String.raw`
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* COWCOPY_TEST_SHIM="call:errno:path" fails every call of "call" whose path
   is "path" (for fstat: the descriptor's path); "path" ending in '*' is a
   prefix. Everything else passes through. */
static int failing(const char *call, const char *p) {
  const char *spec = getenv("COWCOPY_TEST_SHIM");
  if (!spec || !p) return 0;
  size_t n = strlen(call);
  if (strncmp(spec, call, n) != 0 || spec[n] != ':') return 0;
  char *rest;
  int err = (int)strtol(spec + n + 1, &rest, 10);
  if (*rest != ':') return 0;
  const char *want = rest + 1;
  size_t w = strlen(want);
  if (w && want[w - 1] == '*') return strncmp(p, want, w - 1) == 0 ? err : 0;
  return strcmp(p, want) == 0 ? err : 0;
}

#define REAL(name, type) static type real; if (!real) real = (type)dlsym(RTLD_NEXT, name)

static int do_open(const char *name, int dir, const char *p, int flags, mode_t mode) {
  int err = failing("open", p);
  if (err) { errno = err; return -1; }
  typedef int (*openat_t)(int, const char *, int, ...);
  REAL(name, openat_t);
  return real(dir, p, flags, mode);
}
int open(const char *p, int flags, ...) {
  va_list ap; va_start(ap, flags); mode_t m = va_arg(ap, mode_t); va_end(ap);
  return do_open("openat", AT_FDCWD, p, flags, m);
}
int open64(const char *p, int flags, ...) {
  va_list ap; va_start(ap, flags); mode_t m = va_arg(ap, mode_t); va_end(ap);
  return do_open("openat64", AT_FDCWD, p, flags, m);
}
int openat(int d, const char *p, int flags, ...) {
  va_list ap; va_start(ap, flags); mode_t m = va_arg(ap, mode_t); va_end(ap);
  return do_open("openat", d, p, flags, m);
}
int openat64(int d, const char *p, int flags, ...) {
  va_list ap; va_start(ap, flags); mode_t m = va_arg(ap, mode_t); va_end(ap);
  return do_open("openat64", d, p, flags, m);
}
int utimensat(int d, const char *p, const struct timespec t[2], int flags) {
  int err = failing("utimensat", p);
  if (err) { errno = err; return -1; }
  typedef int (*fn_t)(int, const char *, const struct timespec *, int);
  REAL("utimensat", fn_t);
  return real(d, p, t, flags);
}
long syscall(long nr, ...) {
  va_list ap; va_start(ap, nr);
  long a[6];
  for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
  va_end(ap);
  /* fstat, or statx of a descriptor with an empty path: libuv's fstat, the portable engine's */
  if (nr == SYS_fstat || (nr == SYS_statx && a[1] && *(const char *)a[1] == 0 && (a[2] & AT_EMPTY_PATH))) {
    char link[64], target[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", (int)a[0]);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 0) {
      target[n] = 0;
      int err = failing("fstat", target);
      if (err) { errno = err; return -1; }
    }
  }
  typedef long (*fn_t)(long, ...);
  REAL("syscall", fn_t);
  return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
`

let shimPath
function shim(t) {
  if (shimPath) return shimPath
  const d = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'cowcopy-shim-'))
  process.on('exit', () => fs.rmSync(d, { recursive: true, force: true }))
  fs.writeFileSync(path.join(d, 'shim.c'), SHIM)
  try {
    execFileSync('cc', ['-shared', '-fPIC', '-O1', '-Wall', '-o', path.join(d, 'shim.so'), path.join(d, 'shim.c'), '-ldl'])
  } catch (e) {
    t.fail(`could not build the shim: ${e.stderr}`)
    return null
  }
  return (shimPath = path.join(d, 'shim.so'))
}

// Runs copyDir(src, dest, options) in a child with the shim failing `spec`;
// returns the result (or the rejection as { fatal: {code, message} }).
function copyDirUnderShim(t, spec, src, dest, options = {}) {
  // Over the clone layer a new tree is cloned whole in a private holder
  // directory, with no mkdir or open of the destination by name for these
  // faults to hit (the holder's own proofs: test/engine/clone_layer_test.cc);
  // listFiles keeps the per-file walk they attack under test there.
  if (LAYER) options = { ...options, listFiles: true }
  const so = shim(t)
  if (!so) return null
  const script = `
    import { copyDir } from ${JSON.stringify(pathToFileURL(path.join(root, 'dist/index.mjs')).href)}
    const out = await copyDir(process.argv[1], process.argv[2], JSON.parse(process.argv[3])).then(
      (r) => ({ errors: r.errors.map((e) => ({ src: e.src, code: e.error.code, message: e.error.message })), symlinks: r.symlinks, files: r.files }),
      (e) => ({ fatal: { code: e.code, message: e.message } }))
    process.stdout.write(JSON.stringify(out))`
  const res = spawnSync(process.execPath, ['--input-type=module', '-e', script, src, dest, JSON.stringify(options)], {
    env: { ...process.env, LD_PRELOAD: so, COWCOPY_TEST_SHIM: spec },
    encoding: 'utf8',
    timeout: 30000,
  })
  if (res.status !== 0) {
    t.fail(`child failed: ${res.status} ${res.signal} ${res.stderr}`)
    return null
  }
  return JSON.parse(res.stdout)
}

const EIO = 5

onFs(t, 'xfs', '23: opening the just-created destination root fails: nothing left', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  write(path.join(src, 'f'), 'x')
  const dest = path.join(dir, 'dest')
  const r = copyDirUnderShim(t, `open:${EIO}:${dest}`, src, dest)
  t.equal(r?.fatal?.code, 'EIO', 'the open failure reported')
  t.notOk(fs.existsSync(dest), 'the directory the call made is removed')
})

onFs(t, 'xfs', '23: fstat of the just-created destination root fails: nothing left', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  write(path.join(src, 'f'), 'x')
  const dest = path.join(dir, 'dest')
  const r = copyDirUnderShim(t, `fstat:${EIO}:${dest}`, src, dest)
  t.equal(r?.fatal?.code, 'EIO', 'the fstat failure reported')
  t.notOk(fs.existsSync(dest), 'the directory the call made is removed')
})

onFs(t, 'xfs', '23: an existing destination root is never removed', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(dest)
  const r = copyDirUnderShim(t, `open:${EIO}:${dest}`, src, dest)
  t.equal(r?.fatal?.code, 'EIO')
  t.ok(fs.statSync(dest).isDirectory(), 'still there')
})

onFs(t, 'xfs', '24: a symlink whose timestamps fail leaves nothing the call created', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(src)
  fs.mkdirSync(dest)
  fs.symlinkSync('new-target', path.join(src, 'new'))
  fs.symlinkSync('replacing-target', path.join(src, 'old'))
  fs.symlinkSync('old-target', path.join(dest, 'old'))
  // utimensat on any name in dest (the shim sees the name relative to the dest fd).
  const r = copyDirUnderShim(t, `utimensat:${EIO}:*`, src, dest, { preserve: { timestamps: true } })
  if (!r) return
  t.equal(r.errors.find((e) => e.src.endsWith('/new'))?.code, 'EIO', 'the new link is listed as failed')
  t.equal(r.errors.find((e) => e.src.endsWith('/old'))?.code, 'EIO', 'the replacing link is listed as failed')
  t.notOk(fs.existsSync(path.join(dest, 'new')) || isLink(path.join(dest, 'new')), 'the new link is removed')
  t.equal(fs.readlinkSync(path.join(dest, 'old')), 'old-target', 'the old link kept')
  t.same(fs.readdirSync(dest), ['old'], 'no temporary name left')
  t.equal(r.symlinks, 0)
})

function isLink(p) {
  try {
    return fs.lstatSync(p).isSymbolicLink()
  } catch {
    return false
  }
}

// ---------------------------------------------------------------- item 17

onFs(t, 'xfs', '17: a throwing filter with the queue full: the call rejects, no hang, no fd leak', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  for (let d = 0; d < 30; d++) {
    fs.mkdirSync(path.join(src, `d${d}`), { recursive: true })
    for (let i = 0; i < 80; i++) fs.writeFileSync(path.join(src, `d${d}`, `f${i}`), 'x')
  }
  const fds = openFds()
  let calls = 0
  const boom = new Error('filter failed')
  await t.rejects(copyDir(src, dest, {
    concurrency: 2,
    filter: () => {
      if (++calls > 20 * 80) throw boom
      return true
    },
  }), boom)
  t.same(openFds(), fds, 'no descriptor leaked')
})

t.test('17: the engine turns an exception in the walk into ENOMEM, joins its threads (C++)', (t) => {
  const bin = path.join(tmpScratch(t), 'tree_walk_test')
  const engine = path.join(root, 'src-native/engine')
  const sources = fs.readdirSync(engine).filter((f) => f.endsWith('.cc')).map((f) => path.join(engine, f))
  execFileSync('g++', ['-std=c++17', '-O1', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', bin,
    path.join(root, 'test/engine/tree_walk_test.cc'), ...sources])
  const { dir } = { dir: needMounts(t, 'xfs')?.[0] }
  if (!dir) return t.end()
  const scratch = fs.mkdtempSync(path.join(dir, 'tw-'))
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }))
  const res = spawnSync(bin, [scratch], { encoding: 'utf8', timeout: 20000 })
  t.equal(res.signal, null, 'no hang (killed after 20 s) and no crash')
  t.match(res.stdout, /^\d+ checks, 0 failed$/m, res.stdout + res.stderr)
  t.end()
})
