// Real failures surface at once with Node-style errors, the destination this
// call created is removed (so the space comes back), and a destination that
// existed before is never deleted.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFile, copyFileSync } from 'cowcopy'
import { fsDir, makeFile, onFs, cowChild } from '../helpers.mjs'
import * as os from 'node:os'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const dist = path.join(root, 'dist', 'index.js')

const require = createRequire(import.meta.url)
const cow = require(dist)

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

function freeBlocks(dir) {
  execFileSync('sync', ['-f', dir])
  return fs.statfsSync(dir).bfree
}

function bigSource(t, size) {
  const d = fs.mkdtempSync(path.join(fsDir('ext4').dir || process.env.TMPDIR || '/tmp', 'cc-big-'))
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }))
  const f = path.join(d, 'big')
  makeFile(f, size)
  return f
}

onFs(t, 'tiny', 'ENOSPC: error, destination removed, free space back', async (t, dir) => {
  const src = bigSource(t, 400 << 20)
  const before = freeBlocks(dir)
  for (const [api, reflink] of [['sync', 'auto'], ['promise', 'never']]) {
    const dest = path.join(dir, `dest-${api}`)
    const call = api === 'sync' ? async () => copyFileSync(src, dest, { reflink }) : () => copyFile(src, dest, { reflink })
    await t.rejects(call, {
      code: 'ENOSPC',
      errno: -28,
      syscall: 'copyfile',
      path: src,
      dest,
      message: `ENOSPC: no space left on device, copyfile '${src}' -> '${dest}'`,
    })
    t.notOk(fs.existsSync(dest), `${api}: destination gone`)
    const after = freeBlocks(dir)
    t.ok(Math.abs(after - before) <= 16, `${api}: free blocks back (${before} before, ${after} after)`)
  }
})

onFs(t, 'tiny', 'ENOSPC on a destination that existed: reported, the file is not deleted', async (t, dir) => {
  const src = bigSource(t, 400 << 20)
  const dest = path.join(dir, 'existing')
  fs.writeFileSync(dest, 'was here')
  t.throws(() => copyFileSync(src, dest), { code: 'ENOSPC' })
  t.ok(fs.existsSync(dest), 'the existing destination is still there')
})

onFs(t, 'tiny', 'ENOSPC for a copy on the same filesystem with reflink never', async (t, dir) => {
  const src = path.join(dir, 'src')
  makeFile(src, 150 << 20)
  const before = freeBlocks(dir)
  t.throws(() => copyFileSync(src, path.join(dir, 'copy'), { reflink: 'never' }), { code: 'ENOSPC' })
  t.same(fs.readdirSync(dir), ['src'])
  t.ok(Math.abs(freeBlocks(dir) - before) <= 16, 'space back')
})

onFs(t, 'ext4', 'EROFS on a read-only bind mount', async (t, dir) => {
  const ro = path.join(dir, 'ro')
  fs.mkdirSync(ro)
  fs.writeFileSync(path.join(ro, 'existing'), 'x')
  execFileSync('mount', ['--bind', ro, ro])
  t.teardown(() => execFileSync('umount', [ro]))
  execFileSync('mount', ['-o', 'remount,bind,ro', ro])
  const src = path.join(dir, 'src')
  makeFile(src, 10000)
  for (const dest of [path.join(ro, 'new'), path.join(ro, 'existing')]) {
    t.throws(() => copyFileSync(src, dest), { code: 'EROFS', errno: -30, syscall: 'copyfile', path: src, dest })
    await t.rejects(copyFile(src, dest, { atomic: true }), { code: 'EROFS' })
  }
  t.same(fs.readdirSync(ro), ['existing'])
  t.equal(fs.readFileSync(path.join(ro, 'existing'), 'utf8'), 'x')
})

