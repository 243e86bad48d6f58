// copyDir failures no filesystem gives on demand, from a small LD_PRELOAD
// shim built here (it fails one named call on one named path, nothing
// else): opening or fstat-ing the destination root the call just made
// removes that root again; an existing destination root is never removed; a
// symlink whose timestamps cannot be set leaves nothing the call created
// and keeps the link it was to replace.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { copyDir } from 'cowcopy'
import { buildShim, onFs } from '../helpers.mjs'
import { LAYER } from '../engines.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

const write = (file, data, mode = 0o644) => {
  fs.writeFileSync(file, data, { mode })
  fs.chmodSync(file, mode)
}

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

function shim(t) {
  try {
    return buildShim(SHIM)
  } catch (e) {
    t.fail(`could not build the shim: ${e.stderr}`)
    return null
  }
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

// dir/src holding one file, and dir/dest (not made).
function oneFileSource(dir) {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  write(path.join(src, 'f'), 'x')
  return { src, dest: path.join(dir, 'dest') }
}

onFs(t, 'xfs', 'opening the just-created destination root fails: nothing left', async (t, dir) => {
  const { src, dest } = oneFileSource(dir)
  const r = copyDirUnderShim(t, `open:${EIO}:${dest}`, src, dest)
  t.equal(r?.fatal?.code, 'EIO', 'the open failure reported')
  t.notOk(fs.existsSync(dest), 'the directory the call made is removed')
})

onFs(t, 'xfs', 'fstat of the just-created destination root fails: nothing left', async (t, dir) => {
  const { src, dest } = oneFileSource(dir)
  const r = copyDirUnderShim(t, `fstat:${EIO}:${dest}`, src, dest)
  t.equal(r?.fatal?.code, 'EIO', 'the fstat failure reported')
  t.notOk(fs.existsSync(dest), 'the directory the call made is removed')
})

onFs(t, 'xfs', 'an existing destination root is never removed', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(dest)
  const r = copyDirUnderShim(t, `open:${EIO}:${dest}`, src, dest)
  t.equal(r?.fatal?.code, 'EIO')
  t.ok(fs.statSync(dest).isDirectory(), 'still there')
})

onFs(t, 'xfs', 'a symlink whose timestamps fail leaves nothing the call created', async (t, dir) => {
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
