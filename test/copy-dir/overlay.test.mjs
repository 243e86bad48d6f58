// overlayfs with its layers on two filesystems (no xino): a merged
// directory's d_ino is not its st_ino, so the listing's inode cannot prove
// identity there. copyDir must still copy the tree, not skip it as
// "replaced while being copied".
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { needMounts } from '../helpers.mjs'
import { copyDir } from '../../dist/index.js'

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
