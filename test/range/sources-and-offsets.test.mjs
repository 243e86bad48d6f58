// Range calls under attack (issue 12): a descriptor closed while the call
// runs, /proc files whose size says 0, FIFOs in every position, destinations
// the call created and then failed on, exceptions inside a job, offsets that
// overflow. Every check reads the kernel: no mocks.
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { cloneRange, cloneRangeSync, copyRange, copyRangeSync, dedupeRange, dedupeRangeSync } from 'cowcopy'
import { PORTABLE } from './engines.mjs'
import { fsDir, onFs, openFds, readAt, tmpScratch } from './helpers.mjs'

const KiB = 1024
const MiB = 1024 * KiB
const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))

function hashFile(file) {
  const h = createHash('sha256')
  const fd = fs.openSync(file, 'r')
  try {
    const buf = Buffer.alloc(8 * MiB)
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n))
  } finally {
    fs.closeSync(fd)
  }
  return h.digest('hex')
}

// `size` bytes, every 8 MiB chunk different (a chunk's number in its head).
function bigFile(file, size) {
  const chunk = randomBytes(8 * MiB)
  const fd = fs.openSync(file, 'w')
  for (let at = 0; at < size; at += chunk.length) {
    chunk.writeUInt32LE(at / chunk.length, 0)
    fs.writeSync(fd, chunk, 0, Math.min(chunk.length, size - at), at)
  }
  fs.closeSync(fd)
}

// Runs `code` (CommonJS, cowcopy loaded as `c`) in a child; resolves with
// { status, signal, timedOut, out } and never waits longer than `ms`.
function child(code, { env = {}, ms = 8000 } = {}) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-e', `const c = require('cowcopy'); const fs = require('fs');\n${code}`], {
      cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (err += d))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      p.kill('SIGKILL')
    }, ms)
    p.on('close', (status, signal) => {
      clearTimeout(timer)
      resolve({ status, signal, timedOut, out: out.trim(), err: err.trim() })
    })
  })
}

// Item 4: the call holds the file, not its number.
onFs(t, 'ext4', 'a FileHandle closed while copyRange runs: the number reused by another file gets nothing', async (t, dir) => {
  const src = path.join(dir, 'src')
  const size = 256 * MiB
  bigFile(src, size)
  const want = hashFile(src)
  const dest = path.join(dir, 'dest')
  const other = path.join(dir, 'other')
  const fh = await fs.promises.open(dest, 'w')
  const number = fh.fd
  let settled = false
  const p = copyRange(src, fh).then((n) => ({ n }), (e) => ({ e })).finally(() => (settled = true))
  await fh.close()
  const closedFirst = !settled
  // Opens until one gets the closed number (a libuv thread may take a lower
  // free number first); each file opened on the way stays empty too.
  const opened = []
  for (let i = 0; i < 64 && !opened.some(([fd]) => fd === number); i++) {
    const name = i === 0 ? other : `${other}${i}`
    opened.push([fs.openSync(name, 'w'), name])
  }
  // FileHandle.close() runs on the thread pool, so another open of this
  // process may take the number first; the attack is then not staged this
  // run (said, not failed), and every file opened must still get nothing.
  if (opened.some(([fd]) => fd === number)) t.pass('an open got the closed number')
  else t.comment(`the closed number ${number} was taken by another open of this process: the reuse was not staged this run`)
  const r = await p
  for (const [fd] of opened) fs.closeSync(fd)
  t.comment(`fh.close() resolved ${closedFirst ? 'before' : 'after'} the copy settled`)
  for (const [, name] of opened) t.equal(fs.statSync(name).size, 0, `${path.basename(name)} received nothing`)
  if (r.e) {
    t.match(r.e, { code: /^E/, syscall: String }, 'or a clean Node-style error')
  } else {
    t.equal(r.n, size, 'the copy completed')
    t.equal(hashFile(dest), want, 'into the original file')
  }
})

onFs(t, 'ext4', 'numeric fds closed right after the call: the copy still reads and writes the files it was given', async (t, dir) => {
  const src = path.join(dir, 'src')
  const size = 128 * MiB
  bigFile(src, size)
  const want = hashFile(src)
  const dest = path.join(dir, 'dest')
  const decoy = path.join(dir, 'decoy')
  fs.writeFileSync(decoy, Buffer.alloc(MiB, 0x5a))
  const other = path.join(dir, 'other')
  const s = fs.openSync(src, 'r')
  const d = fs.openSync(dest, 'w')
  const p = copyRange(s, d).then((n) => ({ n }), (e) => ({ e }))
  fs.closeSync(s)
  fs.closeSync(d)
  const decoyFd = fs.openSync(decoy, 'r')
  const otherFd = fs.openSync(other, 'w')
  t.same([decoyFd, otherFd].sort(), [s, d].sort(), 'both numbers reused at once')
  const r = await p
  fs.closeSync(decoyFd)
  fs.closeSync(otherFd)
  t.equal(fs.statSync(other).size, 0, 'the file opened on the destination number received nothing')
  t.notOk(r.e, `no error (${r.e && r.e.message})`)
  t.equal(r.n, size)
  t.equal(hashFile(dest), want, 'the destination holds the source, not the decoy')
  t.ok(fs.readFileSync(decoy).equals(Buffer.alloc(MiB, 0x5a)), 'the decoy is unchanged')
})

