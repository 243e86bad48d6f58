// copyFiles: many pairs in one native call. One bad pair fails alone, with a
// Node-style error and no destination; the rest is copied with the same
// engine as copyFile.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFiles } from 'cowcopy'
import { allShared, onFs, openFds } from '../helpers.mjs'
import { DEFAULT_THREADS } from '../engines.mjs'

function pairsIn(dir, n) {
  fs.mkdirSync(path.join(dir, 'in'))
  fs.mkdirSync(path.join(dir, 'out'))
  const pairs = []
  for (let i = 0; i < n; i++) {
    const src = path.join(dir, 'in', `f${i}`)
    fs.writeFileSync(src, `file ${i} `.repeat(100 + i))
    if (i % 3 === 0) fs.chmodSync(src, 0o755)
    pairs.push([src, path.join(dir, 'out', `f${i}`)])
  }
  return pairs
}

for (const fsName of ['xfs', 'ext4']) {
  onFs(t, fsName, '1 000 pairs with one missing source', async (t, dir) => {
    const pairs = pairsIn(dir, 1000)
    const bad = 500
    pairs[bad][0] = path.join(dir, 'in', 'missing')
    const fds = openFds()
    const r = await copyFiles(pairs)
    t.same(openFds(), fds, 'no descriptor leaked')
    t.equal(r.files, 999)
    t.equal(r.threads, DEFAULT_THREADS, 'the measured default: 2 copy threads on XFS and ext4 (portable: 16 files in flight)')
    t.equal(r.errors.length, 1)
    const e = r.errors[0]
    t.equal(e.src, pairs[bad][0])
    t.equal(e.dest, pairs[bad][1])
    t.match(e.error, { code: 'ENOENT', errno: -2, syscall: 'copyfile', path: pairs[bad][0], dest: pairs[bad][1] })
    t.equal(e.error.message, `ENOENT: no such file or directory, copyfile '${pairs[bad][0]}' -> '${pairs[bad][1]}'`)
    t.notOk(fs.existsSync(pairs[bad][1]), 'no destination for the bad pair')
    let same = 0
    for (const [i, [src, dest]] of pairs.entries()) {
      if (i === bad) continue
      if (fs.readFileSync(src).equals(fs.readFileSync(dest)) && fs.statSync(src).mode === fs.statSync(dest).mode) same++
    }
    t.equal(same, 999, 'every other pair: same bytes and mode')
    if (fsName === 'xfs') {
      t.equal(r.methods.clone, 999)
      t.ok(allShared(pairs[999][1]), 'a clone, by FIEMAP')
    }
    t.equal(r.bytes, pairs.filter((_, i) => i !== bad).reduce((n, [s]) => n + fs.statSync(s).size, 0))
  })
}

onFs(t, 'ext4', 'stopOnError, concurrency, progress', async (t, dir) => {
  const pairs = pairsIn(dir, 300)
  pairs[0][0] = path.join(dir, 'in', 'missing')
  const r = await copyFiles(pairs, { stopOnError: true, concurrency: 1 })
  t.equal(r.errors.length, 1)
  t.equal(r.files, 0, 'stopped at the first failure')
  t.equal(r.threads, 1)
  const events = []
  const ok = pairs.slice(1).map(([s, d]) => [s, d + '.2'])
  const r2 = await copyFiles(ok, { concurrency: 3, onProgress: (p) => events.push(p) })
  t.equal(r2.files, 299)
  t.equal(r2.threads, 3)
  t.same(events.at(-1), { files: 299, bytes: r2.bytes }, 'the last progress call is the total')
})

t.test('bad arguments', async (t) => {
  await t.rejects(copyFiles(5), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(copyFiles([['a']]), { code: 'ERR_INVALID_ARG_TYPE', message: /pairs\[0\]/ })
  await t.rejects(copyFiles([['a', 1]]), { code: 'ERR_INVALID_ARG_TYPE', message: /"pairs\[0\]\[1\]"/ })
  await t.rejects(copyFiles([['a\u0000', 'b']]), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(copyFiles([], { concurrency: 1.5 }), { code: 'ERR_OUT_OF_RANGE' })
  await t.rejects(copyFiles([], { stopOnError: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
  const r = await copyFiles([])
  t.equal(r.files, 0)
})

onFs(t, 'ext4', 'abort: AbortError; files done stay, none half-written', async (t, dir) => {
  fs.mkdirSync(path.join(dir, 'in'))
  fs.mkdirSync(path.join(dir, 'out'))
  const pairs = []
  for (let i = 0; i < 48; i++) {
    const src = path.join(dir, 'in', `f${i}`)
    fs.writeFileSync(src, Buffer.alloc(8 << 20, i))
    pairs.push([src, path.join(dir, 'out', `f${i}`)])
  }
  const ac = new AbortController()
  ac.abort()
  await t.rejects(copyFiles(pairs, { signal: ac.signal }), { name: 'AbortError' })
  t.same(fs.readdirSync(path.join(dir, 'out')), [], 'already aborted: nothing touched')
  const { execFileSync } = await import('node:child_process')
  execFileSync('sync', ['-f', dir])
  fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
  const ac2 = new AbortController()
  const p = copyFiles(pairs, { signal: ac2.signal, reflink: 'never', concurrency: 1 })
  setTimeout(() => ac2.abort(), 50)
  await t.rejects(p, { name: 'AbortError', code: 'ABORT_ERR' })
  const done = fs.readdirSync(path.join(dir, 'out'))
  t.ok(done.length < 48, `stopped early (${done.length} of 48)`)
  for (const f of done) t.equal(fs.statSync(path.join(dir, 'out', f)).size, 8 << 20, `${f} complete`)
})
