// dedupeRange with a range that ends in an unaligned tail (the source's EOF
// is not on a block boundary) but not at the target's EOF. The kernel
// (generic_remap_checks) shortens such a range to whole blocks, compares only
// those (nothing at all when that is 0 bytes) and still reports the length
// asked for as bytes_deduped with status SAME. cowcopy must report what
// really happened: the tail compared by itself, 'differs' when it differs,
// and bytesDeduped only for bytes FIEMAP shows shared.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { dedupeRange, dedupeRangeSync } from 'cowcopy'
import { extents, needMounts, onFs, writeSynced as write } from '../helpers.mjs'

const KiB = 1024
const MiB = 1024 * KiB
const BS = 4096


// Each filesystem block of `file` in [from, to): shared or not (FIEMAP).
function blocksShared(file, from, to) {
  const shared = new Set()
  const mapped = new Set()
  for (const e of extents(file)) {
    for (let b = e.logical; b < e.logical + e.length; b++) {
      mapped.add(b)
      if (e.flags.includes('shared')) shared.add(b)
    }
  }
  const out = []
  for (let b = Math.floor(from / BS); b * BS < to; b++) out.push(mapped.has(b) ? shared.has(b) : null)
  return out
}
const allIn = (file, from, to) => blocksShared(file, from, to).every((s) => s === true)
const noneIn = (file, from, to) => blocksShared(file, from, to).every((s) => s !== true)

