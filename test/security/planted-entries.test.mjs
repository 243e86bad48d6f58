// Entries another user plants where a copy will meet them: a symlink at a
// destination file or directory (copyDir merging, copyFiles) is replaced or
// refused, never written through; a symlink planted as a store file is not
// followed out of the store; the target of a link copyDir dereferences is
// copied, never hardlinked; a directory planted at a file's name in a
// directory importFiles made fails that entry instead of passing as
// existing under the marker. As root, setpriv for the other users.
import t from 'tap'
import { execFileSync, spawnSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyDir, copyFiles, importFiles } from 'cowcopy'
import { importChildJson, onFs } from '../helpers.mjs'

const write = (file, data, mode = 0o644) => {
  fs.writeFileSync(file, data, { mode })
  fs.chmodSync(file, mode)
}
const modeOf = (p) => fs.lstatSync(p).mode & 0o7777
const errorFor = (r, name) => r.errors.find((e) => path.basename(e.src) === name)

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups']
const isRoot = process.getuid?.() === 0

// Batches replace an existing destination through a temporary file and
// renameat: a symlink at the name is replaced, never written through.
onFs(t, 'xfs', 'merging over a symlink planted at a file position never writes through it', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  const outside = path.join(dir, 'outside')
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
  fs.mkdirSync(dest)
  fs.mkdirSync(outside)
  write(path.join(src, 'f'), 'from the source', 0o755)
  write(path.join(src, 'sub', 'g'), 'from the source too')
  const secret = path.join(outside, 'secret')
  write(secret, 'secret content', 0o600)
  fs.symlinkSync(secret, path.join(dest, 'f'))
  fs.symlinkSync(outside, path.join(dest, 'sub'))
  const r = await copyDir(src, dest)
  t.equal(fs.readFileSync(secret, 'utf8'), 'secret content', 'the secret keeps its content')
  t.equal(modeOf(secret), 0o600, 'and its mode')
  t.same(fs.readdirSync(outside), ['secret'], 'nothing written into the directory the planted link points at')
  t.ok(errorFor(r, 'sub'), 'a symlink where a directory goes is an error')
  const f = path.join(dest, 'f')
  if (errorFor(r, 'f')) {
    t.equal(errorFor(r, 'f').error.code, 'ELOOP', 'refused, not followed')
    t.ok(fs.lstatSync(f).isSymbolicLink(), 'the link left as it was')
  }
  t.ok(fs.lstatSync(f).isFile(), 'dest/f is a regular file now')
  if (fs.lstatSync(f).isFile()) {
    t.equal(fs.readFileSync(f, 'utf8'), 'from the source')
    t.equal(modeOf(f), 0o755)
  }
})

onFs(t, 'xfs', 'copyFiles replaces a symlink at the destination, never writes through it', async (t, dir) => {
  const secret = path.join(dir, 'secret')
  write(secret, 'secret content', 0o600)
  write(path.join(dir, 'a'), 'new content')
  fs.symlinkSync(secret, path.join(dir, 'b'))
  const r = await copyFiles([[path.join(dir, 'a'), path.join(dir, 'b')]])
  t.equal(fs.readFileSync(secret, 'utf8'), 'secret content', 'the secret keeps its content')
  t.equal(modeOf(secret), 0o600, 'and its mode')
  t.ok(fs.lstatSync(path.join(dir, 'b')).isFile(), 'the link replaced by the file')
  t.same(r.errors, [])
})

