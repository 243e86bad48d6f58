// Range operations on real filesystems: FIEMAP proves exactly the cloned
// range is shared, bytes prove what moved and what did not; 64-bit offsets,
// bad inputs, fds and FileHandles, dedupe statuses, probe.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { randomBytes } from 'node:crypto'
import { cloneRange, cloneRangeSync, copyRange, copyRangeSync, dedupeRange, dedupeRangeSync, probe, probeSync } from 'cowcopy'
import { extents, needMounts, onFs, openFds, readAt, writeSynced as write } from '../helpers.mjs'
import { PORTABLE } from '../engines.mjs'

// FICLONERANGE and FIDEDUPERANGE are ioctls Node cannot make: on the
// portable engine each test of them asserts that instead (test/engines.mjs).
function remapTest(fsName, title, fn) {
  if (!PORTABLE) return onFs(t, fsName, title, fn)
  return onFs(t, fsName, `${title}: the portable engine says ENOSYS`, async (t, dir) => {
    const src = path.join(dir, 'src')
    write(src, randomBytes(64 * KiB))
    await t.rejects(cloneRange(src, path.join(dir, 'dest')), { code: 'ENOSYS', syscall: 'ioctl_ficlonerange' })
    t.throws(() => cloneRangeSync(src, path.join(dir, 'dest')), { code: 'ENOSYS' })
    await t.rejects(dedupeRange(src, {}, [{ path: src }]), { code: 'ENOSYS', syscall: 'ioctl_fideduperange' })
    t.throws(() => dedupeRangeSync(src, {}, [{ path: src }]), { code: 'ENOSYS' })
    t.notOk(fs.existsSync(path.join(dir, 'dest')), 'nothing created')
  })
}
const REMAP_UNSUPPORTED = PORTABLE ? 'ENOSYS' : 'ENOTSUP'

const KiB = 1024
const MiB = 1024 * KiB
const GiB = 1024 * MiB



// Bytes of `file` in [from, to) covered by extents flagged (or not) shared.
function sharedBytes(file) {
  const bs = 4096
  const out = []
  for (const e of extents(file)) {
    out.push({ start: e.logical * bs, end: (e.logical + e.length) * bs, shared: e.flags.includes('shared') })
  }
  return out
}
function isShared(file, from, to) {
  const ranges = sharedBytes(file).filter((r) => r.start < to && r.end > from)
  return ranges.length > 0 && ranges.every((r) => r.shared)
}
function noneSharedIn(file, from, to) {
  return sharedBytes(file).filter((r) => r.start < to && r.end > from).every((r) => !r.shared)
}

