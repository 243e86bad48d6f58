// Issue 12, the JavaScript facade and the N-API glue: long paths cut at a
// multi-byte character, setuid in the fs fallback, a throwing batch
// onProgress, non-UTF-8 Buffer paths end to end, async filters, the filter's
// thread-safe function on early returns, the umask (077, 000, no /proc), and
// one AbortSignal shared by many calls. Child processes wherever a bug
// would kill or hang the process.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { getEventListeners } from 'node:events'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { copyDir, copyFile, copyFileSync, copyFiles } from 'cowcopy'
import { PORTABLE } from './engines.mjs'
import { onFs } from './helpers.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const DIST = path.join(root, 'dist', 'index.js')
const NATIVE = path.join(root, 'dist', 'native.js')

/** Runs CommonJS `code` in a child node; `args` become process.argv[1..]. */
function child(code, args = [], opts = {}) {
  return spawnSync(process.execPath, ['-e', code, '--', ...args], {
    encoding: 'utf8',
    timeout: 20000,
    ...opts,
    env: { ...process.env, ...opts.env },
  })
}

const B = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))))
const join = (...parts) => B(...parts.flatMap((p, i) => (i ? ['/', p] : [p])))

// ---------------------------------------------------------------------------
// 1. A string path longer than read_path's stack buffer with a multi-byte
// character straddling its end was cut at the character boundary.

/** A path whose `char` starts at byte `at` (deep directories, names <= 200 bytes). */
function longPath(base, at, char) {
  let p = base
  let i = 0
  while (at - Buffer.byteLength(p) - 1 > 200) {
    p = path.join(p, `${i++}`.padEnd(200, 'd'))
  }
  const pad = at - Buffer.byteLength(p) - 1
  fs.mkdirSync(p, { recursive: true })
  return { file: path.join(p, 'a'.repeat(pad) + char + 'tail'), prefix: path.join(p, 'a'.repeat(pad)) }
}

onFs(t, 'ext4', 'a long path with a multi-byte character at the stack buffer end is not cut', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'the payload')
  let n = 0
  for (const char of ['€', '😀']) {
    for (let at = 1016; at <= 1026; at++) {
      for (const how of ['copyFileSync', 'copyFile', 'copyFiles']) {
        const { file, prefix } = longPath(path.join(dir, `t${n++}`), at, char)
        t.equal(Buffer.byteLength(file.slice(0, file.indexOf(char))), at)
        if (how === 'copyFileSync') copyFileSync(src, file)
        else if (how === 'copyFile') await copyFile(src, file)
        else t.same((await copyFiles([[src, file]])).errors, [])
        t.equal(fs.readFileSync(file, 'utf8'), 'the payload', `${how}, ${char} at ${at}: the named file has it`)
        t.notOk(fs.existsSync(prefix), `${how}, ${char} at ${at}: no file named by the prefix`)
        // The same path as a source.
        const back = path.join(dir, `back${n}`)
        copyFileSync(file, back)
        t.equal(fs.readFileSync(back, 'utf8'), 'the payload')
      }
    }
  }
})

// ---------------------------------------------------------------------------
// 9 (fs fallback). setuid/setgid survive only when ownership is preserved or
// the copier owns the source (cp's rule); fs.copyFile keeps them.

