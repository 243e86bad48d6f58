// overlayfs with its layers on two filesystems (no xino): a merged
// directory's d_ino is not its st_ino, so the listing's inode cannot prove
// identity there. copyDir must still copy the tree, not skip it as
// "replaced while being copied".
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { needMounts } from './helpers.mjs'
import { copyDir, copyFiles, importFiles } from '../dist/index.js'

t.test('copyDir from an overlayfs whose lower and upper layers are on different filesystems', async (t) => {
  const dirs = needMounts(t, 'ext4', 'xfs')
  if (!dirs) return
  const [ext4, xfs] = dirs
  const lower = fs.mkdtempSync(path.join(ext4, 'ov-lower-'))
  const top = fs.mkdtempSync(path.join(xfs, 'ov-'))
  const mnt = fs.mkdtempSync(path.join(xfs, 'ov-mnt-'))
  const upper = path.join(top, 'upper')
  const work = path.join(top, 'work')
  fs.mkdirSync(upper)
  fs.mkdirSync(work)
  fs.mkdirSync(path.join(lower, 'd'))
  fs.mkdirSync(path.join(upper, 'd'))
  fs.writeFileSync(path.join(lower, 'd', 'a'), 'from lower')
  fs.writeFileSync(path.join(upper, 'd', 'b'), 'from upper')
  fs.writeFileSync(path.join(lower, 'c'), 'top file')
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, mnt])
  const dest = path.join(xfs, `ov-copy-${process.pid}`)
  t.teardown(() => {
    execFileSync('umount', [mnt])
    for (const d of [lower, top, mnt, dest]) fs.rmSync(d, { recursive: true, force: true })
  })
  // The premise: the merged directory's listed inode differs from its stat.
  // Read in a child before anything looks the directory up (a cached lookup
  // can make overlayfs translate d_ino); copyDir then lists a fresh mount.
  const probe = "import os,sys; d=sys.argv[1]; e=[x for x in os.scandir(d) if x.name=='d'][0]; print(e.inode(), os.lstat(e.path).st_ino)"
  const [listed, statted] = execFileSync('python3', ['-c', probe, mnt], { encoding: 'utf8' }).trim().split(' ').map(Number)
  t.not(listed, statted, 'premise: d_ino of the merged directory is not its st_ino')
  execFileSync('umount', [mnt])
  execFileSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${upper},workdir=${work}`, mnt])

  const r = await copyDir(mnt, dest)
  t.same(r.errors, [], 'no entry reported as replaced')
  t.equal(r.files, 3)
  t.equal(fs.readFileSync(path.join(dest, 'd', 'a'), 'utf8'), 'from lower')
  t.equal(fs.readFileSync(path.join(dest, 'd', 'b'), 'utf8'), 'from upper')
  t.equal(fs.readFileSync(path.join(dest, 'c'), 'utf8'), 'top file')
})

// A package store in an image's lower layer, the project in the merged
// directory (pnpm in a Docker build, pnpm#14500): the kernel links a file
// that is only in a lower layer by first copying it whole into the upper
// layer (copy-up). The result must not let "hardlink" pass for "no data
// copied": overlayLinks counts the links made there. What happened is read
// by inode in the merged view and from the upper directory itself.
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
