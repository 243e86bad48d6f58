// Sources and destinations that are not plain files, or not what they seem:
// pseudo-files whose st_size lies, FIFOs and devices, one file under two
// names, symlinks, and modes.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFile, copyFileSync } from 'cowcopy'
import { makeFile, sameBytes, tmpScratch } from '../helpers.mjs'

t.test('/proc and /sys files copy their real content, not st_size bytes', async (t) => {
  const d = tmpScratch(t)
  t.equal(fs.statSync('/proc/self/status').size, 0, '/proc/self/status claims to be empty')
  const status = path.join(d, 'status')
  const r = copyFileSync('/proc/self/status', status)
  const text = fs.readFileSync(status, 'utf8')
  t.equal(r.bytes, Buffer.byteLength(text))
  t.match(text, /^Name:\t/, 'starts like /proc/self/status')
  t.match(text, new RegExp(`\\nPid:\\t${process.pid}\\n`), 'holds our own pid')
  t.match(text, /\nVmRSS:/)

  const cmdline = path.join(d, 'cmdline')
  await copyFile('/proc/self/cmdline', cmdline)
  t.ok(fs.readFileSync(cmdline).equals(fs.readFileSync('/proc/self/cmdline')), '/proc/self/cmdline exact')

  // A sysfs attribute: st_size 4096 whatever its content.
  const sys = '/sys/kernel/mm/transparent_hugepage/enabled'
  if (fs.existsSync(sys)) {
    t.equal(fs.statSync(sys).size, 4096)
    const out = path.join(d, 'sys')
    copyFileSync(sys, out, { reflink: 'never' })
    t.equal(fs.readFileSync(out, 'utf8'), fs.readFileSync(sys, 'utf8'), 'sysfs file exact')
  }
})

t.test('a FIFO or a device as source is refused at once, nothing created', async (t) => {
  const d = tmpScratch(t)
  const fifo = path.join(d, 'fifo')
  execFileSync('mkfifo', [fifo])
  const dest = path.join(d, 'out')
  const started = Date.now()
  t.throws(() => copyFileSync(fifo, dest), {
    code: 'EINVAL',
    errno: -22,
    syscall: 'copyfile',
    message: `EINVAL: source is a FIFO, not a regular file, copyfile '${fifo}' -> '${dest}'`,
  })
  await t.rejects(copyFile(fifo, dest), { code: 'EINVAL', message: /source is a FIFO/ })
  await t.rejects(copyFile('/dev/zero', dest), {
    code: 'EINVAL',
    message: `EINVAL: source is a character device, not a regular file, copyfile '/dev/zero' -> '${dest}'`,
  })
  t.ok(Date.now() - started < 5000, 'no waiting for a writer')
  t.same(fs.readdirSync(d), ['fifo'], 'no destination created')
})

t.test('a FIFO or a device as destination is refused and never removed', async (t) => {
  const d = tmpScratch(t)
  const src = path.join(d, 'src')
  fs.writeFileSync(src, 'data')
  const fifo = path.join(d, 'fifo')
  execFileSync('mkfifo', [fifo])
  t.throws(() => copyFileSync(src, fifo), { code: 'EINVAL', message: /destination is a FIFO, not a regular file/ })
  t.ok(fs.statSync(fifo).isFIFO(), 'the FIFO is still there')
  t.throws(() => copyFileSync(src, '/dev/null'), { code: 'EINVAL', message: /destination is a character device/ })
  t.ok(fs.statSync('/dev/null').isCharacterDevice(), '/dev/null is still there')
})

t.test('same file: by the same path, through a hard link and a symlink', async (t) => {
  const d = tmpScratch(t)
  const src = path.join(d, 'src')
  makeFile(src, 70000, 0o640)
  const original = fs.readFileSync(src)
  fs.linkSync(src, path.join(d, 'hard'))
  fs.symlinkSync('src', path.join(d, 'soft'))
  for (const dest of ['src', 'hard', 'soft']) {
    for (const mode of ['auto', 'always', 'never']) {
      const r = copyFileSync(src, path.join(d, dest), { reflink: mode })
      t.same(r, { method: 'none', bytes: 0 }, `${dest} ${mode}: reported as nothing to do`)
      t.ok(fs.readFileSync(src).equals(original), `${dest} ${mode}: data intact`)
    }
    const r = await copyFile(path.join(d, dest), src)
    t.equal(r.method, 'none')
    t.ok(fs.readFileSync(src).equals(original), `${dest} (promise): data intact`)
  }
  t.equal(fs.statSync(src).mode & 0o777, 0o640, 'mode untouched')
})

