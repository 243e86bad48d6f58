// Issue 12, second attack round (/work/attack/a2): a source whose read()
// blocks, FileHandle-like fds coerced to 0/1, the fs fallback deleting an
// existing destination or ignoring abort, duck-typed signals, a throwing
// final onProgress, SIGTERM/SIGHUP in the command, a NUL put into a path
// after validation.
import t from 'tap'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { interruptOnceOpen, makeFile, onFs } from './helpers.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const dist = path.join(root, 'dist', 'index.js')
const cli = path.join(root, 'dist', 'cli.js')
const require = createRequire(import.meta.url)
const cow = require(dist)

// A script in a child: its stdout is JSON lines, a hang is killed.
function child(t, script, { env = {}, timeout = 10000 } = {}) {
  const r = spawnSync(process.execPath, ['-e', `const cow = require(${JSON.stringify(dist)});\n${script}`], {
    encoding: 'utf8',
    timeout,
    killSignal: 'SIGKILL',
    env: { ...process.env, ...env },
  })
  t.equal(r.signal, null, `the child finished within ${timeout} ms (stderr: ${r.stderr})`)
  return r
}

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

// F1: /proc/kmsg is S_IFREG, size 0, and its read() blocks until the kernel
// logs something. A copy from it must fail at once, not hang a thread.
t.test('a regular file whose read blocks (/proc/kmsg): prompt EAGAIN, nothing left', { skip: !isRoot && 'needs root' }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-kmsg-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  spawnSync('dd', ['if=/proc/kmsg', 'iflag=nonblock', 'of=/dev/null'], { stdio: 'ignore' })
  const r = child(t, `
    const out = (x) => console.log(JSON.stringify(x))
    const d = ${JSON.stringify(dir)}
    const seen = (e) => ({ name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, message: e.message })
    ;(async () => {
      for (const [name, f] of [
        ['copyFile', () => cow.copyFile('/proc/kmsg', d + '/a', { signal: new AbortController().signal })],
        ['copyFileSync', async () => cow.copyFileSync('/proc/kmsg', d + '/b')],
        ['copyRange', () => cow.copyRange('/proc/kmsg', d + '/c')],
        ['copyRangeSync', async () => cow.copyRangeSync('/proc/kmsg', d + '/e')],
      ]) {
        try { out({ name, resolved: await f() }) } catch (e) { out({ name, error: seen(e) }) }
      }
      process.exit(0)
    })()
  `)
  const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
  t.equal(lines.length, 4, r.stderr)
  for (const l of lines) {
    t.equal(l.error?.code, 'EAGAIN', `${l.name}: EAGAIN`)
    t.equal(l.error?.errno, -11, `${l.name}: errno`)
    t.match(l.error?.message, /would block: not a regular disk file/, `${l.name}: says why`)
  }
  t.same(fs.readdirSync(dir), [], 'nothing created is left')
})

// F2: a FileHandle-like object's fd gets the numeric fd's checks; nothing
// is ever truncated into fd 0 or 1.
t.test('FileHandle-like fds that are not int32 are refused (never fd 0/1)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-fdcoerce-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, 'secret'), 'SECRET-SOURCE-BYTES\n')
  const r = child(t, `
    const out = (x) => console.error(JSON.stringify(x))
    const d = ${JSON.stringify(dir)}
    for (const fd of [1.5, NaN, 2 ** 32 + 1, 2 ** 31, -0.5, Infinity]) {
      for (const [side, args] of [['dest', [d + '/secret', { fd, close: async () => {} }]], ['src', [{ fd, close: async () => {} }, d + '/from']]]) {
        try { cow.copyRangeSync(...args); out({ fd: String(fd), side, ok: true }) }
        catch (e) { out({ fd: String(fd), side, name: e.name, code: e.code }) }
      }
    }
    // Below the validation: the addon itself never truncates a number.
    const { native } = require(${JSON.stringify(path.join(root, 'dist', 'native.js'))})
    for (const fd of [1.5, NaN, 2 ** 32 + 1, -1]) {
      try { native.copyRange(d + '/secret', fd, 0n, 0n, 0n, true); out({ native: String(fd), ok: true }) }
      catch (e) { out({ native: String(fd), name: e.name }) }
    }
  `)
  t.equal(r.stdout, '', 'nothing written to stdout')
  t.notOk(fs.existsSync(path.join(dir, 'from')), 'nothing read from stdin')
  const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l))
  for (const l of lines.filter((x) => x.side)) {
    t.same({ name: l.name, code: l.code }, { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }, `${l.side} {fd: ${l.fd}}`)
  }
  for (const l of lines.filter((x) => x.native)) t.equal(l.name, 'TypeError', `native fd ${l.native} refused`)
  t.throws(() => cow.copyRangeSync(path.join(dir, 'secret'), { fd: '3', close: async () => {} }), { code: 'ERR_INVALID_ARG_TYPE' })
})