// A store file is opened without following a symlink, on every rung.
onFs(t, 'xfs', 'a symlink planted as a store file is not followed out of the store', async (t, dir) => {
  if (!isRoot) return t.skip('needs root')
  fs.chmodSync(dir, 0o755)
  const priv = path.join(dir, 'root-only')
  fs.mkdirSync(priv, { mode: 0o700 })
  fs.writeFileSync(path.join(priv, 'secret'), 'TOP-SECRET\n', { mode: 0o644 })
  const store = path.join(dir, 'store')
  fs.mkdirSync(store)
  fs.chmodSync(store, 0o1777)
  execFileSync('setpriv', [...NOBODY, 'ln', '-s', path.join(priv, 'secret'), path.join(store, 'aa11')])
  execFileSync('setpriv', [...NOBODY, 'ln', '-s', '/proc/self/maps', path.join(store, 'bb22')])
  for (const link of [['clone', 'copy'], ['hardlink', 'copy']]) {
    const dest = path.join(dir, 'pkg-' + link[0])
    const r = await importFiles(dest, [['README', path.join(store, 'aa11')], ['maps', path.join(store, 'bb22')]], { link })
    t.equal(r.files, 0, `${JSON.stringify(link)}: neither symlinked store file was placed`)
    const read = spawnSync('setpriv', [...NOBODY, 'cat', path.join(dest, 'README'), path.join(dest, 'maps')], { encoding: 'utf8' })
    t.notMatch(read.stdout, /TOP-SECRET|node/, 'the other user reads nothing of them')
  }
})

// Under dereference, a followed link's target must not reach the hardlink
// rung: root would give any file a link in a tree it reads points at a name
// inside the destination (protected_hardlinks does not stop root).
// importFiles refuses a symlinked source on every rung for this reason; a
// followed link may be copied, never linked.
onFs(t, 'xfs', 'copyDir dereference never hardlinks the target of a followed link', async (t, dir) => {
  if (!isRoot) return t.skip('needs root')
  fs.chmodSync(dir, 0o755)
  const secret = path.join(dir, 'secret')
  fs.writeFileSync(secret, 'root:$6$hash\n', { mode: 0o600 })
  const pkg = path.join(dir, 'pkg')
  fs.mkdirSync(pkg)
  fs.chownSync(pkg, 65534, 65534)
  execFileSync('setpriv', [...NOBODY, 'sh', '-c', `echo 1 > ${pkg}/index.js && ln -s ${secret} ${pkg}/README`])
  for (const link of [['hardlink', 'clone', 'copy'], ['clone', 'hardlink', 'copy'], ['hardlink', 'copy']]) {
    const dest = path.join(dir, 'dest-' + link.join('-'))
    const r = await copyDir(pkg, dest, { dereference: true, verbatimSymlinks: false, link })
    t.same(r.errors, [], `${JSON.stringify(link)}: no errors`)
    t.equal(fs.readFileSync(path.join(dest, 'README'), 'utf8'), 'root:$6$hash\n', 'the followed file is copied')
    t.not(fs.statSync(path.join(dest, 'README')).ino, fs.statSync(secret).ino, 'not another name of the file outside the tree')
  }
  t.equal(fs.statSync(secret).nlink, 1, 'the outside file has no new name')
})

// A store for a racer's window, in a directory (made 0755) other users can
// enter: `big` (256 MiB, copied as lib/a.bin before lib/z.js), `index`
// (lib/z.js) and `pkg` (the marker).
function slowStore(dir, index) {
  fs.chmodSync(dir, 0o755)
  const store = path.join(dir, 'store')
  fs.mkdirSync(store)
  const big = path.join(store, 'big')
  const fd = fs.openSync(big, 'w')
  const chunk = Buffer.alloc(16 << 20, 0xab)
  for (let i = 0; i < 16; i++) fs.writeSync(fd, chunk)
  fs.closeSync(fd)
  fs.writeFileSync(path.join(store, 'index'), index)
  fs.writeFileSync(path.join(store, 'pkg'), '{}\n')
  return { store, big }
}