for (const fsName of ['btrfs', 'xfs']) {
  remapTest(fsName, 'cloneRange shares exactly the range, nothing else', async (t, dir) => {
    const src = path.join(dir, 'src')
    const dest = path.join(dir, 'dest')
    const s = write(src, randomBytes(MiB))
    const d = write(dest, randomBytes(MiB))
    await cloneRange(src, dest, { srcOffset: 512 * KiB, destOffset: 256 * KiB, length: 256 * KiB })
    t.ok(readAt(dest, 256 * KiB, 256 * KiB).equals(s.subarray(512 * KiB, 768 * KiB)), 'the range holds the source bytes')
    t.ok(readAt(dest, 0, 256 * KiB).equals(d.subarray(0, 256 * KiB)), 'before it: untouched')
    t.ok(readAt(dest, 512 * KiB, 512 * KiB).equals(d.subarray(512 * KiB)), 'after it: untouched')
    t.equal(fs.statSync(dest).size, MiB)
    t.ok(isShared(dest, 256 * KiB, 512 * KiB), 'the cloned range is shared (FIEMAP)')
    t.ok(noneSharedIn(dest, 0, 256 * KiB) && noneSharedIn(dest, 512 * KiB, MiB), 'the rest is not')
    t.ok(readAt(src, 0, MiB).equals(s), 'the source is unchanged')
  })

  remapTest(fsName, 'building one file out of ranges of others; the destination grows', async (t, dir) => {
    const parts = [randomBytes(64 * KiB), randomBytes(128 * KiB), randomBytes(64 * KiB + 100)]
    parts.forEach((p, i) => write(path.join(dir, `part${i}`), p))
    const out = path.join(dir, 'joined')
    let at = 0
    for (let i = 0; i < parts.length; i++) {
      cloneRangeSync(path.join(dir, `part${i}`), out, { destOffset: at }) // length 0: to the end
      at += parts[i].length
    }
    t.ok(fs.readFileSync(out).equals(Buffer.concat(parts)), 'the joined file is the parts in order')
    t.ok(isShared(out, 0, 256 * KiB), 'every whole block shared')
  })

  remapTest(fsName, 'offsets past 4 GiB, as bigint and as number', async (t, dir) => {
    const src = path.join(dir, 'big-src')
    fs.writeFileSync(src, '')
    fs.truncateSync(src, 6 * GiB)
    const data = randomBytes(64 * KiB)
    const fd = fs.openSync(src, 'r+')
    fs.writeSync(fd, data, 0, data.length, 5 * GiB)
    fs.fsyncSync(fd)
    fs.closeSync(fd)
    const a = path.join(dir, 'a')
    const b = path.join(dir, 'b')
    await cloneRange(src, a, { srcOffset: 5n * BigInt(GiB), destOffset: 4n * BigInt(GiB) + 65536n, length: 65536n })
    cloneRangeSync(src, b, { srcOffset: 5 * GiB, destOffset: 4.5 * GiB, length: 64 * KiB })
    t.equal(fs.statSync(a).size, 4 * GiB + 128 * KiB, 'bigint: grown to the end of the range')
    t.ok(readAt(a, 4 * GiB + 64 * KiB, 64 * KiB).equals(data), 'bigint: bytes in place')
    t.ok(readAt(b, 4.5 * GiB, 64 * KiB).equals(data), 'number: bytes in place')
    const n = await copyRange(src, path.join(dir, 'c'), { srcOffset: 5n * BigInt(GiB), destOffset: 5n * BigInt(GiB), length: 65536n })
    t.equal(n, 65536, 'copyRange returns a number when it is safe')
    t.ok(readAt(path.join(dir, 'c'), 5 * GiB, 64 * KiB).equals(data))
  })

  remapTest(fsName, 'cloneRange refuses bad ranges with the rule that failed', async (t, dir) => {
    const src = path.join(dir, 'src')
    write(src, randomBytes(MiB + 100))
    const dest = path.join(dir, 'dest')
    write(dest, Buffer.alloc(MiB, 1))
    const bad = [
      [{ srcOffset: 1000, length: 4096 }, 'srcOffset 1000 is not a multiple of the filesystem block size 4096'],
      [{ destOffset: 100, length: 4096 }, 'destOffset 100 is not a multiple of the filesystem block size 4096'],
      [{ length: 5000 }, 'length 5000 is not a multiple of the filesystem block size 4096 and the range does not end at the end of the source'],
      [{ srcOffset: MiB, length: 8192 }, `the range ends at ${MiB + 8192}, past the end of the source (${MiB + 100} bytes)`],
    ]
    for (const [range, why] of bad) {
      t.throws(() => cloneRangeSync(src, dest, range), {
        code: 'EINVAL', errno: -22, syscall: 'ioctl_ficlonerange', path: src, dest,
        message: `EINVAL: ${why}, ioctl_ficlonerange '${src}' -> '${dest}'`,
      }, why)
    }
    t.ok(fs.readFileSync(dest).equals(Buffer.alloc(MiB, 1)), 'the destination is unchanged')
    // One file: overlapping ranges are refused, disjoint ones work.
    t.throws(() => cloneRangeSync(src, src, { srcOffset: 0, destOffset: 4096, length: 8192 }), { code: 'EINVAL', message: /overlap within one file/ })
    const before = fs.readFileSync(src)
    cloneRangeSync(src, src, { srcOffset: 0, destOffset: 512 * KiB, length: 64 * KiB })
    t.ok(readAt(src, 512 * KiB, 64 * KiB).equals(before.subarray(0, 64 * KiB)), 'disjoint ranges of one file')
    await t.rejects(cloneRange(dir, dest, { length: 4096 }), { code: 'EISDIR' })
  })

  remapTest(fsName, 'dedupeRange: same data shared, different data untouched, 64 MiB in full', async (t, dir) => {
    const data = randomBytes(64 * MiB)
    const src = path.join(dir, 'src')
    const same = path.join(dir, 'same')
    const other = path.join(dir, 'other')
    write(src, data)
    write(same, data)
    const diff = Buffer.from(data)
    diff[40 * MiB] ^= 1
    write(other, diff)
    t.ok(noneSharedIn(same, 0, 64 * MiB), 'before: nothing shared')
    const fd = fs.openSync(same, 'r')
    const r = await dedupeRange(src, { offset: 0, length: 64 * MiB }, [{ fd }, { path: other }])
    t.same(r[0], { bytesDeduped: 64 * MiB, status: 'same' }, 'past the kernel\'s 16 MiB per call: all 64 MiB')
    t.equal(r[1].status, 'differs')
    t.ok(r[1].bytesDeduped <= 40 * MiB, `differs: stopped at or before the change (${r[1].bytesDeduped})`)
    t.ok(fs.fstatSync(fd).isFile(), 'the fd is still open')
    fs.closeSync(fd)
    t.ok(isShared(same, 0, 64 * MiB), 'the identical target shares every extent')
    t.ok(fs.readFileSync(same).equals(data), 'its data is unchanged')
    t.ok(fs.readFileSync(other).equals(diff), 'the different target is unchanged')
    t.ok(noneSharedIn(other, 40 * MiB, 64 * MiB), 'and not shared past the difference')
  })
}

