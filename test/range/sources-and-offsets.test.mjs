// Range calls on inputs that are not plain files of a known size: /proc
// files whose size says 0 (length 0 reads until a read says the end), a file
// copied onto its own end (copied once), FIFOs in every position (a prompt
// EINVAL, never a hang, nothing created), and offset + length past 2^63 - 1
// (ERR_OUT_OF_RANGE before any file is touched).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { cloneRange, cloneRangeSync, copyRange, copyRangeSync, dedupeRange, dedupeRangeSync } from 'cowcopy'
import { PORTABLE } from '../engines.mjs'
import { cowChildAsync, onFs, readAt, tmpScratch } from '../helpers.mjs'

const KiB = 1024
const MiB = 1024 * KiB

// Length 0 means "until a read says the end", not st_size.
t.test('copyRange length 0 from /proc copies the whole content', async (t) => {
  const dir = tmpScratch(t)
  const version = fs.readFileSync('/proc/version')
  const a = path.join(dir, 'version')
  t.equal(copyRangeSync('/proc/version', a, { length: 0 }), version.length, 'sync: all bytes')
  t.ok(fs.readFileSync(a).equals(version))
  const b = path.join(dir, 'filesystems')
  const fsList = fs.readFileSync('/proc/filesystems')
  t.equal(await copyRange('/proc/filesystems', b), fsList.length, 'promise: all bytes')
  t.ok(fs.readFileSync(b).equals(fsList))
  const c = path.join(dir, 'cpuinfo')
  const noMHz = (s) => s.toString().replace(/^cpu MHz.*$/gm, '')
  const n = await copyRange('/proc/cpuinfo', c, { length: 0 })
  t.ok(n > 0 && n === fs.statSync(c).size, `cpuinfo: ${n} bytes`)
  t.equal(noMHz(fs.readFileSync(c)), noMHz(fs.readFileSync('/proc/cpuinfo')))
  const d = path.join(dir, 'offsets')
  t.equal(copyRangeSync('/proc/version', d, { srcOffset: 10, destOffset: 3 }), version.length - 10, 'from an offset to the end')
  t.ok(readAt(d, 3, version.length).equals(version.subarray(10)))
  t.equal(copyRangeSync('/proc/version', path.join(dir, 'ten'), { length: 10 }), 10, 'an explicit length still stops there')
})

// Length 0 reads until the end; within one file the end is where it was:
// what the call writes is never read again.
for (const fsName of ['ext4', 'btrfs', 'tmpfs']) {
  onFs(t, fsName, 'copyRange length 0 of a file onto its own end copies it once', async (t, dir) => {
    const f = path.join(dir, 'f')
    const data = randomBytes(3 * MiB + 123)
    fs.writeFileSync(f, data)
    t.equal(await copyRange(f, f, { destOffset: data.length }), data.length)
    t.ok(fs.readFileSync(f).equals(Buffer.concat([data, data])), 'the file twice, nothing more')
    const fd = fs.openSync(f, 'r+')
    t.equal(copyRangeSync(fd, fd, { srcOffset: data.length, destOffset: 2 * data.length }), data.length, 'one fd as both')
    fs.closeSync(fd)
    t.equal(fs.statSync(f).size, 3 * data.length)
  })
}

