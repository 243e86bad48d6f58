// Per-file cost: what one cloned file costs in system calls (read
// with strace, never guessed), and that creating a new destination with its
// final mode (no fchmod) leaves every mode exactly as fs.copyFile would,
// under any umask, for every entry point.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { copyFile, copyFileSync, copyFiles } from 'cowcopy'
import { onFs } from '../helpers.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const DIST = path.join(root, 'dist', 'index.js')

const HAVE_STRACE = spawnSync('strace', ['-V'], { encoding: 'utf8' }).status === 0
const NO_STRACE = 'strace is not installed (apt-get install -y strace; .ci/run installs it)'

// The calls the copy makes on its two files, in order. The child marks the
// window with stats of two names that do not exist; within it only the lines
// naming src/dest, or an fd opened from them while open, are kept.
const TRACED = 'openat,open,creat,fstat,newfstatat,statx,ioctl,fchmod,fchown,close,ftruncate,fcntl,fsync,' +
  'linkat,renameat,renameat2,unlinkat,utimensat,copy_file_range,sendfile,flistxattr,fsetxattr'

const TRACE_SCRIPT = `const c = require(process.argv[1]); const fs = require('fs');
  const [how, src, dest, opts] = process.argv.slice(2);
  const o = JSON.parse(opts);
  const mark = (m) => fs.statSync('/cowcopy-trace-' + m, { throwIfNoEntry: false });
  (async () => {
    mark('begin');
    const r = how === 'sync' ? c.copyFileSync(src, dest, o) : await c.copyFile(src, dest, o);
    mark('end');
    console.log(r.method);
  })().catch((e) => { console.log(e.stack); process.exitCode = 1 })`

/** [{ call, args, ret }] of one copy, as strace saw it. */
function traceCopy(t, dir, how, src, dest, opts = {}, method = 'clone') {
  const out = path.join(dir, `trace-${how}.txt`)
  const r = spawnSync('strace', ['-f', '-qq', '-o', out, '-e', `trace=${TRACED}`,
    process.execPath, '-e', TRACE_SCRIPT, '--', DIST, how, src, dest, JSON.stringify(opts)], { encoding: 'utf8', timeout: 30000 })
  t.equal(r.stdout, `${method}\n`, `the child's method (${r.stderr})`)
  const lines = fs.readFileSync(out, 'utf8').split('\n')
  const begin = lines.findIndex((l) => l.includes('/cowcopy-trace-begin'))
  const end = lines.findIndex((l) => l.includes('/cowcopy-trace-end'))
  const fds = new Set()
  const calls = []
  for (const line of lines.slice(begin + 1, end)) {
    // "<pid> name(args) = ret"
    const m = /^\d+\s+(\w+)\((.*)\)\s+=\s+(-?\d+)/.exec(line)
    if (!m) continue
    const [, call, args, ret] = m
    const first = args.split(',')[0]
    const names = args.includes(JSON.stringify(src)) || args.includes(JSON.stringify(dest)) ||
      args.includes(JSON.stringify(path.dirname(dest)))
    if (names || fds.has(first)) {
      calls.push({ call: call === 'newfstatat' && args.includes('AT_EMPTY_PATH') ? 'fstat' : call, args, ret })
      if (/^open/.test(call) && Number(ret) >= 0) fds.add(ret)
      if (call === 'close') fds.delete(first)
    }
  }
  fs.rmSync(out)
  return calls
}