onFs(t, 'ext4', 'no remap support: clone and dedupe say EOPNOTSUPP, copyRange works', async (t, dir) => {
  const src = path.join(dir, 'src')
  const data = write(src, randomBytes(256 * KiB))
  await t.rejects(cloneRange(src, path.join(dir, 'd'), { length: 65536 }), { code: REMAP_UNSUPPORTED, syscall: 'ioctl_ficlonerange', message: PORTABLE ? /native addon/ : /cannot share extents/ })
  write(path.join(dir, 'twin'), data)
  if (PORTABLE) t.throws(() => dedupeRangeSync(src, { length: 65536 }, [{ path: path.join(dir, 'twin') }]), { code: 'ENOSYS' })
  else {
    const [r] = dedupeRangeSync(src, { length: 65536 }, [{ path: path.join(dir, 'twin') }])
    t.equal(r.status, 'error')
    t.equal(r.error.code, 'ENOTSUP')
  }
  t.equal(copyRangeSync(src, path.join(dir, 'copy'), { srcOffset: 1000, destOffset: 7, length: 100000 }), 100000)
  t.ok(readAt(path.join(dir, 'copy'), 7, 100000).equals(data.subarray(1000, 101000)))
  t.equal(copyRangeSync(src, path.join(dir, 'tail'), { srcOffset: 200 * KiB, length: 10 * MiB }), 56 * KiB, 'stops at the end of the source')
  t.equal(copyRangeSync(src, path.join(dir, 'all'), {}), 256 * KiB, 'length 0: to the end')
})

t.test('across filesystems: clone is EXDEV, copyRange works', async (t) => {
  const dirs = needMounts(t, 'btrfs', 'xfs')
  if (!dirs) return
  const src = path.join(dirs[0], `range-${process.pid}`)
  const dest = path.join(dirs[1], `range-${process.pid}`)
  t.teardown(() => [src, dest].forEach((f) => fs.rmSync(f, { force: true })))
  const data = write(src, randomBytes(MiB))
  t.throws(() => cloneRangeSync(src, dest, { length: 65536 }), { code: PORTABLE ? 'ENOSYS' : 'EXDEV', syscall: 'ioctl_ficlonerange' })
  t.equal(await copyRange(src, dest, { srcOffset: 4096, length: 500000 }), 500000)
  t.ok(readAt(dest, 0, 500000).equals(data.subarray(4096, 504096)))
})