// With umask 000 another user can put a directory at a file's name inside a
// directory the call made: that entry must fail with EISDIR, as in a
// directory that existed, not be counted `existing` (linkat's EEXIST) with
// the marker placed over a package missing the file.
onFs(t, 'xfs', 'a directory planted at a file name in a new directory is not counted existing under the marker', async (t, dir) => {
  if (!isRoot) return t.skip('needs root (setpriv)')
  const { store, big } = slowStore(dir, '1\n')
  const dest = path.join(dir, 'nm', 'pkg')
  const racer = spawn('setpriv', [...NOBODY, 'sh', '-c', `i=0; until mkdir ${dest}/lib/z.js 2>/dev/null; do i=$((i+1)); [ $i -gt 300000 ] && exit 1; done`], { stdio: 'ignore' })
  const exited = new Promise((r) => racer.on('exit', r))
  const r = importChildJson(`
    process.umask(0)
    const s = ${JSON.stringify(store)}
    const r = await importFiles(${JSON.stringify(dest)}, [['package.json', s + '/pkg'], ['lib/a.bin', s + '/big'], ['lib/z.js', s + '/index']], { marker: 'package.json', reflink: 'never' })
    console.log(JSON.stringify({ codes: r.errors.map((e) => e.error.code), existing: r.existing }))`)
  // The import is over: a racer that has not got in by now never will
  // (its loop of 300 000 mkdir processes would run for minutes).
  racer.kill('SIGKILL')
  await exited
  fs.rmSync(big)
  const z = fs.lstatSync(path.join(dest, 'lib', 'z.js'), { throwIfNoEntry: false })
  if (!z?.isDirectory() || z.uid !== 65534) return t.skip('the other user did not get in first (nothing to judge)')
  t.ok(r.codes.includes('EISDIR'), 'the entry fails with EISDIR, as in a directory that existed')
  t.notOk(fs.existsSync(path.join(dest, 'package.json')), 'the marker is not placed')
})

// Under umask 002 the directories importFiles makes are group-writable: a
// member of the group can create a file at a name the import has not
// reached yet. In a directory the call made, a taken name was taken during
// the import: that entry fails (EEXIST), it is not counted `existing`, and
// the marker is not placed over the planted file. Both engines.
for (const engine of ['native', 'portable']) {
  onFs(t, 'xfs', `${engine}: a file planted in a new group-writable directory fails its entry, not existing under the marker`, async (t, dir) => {
    if (!isRoot) return t.skip('needs root (setpriv)')
    const { store, big } = slowStore(dir, 'from the store\n')
    const dest = path.join(dir, 'nm', 'pkg')
    const z = path.join(dest, 'lib', 'z.js')
    // uid 65534 in group 0, the group of the directories root makes; it
    // waits for lib/a.bin, so lib/ has passed the checks of a new directory.
    const wait = `until [ -e ${path.join(dest, 'lib', 'a.bin')} ]; do :; done`
    const racer = spawn('setpriv', ['--reuid=65534', '--regid=0', '--clear-groups', 'sh', '-c', `${wait}; set -C; until echo planted > ${z}; do :; done`], { stdio: 'ignore' })
    const exited = new Promise((r) => racer.on('exit', r))
    const saved = process.env.COWCOPY_NATIVE
    process.env.COWCOPY_NATIVE = engine === 'native' ? '1' : '0'
    const r = importChildJson(`
      process.umask(0o002)
      const s = ${JSON.stringify(store)}
      const r = await importFiles(${JSON.stringify(dest)}, [['package.json', s + '/pkg'], ['lib/a.bin', s + '/big'], ['lib/z.js', s + '/index']], { marker: 'package.json', reflink: 'never', concurrency: 1 })
      console.log(JSON.stringify({ errors: r.errors.map((e) => [e.error.code, require('node:path').basename(e.dest)]), existing: r.existing }))`)
    if (saved === undefined) delete process.env.COWCOPY_NATIVE
    else process.env.COWCOPY_NATIVE = saved
    racer.kill('SIGKILL')
    await exited
    fs.rmSync(big)
    t.ok(r.errors, `the import ran: ${JSON.stringify(r)}`)
    const at = fs.lstatSync(z, { throwIfNoEntry: false })
    if (at?.uid !== 65534) return t.skip('the other user did not get in first (nothing to judge)')
    t.equal(fs.readFileSync(z, 'utf8'), 'planted\n', 'the planted file is left as it is')
    t.equal(r.existing, 0, 'not counted existing')
    t.same(r.errors.filter(([, name]) => name === 'z.js').map(([code]) => code), ['EEXIST'], 'its entry fails with EEXIST')
    t.notOk(fs.existsSync(path.join(dest, 'package.json')), 'the marker is not placed')
  })
}
