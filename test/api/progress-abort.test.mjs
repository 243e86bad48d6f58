// onProgress and AbortSignal on the promise API: the sequence of progress
// calls, aborts before and during a 1 GiB copy, and what is left behind; the
// portable engine's abort; a signal that is not an AbortSignal (a rejection,
// never a synchronous throw); one signal shared by many calls (one
// listener at most); a throwing onProgress (a batch rejects and stops; a
// throw on the final call cannot undo a complete copy).
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFile, copyFileSync, reflink, copyDir, copyFiles } from 'cowcopy'
import { makeFile, onFs, sameBytes, cowChild } from '../helpers.mjs'
import { spawnSync } from 'node:child_process'
import * as os from 'node:os'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { getEventListeners } from 'node:events'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const DIST = path.join(root, 'dist', 'index.js')

const require = createRequire(import.meta.url)
const cow = require(DIST)

/** Runs CommonJS `code` in a child node; `args` become process.argv[1..]. */
function runNode(code, args = [], opts = {}) {
  return spawnSync(process.execPath, ['-e', code, '--', ...args], {
    encoding: 'utf8',
    timeout: 20000,
    ...opts,
    env: { ...process.env, ...opts.env },
  })
}

const GiB = 2 ** 30

function checkSequence(t, events, total) {
  t.ok(events.length >= 1, `${events.length} progress calls`)
  for (let i = 1; i < events.length; i++) {
    t.ok(events[i].bytesCopied > events[i - 1].bytesCopied, `call ${i} moves forward`)
  }
  for (const e of events) t.ok(e.bytesCopied <= e.totalBytes, 'never past the total')
  t.same(events.at(-1), { bytesCopied: total, totalBytes: total }, 'the last call says done')
}

onFs(t, 'ext4', "progress of a 1 GiB reflink 'never' copy", async (t, dir) => {
  const src = path.join(dir, 'big')
  makeFile(src, GiB)
  const events = []
  const times = []
  const r = await copyFile(src, path.join(dir, 'copy'), {
    reflink: 'never',
    onProgress: (p) => {
      events.push(p)
      times.push(performance.now())
    },
  })
  t.equal(r.bytes, GiB)
  checkSequence(t, events, GiB)
  t.ok(events.length >= 2, 'progress during the copy, not only at the end')
  const gaps = times.slice(1, -1).map((x, i) => x - times[i])
  t.ok(gaps.every((g) => g >= 80), `throttled to ~100 ms (gaps ${gaps.map((g) => g.toFixed(0)).join(', ')})`)
  t.ok(sameBytes(src, path.join(dir, 'copy')))
})

onFs(t, 'btrfs', 'a clone reports progress once', async (t, dir) => {
  const src = path.join(dir, 'src')
  makeFile(src, 3 << 20)
  const events = []
  const r = await copyFile(src, path.join(dir, 'clone'), { onProgress: (p) => events.push(p) })
  t.equal(r.method, 'clone')
  t.same(events, [{ bytesCopied: 3 << 20, totalBytes: 3 << 20 }])
  const again = []
  await reflink(src, path.join(dir, 'clone2'), { onProgress: (p) => again.push(p) })
  t.same(again, [{ bytesCopied: 3 << 20, totalBytes: 3 << 20 }], 'reflink() too')
})

onFs(t, 'tmpfs', 'progress of an empty file and of /proc/self/status', async (t, dir) => {
  fs.writeFileSync(path.join(dir, 'empty'), '')
  const events = []
  await copyFile(path.join(dir, 'empty'), path.join(dir, 'e2'), { onProgress: (p) => events.push(p) })
  t.same(events, [{ bytesCopied: 0, totalBytes: 0 }])
  const proc = []
  const r = await copyFile('/proc/self/status', path.join(dir, 'status'), { onProgress: (p) => proc.push(p) })
  checkSequence(t, proc, r.bytes)
  t.ok(r.bytes > 0)
})

