// Symlinks copyDir makes over an existing destination: a link whose new
// version cannot be made (a target too long for XFS) keeps the old one and
// reports the real errno; a directory at the name is not replaced; with
// preserve and overwrite: false, new links are made complete (their times)
// and existing ones kept; no temporary name is left.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyDir } from 'cowcopy'
import { needMounts, onFs } from '../helpers.mjs'

const errorFor = (r, name) => r.errors.find((e) => path.basename(e.src) === name)

t.test('replacing a symlink whose new link cannot be made keeps the old one, real errno', async (t) => {
  // XFS refuses symlink targets over 1024 bytes (ENAMETOOLONG); btrfs takes them.
  const dirs = needMounts(t, 'btrfs', 'xfs')
  if (!dirs) return
  const src = fs.mkdtempSync(path.join(dirs[0], 'tt-'))
  const dest = fs.mkdtempSync(path.join(dirs[1], 'tt-'))
  t.teardown(() => {
    fs.rmSync(src, { recursive: true, force: true })
    fs.rmSync(dest, { recursive: true, force: true })
  })
  fs.symlinkSync('x'.repeat(2000), path.join(src, 'l'))
  fs.symlinkSync('short', path.join(src, 'm'))
  fs.symlinkSync('old-target', path.join(dest, 'l'))
  fs.symlinkSync('old-m', path.join(dest, 'm'))
  fs.mkdirSync(path.join(dest, 'd'))
  fs.symlinkSync('to-a-dir', path.join(src, 'd'))
  const r = await copyDir(src, dest)
  t.equal(fs.readlinkSync(path.join(dest, 'l')), 'old-target', 'the old link is still there')
  t.equal(errorFor(r, 'l')?.error.code, 'ENAMETOOLONG', 'the real errno, not EEXIST')
  t.equal(fs.readlinkSync(path.join(dest, 'm')), 'short', 'a replaceable link replaced')
  t.equal(errorFor(r, 'd')?.error.code, 'EISDIR', 'a directory at the name is not replaced')
  t.ok(fs.statSync(path.join(dest, 'd')).isDirectory())
  t.same(fs.readdirSync(dest).sort(), ['d', 'l', 'm'], 'no temporary name left')
  t.equal(r.symlinks, 1)
})

onFs(t, 'xfs', 'symlinks with preserve, overwrite false: new ones made complete, existing ones kept', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(src)
  fs.mkdirSync(dest)
  fs.symlinkSync('new-target', path.join(src, 'new'))
  fs.symlinkSync('other-target', path.join(src, 'old'))
  fs.symlinkSync('old-target', path.join(dest, 'old'))
  const when = new Date('2001-02-03T04:05:06Z')
  fs.lutimesSync(path.join(src, 'new'), when, when)
  const r = await copyDir(src, dest, { preserve: true, overwrite: false })
  t.equal(fs.readlinkSync(path.join(dest, 'new')), 'new-target')
  t.equal(fs.lstatSync(path.join(dest, 'new')).mtimeMs, when.getTime(), 'its timestamps')
  t.equal(errorFor(r, 'old')?.error.code, 'EEXIST')
  t.equal(fs.readlinkSync(path.join(dest, 'old')), 'old-target', 'the existing link kept')
  t.same(fs.readdirSync(dest).sort(), ['new', 'old'], 'no temporary name left')
  t.equal(r.symlinks, 1)
})
