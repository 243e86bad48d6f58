// Copies between two filesystems: 'auto' falls back to a real copy and says
// which method did it, 'always' fails with EXDEV and leaves nothing behind.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFile, copyFileSync } from 'cowcopy'
import { makeFile, needMounts, noneShared, sameBytes } from '../helpers.mjs'
import { COPY_METHODS } from '../engines.mjs'

const pairs = [
  ['btrfs', 'xfs'],
  ['xfs', 'btrfs'],
  ['btrfs', 'ext4'],
  ['ext4', 'tmpfs'],
  ['tmpfs', 'xfs'],
]

for (const [from, to] of pairs) {
  t.test(`${from} -> ${to}`, async (t) => {
    const dirs = needMounts(t, from, to)
    if (!dirs) return
    const srcDir = fs.mkdtempSync(path.join(dirs[0], 'xfs-'))
    const destDir = fs.mkdtempSync(path.join(dirs[1], 'xfs-'))
    t.teardown(() => {
      fs.rmSync(srcDir, { recursive: true, force: true })
      fs.rmSync(destDir, { recursive: true, force: true })
    })
    const src = path.join(srcDir, 'src')
    makeFile(src, (3 << 20) + 7, 0o750)

    const dest = path.join(destDir, 'auto')
    const r = await copyFile(src, dest)
    t.ok(COPY_METHODS.includes(r.method), `auto copied with ${r.method}`)
    t.equal(r.bytes, (3 << 20) + 7)
    t.ok(sameBytes(src, dest), 'bytes equal')
    t.equal(fs.statSync(dest).mode & 0o777, 0o750, 'mode kept')
    if (to !== 'tmpfs') t.ok(noneShared(dest), 'nothing shared across filesystems')

    const never = path.join(destDir, 'never')
    t.ok(['sendfile', 'readwrite'].includes(copyFileSync(src, never, { reflink: 'never' }).method))
    t.ok(sameBytes(src, never))

    const always = path.join(destDir, 'always')
    t.throws(() => copyFileSync(src, always, { reflink: 'always' }), {
      code: 'EXDEV',
      errno: -18,
      syscall: 'copyfile',
      path: src,
      dest: always,
    })
    await t.rejects(copyFile(src, always, { reflink: 'always' }), { code: 'EXDEV' })
    t.same(fs.readdirSync(destDir).sort(), ['auto', 'never'], "'always' left no file behind")
  })
}
