// Attacks on importFiles and the link ladder that once succeeded (each test
// failed on the attacked commit, ae52c37..58b54c3; attack scripts were kept
// out of the package). Each states the behaviour the fix gives. Run as root (setpriv for the
// other users); the real filesystems at /var/tmp/cowcopy-mounts.
import t from 'tap'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { importFiles } from 'cowcopy'
import { onFs, writeBigFile } from './helpers.mjs'
import { PORTABLE } from './engines.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups']
const isRoot = process.getuid?.() === 0

// Runs an importFiles script in a fresh process (fresh link memory; a crash
// stays there). Resolves { status, signal, out }.
function child(code, { as } = {}) {
  const script = `const { importFiles } = require(${JSON.stringify(ROOT)});\n(async () => { ${code} })().catch((e) => { console.log(JSON.stringify({ rejected: e.code })) })`
  const argv = as ? ['setpriv', [...as, process.execPath, '-e', script]] : [process.execPath, ['-e', script]]
  const r = spawnSync(argv[0], argv[1], { encoding: 'utf8' })
  return { status: r.status, signal: r.signal, out: r.stdout.trim(), err: r.stderr }
}

// import.cc remove_tree(): one recursion per directory level with an 8 KiB
// buffer on the stack; libuv's worker has 8 MiB.
onFs(t, 'xfs', 'stage: a failed import with a 4096-deep entry rejects, it does not crash the process', async (t, dir) => {
  fs.writeFileSync(path.join(dir, 'src'), 'x')
  const r = child(`
    const deep = Array(4096).fill('d').join('/') + '/f'
    await importFiles(${JSON.stringify(dir + '/dest')}, [[deep, ${JSON.stringify(dir + '/src')}], [deep + 'z', ${JSON.stringify(dir + '/missing')}]], { stage: true })
    console.log(JSON.stringify({ resolved: true }))`)
  t.equal(r.signal, null, 'no signal (SIGSEGV on the attacked commit)')
  // Past PATH_MAX the portable engine cannot open by path (engines.mjs DIFFERENCES.pathMax).
  t.same(JSON.parse(r.out || '{}'), { rejected: PORTABLE ? 'ENAMETOOLONG' : 'ENOENT' }, 'rejects with the failed entry\'s error')
  t.same(fs.readdirSync(dir).filter((n) => n.includes('cowcopy')), [], 'no staging directory left')
  spawnSync('rm', ['-rf', dir]) // a 4096-deep leftover is too deep for fs.rmSync
})

// A file is written in place under its final name: a killed run may leave it
// partial, and overwrite: false kept it as `existing` under a new marker.
// Now a destination whose marker is missing is placed again in full.
onFs(t, 'ext4', 'a killed import leaves no partial file that a re-import with a marker certifies', async (t, dir) => {
  const big = path.join(dir, 'big')
  writeBigFile(big) // 512 MiB, no holes
  fs.writeFileSync(path.join(dir, 'pkg.json'), '{}')
  const dest = path.join(dir, 'nm', 'pkg')
  const entries = [['package.json', path.join(dir, 'pkg.json')], ['lib/big.bin', big]]
  const c = spawn(process.execPath, ['-e', `require(${JSON.stringify(ROOT)}).importFiles(${JSON.stringify(dest)}, ${JSON.stringify(entries)}, { marker: 'package.json' })`])
  const exited = new Promise((r) => c.on('exit', r))
  const target = path.join(dest, 'lib', 'big.bin')
  // Killed once its directories exist, while the 512 MiB file is being copied.
  for (let i = 0; i < 100000 && !fs.existsSync(path.join(dest, 'lib')); i++) await new Promise((r) => setImmediate(r))
  await new Promise((r) => setTimeout(r, 30))
  c.kill('SIGKILL')
  await exited
  t.ok(fs.existsSync(path.join(dest, 'lib')), 'the first import was killed after making its directories')
  t.notOk(fs.existsSync(path.join(dest, 'package.json')) && !fs.existsSync(target), 'no marker without the file')
  const r = await importFiles(dest, entries, { marker: 'package.json' })
  t.same(r.errors, [])
  t.equal(fs.statSync(target).size, 512 << 20, 'lib/big.bin is whole once the marker says the import finished')
  t.equal(fs.statSync(dest).mode & 0o777, 0o777 & ~process.umask(), 'the package directory is not left 0700')
  t.equal(fs.statSync(path.join(dest, 'lib')).mode & 0o777, 0o777 & ~process.umask(), 'lib/ is not left 0700')
})

