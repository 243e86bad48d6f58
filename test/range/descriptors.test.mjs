// Range calls and the descriptors they are given: a FileHandle or numeric fd
// closed while the call runs (the number, reused by another file, gets
// nothing), duplicates the call holds closed when it ends, clean errors from
// a bad fd, and FileHandle-like objects whose fd is not an int32 refused
// (never truncated into fd 0 or 1).
import t from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { cloneRange, cloneRangeSync, copyRange, copyRangeSync, dedupeRange } from 'cowcopy'
import { PORTABLE } from '../engines.mjs'
import { onFs, openFds, cowChild, writeNumberedFile } from '../helpers.mjs'
import * as os from 'node:os'
import { createRequire } from 'node:module'

const KiB = 1024
const MiB = 1024 * KiB
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

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

const dist = path.join(root, 'dist', 'index.js')

const require = createRequire(import.meta.url)
const cow = require(dist)

// The call holds the file, not its number.
onFs(t, 'ext4', 'a FileHandle closed while copyRange runs: the number reused by another file gets nothing', async (t, dir) => {
  const src = path.join(dir, 'src')
  const size = 256 * MiB
  writeNumberedFile(src, size)
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
  writeNumberedFile(src, size)
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

// A FileHandle-like object's fd gets the numeric fd's checks; nothing
// is ever truncated into fd 0 or 1.
t.test('FileHandle-like fds that are not int32 are refused (never fd 0/1)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-fdcoerce-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, 'secret'), 'SECRET-SOURCE-BYTES\n')
  const r = cowChild(t, `
    const out = (x) => console.error(JSON.stringify(x))
    const d = ${JSON.stringify(dir)}
    for (const fd of [1.5, NaN, 2 ** 32 + 1, 2 ** 31, -0.5, Infinity]) {
      for (const [side, args] of [['dest', [d + '/secret', { fd, close: async () => {} }]], ['src', [{ fd, close: async () => {} }, d + '/from']]]) {
        try { cow.copyRangeSync(...args); out({ fd: String(fd), side, ok: true }) }
        catch (e) { out({ fd: String(fd), side, name: e.name, code: e.code }) }
      }
    }
    // Below the validation: the addon itself never truncates a number.
    const { native } = require(${JSON.stringify(path.join(root, 'dist', 'native.js'))})
    for (const fd of [1.5, NaN, 2 ** 32 + 1, -1]) {
      try { native.copyRange(d + '/secret', fd, 0n, 0n, 0n, true); out({ native: String(fd), ok: true }) }
      catch (e) { out({ native: String(fd), name: e.name }) }
    }
  `)
  t.equal(r.stdout, '', 'nothing written to stdout')
  t.notOk(fs.existsSync(path.join(dir, 'from')), 'nothing read from stdin')
  const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l))
  for (const l of lines.filter((x) => x.side)) {
    t.same({ name: l.name, code: l.code }, { name: 'RangeError', code: 'ERR_OUT_OF_RANGE' }, `${l.side} {fd: ${l.fd}}`)
  }
  for (const l of lines.filter((x) => x.native)) t.equal(l.name, 'TypeError', `native fd ${l.native} refused`)
  t.throws(() => cow.copyRangeSync(path.join(dir, 'secret'), { fd: '3', close: async () => {} }), { code: 'ERR_INVALID_ARG_TYPE' })
})