// FIFOs never block a thread; the same error as copyFile's.
t.test('a FIFO as source, destination or dedupe target: a prompt EINVAL, no hang, nothing created', async (t) => {
  const dir = tmpScratch(t)
  // One FIFO per child: two children opening the same FIFO would unblock each other.
  const fifoOf = (i) => path.join(dir, `fifo${i}`)
  const reg = path.join(dir, 'reg')
  fs.writeFileSync(reg, randomBytes(64 * KiB))
  const fresh = (name) => path.join(dir, name)
  const src = 'source is a FIFO, not a regular file'
  const dst = 'destination is a FIFO, not a regular file'
  const cases = [
    ['copyRangeSync src', `c.copyRangeSync(F, N)`, 'copy_file_range', src, fresh('n1')],
    ['copyRange src', `await c.copyRange(F, N)`, 'copy_file_range', src, fresh('n2')],
    ['copyRangeSync dest', `c.copyRangeSync(R, F)`, 'copy_file_range', dst],
    ['copyRange dest', `await c.copyRange(R, F)`, 'copy_file_range', dst],
    ['cloneRangeSync src', `c.cloneRangeSync(F, N)`, 'ioctl_ficlonerange', src, fresh('n3')],
    ['cloneRange src', `await c.cloneRange(F, N)`, 'ioctl_ficlonerange', src, fresh('n4')],
    ['cloneRangeSync dest', `c.cloneRangeSync(R, F)`, 'ioctl_ficlonerange', dst],
    ['cloneRange dest', `await c.cloneRange(R, F)`, 'ioctl_ficlonerange', dst],
    ['dedupeRangeSync src', `c.dedupeRangeSync(F, {}, [{ path: R }])`, 'ioctl_fideduperange', src],
    ['dedupeRange src', `await c.dedupeRange(F, {}, [{ path: R }])`, 'ioctl_fideduperange', src],
    ['dedupeRangeSync target', `{ const [r] = c.dedupeRangeSync(R, {}, [{ path: F }]); throw r.error }`, 'ioctl_fideduperange', dst],
    ['dedupeRange target', `{ const [r] = await c.dedupeRange(R, {}, [{ path: F }]); throw r.error }`, 'ioctl_fideduperange', dst],
  ]
  cases.forEach((c, i) => execFileSync('mkfifo', [fifoOf(i)]))
  const runs = await Promise.all(cases.map(([, call, , , n], i) => cowChildAsync(`
    const F = ${JSON.stringify(fifoOf(i))}, R = ${JSON.stringify(reg)}, N = ${JSON.stringify(n ?? fresh('unused'))};
    (async () => { try { ${call}; console.log(JSON.stringify({ ok: true })) }
      catch (e) { console.log(JSON.stringify({ code: e && e.code, message: e && e.message, syscall: e && e.syscall })) } })()`,
  // A hang never ends; twelve children starting at once on a busy 2-core machine take seconds.
  { ms: 20000 })))
  cases.forEach(([name, , syscall, reason, n], i) => {
    const r = runs[i]
    t.notOk(r.timedOut, `${name}: did not hang`)
    if (r.timedOut) return
    const got = JSON.parse(r.out || '{}')
    // DIFFERENCES.cloneRange: the ioctls are ENOSYS on the portable engine, before any file is opened.
    const code = PORTABLE && syscall !== 'copy_file_range' ? 'ENOSYS' : 'EINVAL'
    const why = code === 'ENOSYS' ? `${syscall} needs the native addon` : `${reason}, ${syscall} '`
    t.equal(got.code, code, `${name}: ${code}`)
    t.equal(got.syscall, syscall, `${name}: syscall`)
    t.match(got.message, new RegExp(`^${code}: ${why}`), `${name}: says why`)
    if (n) t.notOk(fs.existsSync(n), `${name}: no destination created`)
  })
  t.ok(cases.every((c, i) => fs.statSync(fifoOf(i)).isFIFO()), 'the FIFOs are still there')
  t.same(fs.readdirSync(dir).filter((n) => !n.startsWith('fifo')), ['reg'], 'nothing else in the directory')
})

// Offsets: validated before anything is touched, 64-bit all the way.
t.test('offset + length past 2^63 - 1: ERR_OUT_OF_RANGE before any file is touched', async (t) => {
  const dir = tmpScratch(t)
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'x')
  const dest = path.join(dir, 'dest')
  const half = 1n << 62n
  const err = { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }
  t.throws(() => cloneRangeSync(src, dest, { srcOffset: half, length: half }), { ...err, message: /"range.length"/ })
  t.throws(() => copyRangeSync(src, dest, { destOffset: half + 1n, length: half }), { ...err, message: /"range.length"/ })
  await t.rejects(copyRange(src, dest, { srcOffset: (1n << 63n) - 1n, length: 1 }), err)
  await t.rejects(dedupeRange(src, { offset: half, length: half }, [{ path: src }]), err)
  await t.rejects(dedupeRange(src, { length: half }, [{ path: src, offset: half }]), { ...err, message: /"targets\[0\].offset"|"range.length"/ })
  t.same(fs.readdirSync(dir), ['src'], 'nothing created')
  // The largest offsets that fit are accepted (and fail in the kernel, cleanly).
  t.throws(() => copyRangeSync(src, dest, { destOffset: (1n << 63n) - 2n, length: 1 }), { code: /^E/ })
  t.same(fs.readdirSync(dir), ['src'], 'and leave nothing either')
})
