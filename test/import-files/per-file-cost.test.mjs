// Per-file cost of a tree: what one cloned file of an importFiles or a
// copyDir costs in system calls, read with strace (never guessed), and that
// every file gets its mode.
//
// copyDir: in a directory it made 0700, a clone of the size seen at open
// proves what the file holds: open, fstat, create, FICLONERANGE, close,
// close. importFiles' directories are 0777 less the umask, where another
// process of the same user may put a name: after the whole-file clone, the
// fstat gives the size the clone took and the file's identity, so a failed
// close() removes the name only while it is still this file.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { PORTABLE } from '../engines.mjs'
import { makeFile, onFs } from '../helpers.mjs'
import { shimEnv } from '../copy-file/shim.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const DIST = path.join(root, 'dist', 'index.js')
const HAVE_STRACE = spawnSync('strace', ['-V'], { encoding: 'utf8' }).status === 0

const SCRIPT = `const c = require(process.argv[1]);
  const [how, src, dest, names] = process.argv.slice(2);
  (async () => {
    const r = how === 'copyDir'
      ? await c.copyDir(src, dest, { concurrency: 1 })
      : await c.importFiles(dest, JSON.parse(names).map((n) => ['pkg/lib/' + n, src + '/' + n]), { concurrency: 1 });
    console.log(JSON.stringify({ clone: r.methods.clone, errors: r.errors.map((e) => e.error.message) }));
  })().catch((e) => { console.log(JSON.stringify({ error: e.stack })); process.exitCode = 1 })`

/** For each file created under `names`: the calls made on it and on its source, in order. */
function perFile(lines, names) {
  const files = new Map(names.map((n) => [n, []]))
  const owner = new Map() // fd -> file name, while open
  for (const line of lines) {
    const m = /^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(line)
    if (!m) continue
    const [, call, args, ret] = m
    const opened = /^openat\(-?\w+, "([^"]*)"/.exec(`${call}(${args}`)
    if (opened) {
      const name = path.basename(opened[1])
      if (files.has(name) && Number(ret) >= 0) {
        owner.set(ret, name)
        files.get(name).push(/O_CREAT/.test(args) ? 'create' : 'open')
      }
      continue
    }
    const fd = args.split(',')[0]
    const name = owner.get(fd)
    if (name === undefined) continue
    files.get(name).push(call === 'ioctl' ? args.split(',')[1].trim().split(' ').pop() : call)
    if (call === 'close') owner.delete(fd)
  }
  return files
}

for (const fsName of ['xfs', 'btrfs']) {
  for (const how of ['importFiles', 'copyDir']) {
    const want = how === 'copyDir'
      ? ['open', 'fstat', 'create', 'FICLONERANGE', 'close', 'close']
      : ['open', 'fstat', 'create', 'FICLONE', 'fstat', 'close', 'close']
    onFs(t, fsName, `${how}: a cloned file in a directory the call made is ${want.join(', ')}`, async (t, dir) => {
      if (PORTABLE) return t.skip('the native engine\'s system calls')
      if (!HAVE_STRACE) {
        if (process.env.CI) t.fail('CI needs strace (apt-get install strace)')
        else t.skip('strace is not installed')
        return
      }
      const src = path.join(dir, 'src')
      fs.mkdirSync(src)
      const names = Array.from({ length: 12 }, (_, i) => `file-${i}`)
      names.forEach((n, i) => makeFile(path.join(src, n), 1000 + 4096 * i))
      const dest = path.join(dir, 'dest')
      const log = path.join(dir, 'strace.log')
      const r = spawnSync('strace', ['-f', '-qq', '-o', log, '-e', 'trace=openat,open,fstat,newfstatat,statx,ioctl,fchmod,close',
        process.execPath, '-e', SCRIPT, '--', DIST, how, src, dest, JSON.stringify(names)], { encoding: 'utf8', timeout: 60000 })
      t.equal(r.status, 0, r.stderr)
      t.same(JSON.parse(r.stdout), { clone: names.length, errors: [] })
      const files = perFile(fs.readFileSync(log, 'utf8').split('\n'), names)
      for (const [name, calls] of files) {
        t.same(calls, want, `${name}: ${calls.join(', ')}`)
      }
      const out = how === 'copyDir' ? dest : path.join(dest, 'pkg/lib')
      for (const n of names) {
        t.ok(fs.readFileSync(path.join(out, n)).equals(fs.readFileSync(path.join(src, n))), `${n}: the same bytes`)
        t.equal(fs.statSync(path.join(out, n)).mode & 0o777, 0o644, `${n}: its mode`)
      }
    })
  }

  // A source shrunk just before the clone: the copy holds what it then had,
  // never the size seen at open.
  onFs(t, fsName, 'importFiles: a source shrunk before the clone is copied as it is then', async (t, dir) => {
    if (PORTABLE) return t.skip('the native engine\'s clone')
    const src = path.join(dir, 'shrinkme')
    makeFile(src, 8192)
    const head = fs.readFileSync(src).subarray(0, 4096)
    const dest = path.join(dir, 'dest')
    const code = `const c = require(${JSON.stringify(DIST)});
      c.importFiles(${JSON.stringify(dest)}, [['lib/f', ${JSON.stringify(src)}]], { reflink: 'always' })
        .then((r) => console.log(JSON.stringify({ clone: r.methods.clone, errors: r.errors.map((e) => e.error.message) })))`
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: shimEnv(['shrink_clone'], { COWCOPY_TEST_SHRINK: '4096' }) })
    t.equal(r.status, 0, r.stderr)
    t.same(JSON.parse(r.stdout), { clone: 1, errors: [] })
    t.same(fs.readFileSync(path.join(dest, 'lib/f')), head, 'the 4096 bytes the source then had, nothing more')
  })
}

