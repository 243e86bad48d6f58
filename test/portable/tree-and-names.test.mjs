// The portable engine's walk and names (COWCOPY_NATIVE=0): a directory the
// call made gets its mode through a descriptor, never through a symlink
// swapped in at its name; destDir that cannot be made rejects the call; a
// hard link of the source at a destination name is a taken name; long
// multi-byte names and names that are not UTF-8 are kept to the byte.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { onFs } from '../helpers.mjs'

process.env.COWCOPY_NATIVE = '0'
const c = await import('../../dist/index.js').then((m) => m.default)

onFs(t, 'ext4', 'a directory swapped for a symlink after it was made: its mode never lands on the target', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
  fs.writeFileSync(path.join(src, 'sub', 'f'), 'x')
  fs.chmodSync(path.join(src, 'sub'), 0o777)
  const secret = path.join(dir, 'secret')
  fs.writeFileSync(secret, 'root only\n', { mode: 0o600 })
  fs.chmodSync(secret, 0o600)
  const dest = path.join(dir, 'dest')
  // The filter runs when sub/ is listed, after dest/sub was made: the swap
  // someone who can write dest would make.
  const r = await c.copyDir(src, dest, {
    preserve: { ownership: true },
    filter: (rel) => {
      if (rel === 'sub/f') {
        fs.renameSync(path.join(dest, 'sub'), path.join(dest, 'moved'))
        fs.symlinkSync(secret, path.join(dest, 'sub'))
      }
      return true
    },
  })
  t.equal(fs.statSync(secret).mode & 0o7777, 0o600, 'the link\'s target keeps its mode')
  t.equal(fs.readFileSync(secret, 'utf8'), 'root only\n', 'and its bytes')
  t.ok(r.errors.length > 0, `the swap is reported (${r.errors.map((e) => e.error.code)})`)
})

onFs(t, 'ext4', 'destDir that cannot be made rejects the call; a symlink to a directory is followed', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  fs.writeFileSync(path.join(src, 'a'), 'a')
  // Missing parents are made (mkdir -p); a file in their place cannot be.
  fs.writeFileSync(path.join(dir, 'file'), 'f')
  await t.rejects(c.copyDir(src, path.join(dir, 'file', 'dest')), { code: 'ENOTDIR', syscall: 'copydir' })
  await t.rejects(c.copyDir(src, path.join(dir, 'file', 'deeper', 'dest')), { code: 'ENOTDIR', syscall: 'copydir' })
  t.equal(fs.readFileSync(path.join(dir, 'file'), 'utf8'), 'f', 'the file in the way is left as it was')
  fs.mkdirSync(path.join(dir, 'real'))
  fs.symlinkSync('real', path.join(dir, 'link'))
  const r = await c.copyDir(src, path.join(dir, 'link'))
  t.equal(r.files, 1)
  t.equal(fs.readFileSync(path.join(dir, 'real', 'a'), 'utf8'), 'a', 'copied into the directory the link names')
})

onFs(t, 'xfs', 'a hard link of the source at the destination name is a taken name', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  fs.writeFileSync(path.join(src, 'a'), 'a')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(dest)
  fs.linkSync(path.join(src, 'a'), path.join(dest, 'a'))
  await t.rejects(c.copyDir(src, dest, { overwrite: false, errorOnExist: true }), { code: 'EEXIST' })
  const files = await c.copyFiles([[path.join(src, 'a'), path.join(dest, 'a')]], { overwrite: false })
  t.same(files.errors.map((e) => e.error.code), ['EEXIST'])
  const again = await c.importFiles(dest, [['a', path.join(src, 'a')]], { link: ['hardlink'] })
  t.same([again.files, again.existing], [0, 1], 'importFiles: existing, not placed again')
  fs.mkdirSync(path.join(dest, 'd'))
  const d = await c.copyFiles([[path.join(src, 'a'), path.join(dest, 'd')]], { overwrite: false })
  t.same(d.errors.map((e) => e.error.code), ['EISDIR'], 'a directory at the name: EISDIR')
})

onFs(t, 'btrfs', 'long multi-byte names and names that are not UTF-8', async (t, dir) => {
  const name = '€'.repeat(85) // 255 bytes
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'new')
  fs.writeFileSync(path.join(dir, name), 'old')
  t.same(c.copyFileSync(src, path.join(dir, name)), { method: 'clone', bytes: 3 }, 'an existing 255-byte name replaced')
  t.equal(c.copyFileSync(src, path.join(dir, `${'€'.repeat(84)}ab`), { atomic: true }).bytes, 3, 'atomic')
  const r = await c.importFiles(path.join(dir, 'é'.repeat(125)), [['f', src]], { stage: true })
  t.equal(r.files, 1, 'stage under a 250-byte name')
  t.same(fs.readdirSync(dir).filter((n) => n.includes('cowcopy')), [], 'no temporary name left')
  // A symlink at dest whose target is not UTF-8: the file behind it, byte for byte.
  const raw = Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0xff, 0x41])])
  fs.writeFileSync(raw, 'old target')
  fs.writeFileSync(path.join(dir, '\ufffdA'), 'bystander')
  fs.symlinkSync(Buffer.from([0xff, 0x41]), path.join(dir, 'link'))
  c.copyFileSync(src, path.join(dir, 'link'))
  t.equal(fs.readFileSync(raw, 'utf8'), 'new', 'the link\'s own target got the copy')
  t.equal(fs.readFileSync(path.join(dir, '\ufffdA'), 'utf8'), 'bystander', 'not the name its bytes decode to')
})
