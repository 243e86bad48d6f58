// atomic: true writes a temporary file beside the destination and renames it
// into place: readers see the old file or the new one, never a partial one,
// and a failure leaves the old one and no temporary file.
import t from 'tap'
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFile, copyFileSync } from 'cowcopy'
import { allShared, makeFile, onFs, sameBytes } from '../helpers.mjs'

for (const fsName of ['ext4', 'xfs', 'btrfs', 'tmpfs']) {
  onFs(t, fsName, 'atomic replace of an existing destination', async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 5 << 20, 0o750)
    const dest = path.join(dir, 'dest')
    fs.writeFileSync(dest, 'old')
    for (const [api, opts] of [['sync', { atomic: true }], ['promise', { atomic: true, fsync: true }]]) {
      const before = fs.statSync(dest).ino
      const r = api === 'sync' ? copyFileSync(src, dest, opts) : await copyFile(src, dest, opts)
      t.ok(sameBytes(src, dest), `${api}: new content in place`)
      t.not(fs.statSync(dest).ino, before, `${api}: a new inode replaced the old one`)
      t.equal(fs.statSync(dest).mode & 0o777, 0o750, `${api}: mode kept`)
      t.same(fs.readdirSync(dir).sort(), ['dest', 'src'], `${api}: no temporary file left`)
      if (fsName === 'btrfs' || fsName === 'xfs') {
        t.equal(r.method, 'clone')
        t.ok(allShared(dest), `${api}: the atomic copy is a clone`)
      }
    }
  })
}

onFs(t, 'ext4', 'atomic with overwrite: false fails before copying, and never clobbers', async (t, dir) => {
  const src = path.join(dir, 'src')
  makeFile(src, 1000)
  const dest = path.join(dir, 'dest')
  fs.writeFileSync(dest, 'keep')
  t.throws(() => copyFileSync(src, dest, { atomic: true, overwrite: false }), { code: 'EEXIST', syscall: 'copyfile' })
  t.equal(fs.readFileSync(dest, 'utf8'), 'keep')
  const fresh = path.join(dir, 'fresh')
  copyFileSync(src, fresh, { atomic: true, overwrite: false })
  t.ok(sameBytes(src, fresh))
  t.same(fs.readdirSync(dir).sort(), ['dest', 'fresh', 'src'])
})

onFs(t, 'ext4', 'atomic: same file is nothing to do, a directory is EISDIR', async (t, dir) => {
  const src = path.join(dir, 'src')
  makeFile(src, 1000)
  fs.linkSync(src, path.join(dir, 'hard'))
  const ino = fs.statSync(src).ino
  t.same(copyFileSync(src, path.join(dir, 'hard'), { atomic: true }), { method: 'none', bytes: 0 })
  t.equal(fs.statSync(path.join(dir, 'hard')).ino, ino, 'the link is untouched')
  fs.mkdirSync(path.join(dir, 'd'))
  t.throws(() => copyFileSync(src, path.join(dir, 'd'), { atomic: true }), { code: 'EISDIR' })
  t.same(fs.readdirSync(dir).sort(), ['d', 'hard', 'src'])
})

onFs(t, 'tiny', 'atomic copy that fails (ENOSPC): the old destination is intact, no temporary file', async (t, dir) => {
  const big = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'cc-big-')), 'big')
  t.teardown(() => fs.rmSync(path.dirname(big), { recursive: true, force: true }))
  makeFile(big, 400 << 20)
  const dest = path.join(dir, 'dest')
  fs.writeFileSync(dest, 'the old content')
  await t.rejects(copyFile(big, dest, { atomic: true }), { code: 'ENOSPC', syscall: 'copyfile', path: big, dest })
  t.equal(fs.readFileSync(dest, 'utf8'), 'the old content')
  t.same(fs.readdirSync(dir), ['dest'], 'no temporary file in the directory')
})

onFs(t, 'ext4', 'readers never see a half-written destination', async (t, dir) => {
  const oldContent = Buffer.alloc(1 << 20, 1)
  const src = path.join(dir, 'src')
  makeFile(src, 256 << 20)
  fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
  const dest = path.join(dir, 'dest')
  fs.writeFileSync(dest, oldContent)
  // A second process stats the destination as fast as it can while we copy.
  const watcher = spawn(process.execPath, ['-e', `
    const fs = require('fs'); const sizes = new Set(); const end = Date.now() + 20000
    let said = false
    while (Date.now() < end) {
      try { sizes.add(fs.statSync(${JSON.stringify(dest)}).size) } catch { sizes.add(-1) }
      // Watching: the copy may start (a fixed head start was too short on a loaded machine).
      if (!said) { fs.writeSync(1, 'R\\n'); said = true }
      if (sizes.has(${256 << 20})) break
    }
    process.stdout.write(JSON.stringify([...sizes]))`])
  let out = ''
  const watching = new Promise((r) => {
    watcher.stdout.on('data', (b) => { out += b; if (out.startsWith('R\n')) r() })
    watcher.on('close', r) // a watcher that died fails the parse below, it does not hang the test
  })
  await watching
  await copyFile(src, dest, { atomic: true, reflink: 'never' })
  await new Promise((r) => watcher.on('close', r))
  const sizes = JSON.parse(out.slice(2))
  t.same(sizes.sort((a, b) => a - b), [1 << 20, 256 << 20], `only the old and the new size were seen (${sizes})`)
})