for (const name of ['xfs', 'btrfs']) {
  onFs(t, name, 'one cloned file: open, fstat, create with the final mode, clone, fstat, close, close', async (t, dir) => {
    if (!HAVE_STRACE) return t.skip(NO_STRACE)
    const src = path.join(dir, 'src')
    fs.writeFileSync(src, Buffer.alloc(5000, 1))
    fs.chmodSync(src, 0o644)
    for (const how of ['sync', 'promise']) {
      const dest = path.join(dir, `dest-${how}`)
      const calls = traceCopy(t, dir, how, src, dest)
      t.same(calls.map((c) => c.call), ['openat', 'fstat', 'openat', 'ioctl', 'fstat', 'close', 'close'],
        `${how}: 7 calls, no fchmod:\n${calls.map((c) => `${c.call}(${c.args}) = ${c.ret}`).join('\n')}`)
      t.match(calls[2].args, /O_CREAT\|O_EXCL.*, 0644$/, `${how}: the destination is created 0644 at once`)
      t.equal(fs.statSync(dest).mode & 0o7777, 0o644, `${how}: mode`)
    }
  })

  onFs(t, name, 'one cloned file, atomic: the O_TMPFILE is created with the final mode, no fchmod', async (t, dir) => {
    if (!HAVE_STRACE) return t.skip(NO_STRACE)
    const src = path.join(dir, 'src')
    fs.writeFileSync(src, Buffer.alloc(5000, 1))
    fs.chmodSync(src, 0o755)
    const dest = path.join(dir, 'dest')
    const calls = traceCopy(t, dir, 'sync', src, dest, { atomic: true })
    const listing = calls.map((c) => `${c.call}(${c.args}) = ${c.ret}`).join('\n')
    t.notOk(calls.some((c) => c.call === 'fchmod'), `no fchmod:\n${listing}`)
    t.ok(calls.some((c) => /O_TMPFILE.*, 0755$/.test(c.args)), `created 0755:\n${listing}`)
    t.equal(fs.statSync(dest).mode & 0o7777, 0o755)
  })

  onFs(t, name, 'what still needs the fchmod: setuid, a umask that strips bits, an existing file, preserved ownership', async (t, dir) => {
    if (!HAVE_STRACE) return t.skip(NO_STRACE)
    const src = path.join(dir, 'src')
    fs.writeFileSync(src, Buffer.alloc(5000, 1))
    const cases = [
      // [source mode, options, the create mode expected (null: no create), fchmod expected]
      [0o4755, {}, '0600', true],
      [0o1644, {}, '0600', true],
      [0o644, { preserve: { ownership: true } }, '0600', true],
      [0o644, { preserve: { xattrs: true } }, '0600', true],
    ]
    for (const [mode, opts, createMode, fchmod] of cases) {
      fs.chmodSync(src, mode)
      const dest = path.join(dir, `dest-${mode.toString(8)}-${Object.keys(opts.preserve ?? {}).join()}`)
      const calls = traceCopy(t, dir, 'sync', src, dest, opts)
      const listing = calls.map((c) => `${c.call}(${c.args}) = ${c.ret}`).join('\n')
      const what = `${mode.toString(8)} ${JSON.stringify(opts)}`
      t.match(calls[2].args, new RegExp(`O_CREAT\\|O_EXCL.*, ${createMode}$`), `${what}: created ${createMode}\n${listing}`)
      t.equal(calls.some((c) => c.call === 'fchmod'), fchmod, `${what}: fchmod ${fchmod}`)
      t.equal(fs.statSync(dest).mode & 0o7777, mode, `${what}: final mode`)
    }
    // An existing destination keeps its inode: its mode is set as before.
    fs.chmodSync(src, 0o644)
    const dest = path.join(dir, 'existing')
    fs.writeFileSync(dest, 'old')
    fs.chmodSync(dest, 0o600)
    const calls = traceCopy(t, dir, 'sync', src, dest)
    t.ok(calls.some((c) => c.call === 'fchmod'), 'existing destination: fchmod')
    t.equal(fs.statSync(dest).mode & 0o7777, 0o644, 'existing destination: mode')
  })
}