onFs(t, 'ext4', 'COWCOPY_NATIVE=0: root copying a 6755 file of uid 65534 does not make a setuid root file', async (t, dir) => {
  if (process.getuid() !== 0) return t.skip('needs root')
  const src = path.join(dir, 'suid')
  fs.writeFileSync(src, '#!/bin/sh\necho hi\n')
  fs.chownSync(src, 65534, 65534)
  fs.chmodSync(src, 0o6755)
  const mine = path.join(dir, 'mine')
  fs.writeFileSync(mine, 'root owns this')
  fs.chmodSync(mine, 0o6755)
  const existing = path.join(dir, 'existing')
  fs.writeFileSync(existing, 'old')
  fs.chmodSync(existing, 0o644)
  const d = (name) => path.join(dir, name)
  const r = child(
    `const c = require(process.argv[1]); const [src, mine, dir] = process.argv.slice(2); const d = (n) => dir + '/' + n;
    (async () => {
      c.copyFileSync(src, d('sync'))
      await c.copyFile(src, d('async'))
      await c.copyFile(src, d('atomic'), { atomic: true })
      c.copyFileSync(src, d('atomic-sync'), { atomic: true })
      await c.copyFile(src, d('existing'))
      const b = await c.copyFiles([[src, d('batch')]])
      if (b.errors.length) throw b.errors[0].error
      await c.copyFile(src, d('owned'), { preserve: { ownership: true } })
      c.copyFileSync(src, d('owned-sync'), { preserve: { ownership: true } })
      await c.copyFile(mine, d('mine-copy'))
      console.log('ok')
    })().catch((e) => { console.log(e.stack); process.exitCode = 1 })`,
    [DIST, src, mine, dir],
    { env: { COWCOPY_NATIVE: '0' } },
  )
  t.equal(r.stdout, 'ok\n', r.stderr)
  for (const name of ['sync', 'async', 'atomic', 'atomic-sync', 'existing', 'batch']) {
    const st = fs.statSync(d(name))
    t.equal(st.mode & 0o7777, 0o755, `${name}: setuid/setgid dropped`)
    t.equal(st.uid, 0, `${name}: owned by the copier`)
    t.equal(fs.readFileSync(d(name), 'utf8'), '#!/bin/sh\necho hi\n')
  }
  for (const name of ['owned', 'owned-sync']) {
    const st = fs.statSync(d(name))
    t.equal(st.uid, 65534, `${name}: ownership preserved`)
    t.equal(st.mode & 0o7777, 0o6755, `${name}: so setuid/setgid are kept`)
  }
  t.equal(fs.statSync(d('mine-copy')).mode & 0o7777, 0o6755, 'the copier owns the source: kept')
  t.same(fs.readdirSync(dir).filter((n) => n.startsWith('.')), [], 'no temporary left')
})

// ---------------------------------------------------------------------------
// 13. A throwing onProgress in copyFiles/copyDir was thrown from a bare
// setInterval: the process died.

onFs(t, 'ext4', 'a throwing batch onProgress rejects the promise and stops the copy', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  // 2 GiB of holes written densely: far longer than the 100 ms first poll.
  fs.writeFileSync(path.join(src, 'big'), '')
  fs.truncateSync(path.join(src, 'big'), 2 ** 31)
  for (const how of ['copyFiles', 'copyDir']) {
    const dest = path.join(dir, `dest-${how}`)
    const r = child(
      `const c = require(process.argv[1]); const [how, src, dest] = process.argv.slice(2);
      const boom = new Error('boom from onProgress')
      const opts = { sparse: false, reflink: 'never', onProgress() { throw boom } }
      const p = how === 'copyFiles' ? c.copyFiles([[src + '/big', dest]], opts) : c.copyDir(src, dest, opts)
      p.then(() => console.log('resolved'), (e) => console.log(e === boom ? 'rejected with the callback error' : 'rejected: ' + e.stack))`,
      [DIST, how, src, dest],
    )
    t.equal(r.status, 0, `${how}: the process lives (${r.stderr})`)
    t.equal(r.stdout, 'rejected with the callback error\n', how)
    const left = how === 'copyFiles' ? fs.existsSync(dest) : fs.existsSync(path.join(dest, 'big'))
    t.notOk(left, `${how}: the file in progress was stopped and removed`)
  }
})

// ---------------------------------------------------------------------------
// 14. Non-UTF-8 Buffer paths: bytes end to end.