onFs(t, 'ext4', 'an already aborted signal: AbortError, no file touched', async (t, dir) => {
  const src = path.join(dir, 'src')
  makeFile(src, 1000)
  const ac = new AbortController()
  const reason = new Error('changed my mind')
  ac.abort(reason)
  const err = await copyFile(src, path.join(dir, 'dest'), { signal: ac.signal }).catch((e) => e)
  t.ok(err instanceof Error)
  t.equal(err.name, 'AbortError')
  t.equal(err.code, 'ABORT_ERR')
  t.equal(err.cause, reason, 'cause is the signal reason')
  t.same(fs.readdirSync(dir), ['src'], 'nothing created')
  await t.rejects(reflink(src, path.join(dir, 'x'), { signal: ac.signal }), { name: 'AbortError' })
})

for (const fsName of ['ext4', 'xfs']) {
  onFs(t, fsName, "abort in the middle of a 1 GiB reflink 'never' copy", async (t, dir) => {
    const src = path.join(dir, 'big')
    makeFile(src, GiB)
    // Drop the source from the page cache so the copy takes long enough to stop.
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
    const ac = new AbortController()
    const events = []
    const started = performance.now()
    const p = copyFile(src, path.join(dir, 'copy'), {
      reflink: 'never',
      signal: ac.signal,
      onProgress: (e) => events.push(e),
    })
    setTimeout(() => ac.abort(), 150)
    const err = await p.catch((e) => e)
    const stoppedAfter = performance.now() - started
    t.comment(`stopped ${stoppedAfter.toFixed(0)} ms after the start (abort at 150 ms), ${events.length} progress calls`)
    t.equal(err?.name, 'AbortError', 'rejects with an AbortError')
    t.equal(err?.code, 'ABORT_ERR')
    t.equal(err?.cause?.name, 'AbortError', "cause is the signal's default reason")
    t.ok(stoppedAfter < 150 + 1000, 'stopped soon after the abort')
    t.same(fs.readdirSync(dir), ['big'], 'the partial destination is gone')
  })
}

onFs(t, 'ext4', 'abort with atomic: a pre-existing destination is left as it was', async (t, dir) => {
  const src = path.join(dir, 'big')
  makeFile(src, GiB)
  fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
  const dest = path.join(dir, 'dest')
  fs.writeFileSync(dest, 'the old content')
  const ac = new AbortController()
  const p = copyFile(src, dest, { reflink: 'never', atomic: true, signal: ac.signal })
  setTimeout(() => ac.abort(), 100)
  await t.rejects(p, { name: 'AbortError' })
  t.equal(fs.readFileSync(dest, 'utf8'), 'the old content')
  t.same(fs.readdirSync(dir).sort(), ['big', 'dest'], 'no temporary file left')
})

onFs(t, 'ext4', 'a throwing onProgress stops the copy and rejects with its error', async (t, dir) => {
  const src = path.join(dir, 'big')
  makeFile(src, GiB)
  fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
  const boom = new Error('boom')
  await t.rejects(copyFile(src, path.join(dir, 'copy'), {
    reflink: 'never',
    onProgress: () => {
      throw boom
    },
  }), boom)
  t.same(fs.readdirSync(dir), ['big'], 'no partial destination')
})