// The mode a new file is created with is kept only while nothing takes it
// away: a clone that falls back to a byte copy (ext4, tmpfs) makes the file
// private first, so it must be given its mode at the end. Every mode as
// fs.copyFile leaves it, under three umasks, staged or not.
const MODES = [0o644, 0o755, 0o600, 0o700, 0o444, 0o4755, 0o2750, 0o1777]
const MODE_SCRIPT = `const c = require(process.argv[1]); const fs = require('fs'); const path = require('path');
  const [mask, dir, modes] = process.argv.slice(2);
  process.umask(parseInt(mask, 8));
  (async () => {
    const out = {};
    const entries = [];
    for (const mode of JSON.parse(modes)) {
      const src = path.join(dir, 'src-' + mode.toString(8));
      fs.writeFileSync(src, 'x'.repeat(5000));
      fs.chmodSync(src, mode);
      fs.copyFileSync(src, path.join(dir, 'fs-' + mode.toString(8)));
      out['fs-' + mode.toString(8)] = fs.statSync(path.join(dir, 'fs-' + mode.toString(8))).mode & 0o7777;
      entries.push(['lib/' + mode.toString(8), src]);
    }
    for (const stage of [false, true]) {
      const dest = path.join(dir, 'stage-' + stage);
      const r = await c.importFiles(dest, entries, { stage });
      if (r.errors.length) throw r.errors[0].error;
      for (const [rel] of entries) out[stage + '-' + path.basename(rel)] = fs.statSync(path.join(dest, rel)).mode & 0o7777;
    }
    console.log(JSON.stringify(out));
  })().catch((e) => { console.log(e.stack); process.exitCode = 1 })`

for (const fsName of ['ext4', 'tmpfs', 'xfs']) {
  onFs(t, fsName, 'importFiles: every mode as fs.copyFile leaves it, under umask 022, 077, 000, staged or not', async (t, dir) => {
    for (const mask of ['022', '077', '000']) {
      const sub = path.join(dir, mask)
      fs.mkdirSync(sub)
      const r = spawnSync(process.execPath, ['-e', MODE_SCRIPT, '--', DIST, mask, sub, JSON.stringify(MODES)], { encoding: 'utf8', timeout: 30000 })
      t.equal(r.status, 0, r.stdout + r.stderr)
      if (r.status !== 0) continue
      const got = JSON.parse(r.stdout)
      for (const mode of MODES) {
        const m = mode.toString(8)
        const want = got[`fs-${m}`].toString(8)
        t.same([got[`false-${m}`].toString(8), got[`true-${m}`].toString(8)], [want, want], `umask ${mask}, source ${m}: as fs.copyFile (${want}), staged or not`)
      }
    }
  })
}
