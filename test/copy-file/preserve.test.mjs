// preserve: timestamps with nanoseconds, ownership (as root, and as an
// unprivileged user through setpriv), extended attributes.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFile, copyFileSync } from 'cowcopy'
import { allShared, makeFile, onFs } from '../helpers.mjs'
import { PORTABLE, TIME_SLACK_NS } from '../engines.mjs'

const isRoot = process.getuid() === 0

function setTimes(file) {
  // Distinct atime and mtime with odd nanoseconds, through touch -d.
  execFileSync('touch', ['-a', '-d', '2001-02-03 04:05:06.123456789', file])
  execFileSync('touch', ['-m', '-d', '2002-03-04 05:06:07.987654321', file])
}

for (const fsName of ['ext4', 'xfs', 'btrfs', 'tmpfs']) {
  onFs(t, fsName, 'timestamps to the nanosecond', async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 100000, 0o640)
    for (const [name, run] of [
      ['sync', (d) => copyFileSync(src, d, { preserve: { timestamps: true } })],
      ['promise never', (d) => copyFile(src, d, { preserve: true, reflink: 'never' })],
      ['atomic', (d) => copyFile(src, d, { preserve: true, atomic: true })],
    ]) {
      const dest = path.join(dir, name.replace(' ', '-'))
      // Reading the source may move its atime (relatime): what counts is the
      // source as the copy found it.
      setTimes(src)
      const s = fs.statSync(src, { bigint: true })
      await run(dest)
      const d = fs.statSync(dest, { bigint: true })
      const near = (a, b) => (a > b ? a - b : b - a) <= TIME_SLACK_NS
      t.ok(near(d.mtimeNs, s.mtimeNs), `${name}: mtime (${d.mtimeNs} vs ${s.mtimeNs})`)
      t.ok(near(d.atimeNs, s.atimeNs), `${name}: atime (${d.atimeNs} vs ${s.atimeNs})`)
      t.equal(d.mode & 0o777n, 0o640n, `${name}: mode`)
    }
    const plain = path.join(dir, 'plain')
    copyFileSync(src, plain)
    t.not(fs.statSync(plain, { bigint: true }).mtimeNs, fs.statSync(src, { bigint: true }).mtimeNs, 'without preserve: a new mtime')
    if (fsName === 'btrfs' || fsName === 'xfs') t.ok(allShared(path.join(dir, 'sync')), 'still a clone')
  })
}

onFs(t, 'ext4', 'ownership as root: uid and gid of the source', async (t, dir) => {
  if (!isRoot) return t.skip('needs root')
  const src = path.join(dir, 'src')
  makeFile(src, 1000, 0o4755)
  fs.chownSync(src, 1234, 5678)
  fs.chmodSync(src, 0o4755)
  const dest = path.join(dir, 'dest')
  copyFileSync(src, dest, { preserve: { ownership: true } })
  const d = fs.statSync(dest)
  t.equal(d.uid, 1234)
  t.equal(d.gid, 5678)
  t.equal(d.mode & 0o7777, 0o4755, 'setuid kept with the owner')
  const mine = path.join(dir, 'mine')
  copyFileSync(src, mine)
  t.equal(fs.statSync(mine).uid, process.getuid(), 'without preserve: owned by the caller')
})

onFs(t, 'ext4', 'ownership as an unprivileged user: succeeds, drops setgid, like cp -p', async (t, dir) => {
  if (!isRoot) return t.skip('needs root to set up the second user')
  fs.chmodSync(dir, 0o777)
  const src = path.join(dir, 'src')
  makeFile(src, 1000, 0o2755)
  // Owned by uid 4242 but in group 5678, which 4242 is not a member of.
  fs.chownSync(src, 4242, 5678)
  fs.chmodSync(src, 0o2755)
  const dest = path.join(dir, 'dest')
  const script = `const { copyFileSync } = require(${JSON.stringify(process.cwd())})
    console.log(JSON.stringify(copyFileSync(process.argv[1], process.argv[2], { preserve: true })))`
  const r = spawnSync('setpriv', ['--reuid=4242', '--regid=4242', '--clear-groups', process.execPath, '-e', script, src, dest], { encoding: 'utf8' })
  t.equal(r.status, 0, `copied as uid 4242 (${r.stderr.trim()})`)
  const d = fs.statSync(dest)
  t.equal(d.uid, 4242)
  t.equal(d.gid, 4242, 'group not given away (EPERM), the copy keeps its own')
  t.equal(d.mode & 0o7777, 0o755, 'setgid dropped')
})

onFs(t, 'ext4', 'ownership: a destination owned by someone else keeps its mode when chmod is not allowed', async (t, dir) => {
  if (!isRoot) return t.skip('needs root to set up the second user')
  fs.chmodSync(dir, 0o777)
  const src = path.join(dir, 'src')
  makeFile(src, 1000, 0o755)
  const dest = path.join(dir, 'theirs')
  fs.writeFileSync(dest, 'x')
  fs.chmodSync(dest, 0o666)
  const script = `const { copyFileSync } = require(${JSON.stringify(process.cwd())}); copyFileSync(process.argv[1], process.argv[2])`
  const r = spawnSync('setpriv', ['--reuid=4242', '--regid=4242', '--clear-groups', process.execPath, '-e', script, src, dest], { encoding: 'utf8' })
  t.equal(r.status, 0, `copied into a file owned by root (${r.stderr.trim()})`)
  t.equal(fs.readFileSync(dest).length, 1000, 'data written')
  if (PORTABLE) {
    // The portable engine replaces an existing destination (a new inode, the caller's).
    t.equal(fs.statSync(dest).uid, 4242, 'replaced by the caller\'s own file')
    t.equal(fs.statSync(dest).mode & 0o777, 0o755, 'with the source\'s mode')
  } else t.equal(fs.statSync(dest).mode & 0o777, 0o666, 'mode left as it was')
})

for (const fsName of ['ext4', 'xfs', 'btrfs', 'tmpfs']) {
  onFs(t, fsName, 'extended attributes', async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 5000)
    execFileSync('setfattr', ['-n', 'user.origin', '-v', 'store-42', src])
    execFileSync('setfattr', ['-n', 'user.empty', src])
    if (isRoot && fsName !== 'tmpfs') execFileSync('setfattr', ['-n', 'trusted.cowcopy', '-v', 'root-only', src])
    const dest = path.join(dir, 'dest')
    if (PORTABLE) {
      // Node has no xattr calls: asked for by name, refused before anything is made.
      await t.rejects(copyFile(src, dest, { preserve: { xattrs: true } }), { code: 'ENOSYS', message: /extended attributes/ })
      t.notOk(fs.existsSync(dest))
      return
    }
    await copyFile(src, dest, { preserve: { xattrs: true } })
    const dump = execFileSync('getfattr', ['-d', '-m', '-', '--absolute-names', dest], { encoding: 'utf8' })
    t.match(dump, /user\.origin="store-42"/)
    t.match(dump, /user\.empty/)
    if (isRoot && fsName !== 'tmpfs') t.match(dump, /trusted\.cowcopy="root-only"/)
    const none = path.join(dir, 'none')
    copyFileSync(src, none)
    t.notMatch(execFileSync('getfattr', ['-d', '--absolute-names', none], { encoding: 'utf8' }), /user\.origin/, 'not copied unless asked')
  })
}