onFs(t, 'ext4', 'copyDir and copyFiles with non-UTF-8 Buffer paths: same bytes, exact paths back', async (t, dir) => {
  const d = Buffer.from(dir)
  const src = join(d, B('src', [0xff]))
  fs.mkdirSync(src)
  fs.writeFileSync(join(src, B('a', [0xff], '.txt')), 'A')
  fs.mkdirSync(join(src, B('sub', [0xfe])))
  fs.writeFileSync(join(src, B('sub', [0xfe]), B('x', [0xff, 0xc3])), 'X')
  fs.writeFileSync(join(src, B('skip', [0xff])), 'S')
  // mkfifo by exact bytes: printf makes the 0xff byte in the shell.
  spawnSync('sh', ['-c', `cd "$(printf '%s/src\\377' "$DIR")" && mkfifo "$(printf 'fifo\\377')"`], { env: { ...process.env, DIR: dir } })
  t.ok(fs.existsSync(join(src, B('fifo', [0xff]))), 'the fifo exists')
  const dest = join(d, B('dest', [0xff]))
  const seen = []
  const r = await copyDir(src, dest, {
    listFiles: true,
    filter: (rel, entry) => {
      seen.push([rel, entry.name, entry.parentPath])
      return !(Buffer.isBuffer(rel) && rel.equals(B('skip', [0xff])))
    },
  })
  t.same(r.errors, [])
  const names = (p) => fs.readdirSync(p, { encoding: 'buffer' }).map((b) => b.toString('hex')).sort()
  t.same(names(dest), names(src).filter((h) => h !== B('skip', [0xff]).toString('hex') && h !== B('fifo', [0xff]).toString('hex')))
  t.same(names(join(dest, B('sub', [0xfe]))), [B('x', [0xff, 0xc3]).toString('hex')])
  t.equal(fs.readFileSync(join(dest, B('sub', [0xfe]), B('x', [0xff, 0xc3])), 'utf8'), 'X')
  t.ok(seen.every(([rel, name, parent]) => Buffer.isBuffer(rel) && Buffer.isBuffer(name) && Buffer.isBuffer(parent)), 'the filter sees Buffers')
  t.ok(seen.some(([rel, name, parent]) => rel.equals(join(B('sub', [0xfe]), B('x', [0xff, 0xc3]))) && name.equals(B('x', [0xff, 0xc3])) && parent.equals(B('sub', [0xfe]))), 'exact relPath, name and parentPath')
  t.ok(r.copied.every((c) => Buffer.isBuffer(c.src) && Buffer.isBuffer(c.dest)))
  t.ok(r.copied.some((c) => c.src.equals(join(src, B('sub', [0xfe]), B('x', [0xff, 0xc3]))) && c.dest.equals(join(dest, B('sub', [0xfe]), B('x', [0xff, 0xc3])))), 'copied: exact paths')
  if (r.skipped.length) t.ok(r.skipped[0].path.equals(join(src, B('fifo', [0xff]))), 'skipped: the exact path')

  // An error row carries the exact paths: a directory where a file goes.
  const dest2 = join(d, B('dest2', [0xff]))
  fs.mkdirSync(join(dest2, B('a', [0xff], '.txt')), { recursive: true })
  const r2 = await copyDir(src, dest2)
  t.equal(r2.errors.length, 1)
  t.ok(r2.errors[0].src.equals(join(src, B('a', [0xff], '.txt'))), 'error src: exact bytes')
  t.ok(r2.errors[0].dest.equals(join(dest2, B('a', [0xff], '.txt'))), 'error dest: exact bytes')
  t.ok(Buffer.isBuffer(r2.errors[0].error.path) && r2.errors[0].error.path.equals(r2.errors[0].src), 'error.path: exact bytes')

  // Strings in, a name that is not UTF-8: given as a Buffer, never decoded lossily.
  const r3 = await copyDir(path.join(dir, 'src-plain-not-there'), path.join(dir, 'x')).catch((e) => e)
  t.equal(r3.code, 'ENOENT')
  const plain = path.join(dir, 'plain')
  fs.mkdirSync(plain)
  fs.writeFileSync(join(Buffer.from(plain), B('n', [0xff])), 'N')
  const r4 = await copyDir(plain, path.join(dir, 'plain-copy'), { listFiles: true })
  t.ok(Buffer.isBuffer(r4.copied[0].src) && r4.copied[0].src.equals(join(Buffer.from(plain), B('n', [0xff]))), 'a non-UTF-8 name comes back as a Buffer')

  // The into-itself check compares bytes: src\xff and src\xfe decode to the same string.
  const other = join(d, B('src', [0xfe]))
  const r5 = await copyDir(src, other)
  t.same(r5.errors, [], 'another directory whose name decodes alike is not "into itself"')
  const inside = await copyDir(src, join(src, B('inner', [0xff]))).catch((e) => e)
  t.equal(inside.code, 'EINVAL', 'into itself: refused')
  t.ok(Buffer.isBuffer(inside.path) && inside.path.equals(src), 'its error path is the exact bytes')

  // copyFiles with Buffer pairs.
  const f = await copyFiles([
    [join(src, B('a', [0xff], '.txt')), join(d, B('one', [0xff]))],
    [join(src, B('missing', [0xff])), join(d, B('two', [0xff]))],
  ], { listFiles: true })
  t.equal(fs.readFileSync(join(d, B('one', [0xff])), 'utf8'), 'A')
  t.equal(f.errors.length, 1)
  t.ok(f.errors[0].src.equals(join(src, B('missing', [0xff]))))
  t.ok(f.errors[0].dest.equals(join(d, B('two', [0xff]))))
  t.equal(f.errors[0].error.code, 'ENOENT')
  t.ok(f.errors[0].error.path.equals(join(src, B('missing', [0xff]))), 'error.path: exact bytes')
  t.ok(f.copied[0].src.equals(join(src, B('a', [0xff], '.txt'))))
  // Valid UTF-8 Buffers in: Buffers out (like fs.readdir with encoding 'buffer').
  const g = await copyFiles([[Buffer.from(path.join(dir, 'nope')), Buffer.from(path.join(dir, 'nope2'))]])
  t.ok(Buffer.isBuffer(g.errors[0].src))
  t.equal(g.errors[0].error.path, path.join(dir, 'nope'), 'error.path stays a string when it is exact as one (as fs does)')
})