t.test('symlinks: the source is followed, a dangling destination is not written through', async (t) => {
  const d = tmpScratch(t)
  const real = path.join(d, 'real')
  makeFile(real, 5000, 0o755)
  fs.symlinkSync('real', path.join(d, 'link'))
  const out = path.join(d, 'out')
  copyFileSync(path.join(d, 'link'), out)
  t.ok(fs.lstatSync(out).isFile(), 'the copy is a file, not a symlink')
  t.ok(sameBytes(real, out))
  t.equal(fs.statSync(out).mode & 0o777, 0o755, 'mode of the target, not of the link')

  fs.symlinkSync('target-that-does-not-exist', path.join(d, 'dangling'))
  t.throws(() => copyFileSync(real, path.join(d, 'dangling')), {
    code: 'EEXIST',
    message: /destination is a dangling symbolic link, not writing through it/,
  })
  t.notOk(fs.existsSync(path.join(d, 'target-that-does-not-exist')), 'nothing created at the far end')
  t.ok(fs.lstatSync(path.join(d, 'dangling')).isSymbolicLink(), 'the link itself kept')

  // A symlink to an existing file is written through, as cp and fs.copyFile do.
  fs.writeFileSync(path.join(d, 'victim'), 'old')
  fs.symlinkSync('victim', path.join(d, 'tovictim'))
  copyFileSync(real, path.join(d, 'tovictim'))
  t.ok(sameBytes(real, path.join(d, 'victim')), 'the target got the data')
  t.ok(fs.lstatSync(path.join(d, 'tovictim')).isSymbolicLink(), 'the link is still a link')
})

t.test('modes: exec bits, setgid and odd modes kept exactly, umask not applied (as fs.copyFile)', async (t) => {
  const d = tmpScratch(t)
  const old = process.umask(0o077)
  t.teardown(() => process.umask(old))
  for (const mode of [0o755, 0o700, 0o644, 0o666, 0o400, 0o2755, 0o1777]) {
    const src = path.join(d, `src-${mode.toString(8)}`)
    makeFile(src, 100, mode)
    const mine = path.join(d, `mine-${mode.toString(8)}`)
    const theirs = path.join(d, `fs-${mode.toString(8)}`)
    copyFileSync(src, mine)
    fs.copyFileSync(src, theirs)
    t.equal(fs.statSync(mine).mode & 0o7777, mode, `0o${mode.toString(8)} kept`)
    t.equal(fs.statSync(mine).mode, fs.statSync(theirs).mode, `0o${mode.toString(8)}: same as fs.copyFileSync`)
  }
})

t.test('the destination is private (0600) until its data is complete', async (t) => {
  // Watch the destination from a second process while a 256 MiB real copy
  // runs: whenever it exists with less than the full size, it must be 0600.
  const d = tmpScratch(t)
  const src = path.join(d, 'src')
  const size = 256 << 20
  makeFile(src, size, 0o644)
  const dest = path.join(d, 'dest')
  const watcher = `
    const fs = require('fs'); const seen = new Set(); const end = Date.now() + 20000
    while (Date.now() < end) {
      let st; try { st = fs.statSync(${JSON.stringify(dest)}) } catch { continue }
      seen.add((st.size < ${size} ? 'partial:' : 'full:') + (st.mode & 0o777).toString(8))
      if (st.size === ${size} && (st.mode & 0o777) === 0o644) break
    }
    process.stdout.write(JSON.stringify([...seen]))`
  const { spawn } = await import('node:child_process')
  const child = spawn(process.execPath, ['-e', watcher])
  let out = ''
  child.stdout.on('data', (b) => (out += b))
  await new Promise((r) => setTimeout(r, 300))
  await copyFile(src, dest, { reflink: 'never' })
  await new Promise((r) => child.on('close', r))
  const seen = JSON.parse(out)
  t.ok(seen.includes('full:644'), `saw the finished file (${seen})`)
  t.notOk(seen.some((s) => s.startsWith('partial:') && s !== 'partial:600'), 'a partial file was never readable by others')
})