// ladder.cc / copy_file.cc: EINVAL from one NODATACOW file is remembered as
// "no clones between these devices" for the process.
onFs(t, 'btrfs', 'one NODATACOW file of another user does not turn clones off for the process', async (t, dir) => {
  if (!isRoot) return t.skip('needs root')
  const store = path.join(dir, 'store')
  fs.mkdirSync(store, { mode: 0o1777 })
  fs.chmodSync(store, 0o1777)
  for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(store, `f${i}`), Buffer.alloc(8192, i))
  const sfd = fs.openSync(store, 'r')
  const e = '/proc/self/fd/3/evil'
  execFileSync('setpriv', [...NOBODY, 'sh', '-c', `: > ${e} && chattr +C ${e} && head -c 8192 /dev/urandom > ${e}`], { stdio: ['ignore', 'ignore', 'inherit', sfd] })
  fs.closeSync(sfd)
  for (const link of [['clone', 'hardlink', 'copy'], ['clone', 'copy']]) {
    const r = child(`
      const link = ${JSON.stringify(link)}, store = ${JSON.stringify(store)}, dir = ${JSON.stringify(dir)}
      await importFiles(dir + '/poison-' + link.length, [['evil.js', store + '/evil']], { link })
      const r = await importFiles(dir + '/pkg-' + link.length, Array.from({ length: 50 }, (_, i) => ['f' + i, store + '/f' + i]), { link })
      console.log(JSON.stringify(r.methods))`)
    t.equal(JSON.parse(r.out).clone, 50, `${JSON.stringify(link)}: the next package is still cloned`)
  }
})

// ladder.cc hardlink(): EPERM (protected_hardlinks, one file of another user)
// is remembered as "no hardlinks between these devices".
onFs(t, 'ext4', 'an importer that is not root keeps hardlinking after one foreign file', async (t, dir) => {
  if (!isRoot) return t.skip('needs root')
  fs.chmodSync(dir, 0o755)
  const store = path.join(dir, 'store')
  fs.mkdirSync(store)
  fs.chmodSync(store, 0o1777)
  const out = path.join(dir, 'out')
  fs.mkdirSync(out)
  fs.chownSync(out, 1001, 1001)
  for (let i = 0; i < 50; i++) {
    fs.writeFileSync(path.join(store, `f${i}`), Buffer.alloc(4096, i))
    fs.chownSync(path.join(store, `f${i}`), 1001, 1001)
  }
  execFileSync('setpriv', [...NOBODY, 'sh', '-c', `echo foreign > ${store}/evil && chmod 644 ${store}/evil`])
  const r = child(`
    const store = ${JSON.stringify(store)}, out = ${JSON.stringify(out)}, link = ['hardlink', 'copy']
    await importFiles(out + '/poison', [['a.js', store + '/evil']], { link })
    const r = await importFiles(out + '/pkg', Array.from({ length: 50 }, (_, i) => ['f' + i, store + '/f' + i]), { link })
    console.log(JSON.stringify(r.methods))`, { as: ['--reuid=1001', '--regid=1001', '--clear-groups'] })
  t.equal(JSON.parse(r.out).hardlink, 50, 'the next package is still hardlinked')
})

// An immutable destination directory refuses the link (EPERM): that is the
// directory's answer, not the devices', and one such directory must not turn
// hardlinks off for every later import (the copy rung then fails there too).
onFs(t, 'ext4', 'one immutable destination directory does not turn hardlinks off for the process', async (t, dir) => {
  if (!isRoot) return t.skip('needs root')
  const store = path.join(dir, 'store')
  fs.mkdirSync(store)
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(store, `f${i}`), Buffer.alloc(4096, i))
  const locked = path.join(dir, 'locked')
  fs.mkdirSync(locked)
  execFileSync('chattr', ['+i', locked])
  t.teardown(() => execFileSync('chattr', ['-i', locked]))
  const r = child(`
    const store = ${JSON.stringify(store)}, dir = ${JSON.stringify(dir)}, link = ['hardlink', 'copy']
    const first = await importFiles(dir + '/locked', [['a.js', store + '/f0']], { link })
    const r = await importFiles(dir + '/pkg', Array.from({ length: 20 }, (_, i) => ['f' + i, store + '/f' + i]), { link })
    console.log(JSON.stringify({ first: first.errors.map((e) => e.error.code), methods: r.methods }))`)
  const out = JSON.parse(r.out)
  t.same(out.first, ['EPERM'], 'the immutable directory refuses the file')
  t.equal(out.methods.hardlink, 20, 'the next package is still hardlinked')
})

// ladder.cc:138 follows a symlink at the source; ladder.cc:184 refuses only
// setuid/setgid, not file capabilities.
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

// ladder.cc:143 links first, checks for setuid after (a window in which the
// setuid file has a name in the destination directory: attack/hardlink-setuid-race.mjs
// grabs it). Seen with strace: no linkat may succeed on a setuid source.
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

// copy_file.cc:40 / ladder.cc:138: a store file is opened following symlinks.
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