// ---------------------------------------------------------------------------
// 16. An async filter was taken as true: everything copied. Refused with
// ERR_INVALID_RETURN_VALUE, as fs.cpSync does (see CopyDirOptions.filter for
// why it is not awaited).

onFs(t, 'ext4', 'an async filter is refused (ERR_INVALID_RETURN_VALUE): Promise.resolve(false) copies nothing', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
  for (const f of ['keep.txt', 'skip.txt', 'sub/keep.txt', 'sub/skip.txt']) fs.writeFileSync(path.join(src, f), f)
  for (const [name, filter] of [
    ['async function', async (rel) => !rel.endsWith('skip.txt')],
    ['Promise.resolve(false) for one entry', (rel) => (rel === 'skip.txt' ? Promise.resolve(false) : true)],
    ['a thenable', (rel) => (rel === 'skip.txt' ? { then: (ok) => ok(false) } : true)],
  ]) {
    const dest = path.join(dir, `dest-${name.replace(/\W+/g, '-')}`)
    const err = await copyDir(src, dest, { filter }).then(() => null, (e) => e)
    t.ok(err instanceof TypeError, `${name}: a TypeError`)
    t.equal(err?.code, 'ERR_INVALID_RETURN_VALUE', name)
    t.match(err?.message, /^Expected boolean to be returned from the "filter" function but got /, name)
    t.notOk(fs.existsSync(path.join(dest, 'skip.txt')), `${name}: the entry it left out is not copied`)
    t.notOk(fs.existsSync(path.join(dest, 'sub')), `${name}: the walk stopped`)
  }
  // A synchronous filter still works, on the same tree.
  const r = await copyDir(src, path.join(dir, 'sync'), { filter: (rel) => !rel.endsWith('skip.txt') })
  t.equal(r.files, 2)
  t.same(fs.readdirSync(path.join(dir, 'sync', 'sub')), ['keep.txt'])
})

// ---------------------------------------------------------------------------
// 17. The filter's thread-safe function was not released on the binding's
// early returns: it kept the event loop alive, the process never exited.

// Native only: the addon's binding called directly (its thread-safe function);
// the portable filter is a plain callback, refused or obeyed above on both engines.
if (!PORTABLE) onFs(t, 'ext4', 'copyDir native early returns release the filter (the process exits)', async (t, dir) => {
  fs.mkdirSync(path.join(dir, 'src'))
  for (const bad of ['flags', 'control']) {
    const r = child(
      `const { native } = require(process.argv[1]); const [bad, src, dest] = process.argv.slice(2);
      try {
        if (bad === 'flags') native.copyDir(src, dest, 'not flags', 0, undefined, () => [])
        else native.copyDir(src, dest, 0, 0, new Float64Array(3), () => [])
        console.log('no throw')
      } catch (e) { console.log(e.constructor.name + ': ' + e.message) }`,
      [NATIVE, bad, path.join(dir, 'src'), path.join(dir, 'dest')],
      { timeout: 5000 },
    )
    t.equal(r.signal, null, `${bad}: exits by itself (no leaked thread-safe function)`)
    t.match(r.stdout, /^TypeError: cowcopy native: bad/, bad)
  }
})

// ---------------------------------------------------------------------------
// 18. The umask: 077 and 000, and without /proc (unknown: never create with
// the final mode).

function umaskTree(src) {
  fs.mkdirSync(path.join(src, 'd'), { recursive: true })
  const modes = { 'a644': 0o644, 'b755': 0o755, 'c600': 0o600, 'd666': 0o666, 'e777': 0o777, 'd/f640': 0o640, 'd/g700': 0o700 }
  for (const [name, mode] of Object.entries(modes)) {
    fs.writeFileSync(path.join(src, name), name)
    fs.chmodSync(path.join(src, name), mode)
  }
  return modes
}