t.test('the sync API refuses signal and onProgress', async (t) => {
  for (const key of ['signal', 'onProgress']) {
    const value = key === 'signal' ? new AbortController().signal : () => {}
    t.throws(() => copyFileSync('a', 'b', { [key]: value }), {
      name: 'TypeError',
      code: 'ERR_INVALID_ARG_VALUE',
      message: new RegExp(`options.${key}' is only supported by the promise API`),
    })
  }
  await t.rejects(copyFile('a', 'b', { signal: {} }), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(copyFile('a', 'b', { onProgress: 5 }), { code: 'ERR_INVALID_ARG_TYPE' })
})

// An aborted batch says what it completed: the AbortError carries the result
// the call would have resolved with, for the files done before the stop
// (they stay, complete); the file in progress was removed.
t.test('an aborted copyFiles / copyDir / importFiles reports what it completed', async (t) => {
  const c = await import('cowcopy')
  const dirs = (await import('../helpers.mjs')).needMounts(t, 'ext4')
  if (!dirs) return
  const dir = fs.mkdtempSync(path.join(dirs[0], 'abort-result-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  const data = Buffer.alloc(32 << 20, 7)
  for (let i = 0; i < 24; i++) fs.writeFileSync(path.join(src, `f${String(i).padStart(2, '0')}`), data)
  const names = fs.readdirSync(src)
  const calls = {
    copyFiles: (signal, out) => {
      fs.mkdirSync(out)
      return c.copyFiles(names.map((n) => [path.join(src, n), path.join(out, n)]), { signal, concurrency: 1, reflink: 'never', onProgress: (p) => p.files >= 2 && ac.abort() })
    },
    copyDir: (signal, out) => c.copyDir(src, out, { signal, concurrency: 1, reflink: 'never', onProgress: (p) => p.files >= 2 && ac.abort() }),
    importFiles: (signal, out) => c.importFiles(out, names.map((n) => [n, path.join(src, n)]), { signal, concurrency: 1, reflink: 'never', onProgress: (p) => p.files >= 2 && ac.abort() }),
  }
  let ac
  for (const [name, call] of Object.entries(calls)) {
    ac = new AbortController()
    const out = path.join(dir, name)
    const err = await call(ac.signal, out).then(() => null, (e) => e)
    if (!err) {
      t.fail(`${name}: finished before the abort landed`)
      continue
    }
    t.equal(err.name, 'AbortError', `${name}: rejects with AbortError`)
    t.ok(err.result, `${name}: with a result`)
    const present = fs.existsSync(out) ? fs.readdirSync(out).filter((n) => !n.startsWith('.')) : []
    t.equal(err.result.files, present.length, `${name}: result.files is the files that stay (${present.length})`)
    t.ok(err.result.files >= 2 && err.result.files < 24, `${name}: some, not all (${err.result.files})`)
    for (const n of present) t.equal(fs.statSync(path.join(out, n)).size, data.length, `${name}: ${n} is complete`)
    t.equal(err.result.bytes, present.length * data.length, `${name}: result.bytes`)
  }
  // Aborted before anything was copied: a result all the same, of nothing.
  for (const [name, call] of Object.entries(calls)) {
    const early = new AbortController()
    early.abort()
    const e = await call(early.signal, path.join(dir, `${name}-early`)).then(() => null, (x) => x)
    t.equal(e?.name, 'AbortError', `${name}, aborted before the call: AbortError`)
    t.equal(e?.result?.files, 0, `${name}, aborted before the call: result.files 0`)
  }
  // A staged import discards its work: no result to report.
  ac = new AbortController()
  const err = await c.importFiles(path.join(dir, 'staged'), names.map((n) => [n, path.join(src, n)]), { stage: true, signal: ac.signal, concurrency: 1, reflink: 'never', onProgress: (p) => p.files >= 2 && ac.abort() }).then(() => null, (e) => e)
  if (err) {
    t.equal(err.name, 'AbortError')
    t.equal(err.result, undefined, 'staged: nothing stays, so no result')
    t.notOk(fs.existsSync(path.join(dir, 'staged')))
  }
})

// Without the addon, abort still rejects with an AbortError and removes
// the destination the call created.
onFs(t, 'ext4', 'portable engine: abort during the copy rejects with AbortError and removes what it created', async (t, dir) => {
  const big = path.join(dir, 'big')
  makeFile(big, 256 << 20)
  const r = cowChild(t, `
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

// A signal is an AbortSignal-like object with addEventListener; a bad
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

// A throw from onProgress once the copy is complete (its final call)
// cannot undo it: the promise resolves and the error is rethrown as an
// uncaught exception, as a throwing callback's error is in Node.
onFs(t, 'xfs', 'onProgress throwing on its final call: the promise resolves, the error is uncaught', async (t, dir) => {
  fs.writeFileSync(path.join(dir, 'src'), 'NEW')
  fs.writeFileSync(path.join(dir, 'existing'), 'OLD')
  for (const env of [{}, { COWCOPY_NATIVE: '0' }]) {
    const r = cowChild(t, `
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

// A throwing onProgress in copyFiles/copyDir rejects the call's promise and
// stops the copy; thrown from a bare setInterval, it would kill the process.
onFs(t, 'ext4', 'a throwing batch onProgress rejects the promise and stops the copy', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  // 2 GiB of holes written densely: far longer than the 100 ms first poll.
  fs.writeFileSync(path.join(src, 'big'), '')
  fs.truncateSync(path.join(src, 'big'), 2 ** 31)
  for (const how of ['copyFiles', 'copyDir']) {
    const dest = path.join(dir, `dest-${how}`)
    const r = runNode(
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

// One AbortSignal shared by many calls holds one listener at most, and
// none once they are done.
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
