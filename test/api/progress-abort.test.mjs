// onProgress and AbortSignal on the promise API: the sequence of progress
// calls, aborts before and during a 1 GiB copy, and what is left behind.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFile, copyFileSync, reflink } from 'cowcopy'
import { makeFile, onFs, sameBytes } from './helpers.mjs'

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
  const dirs = (await import('./helpers.mjs')).needMounts(t, 'ext4')
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