const UMASK_SCRIPT = `const c = require(process.argv[1]); const [mask, src, dest] = process.argv.slice(2);
  process.umask(parseInt(mask, 8));
  c.copyDir(src, dest).then((r) => console.log(JSON.stringify(r.errors)), (e) => console.log(e.stack))`

onFs(t, 'ext4', 'copyDir under umask 077 and 000: every file has the source mode', async (t, dir) => {
  const src = path.join(dir, 'src')
  const modes = umaskTree(src)
  for (const mask of ['077', '000', '022', '027']) {
    const dest = path.join(dir, `dest-${mask}`)
    const r = child(UMASK_SCRIPT, [DIST, mask, src, dest])
    t.equal(r.stdout, '[]\n', r.stderr)
    for (const [name, mode] of Object.entries(modes)) {
      t.equal((fs.statSync(path.join(dest, name)).mode & 0o7777).toString(8), mode.toString(8), `umask ${mask}: ${name}`)
    }
  }
})

onFs(t, 'ext4', 'copyDir without /proc under umask 077: every file has the source mode', async (t, dir) => {
  if (process.getuid() !== 0) return t.skip('needs root (unshare -m)')
  const src = path.join(dir, 'src')
  const modes = umaskTree(src)
  const dest = path.join(dir, 'dest')
  const script = path.join(dir, 'script.js')
  fs.writeFileSync(script, `process.argv.splice(1, 1); ${UMASK_SCRIPT}; if (require('fs').existsSync('/proc/self/status')) console.log('/proc is there')`)
  const r = spawnSync('unshare', ['-m', 'sh', '-c', 'umount -l /proc && exec "$0" "$@"', process.execPath, script, DIST, '077', src, dest], { encoding: 'utf8', timeout: 20000 })
  t.equal(r.stdout, '[]\n', r.stderr)
  for (const [name, mode] of Object.entries(modes)) {
    t.equal((fs.statSync(path.join(dest, name)).mode & 0o7777).toString(8), mode.toString(8), name)
  }
})

// ---------------------------------------------------------------------------
// 19. One AbortSignal shared by many calls added a listener per call.

onFs(t, 'tmpfs', 'one AbortSignal for 20 concurrent copies: no MaxListeners warning, no listener left', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  fs.writeFileSync(path.join(src, 'f'), Buffer.alloc(1 << 20, 7))
  const warnings = []
  const onWarning = (w) => warnings.push(w)
  process.on('warning', onWarning)
  t.teardown(() => process.off('warning', onWarning))
  const ac = new AbortController()
  const calls = []
  for (let i = 0; i < 20; i++) {
    calls.push(copyFile(path.join(src, 'f'), path.join(dir, `c${i}`), { signal: ac.signal }))
    calls.push(copyFile(path.join(src, 'f'), path.join(dir, `p${i}`), { signal: ac.signal, onProgress() {} }))
    calls.push(copyFiles([[path.join(src, 'f'), path.join(dir, `b${i}`)]], { signal: ac.signal }))
    calls.push(copyDir(src, path.join(dir, `d${i}`), { signal: ac.signal }))
  }
  t.ok(getEventListeners(ac.signal, 'abort').length <= 1, 'at most one listener while they run')
  await Promise.all(calls)
  await new Promise((res) => setImmediate(res))
  t.same(warnings.map(String), [], 'no warning')
  t.equal(getEventListeners(ac.signal, 'abort').length, 0, 'no listener left')
  // Still aborts every call that shares it.
  const big = path.join(dir, 'big')
  fs.writeFileSync(big, Buffer.alloc(64 << 20, 1))
  const running = Array.from({ length: 12 }, (_, i) =>
    copyFile(big, path.join(dir, `a${i}`), { signal: ac.signal, reflink: 'never', sparse: false }).then(() => 'done', (e) => e.name))
  ac.abort()
  const outcomes = await Promise.all(running)
  t.ok(outcomes.every((o) => o === 'AbortError' || o === 'done'), outcomes.join(','))
  t.ok(outcomes.includes('AbortError'), 'aborted')
  t.equal(getEventListeners(ac.signal, 'abort').length, 0, 'no listener left after the abort')
  t.same(warnings.map(String), [])
})
