// Sparse sources: byte copies walk SEEK_DATA/SEEK_HOLE and leave holes as
// holes; `sparse: false` writes every byte. Proved by allocated blocks and by
// the bytes of each data range.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { copyFile, copyFileSync } from 'cowcopy'
import { onFs, readAt } from '../helpers.mjs'

const GiB = 2 ** 30
const MiB = 2 ** 20

// Writes `size` bytes of holes with 1 MiB of random data at each offset.
function makeSparse(file, size, offsets) {
  fs.writeFileSync(file, '')
  fs.truncateSync(file, size)
  const fd = fs.openSync(file, 'r+')
  const chunks = offsets.map((off) => {
    const data = randomBytes(MiB)
    fs.writeSync(fd, data, 0, data.length, off)
    return [off, data]
  })
  fs.fsyncSync(fd)
  fs.closeSync(fd)
  return chunks
}


const layouts = {
  'holes at start, middle and end': (size) => [256 * MiB, Math.floor(size / 2 / MiB) * MiB],
  'data at start, hole at end': () => [0, 10 * MiB],
  'hole at start, data at end': (size) => [size - MiB],
}

for (const fsName of ['ext4', 'tmpfs', 'xfs', 'btrfs']) {
  onFs(t, fsName, "8 GiB sparse file, reflink 'never': holes stay holes", async (t, dir) => {
    for (const [layout, offsetsOf] of Object.entries(layouts)) {
      const src = path.join(dir, 'sparse')
      const dest = path.join(dir, 'copy')
      const size = 8 * GiB
      const chunks = makeSparse(src, size, offsetsOf(size))
      const data = path.join(dir, 'data-only')
      fs.writeFileSync(data, randomBytes(chunks.length * MiB))

      const t0 = process.hrtime.bigint()
      const r = await copyFile(src, dest, { reflink: 'never' })
      const sparseMs = Number(process.hrtime.bigint() - t0) / 1e6
      const t1 = process.hrtime.bigint()
      copyFileSync(data, path.join(dir, 'data-copy'), { reflink: 'never' })
      const dataMs = Number(process.hrtime.bigint() - t1) / 1e6
      t.comment(`${fsName}, ${layout}: ${r.method} ${sparseMs.toFixed(1)} ms; the data alone: ${dataMs.toFixed(1)} ms`)

      const s = fs.statSync(src)
      const d = fs.statSync(dest)
      t.equal(r.bytes, size, `${layout}: bytes = logical size`)
      t.equal(d.size, size, `${layout}: size kept`)
      t.ok(d.blocks <= s.blocks + 64, `${layout}: allocated ${d.blocks} blocks, source ${s.blocks}`)
      t.ok(d.blocks * 512 >= chunks.length * MiB, `${layout}: the data is allocated`)
      for (const [off, bytes] of chunks) {
        t.ok(readAt(dest, off, MiB).equals(bytes), `${layout}: data at ${off} equal`)
      }
      t.ok(readAt(dest, size - 4096 - (chunks.at(-1)[0] === size - MiB ? MiB : 0), 4096).equals(Buffer.alloc(4096)), `${layout}: a hole reads as zeros`)
      for (const f of [src, dest, data, path.join(dir, 'data-copy')]) fs.rmSync(f)
    }
  })

  onFs(t, fsName, 'sparse: false writes every byte', async (t, dir) => {
    const src = path.join(dir, 'sparse')
    const dest = path.join(dir, 'dense')
    const size = 64 * MiB
    const chunks = makeSparse(src, size, [MiB])
    const r = copyFileSync(src, dest, { reflink: 'never', sparse: false })
    t.equal(r.bytes, size)
    const d = fs.statSync(dest)
    t.ok(d.blocks * 512 >= size, `every byte allocated (${d.blocks} blocks for ${size} bytes)`)
    t.ok(readAt(dest, MiB, MiB).equals(chunks[0][1]), 'data equal')
    t.ok(readAt(dest, 32 * MiB, MiB).equals(Buffer.alloc(MiB)), 'the old hole is zeros')
  })
}

onFs(t, 'btrfs', "reflink 'auto' on a sparse file clones it: holes shared as holes", async (t, dir) => {
  const src = path.join(dir, 'sparse')
  makeSparse(src, 4 * GiB, [GiB])
  const r = copyFileSync(src, path.join(dir, 'clone'))
  t.equal(r.method, 'clone')
  t.equal(fs.statSync(path.join(dir, 'clone')).size, 4 * GiB)
  t.ok(fs.statSync(path.join(dir, 'clone')).blocks <= fs.statSync(src).blocks + 64)
})