for (const fsName of ['btrfs', 'xfs']) {
  onFs(t, fsName, "1-byte source, differing target: 'differs', nothing claimed", async (t, dir) => {
    const src = path.join(dir, 'a')
    const dst = path.join(dir, 'sevens')
    write(src, Buffer.from('A'))
    const d = write(dst, Buffer.alloc(200000, 7))
    const r = dedupeRangeSync(src, {}, [{ path: dst }, { path: dst, offset: BS }])
    t.same(r, [{ bytesDeduped: 0, status: 'differs' }, { bytesDeduped: 0, status: 'differs' }])
    const p = await dedupeRange(src, { offset: 0, length: 1 }, [{ path: dst }])
    t.same(p, [{ bytesDeduped: 0, status: 'differs' }], 'the promise form too')
    t.ok(fs.readFileSync(dst).equals(d), 'the target is unchanged')
    t.ok(noneIn(dst, 0, 200000), 'and nothing of it is shared')
  })

  onFs(t, fsName, "1-byte source, equal first byte: 'same' with 0 bytes shared", async (t, dir) => {
    const src = path.join(dir, 'a')
    const dst = path.join(dir, 'a-then-sevens')
    write(src, Buffer.from('A'))
    write(dst, Buffer.concat([Buffer.from('A'), Buffer.alloc(20000, 7)]))
    t.same(dedupeRangeSync(src, {}, [{ path: dst }]), [{ bytesDeduped: 0, status: 'same' }],
      'compared equal, but a partial block cannot be shared into the middle of a file')
    t.ok(noneIn(dst, 0, 20001), 'nothing shared')
  })

  onFs(t, fsName, "4095-byte source vs 1 MiB of other data: 'differs' at 0 and 4096", async (t, dir) => {
    const src = path.join(dir, 's')
    const dst = path.join(dir, 'd')
    write(src, randomBytes(4095))
    const d = write(dst, randomBytes(MiB))
    t.same(dedupeRangeSync(src, {}, [{ path: dst, offset: 0 }, { path: dst, offset: BS }]),
      [{ bytesDeduped: 0, status: 'differs' }, { bytesDeduped: 0, status: 'differs' }])
    t.ok(fs.readFileSync(dst).equals(d), 'the target is unchanged')
    t.ok(noneIn(dst, 0, MiB), 'nothing shared')
  })

  onFs(t, fsName, "whole blocks + equal tail inside a larger target: 'same' for the blocks, FIEMAP agrees", async (t, dir) => {
    const src = path.join(dir, 's')
    const dst = path.join(dir, 'd')
    const s = write(src, randomBytes(3 * BS + 100))
    const d = randomBytes(MiB)
    s.copy(d, BS) // the whole source, tail included, at target offset 4096
    write(dst, d)
    const [r] = await dedupeRange(src, { offset: 0, length: 0 }, [{ path: dst, offset: BS }])
    t.same(r, { bytesDeduped: 3 * BS, status: 'same' }, 'only the whole blocks are shared; the tail compared equal')
    t.ok(allIn(dst, BS, 4 * BS), 'target blocks 1..3 shared (FIEMAP)')
    t.ok(noneIn(dst, 4 * BS, MiB) && noneIn(dst, 0, BS), 'the tail block and the rest are not')
    t.ok(allIn(src, 0, 3 * BS), 'the source blocks are shared')
    t.ok(fs.readFileSync(dst).equals(d), 'the target data is unchanged')
  })

  onFs(t, fsName, "whole blocks equal, tail differs by one byte: 'differs', nothing shared", async (t, dir) => {
    const src = path.join(dir, 's')
    const dst = path.join(dir, 'd')
    const s = write(src, randomBytes(3 * BS + 100))
    const d = randomBytes(MiB)
    s.copy(d, BS)
    d[BS + 3 * BS + 99] ^= 0xff // the source's last byte, in the target
    write(dst, d)
    const [r] = dedupeRangeSync(src, {}, [{ path: dst, offset: BS }])
    t.same(r, { bytesDeduped: 0, status: 'differs' })
    t.ok(noneIn(dst, 0, MiB), 'nothing shared')
    t.ok(fs.readFileSync(dst).equals(d), 'the target data is unchanged')
  })

  onFs(t, fsName, "a range ending at both EOFs still shares the partial last block", async (t, dir) => {
    const src = path.join(dir, 's')
    const dst = path.join(dir, 'twin')
    const s = write(src, randomBytes(5 * BS + 1234))
    write(dst, s)
    t.same(dedupeRangeSync(src, {}, [{ path: dst }]), [{ bytesDeduped: s.length, status: 'same' }])
    t.ok(allIn(dst, 0, s.length), 'every block of the twin is shared, the last one too')
    t.ok(fs.readFileSync(dst).equals(s))
  })

  onFs(t, fsName, 'a tail-only range keeps the kernel\'s checks: unaligned offset, past the target\'s end', async (t, dir) => {
    const src = path.join(dir, 'a')
    const dst = path.join(dir, 'sevens')
    write(src, Buffer.from('A'))
    write(dst, Buffer.alloc(3 * BS, 7))
    const r = dedupeRangeSync(src, {}, [{ path: dst, offset: 1 }, { path: dst, offset: 3 * BS }, { path: path.join(dir, 'empty') }])
    t.equal(r[0].status, 'error')
    t.equal(r[0].error.code, 'EINVAL', 'unaligned target offset')
    t.equal(r[1].status, 'error')
    t.equal(r[1].error.code, 'EINVAL', 'the range ends past the target\'s end')
    t.equal(r[2].status, 'error')
    t.equal(r[2].error.code, 'ENOENT', 'a missing target')
    write(path.join(dir, 'empty'), Buffer.alloc(0))
    const [e] = dedupeRangeSync(src, {}, [{ path: path.join(dir, 'empty') }])
    t.equal(e.error?.code, 'EINVAL', 'an empty target')
  })

  onFs(t, fsName, 'a tail longer than the 16 MiB per call: blocks then tail', async (t, dir) => {
    const src = path.join(dir, 's')
    const dst = path.join(dir, 'd')
    const s = write(src, randomBytes(17 * MiB + 10))
    const d = Buffer.concat([s, randomBytes(BS)])
    write(dst, d)
    const [r] = dedupeRangeSync(src, {}, [{ path: dst }])
    t.same(r, { bytesDeduped: 17 * MiB, status: 'same' })
    t.ok(allIn(dst, 0, 17 * MiB), 'all whole blocks shared')
    t.ok(noneIn(dst, 17 * MiB, d.length), 'the tail block not')
  })
}

// A tail-only range never reaches the kernel with bytes, but its checks on
// the pair still apply: another filesystem, a filesystem without dedupe.
t.test('a tail-only range: EXDEV across filesystems, ENOTSUP on ext4', async (t) => {
  const dirs = needMounts(t, 'btrfs', 'xfs', 'ext4')
  if (!dirs) return
  const [b, x, e] = dirs.map((d) => fs.mkdtempSync(path.join(d, 'cc-')))
  t.teardown(() => [b, x, e].forEach((d) => fs.rmSync(d, { recursive: true, force: true })))
  write(path.join(b, 'a'), Buffer.from('A'))
  write(path.join(x, 'sevens'), Buffer.alloc(BS, 7))
  const [r] = dedupeRangeSync(path.join(b, 'a'), {}, [{ path: path.join(x, 'sevens') }])
  t.equal(r.error?.code, 'EXDEV')
  write(path.join(e, 'a'), Buffer.from('A'))
  write(path.join(e, 'sevens'), Buffer.alloc(BS, 7))
  const [n] = dedupeRangeSync(path.join(e, 'a'), {}, [{ path: path.join(e, 'sevens') }])
  t.equal(n.status, 'error')
  t.equal(n.error?.code, 'ENOTSUP')
})