// F3: without the addon, a failed copy must not delete an existing destination.
t.test('fallback: a failed copy over an existing destination leaves it in place', { skip: !isRoot && 'needs root (mount)' }, async (t) => {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-small-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt])
  const srcDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-src-'))
  t.teardown(() => {
    spawnSync('umount', [mnt])
    fs.rmSync(mnt, { recursive: true, force: true })
    fs.rmSync(srcDir, { recursive: true, force: true })
  })
  const src = path.join(srcDir, 'src4m')
  fs.writeFileSync(src, Buffer.alloc(4 << 20, 0x5a))
  const dest = path.join(mnt, 'dest')
  for (const call of ['copyFileSync', 'copyFile']) {
    fs.writeFileSync(dest, 'precious old content\n')
    fs.linkSync(dest, path.join(mnt, 'link'))
    const r = child(t, `
      ;(async () => {
        try { await cow.${call}(${JSON.stringify(src)}, ${JSON.stringify(dest)}); console.log('"resolved"') }
        catch (e) { console.log(JSON.stringify(e.code)) }
      })()
    `, { env: { COWCOPY_NATIVE: '0' } })
    t.equal(r.stdout.trim(), '"ENOSPC"', `${call}: ENOSPC (${r.stderr})`)
    t.ok(fs.existsSync(dest), `${call}: the existing destination is still there`)
    t.equal(fs.statSync(dest).ino, fs.statSync(path.join(mnt, 'link')).ino, `${call}: the same file, written in place`)
    fs.rmSync(dest)
    fs.rmSync(path.join(mnt, 'link'))
  }
  // A successful overwrite: the portable engine replaces the destination by
  // a temporary file and a rename (a new inode), the source's bytes and mode.
  const small = path.join(srcDir, 'small')
  fs.writeFileSync(small, 'new bytes')
  fs.chmodSync(small, 0o640)
  fs.writeFileSync(dest, 'old and longer content')
  const ino = fs.statSync(dest).ino
  const r = child(t, `cow.copyFile(${JSON.stringify(small)}, ${JSON.stringify(dest)}).then((r) => console.log(JSON.stringify(r)))`, { env: { COWCOPY_NATIVE: '0' } })
  t.same(JSON.parse(r.stdout), { method: 'fs', bytes: 9 })
  t.equal(fs.readFileSync(dest, 'utf8'), 'new bytes')
  t.not(fs.statSync(dest).ino, ino, 'replaced, not written in place')
  t.equal(fs.statSync(dest).mode & 0o777, 0o640)
  t.same(fs.readdirSync(mnt).filter((n) => n.startsWith('.')), [], 'no temporary file left')
  // A hard link of the source as destination: nothing truncated.
  fs.linkSync(small, path.join(srcDir, 'same'))
  child(t, `cow.copyFileSync(${JSON.stringify(small)}, ${JSON.stringify(path.join(srcDir, 'same'))})`, { env: { COWCOPY_NATIVE: '0' } })
  t.equal(fs.readFileSync(small, 'utf8'), 'new bytes', 'a hard link of the source is left alone')
})

