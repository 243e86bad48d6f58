// importFiles({ stage: true }) in a parent directory other users can write
// (0777, not sticky): the tree is built under a hidden name there, and a
// failed import removes it. Someone who can rename entries in that parent
// can move the staged directory aside and put another user's directory under
// its name just before the failure: the cleanup must remove only the tree
// the call made, never the directory now at that name. The swap is timed by
// an LD_PRELOAD shim at the open of a missing source file (what makes the
// import fail), on both engines.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { buildShim, onFs } from '../helpers.mjs'
import { ROOT } from '../portable/child.mjs'

const SHIM_C = `
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static int done;
// The staged directory (".<base>.cowcopy-<hex>" in PARENT) goes aside; VICTIM takes its name.
static void swap(void) {
  const char* parent = getenv("STAGE_PARENT");
  const char* victim = getenv("STAGE_VICTIM");
  if (done || !parent || !victim) return;
  DIR* d = opendir(parent);
  if (!d) return;
  struct dirent* e;
  char staged[4096] = "", aside[4096];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' && strstr(e->d_name, ".cowcopy-")) {
      snprintf(staged, sizeof staged, "%s/%s", parent, e->d_name);
      break;
    }
  }
  closedir(d);
  if (!staged[0]) return;
  done = 1;
  snprintf(aside, sizeof aside, "%s/aside", parent);
  rename(staged, aside);
  rename(victim, staged);
}
static int hit(const char* p) {
  const char* want = getenv("STAGE_TRIGGER");
  return want && p && strcmp(p, want) == 0;
}
int openat(int dir, const char* p, int flags, ...) {
  static int (*real)(int, const char*, int, ...);
  if (!real) real = (int (*)(int, const char*, int, ...))dlsym(RTLD_NEXT, "openat");
  va_list ap; va_start(ap, flags); int mode = va_arg(ap, int); va_end(ap);
  if (hit(p)) swap();
  return real(dir, p, flags, mode);
}
int open(const char* p, int flags, ...) {
  static int (*real)(const char*, int, ...);
  if (!real) real = (int (*)(const char*, int, ...))dlsym(RTLD_NEXT, "open");
  va_list ap; va_start(ap, flags); int mode = va_arg(ap, int); va_end(ap);
  if (hit(p)) swap();
  return real(p, flags, mode);
}
int open64(const char* p, int flags, ...) {
  static int (*real)(const char*, int, ...);
  if (!real) real = (int (*)(const char*, int, ...))dlsym(RTLD_NEXT, "open64");
  va_list ap; va_start(ap, flags); int mode = va_arg(ap, int); va_end(ap);
  if (hit(p)) swap();
  return real(p, flags, mode);
}
int openat64(int dir, const char* p, int flags, ...) {
  static int (*real)(int, const char*, int, ...);
  if (!real) real = (int (*)(int, const char*, int, ...))dlsym(RTLD_NEXT, "openat64");
  va_list ap; va_start(ap, flags); int mode = va_arg(ap, int); va_end(ap);
  if (hit(p)) swap();
  return real(dir, p, flags, mode);
}
`

const isRoot = process.getuid?.() === 0

for (const engine of ['native', 'portable']) {
  onFs(t, 'ext4', `${engine}: a failed staged import never removes the directory swapped in at the staged name`, async (t, dir) => {
    if (!isRoot) return t.skip('needs root (the victim directory belongs to another user)')
    const parent = path.join(dir, 'shared')
    fs.mkdirSync(parent)
    fs.chmodSync(parent, 0o777)
    const store = path.join(dir, 'store')
    fs.mkdirSync(store)
    fs.writeFileSync(path.join(store, 'a'), 'package file')
    const missing = path.join(store, 'missing')
    const victim = path.join(dir, 'victim')
    fs.mkdirSync(victim, { mode: 0o700 })
    fs.writeFileSync(path.join(victim, 'thesis.tex'), 'years of work')
    fs.chownSync(path.join(victim, 'thesis.tex'), 1234, 1234)
    fs.chownSync(victim, 1234, 1234)
    const script = `
      const { importFiles, native } = require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))})
      importFiles(process.argv[1], [['a', process.argv[2]], ['b', process.argv[3]]], { stage: true }).then(
        (r) => console.log(JSON.stringify({ native, ok: true, files: r.files })),
        (e) => console.log(JSON.stringify({ native, ok: false, code: e.code })))`
    const env = { ...process.env, LD_PRELOAD: buildShim(SHIM_C), STAGE_PARENT: parent, STAGE_VICTIM: victim, STAGE_TRIGGER: missing }
    if (engine === 'portable') env.COWCOPY_NATIVE = '0'
    else delete env.COWCOPY_NATIVE
    const r = spawnSync(process.execPath, ['-e', script, path.join(parent, 'pkg'), path.join(store, 'a'), missing], { encoding: 'utf8', env, timeout: 30000 })
    t.equal(r.status, 0, r.stderr)
    const out = JSON.parse(r.stdout.trim().split('\n').pop())
    t.same(out, { native: engine === 'native', ok: false, code: 'ENOENT' }, `the import fails on the missing source (${engine} engine)`)
    t.notOk(fs.existsSync(victim), 'the victim directory was swapped in (the attack ran)')
    const staged = fs.readdirSync(parent).find((n) => n.includes('.cowcopy-'))
    t.ok(staged, 'the directory at the staged name is still there')
    if (staged) t.equal(fs.readFileSync(path.join(parent, staged, 'thesis.tex'), 'utf8'), 'years of work', "the other user's file survives")
    t.notOk(fs.existsSync(path.join(parent, 'pkg')), 'nothing at the destination')
  })
}
