// A package store in an image's lower layer, the project in the merged
// directory of an overlayfs (a package manager in a container build): the
// kernel links a file that is only in a lower layer by first copying it
// whole into the upper layer (copy-up). The result must not let "hardlink"
// pass for "no data copied": overlayLinks counts the links made there. What
// happened is read by inode in the merged view and from the upper directory
// itself.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { needMounts } from '../helpers.mjs'
import { copyFiles, importFiles } from '../../dist/index.js'

t.test('importFiles with the hardlink rung from a store in a lower layer: copy-up, counted in overlayLinks', async (t) => {
  const dirs = needMounts(t, 'ext4')
  if (!dirs) return
  const [ext4] = dirs
  const top = fs.mkdtempSync(path.join(ext4, 'ov-store-'))
  const [lower, upper, work, mnt] = ['lower', 'upper', 'work', 'mnt'].map((d) => path.join(top, d))
  for (const d of [lower, upper, work, mnt]) fs.mkdirSync(d)
  fs.mkdirSync(path.join(lower, 'store'))
  const files = { a: Buffer.alloc(200000, 1), b: Buffer.alloc(300000, 2), 'c.json': Buffer.from('{}') }
  for (const [n, data] of Object.entries(files)) fs.writeFileSync(path.join(lower, 'store', n), data)
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, mnt])
  t.teardown(() => {
    execFileSync('umount', [mnt])
    fs.rmSync(top, { recursive: true, force: true })
  })
  t.same(fs.readdirSync(upper), [], 'premise: the upper layer starts empty')

  const store = path.join(mnt, 'store')
  const r = await importFiles(path.join(mnt, 'proj'), Object.keys(files).map((n) => [n, path.join(store, n)]), { link: ['hardlink', 'copy'] })
  t.same(r.errors, [])
  t.equal(r.methods.hardlink, 3, 'the result says hardlink: in the merged view each is one inode with its store file')
  t.equal(r.overlayLinks, 3, 'and that all three were made on overlayfs, where a link may be a copy-up')
  for (const n of Object.keys(files)) {
    const s = fs.statSync(path.join(store, n))
    const d = fs.statSync(path.join(mnt, 'proj', n))
    t.equal(d.ino, s.ino, `${n}: one inode in the merged view`)
    t.equal(d.nlink, 2, `${n}: two names`)
    // The upper layer now holds the whole file under both names: the kernel copied it.
    const up = fs.statSync(path.join(upper, 'store', n))
    t.equal(up.size, files[n].length, `${n}: copied up whole into the upper layer`)
    t.ok(fs.readFileSync(path.join(upper, 'store', n)).equals(files[n]), `${n}: the upper copy has the store's bytes`)
    t.equal(fs.statSync(path.join(upper, 'proj', n)).ino, up.ino, `${n}: the link is to the upper copy`)
  }

  // The same import into a plain directory: no overlay, no count.
  const plain = fs.mkdtempSync(path.join(ext4, 'ov-plain-'))
  t.teardown(() => fs.rmSync(plain, { recursive: true, force: true }))
  fs.writeFileSync(path.join(plain, 'f'), 'x')
  const r2 = await copyFiles([[path.join(plain, 'f'), path.join(plain, 'g')]], { link: ['hardlink'] })
  t.equal(r2.methods.hardlink, 1)
  t.equal(r2.overlayLinks, 0, 'a link on ext4 is not counted')
})

// Asked once per filesystem of the walk, not once per link: a directory
// made by the import is where its parent is, but one that is a mount point
// (another device) is asked again.
t.test('importFiles into a tree with an overlayfs mounted below its root: only the links made there are counted', async (t) => {
  const dirs = needMounts(t, 'ext4')
  if (!dirs) return
  const [ext4] = dirs
  const top = fs.mkdtempSync(path.join(ext4, 'ov-below-'))
  const [lower, upper, work, dest] = ['lower', 'upper', 'work', 'dest'].map((d) => path.join(top, d))
  for (const d of [lower, upper, work, dest]) fs.mkdirSync(d)
  const mnt = path.join(dest, 'ov')
  fs.mkdirSync(mnt)
  fs.mkdirSync(path.join(lower, 'store'))
  for (const n of ['a', 'b', 'c', 'd']) fs.writeFileSync(path.join(lower, 'store', n), n)
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, mnt])
  t.teardown(() => {
    execFileSync('umount', [mnt])
    fs.rmSync(top, { recursive: true, force: true })
  })
  const store = path.join(mnt, 'store')
  const entries = [['plain/a', 'a'], ['plain/sub/b', 'b'], ['ov/x/y/c', 'c'], ['ov/d', 'd']].map(([r, n]) => [r, path.join(store, n)])
  const r = await importFiles(dest, entries, { link: ['hardlink', 'copy'] })
  t.same(r.errors, [])
  // Outside the overlay the store is another device: copied (EXDEV).
  t.same([r.methods.hardlink, r.overlayLinks], [2, 2], 'two links, both in the overlay mounted below the root (one in a directory the import made there)')
  t.equal(fs.statSync(path.join(dest, 'ov/x/y/c')).ino, fs.statSync(path.join(store, 'c')).ino, 'ov/x/y/c is a link')
  t.not(fs.statSync(path.join(dest, 'plain/a')).ino, fs.statSync(path.join(store, 'a')).ino, 'plain/a is a copy')
})
