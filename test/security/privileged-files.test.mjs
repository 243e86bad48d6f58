// setuid, setgid and file capabilities are never handed on to a file the
// copier owns: the bits survive only when ownership is kept or the copier
// owns the source (cp's rule), for copyFile and copyFileSync, copyDir,
// copyFiles and the command, on both engines; importFiles' hardlink rung
// never links a file with capabilities and never gives a setuid file a
// name, even for a moment (seen with strace).
import t from 'tap'
import { spawnSync, execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { nodeChild, onFs, setuidScript, tmpScratch } from '../helpers.mjs'
import { copyDir, copyFiles } from '../../dist/index.js'
import { copyFile, copyFileSync, importFiles } from 'cowcopy'
import { PORTABLE } from '../engines.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const DIST = path.join(root, 'dist', 'index.js')

const ROOT = root
const isRoot = process.getuid?.() === 0

const cli = path.join(root, 'dist', 'cli.js')

const modeOf = (f) => fs.statSync(f).mode & 0o7777

for (const fsName of ['btrfs', 'ext4']) {
  onFs(t, fsName, "copyDir, copyFiles and the command drop setuid/setgid of another user's file", async (t, dir) => {
    if (process.getuid() !== 0) return t.skip('needs root')
    const src = path.join(dir, 'src')
    fs.mkdirSync(src)
    setuidScript(src, 'theirs', 65534)
    setuidScript(src, 'mine', 0)

    const tree = path.join(dir, 'tree')
    const r = await copyDir(src, tree)
    t.same(r.errors, [])
    t.equal(modeOf(path.join(tree, 'theirs')), 0o755, "copyDir: nobody's 6755 becomes root's 0755")
    t.equal(modeOf(path.join(tree, 'mine')), 0o6755, "copyDir: the copier's own file keeps them")

    const kept = path.join(dir, 'kept')
    await copyDir(src, kept, { preserve: { ownership: true } })
    t.equal(modeOf(path.join(kept, 'theirs')), 0o6755, 'copyDir with ownership kept: the bits stay')
    t.equal(fs.statSync(path.join(kept, 'theirs')).uid, 65534)

    const out = path.join(dir, 'out')
    fs.mkdirSync(out)
    fs.writeFileSync(path.join(out, 'existing'), 'old')
    await copyFiles([
      [path.join(src, 'theirs'), path.join(out, 'new')],
      [path.join(src, 'theirs'), path.join(out, 'existing')],
    ])
    t.equal(modeOf(path.join(out, 'new')), 0o755, 'copyFiles, new destination')
    t.equal(modeOf(path.join(out, 'existing')), 0o755, 'copyFiles, replacing an existing file')

    const c = spawnSync(process.execPath, [cli, path.join(src, 'theirs'), path.join(dir, 'cmd')], { encoding: 'utf8' })
    t.equal(c.status, 0, c.stderr)
    t.equal(modeOf(path.join(dir, 'cmd')), 0o755, 'the command')
    const p = spawnSync(process.execPath, [cli, '-p', path.join(src, 'theirs'), path.join(dir, 'cmd-p')], { encoding: 'utf8' })
    t.equal(p.status, 0, p.stderr)
    t.equal(modeOf(path.join(dir, 'cmd-p')), 0o6755, 'the command with -p (ownership kept)')
  })
}

// copyFile and copyFileSync as root: setuid/setgid and ownership.
const asRoot = process.getuid() === 0 ? {} : { skip: 'needs root' }
for (const [api, copy] of [
  ['sync', (s, d, o) => copyFileSync(s, d, o)],
  ['promise', (s, d, o) => copyFile(s, d, o)],
]) {
  t.test(`${api}: setuid/setgid follow cp's rule`, asRoot, async (t) => {
    const dir = tmpScratch(t)
    const src = path.join(dir, 'tool')
    fs.writeFileSync(src, '#!/bin/sh\n')
    fs.chownSync(src, 65534, 65534)
    fs.chmodSync(src, 0o6755)
    await copy(src, path.join(dir, 'plain'))
    let st = fs.statSync(path.join(dir, 'plain'))
    t.equal(st.mode & 0o7777, 0o755, "nobody's 6755 becomes root's 0755")
    t.equal(st.uid, 0)
    await copy(src, path.join(dir, 'owned'), { preserve: { ownership: true } })
    st = fs.statSync(path.join(dir, 'owned'))
    t.equal(st.mode & 0o7777, 0o6755, 'with ownership kept, the bits stay')
    t.equal(st.uid, 65534)
    t.equal(st.gid, 65534)
    fs.chownSync(src, 0, 0)
    fs.chmodSync(src, 0o6755)
    await copy(src, path.join(dir, 'mine'))
    st = fs.statSync(path.join(dir, 'mine'))
    t.equal(st.mode & 0o7777, 0o6755, "the copier's own file keeps them")
    // Over an existing destination too.
    fs.chownSync(src, 65534, 65534)
    fs.chmodSync(src, 0o6755)
    await copy(src, path.join(dir, 'mine'))
    t.equal(fs.statSync(path.join(dir, 'mine')).mode & 0o7777, 0o755, 'existing destination: dropped too')
  })
}

// The portable engine: setuid/setgid survive only when ownership is
// preserved or the copier owns the source (cp's rule), though fs.copyFile
// itself keeps them.
onFs(t, 'ext4', 'COWCOPY_NATIVE=0: root copying a 6755 file of uid 65534 does not make a setuid root file', async (t, dir) => {
  if (process.getuid() !== 0) return t.skip('needs root')
  const src = setuidScript(dir, 'suid', 65534)
  const mine = path.join(dir, 'mine')
  fs.writeFileSync(mine, 'root owns this')
  fs.chmodSync(mine, 0o6755)
  const existing = path.join(dir, 'existing')
  fs.writeFileSync(existing, 'old')
  fs.chmodSync(existing, 0o644)
  const d = (name) => path.join(dir, name)
  const r = nodeChild(
    `const c = require(process.argv[1]); const [src, mine, dir] = process.argv.slice(2); const d = (n) => dir + '/' + n;
    (async () => {
      c.copyFileSync(src, d('sync'))
      await c.copyFile(src, d('async'))
      await c.copyFile(src, d('atomic'), { atomic: true })
      c.copyFileSync(src, d('atomic-sync'), { atomic: true })
      await c.copyFile(src, d('existing'))
      const b = await c.copyFiles([[src, d('batch')]])
      if (b.errors.length) throw b.errors[0].error
      await c.copyFile(src, d('owned'), { preserve: { ownership: true } })
      c.copyFileSync(src, d('owned-sync'), { preserve: { ownership: true } })
      await c.copyFile(mine, d('mine-copy'))
      console.log('ok')
    })().catch((e) => { console.log(e.stack); process.exitCode = 1 })`,
    [DIST, src, mine, dir],
    { env: { COWCOPY_NATIVE: '0' } },
  )
  t.equal(r.stdout, 'ok\n', r.stderr)
  for (const name of ['sync', 'async', 'atomic', 'atomic-sync', 'existing', 'batch']) {
    const st = fs.statSync(d(name))
    t.equal(st.mode & 0o7777, 0o755, `${name}: setuid/setgid dropped`)
    t.equal(st.uid, 0, `${name}: owned by the copier`)
    t.equal(fs.readFileSync(d(name), 'utf8'), '#!/bin/sh\necho hi\n')
  }
  for (const name of ['owned', 'owned-sync']) {
    const st = fs.statSync(d(name))
    t.equal(st.uid, 65534, `${name}: ownership preserved`)
    t.equal(st.mode & 0o7777, 0o6755, `${name}: so setuid/setgid are kept`)
  }
  t.equal(fs.statSync(d('mine-copy')).mode & 0o7777, 0o6755, 'the copier owns the source: kept')
  t.same(fs.readdirSync(dir).filter((n) => n.startsWith('.')), [], 'no temporary left')
})

// The hardlink rung refuses a file with file capabilities as it refuses a
// setuid/setgid one (ladder.cc).
onFs(t, 'xfs', 'the hardlink rung never links a file with capabilities', async (t, dir) => {
  if (!isRoot) return t.skip('needs root')
  const bin = path.join(dir, 'capbin')
  fs.copyFileSync('/bin/true', bin)
  execFileSync('setcap', ['cap_net_raw+ep', bin])
  const dest = path.join(dir, 'dest')
  const r = await importFiles(dest, [['tool', bin]], { link: ['hardlink', 'copy'] })
  t.same(r.errors, [])
  if (PORTABLE) {
    // Node cannot read security.capability (engines.mjs DIFFERENCES.fileCapabilities,
    // README: "file capabilities: no"): the portable rung links it as any file.
    t.equal(fs.statSync(path.join(dest, 'tool')).ino, fs.statSync(bin).ino, 'linked: the portable engine cannot see the capability')
    return
  }
  t.not(fs.statSync(path.join(dest, 'tool')).ino, fs.statSync(bin).ino, 'copied, not another name of the privileged file')
  t.equal(spawnSync('getcap', [path.join(dest, 'tool')], { encoding: 'utf8' }).stdout.trim(), '', 'no capability in the destination')
})

// The rung checks for setuid before it links, never after: a link first
// would give the setuid file a name in the destination directory for a
// moment, which another user can grab. Seen with strace: no linkat may
// succeed on a setuid source.
onFs(t, 'xfs', 'the hardlink rung never gives a setuid file a name, even briefly', async (t, dir) => {
  if (spawnSync('strace', ['-V']).status !== 0) return t.skip('strace is not installed')
  const suid = path.join(dir, 'su')
  fs.copyFileSync('/bin/true', suid)
  fs.chmodSync(suid, 0o4755)
  const log = path.join(dir, 'strace.log')
  const code = `require(${JSON.stringify(ROOT)}).importFiles(${JSON.stringify(dir + '/dest')}, [['tool', ${JSON.stringify(suid)}]], { link: ['hardlink', 'copy'] }).then((r) => console.log(r.files))`
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=linkat', '-o', log, process.execPath, '-e', code], { encoding: 'utf8' })
  t.equal(r.stdout.trim(), '1', 'the file was placed (copied)')
  const links = fs.readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('linkat(') && l.includes('/su"') && / = 0$/.test(l))
  t.same(links, [], 'no successful linkat of the setuid source')
})