// A clone that falls back to a byte copy (ext4 cannot clone): the file was
// created with its final mode for the clone, so it is made private before
// the first byte and given its mode after the last.
onFs(t, 'ext4', "reflink 'auto' without clones: private (0600) before the first byte, the mode after the last", async (t, dir) => {
  if (!HAVE_STRACE) return t.skip(NO_STRACE)
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, Buffer.alloc(5000, 1))
  fs.chmodSync(src, 0o644)
  const dest = path.join(dir, 'dest')
  const calls = traceCopy(t, dir, 'sync', src, dest, {}, 'copy_file_range')
  const listing = calls.map((c) => `${c.call}(${c.args}) = ${c.ret}`).join('\n')
  const at = (re) => calls.findIndex((c) => re.test(`${c.call}(${c.args})`))
  const ficlone = at(/^ioctl\(.*FICLONE/)
  const privately = at(/^fchmod\(\d+, 0600\)/)
  const data = at(/^copy_file_range\(/)
  const final = at(/^fchmod\(\d+, 0644\)/)
  t.ok(ficlone >= 0 && ficlone < privately && privately < data && data < final, `clone tried, 0600, data, 0644:\n${listing}`)
  t.equal(fs.statSync(dest).mode & 0o7777, 0o644)
})

// The same matrix in a child per umask (process.umask is per process):
// every mode as fs.copyFile leaves it, whatever the umask.
const MODES = [0o644, 0o755, 0o600, 0o4755, 0o777, 0o2755, 0o444]
const MATRIX_SCRIPT = `const c = require(process.argv[1]); const fs = require('fs'); const path = require('path');
  const [mask, dir, modes] = process.argv.slice(2);
  process.umask(parseInt(mask, 8));
  const out = {};
  (async () => {
    for (const mode of JSON.parse(modes)) {
      const src = path.join(dir, 'src-' + mode.toString(8));
      fs.writeFileSync(src, 'x'.repeat(5000));
      fs.chmodSync(src, mode);
      for (const how of ['sync', 'promise', 'copyFiles']) {
        for (const atomic of [false, true]) {
          for (const existing of [false, true]) {
            const dest = path.join(dir, ['d', mask, mode.toString(8), how, atomic, existing].join('-'));
            if (existing) { fs.writeFileSync(dest, 'old'); fs.chmodSync(dest, mode === 0o600 ? 0o644 : 0o600) }
            if (how === 'sync') c.copyFileSync(src, dest, { atomic });
            else if (how === 'promise') await c.copyFile(src, dest, { atomic });
            else if (atomic) continue; // copyFiles replaces through a temporary file always
            else { const r = await c.copyFiles([[src, dest]]); if (r.errors.length) throw r.errors[0].error }
            out[dest] = fs.statSync(dest).mode & 0o7777;
          }
        }
      }
    }
    console.log(JSON.stringify(out));
  })().catch((e) => { console.log(e.stack); process.exitCode = 1 })`

for (const name of ['xfs', 'btrfs', 'ext4', 'tmpfs']) {
  onFs(t, name, 'modes under umask 022, 077, 000: sync, promise, copyFiles; atomic or not; new or existing', async (t, dir) => {
    for (const mask of ['022', '077', '000']) {
      const sub = path.join(dir, mask)
      fs.mkdirSync(sub)
      const r = spawnSync(process.execPath, ['-e', MATRIX_SCRIPT, '--', DIST, mask, sub, JSON.stringify(MODES)],
        { encoding: 'utf8', timeout: 30000 })
      t.equal(r.status, 0, r.stdout + r.stderr)
      if (r.status !== 0) continue
      const got = JSON.parse(r.stdout)
      t.ok(Object.keys(got).length >= MODES.length * 10, 'every combination ran')
      for (const [dest, mode] of Object.entries(got)) {
        const want = Number.parseInt(path.basename(dest).split('-')[2], 8)
        t.equal(mode.toString(8), want.toString(8), path.basename(dest))
      }
    }
  })
}

// The in-process API too (the tests above run children): a quick check that
// the mode survives this process's own umask.
onFs(t, 'xfs', 'in process: copyFile, copyFileSync and copyFiles keep 0640 under umask 027', async (t, dir) => {
  const old = process.umask(0o027)
  t.teardown(() => process.umask(old))
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'data')
  fs.chmodSync(src, 0o666)
  copyFileSync(src, path.join(dir, 'a'))
  await copyFile(src, path.join(dir, 'b'))
  await copyFiles([[src, path.join(dir, 'c')]])
  for (const f of ['a', 'b', 'c']) t.equal(fs.statSync(path.join(dir, f)).mode & 0o7777, 0o666, f)
})