onFs(t, 'btrfs', 'fds and FileHandles: used, never closed', async (t, dir) => {
  const src = path.join(dir, 'src')
  const data = write(src, randomBytes(256 * KiB))
  const fh = await fs.promises.open(src, 'r')
  const out = await fs.promises.open(path.join(dir, 'out'), 'w+')
  // The descriptors on this test's files: anything else the process opens
  // meanwhile (the runtime's own, lazily) is not the calls' doing.
  const onDir = () => openFds().filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir)
    } catch {
      return false
    }
  })
  const fds = onDir()
  t.equal(fds.length, 2, 'the two handles')
  // The portable engine has no cloneRange: the same ranges by copyRange.
  const share = PORTABLE ? copyRange : cloneRange
  const shareSync = PORTABLE ? copyRangeSync : cloneRangeSync
  await share(fh, out, { srcOffset: 65536, length: 65536 })
  t.equal(await copyRange(fh, out.fd, { srcOffset: 0, destOffset: 65536, length: 1000 }), 1000)
  shareSync(fh.fd, out.fd, { srcOffset: 131072, destOffset: 131072, length: 65536 })
  t.same(onDir(), fds, 'no descriptor opened or closed')
  t.ok((await fh.stat()).isFile(), 'the source handle still works')
  const { bytesRead } = await out.read(Buffer.alloc(10), 0, 10, 0)
  t.equal(bytesRead, 10, 'the destination handle still works')
  await fh.close()
  await out.close()
  const got = fs.readFileSync(path.join(dir, 'out'))
  t.ok(got.subarray(0, 65536).equals(data.subarray(65536, 131072)))
  t.ok(got.subarray(65536, 66536).equals(data.subarray(0, 1000)))
  await t.rejects(share(fh, path.join(dir, 'x')), { code: 'EBADF' }, 'a closed FileHandle')
})

t.test('bad offsets and arguments: RangeError/TypeError before any file is touched', async (t) => {
  const dir = fs.mkdtempSync('/tmp/cowcopy-range-')
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'x')
  const dest = path.join(dir, 'dest')
  for (const v of [-1, 1.5, NaN, Infinity, 2 ** 53, -1n, 1n << 63n]) {
    for (const key of ['srcOffset', 'destOffset', 'length']) {
      t.throws(() => cloneRangeSync(src, dest, { [key]: v }), { name: 'RangeError', code: 'ERR_OUT_OF_RANGE', message: new RegExp(`"range.${key}"`) }, `${key} = ${String(v)}`)
    }
  }
  await t.rejects(copyRange(src, dest, { length: '5' }), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(copyRange(src, dest, { length: -5 }), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => copyRangeSync(src, -3), { code: 'ERR_OUT_OF_RANGE' })
  t.throws(() => copyRangeSync({}, dest), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(dedupeRange(src, { offset: 0.5 }, []), { code: 'ERR_OUT_OF_RANGE' })
  await t.rejects(dedupeRange(src, {}, [{}]), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(dedupeRange(src, {}, 'x'), { code: 'ERR_INVALID_ARG_TYPE' })
  t.same(fs.readdirSync(dir), ['src'], 'nothing created')
})

for (const [fsName, expect] of [
  ['btrfs', { fsType: 'btrfs', clone: true, dedupe: true, copyFileRange: true }],
  ['xfs', { fsType: 'xfs', clone: true, dedupe: true, copyFileRange: true }],
  ['ext4', { fsType: 'ext4', clone: false, dedupe: false, copyFileRange: true }],
  ['tmpfs', { fsType: 'tmpfs', clone: false, dedupe: false, copyFileRange: true }],
]) {
  onFs(t, fsName, 'probe tells what the filesystem does, and leaves nothing', async (t, dir) => {
    const fds = openFds()
    const p = await probe(dir)
    // The portable engine tries only the clone; what it cannot call is false.
    t.match(p, PORTABLE ? { ...expect, dedupe: false, copyFileRange: false } : expect)
    t.equal(p.blockSize, 4096)
    t.same(probeSync(dir), p, 'sync: the same')
    t.same(fs.readdirSync(dir), [], 'no file left behind')
    t.same(openFds(), fds, 'no descriptor left open')
  })
}

t.test('probe errors, and probe without the addon', async (t) => {
  await t.rejects(probe('/nonexistent/dir'), { code: 'ENOENT', syscall: 'probe' })
  const out = execFileSync(process.execPath, ['-e', `
    const c = require('cowcopy')
    Promise.allSettled([c.cloneRange('a', 'b'), c.dedupeRange('a', {}, []), c.probe('.')]).then((r) =>
      console.log(JSON.stringify(r.map((x) => x.reason ? [x.reason.code, x.reason.syscall, /needs the native addon/.test(x.reason.message)] : typeof x.value.fsType))))`], { env: { ...process.env, COWCOPY_NATIVE: '0' }, encoding: 'utf8' })
  t.same(JSON.parse(out), [['ENOSYS', 'ioctl_ficlonerange', true], ['ENOSYS', 'ioctl_fideduperange', true], 'string'], 'the ioctls need the addon; probe works on the portable engine')
})