onFs(t, 'btrfs', 'held descriptors are closed by the call: no fd left open, errors from a bad fd are clean', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, randomBytes(256 * KiB))
  const fh = await fs.promises.open(src, 'r')
  const out = fs.openSync(path.join(dir, 'out'), 'w')
  const fds = openFds()
  // DIFFERENCES.cloneRange: ENOSYS on the portable engine, before any descriptor is held.
  if (PORTABLE) await t.rejects(cloneRange(fh, out, { length: 65536 }), { code: 'ENOSYS', syscall: 'ioctl_ficlonerange' })
  else await cloneRange(fh, out, { length: 65536 })
  t.equal(await copyRange(fh, out, { srcOffset: 65536, destOffset: 65536, length: 1000 }), 1000)
  copyRangeSync(fh.fd, out, { destOffset: 200000, length: 10 })
  const targets = [{ fd: out }, { handle: fh, offset: 131072 }]
  if (PORTABLE) await t.rejects(dedupeRange(fh, { length: 65536 }, targets), { code: 'ENOSYS', syscall: 'ioctl_fideduperange' })
  else await dedupeRange(fh, { length: 65536 }, targets)
  t.same(openFds(), fds, 'every duplicate closed')
  await fh.close()
  fs.closeSync(out)
  const base = openFds()
  const newDest = path.join(dir, 'never')
  await t.rejects(copyRange(999, newDest), { code: 'EBADF', syscall: 'copy_file_range' })
  t.throws(() => cloneRangeSync(999, newDest), { code: PORTABLE ? 'ENOSYS' : 'EBADF', syscall: 'ioctl_ficlonerange' })
  t.notOk(fs.existsSync(newDest), 'a bad source fd creates no destination')
  t.same(openFds(), base, 'no descriptor left open after the errors')
})

// Item 5: length 0 means "until a read says the end", not st_size.
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

// Item 11: FIFOs never block a thread; the same error as copyFile's.
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
  const runs = await Promise.all(cases.map(([, call, , , n], i) => child(`
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

// Item 15: what the call created, it removes when it fails.
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

// Item 17: an exception inside a job is an error, never success or a crash.
// Native only: C++ exceptions exist only in the addon's jobs; the same promise
// on both engines (an error, nothing left behind) is 'copyRange out of space' below.
if (!PORTABLE) t.test('a C++ exception inside a range job becomes ENOMEM (sync and promise), nothing left behind', async (t) => {
  const dir = tmpScratch(t)
  const shimSrc = path.join(dir, 'throw-shim.cc')
  const shim = path.join(dir, 'throw-shim.so')
  // copy_file_range and the two range ioctls throw std::bad_alloc while
  // SHIM_THROW is set, as an allocation inside the job would.
  fs.writeFileSync(shimSrc, `
#include <linux/fs.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <new>
extern "C" ssize_t copy_file_range(int a, loff_t* b, int c, loff_t* d, size_t n, unsigned f) {
  if (getenv("SHIM_THROW")) throw std::bad_alloc();
  return syscall(SYS_copy_file_range, a, b, c, d, n, f);
}
extern "C" int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if ((req == FICLONERANGE || req == FIDEDUPERANGE) && getenv("SHIM_THROW")) throw std::bad_alloc();
  return syscall(SYS_ioctl, fd, req, arg);
}
`)
  execFileSync('g++', ['-shared', '-fPIC', '-O1', '-o', shim, shimSrc])
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, randomBytes(64 * KiB))
  const cases = [
    ['copyRangeSync', 'c.copyRangeSync(S, N)', 'copy_file_range'],
    ['copyRange', 'await c.copyRange(S, N)', 'copy_file_range'],
    ['cloneRangeSync', 'c.cloneRangeSync(S, N)', 'ioctl_ficlonerange'],
    ['cloneRange', 'await c.cloneRange(S, N)', 'ioctl_ficlonerange'],
    ['dedupeRangeSync', 'c.dedupeRangeSync(S, {}, [{ path: S2 }])', 'ioctl_fideduperange'],
    ['dedupeRange', 'await c.dedupeRange(S, {}, [{ path: S2 }])', 'ioctl_fideduperange'],
  ]
  fs.copyFileSync(src, path.join(dir, 'src2'))
  const runs = await Promise.all(cases.map(([name, call]) => child(`
    const S = ${JSON.stringify(src)}, S2 = ${JSON.stringify(path.join(dir, 'src2'))}, N = ${JSON.stringify(path.join(dir, `new-${name}`))};
    (async () => { let r; try { r = ${call}; console.log(JSON.stringify({ ok: true, r: typeof r === 'bigint' ? String(r) : r })) }
      catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.errno, syscall: e.syscall, message: e.message })) } })()`,
  { env: { LD_PRELOAD: shim, SHIM_THROW: '1' } })))
  cases.forEach(([name, , syscall], i) => {
    const r = runs[i]
    t.equal(r.signal, null, `${name}: no crash (${r.err.split('\n')[0] || 'no stderr'})`)
    t.equal(r.status, 0, `${name}: exit 0`)
    const got = JSON.parse(r.out || '{}')
    t.match(got, { code: 'ENOMEM', errno: -12, syscall }, `${name}: ENOMEM, never success (${r.out})`)
  })
  t.same(fs.readdirSync(dir).sort(), ['src', 'src2', 'throw-shim.cc', 'throw-shim.so'], 'no destination left behind')
})

// A real failure part way through a range copy, on both engines: an error,
// the destination the call created is gone and its space is back.
onFs(t, 'tiny', 'copyRange out of space part way: ENOSPC, the destination it created removed, space back', async (t, dir) => {
  const big = fs.mkdtempSync(path.join(fsDir('ext4').dir || process.env.TMPDIR || '/tmp', 'cc-big-'))
  t.teardown(() => fs.rmSync(big, { recursive: true, force: true }))
  const src = path.join(big, 'big')
  bigFile(src, 300 * MiB) // more than the tiny filesystem holds
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
