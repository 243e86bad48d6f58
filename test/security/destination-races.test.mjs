// Attacks on copyDir from a destination directory another user can write,
// made deterministic: the moment the attacker needs is produced by a tiny LD_PRELOAD shim (built by this test)
// that acts right after the addon's own mkdirat/mkdir/symlinkat returns (or
// the portable engine's mkdir/symlink), as a racer watching with inotify
// would. The real syscalls run; only the timing is forced.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildShim, onFs } from '../helpers.mjs'
import { copyDir } from '../../dist/index.js'
import { LAYER, PORTABLE } from '../engines.mjs'

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const asRoot = process.getuid() === 0 ? {} : { skip: 'needs root (the attack is on root copying)' }

// SWAP_MKDIR=<name>: after mkdirat/mkdir of a directory whose last component
// is <name> succeeds, exchange it with the directory SWAP_WITH (absolute).
// SWAP_LINK=1: after symlinkat makes a ".cowcopy-*.lnk" name (the portable
// engine: symlink makes a ".<name>.cowcopy-<hex>" name), replace that name
// with a hard link to the file SWAP_WITH.
const SHIM_C = String.raw`
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
static const char* base(const char* p) { const char* s = strrchr(p, '/'); return s ? s + 1 : p; }
static int done;
static void swap_dir(int dir, const char* name) {
  const char* want = getenv("SWAP_MKDIR");
  const char* with = getenv("SWAP_WITH");
  if (done || !want || !with || strcmp(base(name), want) != 0) return;
  done = 1;
  syscall(SYS_renameat2, dir, name, AT_FDCWD, with, 2 /* RENAME_EXCHANGE */);
}
int mkdirat(int dir, const char* name, mode_t mode) {
  static int (*real)(int, const char*, mode_t);
  if (!real) real = (int (*)(int, const char*, mode_t))dlsym(RTLD_NEXT, "mkdirat");
  int r = real(dir, name, mode);
  if (r == 0) swap_dir(dir, name);
  return r;
}
int mkdir(const char* name, mode_t mode) {
  static int (*real)(const char*, mode_t);
  if (!real) real = (int (*)(const char*, mode_t))dlsym(RTLD_NEXT, "mkdir");
  int r = real(name, mode);
  if (r == 0) swap_dir(AT_FDCWD, name);
  return r;
}
int symlinkat(const char* target, int dir, const char* name) {
  static int (*real)(const char*, int, const char*);
  if (!real) real = (int (*)(const char*, int, const char*))dlsym(RTLD_NEXT, "symlinkat");
  int r = real(target, dir, name);
  const char* with = getenv("SWAP_WITH");
  size_t n = strlen(name);
  if (r == 0 && getenv("SWAP_LINK") && with && strncmp(name, ".cowcopy-", 9) == 0 && n > 4 &&
      strcmp(name + n - 4, ".lnk") == 0) {
    unlinkat(dir, name, 0);
    linkat(AT_FDCWD, with, dir, name, 0);
  }
  return r;
}
int symlink(const char* target, const char* name) {
  static int (*real)(const char*, const char*);
  if (!real) real = (int (*)(const char*, const char*))dlsym(RTLD_NEXT, "symlink");
  int r = real(target, name);
  const char* with = getenv("SWAP_WITH");
  const char* b = base(name);
  if (r == 0 && getenv("SWAP_LINK") && with && b[0] == '.' && strstr(b, ".cowcopy-")) {
    unlink(name);
    link(with, name);
  }
  return r;
}
`

