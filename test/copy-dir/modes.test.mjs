// The modes copyDir leaves: directories that existed keep theirs (preserve
// or not; a directory the call made takes the source's); every file has
// the source's mode under any umask (077, 000, 022, 027, and without /proc,
// where the umask cannot be read) and under a default ACL on the
// destination, as fs.copyFile does.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { copyDir } from 'cowcopy'
import { nodeChild, onFs } from '../helpers.mjs'
import { TIME_SLACK_NS } from '../engines.mjs'

const write = (file, data, mode = 0o644) => {
  fs.writeFileSync(file, data, { mode })
  fs.chmodSync(file, mode)
}
const modeOf = (p) => fs.lstatSync(p).mode & 0o7777

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const DIST = path.join(root, 'dist', 'index.js')

for (const preserve of [false, true]) {
  onFs(t, 'xfs', `pre-existing directories keep their mode (preserve: ${preserve})`, async (t, dir) => {
    const src = path.join(dir, 'src')
    const dest = path.join(dir, 'dest')
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
    fs.mkdirSync(path.join(src, 'new'))
    write(path.join(src, 'sub', 'f'), 'x')
    fs.chmodSync(src, 0o777)
    fs.chmodSync(path.join(src, 'sub'), 0o777)
    fs.chmodSync(path.join(src, 'new'), 0o750)
    fs.mkdirSync(path.join(dest, 'sub'), { recursive: true })
    fs.chmodSync(dest, 0o700)
    fs.chmodSync(path.join(dest, 'sub'), 0o700)
    const r = await copyDir(src, dest, { preserve })
    t.same(r.errors, [])
    t.equal(modeOf(dest), 0o700, 'destDir keeps its mode')
    t.equal(modeOf(path.join(dest, 'sub')), 0o700, 'an existing subdirectory keeps its mode')
    t.equal(modeOf(path.join(dest, 'new')), 0o750, 'a directory the call created takes the source mode')
    if (preserve) {
      const s = fs.statSync(path.join(src, 'sub'))
      // To the microsecond on the portable engine (test/engines.mjs TIME_SLACK_NS).
      t.ok(Math.abs(fs.statSync(path.join(dest, 'sub')).mtimeMs - s.mtimeMs) <= Number(TIME_SLACK_NS) / 1e6, 'timestamps still applied to an existing one (cp -p)')
    }
  })
}

// The umask: 077 and 000, and without /proc (unknown: never create with
// the final mode).
function umaskTree(src) {
  fs.mkdirSync(path.join(src, 'd'), { recursive: true })
  const modes = { 'a644': 0o644, 'b755': 0o755, 'c600': 0o600, 'd666': 0o666, 'e777': 0o777, 'd/f640': 0o640, 'd/g700': 0o700 }
  for (const [name, mode] of Object.entries(modes)) {
    fs.writeFileSync(path.join(src, name), name)
    fs.chmodSync(path.join(src, name), mode)
  }
  return modes
}

const UMASK_SCRIPT = `const c = require(process.argv[1]); const [mask, src, dest] = process.argv.slice(2);
  process.umask(parseInt(mask, 8));
  c.copyDir(src, dest).then((r) => console.log(JSON.stringify(r.errors)), (e) => console.log(e.stack))`

onFs(t, 'ext4', 'copyDir under umask 077 and 000: every file has the source mode', async (t, dir) => {
  const src = path.join(dir, 'src')
  const modes = umaskTree(src)
  for (const mask of ['077', '000', '022', '027']) {
    const dest = path.join(dir, `dest-${mask}`)
    const r = nodeChild(UMASK_SCRIPT, [DIST, mask, src, dest])
    t.equal(r.stdout, '[]\n', r.stderr)
    for (const [name, mode] of Object.entries(modes)) {
      t.equal((fs.statSync(path.join(dest, name)).mode & 0o7777).toString(8), mode.toString(8), `umask ${mask}: ${name}`)
    }
  }
})

onFs(t, 'ext4', 'copyDir without /proc under umask 077: every file has the source mode', async (t, dir) => {
  if (process.getuid() !== 0) return t.skip('needs root (unshare -m)')
  const src = path.join(dir, 'src')
  const modes = umaskTree(src)
  const dest = path.join(dir, 'dest')
  const script = path.join(dir, 'script.js')
  fs.writeFileSync(script, `process.argv.splice(1, 1); ${UMASK_SCRIPT}; if (require('fs').existsSync('/proc/self/status')) console.log('/proc is there')`)
  const r = spawnSync('unshare', ['-m', 'sh', '-c', 'umount -l /proc && exec "$0" "$@"', process.execPath, script, DIST, '077', src, dest], { encoding: 'utf8', timeout: 20000 })
  t.equal(r.stdout, '[]\n', r.stderr)
  for (const [name, mode] of Object.entries(modes)) {
    t.equal((fs.statSync(path.join(dest, name)).mode & 0o7777).toString(8), mode.toString(8), name)
  }
})

// copyDir's files skip the fchmod when the process umask leaves the mode
// whole (umask_known_whole, copy_file.cc); a default ACL on the destination
// replaces the umask there, so the mode must not be left to the create.
onFs(t, 'xfs', 'copyDir keeps the source mode under a default ACL, as fs.copyFile does', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  fs.writeFileSync(path.join(src, 'f'), 'hi\n')
  fs.chmodSync(path.join(src, 'f'), 0o644)
  const out = path.join(dir, 'out')
  fs.mkdirSync(out)
  // default ACL u::rwx, g::r-x, m::rwx, o::--- (system.posix_acl_default, binary v2)
  const py = `import os,struct
e=[(1,7,0xffffffff),(4,5,0xffffffff),(0x10,7,0xffffffff),(0x20,0,0xffffffff)]
os.setxattr(${JSON.stringify(out)},'system.posix_acl_default',struct.pack('<I',2)+b''.join(struct.pack('<HHI',*x) for x in e))`
  if (spawnSync('/usr/bin/python3', ['-c', py]).status !== 0) return t.skip('cannot set a default ACL here')
  fs.copyFileSync(path.join(src, 'f'), path.join(out, 'fs-copy'))
  t.equal(fs.statSync(path.join(out, 'fs-copy')).mode & 0o777, 0o644, 'fs.copyFileSync: 0644')
  for (const reflink of ['auto', 'never']) {
    await copyDir(src, path.join(out, 'tree-' + reflink), { reflink })
    t.equal(fs.statSync(path.join(out, 'tree-' + reflink, 'f')).mode & 0o777, 0o644, `copyDir (reflink ${reflink}): 0644`)
  }
})
