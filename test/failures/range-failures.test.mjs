// Range calls that fail: the destination the call created is removed
// (cloneRange refused on btrfs/XFS, copyRange with EFBIG on ext4, ENOSPC part
// way on the tiny XFS, where the space comes back too), one that existed
// stays as it was, and no descriptor is left open.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { cloneRange, cloneRangeSync, copyRange, copyRangeSync } from 'cowcopy'
import { PORTABLE } from '../engines.mjs'
import { fsDir, onFs, openFds, writeNumberedFile } from '../helpers.mjs'

const KiB = 1024
const MiB = 1024 * KiB

// What the call created, it removes when it fails.
for (const fsName of ['btrfs', 'xfs']) {
  onFs(t, fsName, 'cloneRange that fails removes the destination it created, keeps one that existed', async (t, dir) => {
    const src = path.join(dir, 'src')
    fs.writeFileSync(src, randomBytes(MiB))
    const fds = openFds()
    const a = path.join(dir, 'a')
    // DIFFERENCES.cloneRange: ENOSYS on the portable engine, which must create nothing either.
    const refused = (what) => (PORTABLE ? { code: 'ENOSYS', message: /needs the native addon/ } : { code: 'EINVAL', message: what })
    t.throws(() => cloneRangeSync(src, a, { srcOffset: 1000, length: 4096 }), refused(/srcOffset 1000/))
    t.notOk(fs.existsSync(a), 'sync: no destination left')
    await t.rejects(cloneRange(src, a, { destOffset: 100, length: 4096 }), refused(/destOffset 100/))
    t.notOk(fs.existsSync(a), 'promise: no destination left')
    const keep = path.join(dir, 'keep')
    fs.writeFileSync(keep, 'old')
    await t.rejects(cloneRange(src, keep, { srcOffset: 1000, length: 4096 }), { code: PORTABLE ? 'ENOSYS' : 'EINVAL' })
    t.equal(fs.readFileSync(keep, 'utf8'), 'old', 'an existing destination stays as it was')
    t.same(openFds(), fds, 'no descriptor left open')
    t.same(fs.readdirSync(dir).sort(), ['keep', 'src'])
  })
}

onFs(t, 'ext4', 'copyRange that fails removes the destination it created, keeps one that existed', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, randomBytes(64 * KiB))
  const fds = openFds()
  const a = path.join(dir, 'a')
  const far = 2 ** 50 // past ext4's largest file (16 TiB): EFBIG
  t.throws(() => copyRangeSync(src, a, { destOffset: far }), { code: 'EFBIG' })
  t.notOk(fs.existsSync(a), 'sync: no destination left')
  await t.rejects(copyRange(src, a, { destOffset: far, length: 100 }), { code: 'EFBIG' })
  t.notOk(fs.existsSync(a), 'promise: no destination left')
  const keep = path.join(dir, 'keep')
  fs.writeFileSync(keep, 'old')
  await t.rejects(copyRange(src, keep, { destOffset: far }), { code: 'EFBIG' })
  t.equal(fs.readFileSync(keep, 'utf8'), 'old', 'an existing destination stays as it was')
  t.same(openFds(), fds, 'no descriptor left open')
})

// A real failure part way through a range copy, on both engines: an error,
// the destination the call created is gone and its space is back.
onFs(t, 'tiny', 'copyRange out of space part way: ENOSPC, the destination it created removed, space back', async (t, dir) => {
  const big = fs.mkdtempSync(path.join(fsDir('ext4').dir || process.env.TMPDIR || '/tmp', 'cc-big-'))
  t.teardown(() => fs.rmSync(big, { recursive: true, force: true }))
  const src = path.join(big, 'big')
  writeNumberedFile(src, 300 * MiB) // more than the tiny filesystem holds
  const free = () => {
    execFileSync('sync', ['-f', dir])
    return fs.statfsSync(dir).bfree
  }
  const before = free()
  const fds = openFds()
  for (const api of ['sync', 'promise']) {
    const dest = path.join(dir, `dest-${api}`)
    const call = api === 'sync' ? async () => copyRangeSync(src, dest) : () => copyRange(src, dest)
    // The call that failed (native across filesystems: write) and both paths.
    await t.rejects(call, { code: 'ENOSPC', errno: -28, message: `'${src}' -> '${dest}'` }, `${api}: ENOSPC`)
    t.notOk(fs.existsSync(dest), `${api}: no destination left`)
    const after = free()
    t.ok(Math.abs(after - before) <= 16, `${api}: free blocks back (${before} before, ${after} after)`)
  }
  t.same(openFds(), fds, 'no descriptor left open')
  t.same(fs.readdirSync(dir), [], 'nothing else in the directory')
})