// copyDir in a child under the shim; its result (errors by code) as JSON.
function copyDirUnderShim(src, dest, opts, env) {
  // Over the clone layer a new tree is cloned whole in a private holder
  // directory, with no mkdir or open of the destination by name for these
  // faults to hit (the holder's own proofs: test/engine/clone_layer_test.cc);
  // listFiles keeps the per-file walk they attack under test there.
  if (LAYER) opts = { ...opts, listFiles: true }
  const script = `
    const { copyDir } = require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))})
    copyDir(process.argv[1], process.argv[2], JSON.parse(process.argv[3])).then(
      (r) => console.log(JSON.stringify({ ok: true, errors: r.errors.map((e) => [e.error.code, e.error.message]) })),
      (e) => console.log(JSON.stringify({ ok: false, code: e.code, message: e.message })))`
  const r = spawnSync(process.execPath, ['-e', script, src, dest, JSON.stringify(opts)], {
    encoding: 'utf8', timeout: 30000, env: { ...process.env, LD_PRELOAD: buildShim(SHIM_C), ...env },
  })
  if (r.status !== 0) throw new Error(`child failed (${r.status} ${r.signal}): ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

function victimDir(scratch, name) {
  const v = path.join(scratch, name)
  fs.mkdirSync(v, { mode: 0o700 })
  fs.writeFileSync(path.join(v, 'secret'), 'private')
  fs.chownSync(v, 1234, 1234)
  fs.chmodSync(v, 0o700)
  return v
}

for (const preserve of [false, true]) {
  onFs(t, 'ext4', `a directory swapped in between mkdirat and open keeps its mode and owner (preserve ${preserve})`, async (t, dir) => {
    if (asRoot.skip) return t.skip(asRoot.skip)
    const src = path.join(dir, 'src')
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
    fs.chmodSync(path.join(src, 'sub'), 0o777)
    fs.chownSync(path.join(src, 'sub'), 65534, 65534)
    fs.writeFileSync(path.join(src, 'sub', 'f'), 'from the source')
    const dest = path.join(dir, 'dest')
    fs.mkdirSync(dest, { mode: 0o777 })
    const victim = victimDir(dest, 'victim')
    const r = copyDirUnderShim(src, dest, { preserve }, { SWAP_MKDIR: 'sub', SWAP_WITH: victim })
    t.ok(r.ok, JSON.stringify(r))
    // The victim's directory now sits at dest/sub (the racer moved it).
    const st = fs.statSync(path.join(dest, 'sub'))
    t.equal(st.mode & 0o777, 0o700, "the other user's directory keeps its mode")
    t.equal(st.uid, 1234, 'and its owner')
    t.notOk(fs.existsSync(path.join(dest, 'sub', 'f')), 'nothing of the source was written into it')
    t.match(r.errors.map((e) => e[1]).join('\n'), /replaced while being copied/, 'the entry is reported')
  })
}

onFs(t, 'tmpfs', 'destDir swapped in between mkdir and open: not filled, chmod-ed or removed', async (t, dir) => {
  if (asRoot.skip) return t.skip(asRoot.skip)
  const src = path.join(dir, 'src')
  fs.mkdirSync(src, { mode: 0o777 })
  fs.chmodSync(src, 0o777)
  fs.writeFileSync(path.join(src, 'f'), 'from the source')
  const shared = path.join(dir, 'shared')
  fs.mkdirSync(shared, { mode: 0o777 })
  const victim = victimDir(shared, 'victim')
  const r = copyDirUnderShim(src, path.join(shared, 'out'), {}, { SWAP_MKDIR: 'out', SWAP_WITH: victim })
  t.notOk(r.ok, 'the copy fails')
  t.equal(r.code, 'ESTALE', r.message)
  const st = fs.statSync(path.join(shared, 'out'))
  t.equal(st.mode & 0o777, 0o700, "the other user's directory keeps its mode")
  t.same(fs.readdirSync(path.join(shared, 'out')), ['secret'], 'and its contents')
})

onFs(t, 'tmpfs', "preserve: a symlink's owner and times never land on what replaced its temporary name", async (t, dir) => {
  if (asRoot.skip) return t.skip(asRoot.skip)
  const outside = path.join(dir, 'home1234')
  fs.mkdirSync(outside)
  const file = path.join(outside, 'shared.log')
  fs.writeFileSync(file, 'theirs', { mode: 0o666 })
  fs.chownSync(file, 1234, 1234)
  fs.utimesSync(file, 1000, 1000)
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  fs.symlinkSync('target', path.join(src, 'l'))
  fs.lchownSync(path.join(src, 'l'), 65534, 65534)
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(dest, { mode: 0o777 })
  fs.symlinkSync('old', path.join(dest, 'l')) // an existing link: replaced via a temporary name
  const r = copyDirUnderShim(src, dest, { preserve: true }, { SWAP_LINK: '1', SWAP_WITH: file })
  t.ok(r.ok, JSON.stringify(r))
  const st = fs.statSync(file)
  t.equal(st.uid, 1234, 'the outside file keeps its owner')
  t.equal(st.mtimeMs, 1000 * 1000, 'and its times')
  t.match(r.errors.map((e) => e[1]).join('\n'), /replaced while being copied/, 'the link is reported')
})

onFs(t, 'ext4', 'a destination directory moved into the source during the walk is not copied into itself', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(path.join(src, 'sub', 'c'), { recursive: true })
  fs.writeFileSync(path.join(src, 'sub', 'f'), 'x')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(dest)
  let moved = false
  const ac = new AbortController()
  const timer = setTimeout(() => ac.abort(), 20000)
  // The filter runs once per directory, after its listing: when src/sub is
  // listed, dest/sub exists and is moved to src/sub/c/c, as a racer would.
  const r = await copyDir(src, dest, {
    signal: ac.signal,
    concurrency: 1,
    filter: (rel) => {
      if (!moved && rel === 'sub/c') {
        moved = true
        fs.renameSync(path.join(dest, 'sub'), path.join(src, 'sub', 'c', 'c'))
      }
      return true
    },
  })
  clearTimeout(timer)
  t.ok(moved, 'the move happened')
  if (PORTABLE) {
    // The portable walk goes by name (engines.mjs DIFFERENCES.descriptorRules): it
    // never follows the moved directory, whose names below dest/ are gone.
    t.ok(r.errors.some((e) => e.error.code === 'ENOENT' && e.dest === path.join(dest, 'sub', 'c')),
      `dest/sub/c cannot be made (${r.errors.map((e) => e.error.message).join('; ')})`)
  } else t.match(r.errors.map((e) => e.error.message).join('\n'), /cannot copy a directory into itself/)
  let depth = 0
  for (let p = path.join(src, 'sub', 'c'); fs.existsSync(path.join(p, 'c')); p = path.join(p, 'c')) depth++
  t.ok(depth <= 2, `the walk stopped (nesting ${depth})`)
})
