// The range calls and probe on the portable engine (COWCOPY_NATIVE=0):
// copyRange reads and writes at the offsets, by path, fd or FileHandle, and
// removes a destination it created when it fails; probe reports the type
// and tries a clone; cloneRange and dedupeRange are ENOSYS, by name.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { execFileSync } from 'node:child_process'
import { getSystemErrorName } from 'node:util'
import { onFs, makeFile, readAt } from '../helpers.mjs'

process.env.COWCOPY_NATIVE = '0'
const c = await import('../../dist/index.js').then((m) => m.default)

t.equal(c.native, false, 'the portable engine runs')

for (const fsName of ['btrfs', 'xfs', 'ext4', 'tmpfs']) {
  onFs(t, fsName, 'copyRange: offsets, lengths, fds and handles', async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 3 << 20)
    const dest = path.join(dir, 'dest')
    t.equal(c.copyRangeSync(src, dest, { srcOffset: 4096, destOffset: 100, length: 1 << 20 }), 1 << 20)
    t.ok(readAt(dest, 100, 1 << 20).equals(readAt(src, 4096, 1 << 20)), 'the range landed at its offset')
    t.ok(readAt(dest, 0, 100).equals(Buffer.alloc(100)), 'before it: a hole of zeros')
    t.equal(await c.copyRange(src, dest, { srcOffset: (3 << 20) - 10 }), 10, 'length 0: to the end of the source')
    const fh = await fs.promises.open(dest, 'r+')
    try {
      t.equal(await c.copyRange(src, fh, { srcOffset: 0n, destOffset: 5n, length: 7n }), 7, 'bigint offsets, a FileHandle')
      t.equal(c.copyRangeSync(fs.openSync(src, 'r'), fh.fd, { length: 3 }), 3, 'numeric fds')
    } finally {
      await fh.close()
    }
    t.ok(readAt(dest, 0, 3).equals(readAt(src, 0, 3)))
  })

  onFs(t, fsName, 'probe: type and a real clone try, nothing left behind', async (t, dir) => {
    const before = fs.readdirSync(dir)
    const p = await c.probe(dir)
    t.equal(p.fsType, fsName)
    t.equal(p.clone, fsName === 'btrfs' || fsName === 'xfs', 'clone where fs.copyFile(FICLONE_FORCE) clones')
    t.same([p.dedupe, p.copyFileRange], [false, false], 'what the portable engine cannot call is false')
    t.same(c.probeSync(dir), p)
    t.same(fs.readdirSync(dir), before)
  })
}

onFs(t, 'ext4', 'copyRange refuses a FIFO and removes a destination it created', async (t, dir) => {
  const fifo = path.join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const dest = path.join(dir, 'dest')
  t.throws(() => c.copyRangeSync(fifo, dest), { code: 'EINVAL', syscall: 'copy_file_range' })
  t.notOk(fs.existsSync(dest), 'nothing created')
  await t.rejects(c.copyRange(path.join(dir, 'missing'), dest), { code: 'ENOENT' })
  t.notOk(fs.existsSync(dest))
  fs.symlinkSync('nowhere', dest)
  fs.writeFileSync(path.join(dir, 'src'), 'x')
  t.throws(() => c.copyRangeSync(path.join(dir, 'src'), dest), { code: 'EEXIST' }, 'never created at a dangling link\'s target')
  t.notOk(fs.existsSync(path.join(dir, 'nowhere')))
})

onFs(t, 'btrfs', 'cloneRange and dedupeRange: ENOSYS by name, before anything is created', async (t, dir) => {
  const src = path.join(dir, 'src')
  makeFile(src, 8192)
  const dest = path.join(dir, 'dest')
  for (const call of [
    () => c.cloneRangeSync(src, dest),
    () => c.dedupeRangeSync(src, {}, [{ path: dest }]),
  ]) {
    try {
      call()
      t.fail('expected ENOSYS')
    } catch (err) {
      t.equal(err.code, 'ENOSYS')
      t.equal(getSystemErrorName(err.errno), 'ENOSYS', 'the number from the platform table')
    }
  }
  await t.rejects(c.cloneRange(src, dest), { code: 'ENOSYS' })
  await t.rejects(c.dedupeRange(src, {}, [{ path: dest }]), { code: 'ENOSYS' })
  t.notOk(fs.existsSync(dest))
})

onFs(t, 'ext4', 'copyRange: a FileHandle closed while the copy runs: the number reused by another file gets nothing', async (t, dir) => {
  const src = path.join(dir, 'src')
  makeFile(src, 64 << 20)
  const dest = path.join(dir, 'dest')
  const fh = await fs.promises.open(dest, 'w')
  const number = fh.fd
  const copying = c.copyRange(src, fh)
  await fh.close()
  const opened = []
  for (let i = 0; i < 32 && !opened.some(([fd]) => fd === number); i++) {
    const name = path.join(dir, `other${i}`)
    opened.push([fs.openSync(name, 'w'), name])
  }
  t.equal(await copying, 64 << 20, 'the copy completed, into the file it was given')
  for (const [fd, name] of opened) {
    fs.closeSync(fd)
    t.equal(fs.statSync(name).size, 0, `${path.basename(name)} received nothing`)
  }
  t.ok(readAt(dest, 0, 1 << 20).equals(readAt(src, 0, 1 << 20)), 'the destination holds the source')
})

onFs(t, 'tmpfs', 'copyRange refuses overlapping ranges within one file, and changes nothing', async (t, dir) => {
  const f = path.join(dir, 'f')
  makeFile(f, 4 << 20)
  const before = fs.readFileSync(f)
  await t.rejects(c.copyRange(f, f, { srcOffset: 0, destOffset: 512 << 10, length: 2 << 20 }), { code: 'EINVAL', message: /overlap/ })
  t.throws(() => c.copyRangeSync(f, f, { srcOffset: 1 << 20, destOffset: 0, length: 2 << 20 }), { code: 'EINVAL' })
  t.ok(fs.readFileSync(f).equals(before), 'the file is unchanged')
  t.equal(c.copyRangeSync(f, f, { srcOffset: 0, destOffset: 2 << 20, length: 1 << 20 }), 1 << 20, 'disjoint ranges work')
})