// F4: without the addon, abort still rejects with an AbortError and removes
// the destination the call created.
onFs(t, 'ext4', 'fallback: abort during the copy rejects with AbortError and removes what it created', async (t, dir) => {
  const big = path.join(dir, 'big')
  makeFile(big, 256 << 20)
  const r = child(t, `
    const fs = require('fs')
    const out = (x) => console.log(JSON.stringify(x))
    ;(async () => {
      for (const [dest, opts] of [[${JSON.stringify(path.join(dir, 'new'))}, {}], [${JSON.stringify(path.join(dir, 'atomic'))}, { atomic: true }]]) {
        const ac = new AbortController()
        setTimeout(() => ac.abort(), 20)
        try { out({ resolved: await cow.copyFile(${JSON.stringify(big)}, dest, { ...opts, reflink: 'never', signal: ac.signal }) }) }
        catch (e) { out({ name: e.name, exists: fs.existsSync(dest) }) }
      }
      // Over an existing file, in place: stopped between chunks.
      const dest = ${JSON.stringify(path.join(dir, 'existing'))}
      fs.writeFileSync(dest, 'old')
      const ac = new AbortController()
      setTimeout(() => ac.abort(), 20)
      try { out({ resolved: await cow.copyFile(${JSON.stringify(big)}, dest, { signal: ac.signal }) }) }
      catch (e) { out({ name: e.name, exists: fs.existsSync(dest), partial: fs.statSync(dest).size < ${256 << 20} }) }
    })()
  `, { env: { COWCOPY_NATIVE: '0' }, timeout: 30000 })
  const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
  t.same(lines, [
    { name: 'AbortError', exists: false },
    { name: 'AbortError', exists: false },
    { name: 'AbortError', exists: true, partial: true },
  ], r.stderr)
  t.same(fs.readdirSync(dir).sort(), ['big', 'existing'], 'no temporary file left')
})

// F5: a signal is an AbortSignal-like object with addEventListener; a bad
// one (or one whose getters throw) is a rejection, never a synchronous throw,
// and no progress timer is started for a call that never runs.
t.test('signal validation: rejections, no synchronous throw, no leaked timer', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-signal-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'x')
  const cases = {
    plain: [{ aborted: false }, { name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }],
    getterThrows: [{ get aborted() { throw new Error('boom from getter') }, addEventListener() {}, removeEventListener() {} }, { message: 'boom from getter' }],
    addThrows: [{ aborted: false, addEventListener() { throw new Error('boom from addEventListener') }, removeEventListener() {} }, { message: 'boom from addEventListener' }],
  }
  let progressCalls = 0
  for (const [name, [signal, want]] of Object.entries(cases)) {
    let p
    t.doesNotThrow(() => { p = cow.copyFile(src, path.join(dir, name), { signal, onProgress: () => progressCalls++ }) }, `${name}: no synchronous throw`)
    await t.rejects(p, want, `${name}: rejects`)
  }
  await new Promise((r) => setTimeout(r, 350))
  t.equal(progressCalls, 0, 'onProgress never called for a copy that never ran')
  t.same(fs.readdirSync(dir), ['src'], 'nothing created')
  // Sync API: the same validation, thrown.
  t.throws(() => cow.copyFileSync(src, path.join(dir, 'x'), { signal: { aborted: false } }), { code: 'ERR_INVALID_ARG_VALUE' })
  // A real AbortSignal still works.
  t.match(await cow.copyFile(src, path.join(dir, 'ok'), { signal: new AbortController().signal }), { bytes: 1 })
})

