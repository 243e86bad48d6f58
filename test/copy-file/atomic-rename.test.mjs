// How atomic: true gets its file into place: destination names of 234-255
// bytes (the temporary name must fit too), a symlink at the destination
// replaced and never followed, the same file under overwrite: false, and
// with the shim (./shim.mjs): no O_TMPFILE (a visible temporary name), no
// temporary name at all with O_TMPFILE, no RENAME_NOREPLACE (link, then
// unlink), a directory fsync that fails after the rename.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFileSync } from 'cowcopy'
import { makeFile, onFs, sameBytes } from '../helpers.mjs'
import { copyUnderShim, names, tempNames } from './shim.mjs'

for (const fsName of ['btrfs', 'xfs', 'ext4', 'tmpfs']) {
  onFs(t, fsName, 'atomic: names of 234-255 bytes', async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 10000)
    for (const name of ['a'.repeat(234), 'b'.repeat(255), 'é'.repeat(127) + 'x']) {
      const dest = path.join(dir, name)
      for (const overwrite of [true, false]) {
        fs.rmSync(dest, { force: true })
        copyFileSync(src, dest, { atomic: true, overwrite })
        t.ok(sameBytes(src, dest), `${Buffer.byteLength(name)} bytes, overwrite ${overwrite}`)
      }
      copyFileSync(src, dest, { atomic: true }) // over an existing one
      t.ok(sameBytes(src, dest))
    }
    // Without O_TMPFILE the temporary name is visible: it must fit too.
    const dest = path.join(dir, 'c'.repeat(255))
    const out = copyUnderShim(t, ['no_tmpfile'], src, dest, { atomic: true })
    t.notOk(out.error, JSON.stringify(out.error))
    t.ok(sameBytes(src, dest))
    t.same(tempNames(dir), [], 'no temporary left')
  })

  onFs(t, fsName, 'atomic: a symlink at dest is replaced, not followed', async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 10000)
    const dest = path.join(dir, 'dest')
    // A symlink to the source itself: a copy replaces the link.
    fs.symlinkSync('src', dest)
    copyFileSync(src, dest, { atomic: true })
    t.ok(fs.lstatSync(dest).isFile(), 'the link became a regular file')
    t.ok(sameBytes(src, dest))
    // A symlink to a directory: replaced too, the directory untouched.
    fs.rmSync(dest)
    fs.mkdirSync(path.join(dir, 'elsewhere'))
    fs.symlinkSync('elsewhere', dest)
    copyFileSync(src, dest, { atomic: true })
    t.ok(fs.lstatSync(dest).isFile())
    t.same(fs.readdirSync(path.join(dir, 'elsewhere')), [])
    // overwrite false: a (dangling) symlink takes the name.
    fs.rmSync(dest)
    fs.symlinkSync('nowhere', dest)
    t.throws(() => copyFileSync(src, dest, { atomic: true, overwrite: false }), { code: 'EEXIST' })
    t.ok(fs.lstatSync(dest).isSymbolicLink())
  })

  onFs(t, fsName, 'atomic + overwrite false onto the same file: EEXIST', async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 1000)
    fs.linkSync(src, path.join(dir, 'hard'))
    t.throws(() => copyFileSync(src, src, { atomic: true, overwrite: false }), { code: 'EEXIST' })
    t.throws(() => copyFileSync(src, path.join(dir, 'hard'), { atomic: true, overwrite: false }), { code: 'EEXIST' })
    t.equal(copyFileSync(src, src, { atomic: true }).method, 'none', 'overwrite: nothing to do')
  })
}

for (const fsName of ['btrfs', 'xfs', 'ext4']) {
  onFs(t, fsName, 'atomic + overwrite false with O_TMPFILE: no temporary name ever exists', async (t, dir) => {
    const src = path.join(dir, 'src')
    const dest = path.join(dir, 'dest')
    makeFile(src, 10000)
    // Any link to a temporary name fails: the copy must not need one.
    const out = copyUnderShim(t, ['fail_tmp_link'], src, dest, { atomic: true, overwrite: false })
    t.notOk(out.error, JSON.stringify(out.error))
    t.ok(sameBytes(src, dest))
    const again = copyUnderShim(t, ['fail_tmp_link'], src, dest, { atomic: true, overwrite: false })
    t.equal(again.error?.code, 'EEXIST')
    t.same(names(dir), ['dest', 'src'])
  })
}

// atomic + fsync: the directory fsync fails after the rename.
onFs(t, 'xfs', 'atomic + fsync: a failed directory sync says the destination was replaced', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  makeFile(src, 10000)
  makeFile(dest, 500)
  const out = copyUnderShim(t, ['fail_dir_fsync'], src, dest, { atomic: true, fsync: true })
  t.equal(out.error?.code, 'EIO')
  t.match(out.error?.message, /in place \(destination replaced\), but its directory could not be synced/)
  t.ok(sameBytes(src, dest), 'the destination is the new file, as the error says')
  t.same(tempNames(dir), [])
})

// atomic + overwrite false without RENAME_NOREPLACE: link, then unlink.
onFs(t, 'xfs', 'atomic + overwrite false without RENAME_NOREPLACE: a failed unlink is not a success', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  makeFile(src, 10000)
  const out = copyUnderShim(t, ['no_tmpfile', 'no_noreplace', 'fail_tmp_unlink_once'], src, dest,
    { atomic: true, overwrite: false })
  t.equal(out.error?.code, 'EIO', 'reported')
  t.same(names(dir), ['src'], 'no destination, no hidden second name')
  const ok = copyUnderShim(t, ['no_tmpfile', 'no_noreplace'], src, dest, { atomic: true, overwrite: false })
  t.notOk(ok.error, 'the fallback works when unlink does')
  t.same(names(dir), ['dest', 'src'])
  t.equal(fs.statSync(dest).nlink, 1)
})