onFs(t, 'ext4', 'EFBIG when the file size limit (ulimit -f) is hit', async (t, dir) => {
  const src = path.join(dir, 'src')
  makeFile(src, 4 << 20)
  for (const reflink of ['auto', 'never']) {
    const dest = path.join(dir, `dest-${reflink}`)
    // SIGXFSZ ignored, as a shell's trap does, so the write fails with EFBIG.
    const script = `
      const { copyFileSync } = require('cowcopy')
      try { copyFileSync(process.argv[1], process.argv[2], { reflink: process.argv[3] }); console.log('copied') }
      catch (e) { console.log(JSON.stringify({ code: e.code, syscall: e.syscall })) }`
    const r = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 1024; exec "$0" -e "$1" "$2" "$3" "$4"`, process.execPath, script, src, dest, reflink], { encoding: 'utf8', cwd: process.cwd() })
    t.same(JSON.parse(r.stdout), { code: 'EFBIG', syscall: 'copyfile' }, `${reflink}: EFBIG (${r.stderr.trim()})`)
    t.notOk(fs.existsSync(dest), `${reflink}: destination removed`)
  }
})

// Without the addon too, a failed copy must not delete an existing destination.
t.test('portable engine: a failed copy over an existing destination leaves it in place', { skip: !isRoot && 'needs root (mount)' }, async (t) => {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-small-'))
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt])
  const srcDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-src-'))
  t.teardown(() => {
    spawnSync('umount', [mnt])
    fs.rmSync(mnt, { recursive: true, force: true })
    fs.rmSync(srcDir, { recursive: true, force: true })
  })
  const src = path.join(srcDir, 'src4m')
  fs.writeFileSync(src, Buffer.alloc(4 << 20, 0x5a))
  const dest = path.join(mnt, 'dest')
  for (const call of ['copyFileSync', 'copyFile']) {
    fs.writeFileSync(dest, 'precious old content\n')
    fs.linkSync(dest, path.join(mnt, 'link'))
    const r = cowChild(t, `
      ;(async () => {
        try { await cow.${call}(${JSON.stringify(src)}, ${JSON.stringify(dest)}); console.log('"resolved"') }
        catch (e) { console.log(JSON.stringify(e.code)) }
      })()
    `, { env: { COWCOPY_NATIVE: '0' } })
    t.equal(r.stdout.trim(), '"ENOSPC"', `${call}: ENOSPC (${r.stderr})`)
    t.ok(fs.existsSync(dest), `${call}: the existing destination is still there`)
    t.equal(fs.statSync(dest).ino, fs.statSync(path.join(mnt, 'link')).ino, `${call}: the same file, written in place`)
    fs.rmSync(dest)
    fs.rmSync(path.join(mnt, 'link'))
  }
  // A successful overwrite: the portable engine replaces the destination by
  // a temporary file and a rename (a new inode), the source's bytes and mode.
  const small = path.join(srcDir, 'small')
  fs.writeFileSync(small, 'new bytes')
  fs.chmodSync(small, 0o640)
  fs.writeFileSync(dest, 'old and longer content')
  const ino = fs.statSync(dest).ino
  const r = cowChild(t, `cow.copyFile(${JSON.stringify(small)}, ${JSON.stringify(dest)}).then((r) => console.log(JSON.stringify(r)))`, { env: { COWCOPY_NATIVE: '0' } })
  t.same(JSON.parse(r.stdout), { method: 'fs', bytes: 9 })
  t.equal(fs.readFileSync(dest, 'utf8'), 'new bytes')
  t.not(fs.statSync(dest).ino, ino, 'replaced, not written in place')
  t.equal(fs.statSync(dest).mode & 0o777, 0o640)
  t.same(fs.readdirSync(mnt).filter((n) => n.startsWith('.')), [], 'no temporary file left')
  // A hard link of the source as destination: nothing truncated.
  fs.linkSync(small, path.join(srcDir, 'same'))
  cowChild(t, `cow.copyFileSync(${JSON.stringify(small)}, ${JSON.stringify(path.join(srcDir, 'same'))})`, { env: { COWCOPY_NATIVE: '0' } })
  t.equal(fs.readFileSync(small, 'utf8'), 'new bytes', 'a hard link of the source is left alone')
})