// F6: a throw from onProgress once the copy is complete (its final call)
// cannot undo it: the promise resolves and the error is rethrown as an
// uncaught exception, as a throwing callback's error is in Node.
onFs(t, 'xfs', 'onProgress throwing on its final call: the promise resolves, the error is uncaught', async (t, dir) => {
  fs.writeFileSync(path.join(dir, 'src'), 'NEW')
  fs.writeFileSync(path.join(dir, 'existing'), 'OLD')
  for (const env of [{}, { COWCOPY_NATIVE: '0' }]) {
    const r = child(t, `
      const out = (x) => console.log(JSON.stringify(x))
      process.on('uncaughtException', (e) => out({ uncaught: e.message }))
      ;(async () => {
        for (const [dest, opts] of [[${JSON.stringify(path.join(dir, 'created'))}, {}], [${JSON.stringify(path.join(dir, 'existing'))}, { atomic: true }]]) {
          try { out({ resolved: await cow.copyFile(${JSON.stringify(path.join(dir, 'src'))}, dest, { ...opts, onProgress() { throw new Error('stop!') } }) }) }
          catch (e) { out({ rejected: e.message }) }
          await new Promise((r) => setTimeout(r, 10))
        }
      })()
    `, { env })
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
    // Both engines clone on XFS and say so (the portable one through COPYFILE_FICLONE_FORCE).
    const m = 'clone'
    t.same(lines, [
      { resolved: { method: m, bytes: 3 } }, { uncaught: 'stop!' },
      { resolved: { method: m, bytes: 3 } }, { uncaught: 'stop!' },
    ], `${JSON.stringify(env)}: ${r.stderr}`)
    t.equal(fs.readFileSync(path.join(dir, 'created'), 'utf8'), 'NEW')
    t.equal(fs.readFileSync(path.join(dir, 'existing'), 'utf8'), 'NEW')
    fs.rmSync(path.join(dir, 'created'))
    fs.writeFileSync(path.join(dir, 'existing'), 'OLD')
  }
})

// F7a: SIGTERM and SIGHUP are handled like SIGINT: the partial file the
// command created is removed; the exit status is 128 + the signal number.
onFs(t, 'ext4', 'the command on SIGTERM / SIGHUP removes its partial file', async (t, dir) => {
  const big = path.join(dir, 'big')
  makeFile(big, 1 << 30)
  for (const [sig, code] of [['SIGTERM', 143], ['SIGHUP', 129], ['SIGINT', 130]]) {
    const out = path.join(dir, `out-${sig}`)
    const r = await interruptOnceOpen([cli, '--reflink=never', big, out], big, sig)
    t.equal(r.code, code, `${sig}: exit ${code} (${r.stderr})`)
    t.match(r.stderr, /interrupted: the copy in progress was removed/)
    t.notOk(fs.existsSync(out), `${sig}: no partial file`)
  }
  t.same(fs.readdirSync(dir), ['big'])
})

// F7b: a NUL put into a Buffer path after the JavaScript check (an options
// getter) is refused by the addon, not truncated into another name.
onFs(t, 'tmpfs', 'a NUL in a path reaching the addon is refused, never truncated', async (t, dir) => {
  fs.writeFileSync(path.join(dir, 'src'), 'NEW')
  fs.writeFileSync(path.join(dir, 'victim'), 'PRECIOUS')
  const dest = Buffer.from(path.join(dir, 'victimXcopy'))
  const opts = { get overwrite() { dest[dest.length - 5] = 0; return true } }
  t.throws(() => cow.copyFileSync(path.join(dir, 'src'), dest, opts), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
  dest[dest.length - 5] = 0x58
  await t.rejects(cow.copyFile(path.join(dir, 'src'), dest, opts), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
  const src = Buffer.from(path.join(dir, 'srcXmore'))
  await t.rejects(cow.copyRange(src, path.join(dir, 'r'), { get length() { src[src.length - 5] = 0; return 1 } }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.equal(fs.readFileSync(path.join(dir, 'victim'), 'utf8'), 'PRECIOUS')
  t.same(fs.readdirSync(dir).sort(), ['src', 'victim'])
})
