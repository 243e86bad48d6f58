// importFiles' ladder (and copyDir's and copyFiles' `link`): hard links are
// the store's inode and never a setuid file's, a rung unavailable between
// two devices is tried once and remembered, EMLINK moves one file on, and an
// unprivileged user's refused link falls to the copy rung.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { importFiles, copyDir, copyFiles, copyFileSync } from 'cowcopy'
import { needMounts, onFs } from '../helpers.mjs'
import { BYTES, makeStore } from './store.mjs'

onFs(t, 'xfs', 'hardlinks: the store inode, never for setuid files or FIFOs', async (t, dir) => {
  const entries = makeStore(dir, 40)
  const dest = path.join(dir, 'dest')
  const r = await importFiles(dest, entries, { link: ['hardlink', 'clone', 'copy'] })
  t.equal(r.methods.hardlink, entries.size)
  for (const [rel, src] of entries) {
    t.equal(fs.statSync(path.join(dest, rel)).ino, fs.statSync(src).ino, `${rel} is the store's inode`)
  }
  // A store file that is a symlink is refused by every rung, never followed:
  // whoever writes the store could point it at a file the caller can read.
  const target = [...entries.values()][1]
  fs.symlinkSync(target, path.join(dir, 'link-src'))
  for (const link of [['hardlink'], ['hardlink', 'clone', 'copy'], ['copy']]) {
    const viaLink = await importFiles(dest, [['via-link', path.join(dir, 'link-src')]], { link })
    t.equal(viaLink.files, 0, `${link}: not placed`)
    t.equal(viaLink.errors[0]?.error.code, 'ELOOP', `${link}: ELOOP`)
    t.notOk(fs.existsSync(path.join(dest, 'via-link')), 'nothing at the name')
  }
  // setuid: another name for it would carry the privilege: copied instead.
  const suid = path.join(dir, 'suid')
  fs.writeFileSync(suid, '#!/bin/sh\n')
  fs.chmodSync(suid, 0o4755)
  const s = await importFiles(dest, [['suid', suid]], { link: ['hardlink', 'copy'] })
  t.equal(s.methods.hardlink, 0)
  t.equal(s.files, 1)
  t.not(fs.statSync(path.join(dest, 'suid')).ino, fs.statSync(suid).ino, 'a new inode')
  copyFileSync(suid, path.join(dir, 'suid-copyfile'))
  t.equal(fs.statSync(path.join(dest, 'suid')).mode, fs.statSync(path.join(dir, 'suid-copyfile')).mode,
    'the mode copyFile gives it')
  const onlyLink = await importFiles(dest, [['suid2', suid]], { link: ['hardlink'] })
  t.equal(onlyLink.files, 0)
  t.match(onlyLink.errors[0].error, { code: 'EPERM', message: /setuid.*setgid.*\(not linked\)/ })
  t.notOk(fs.existsSync(path.join(dest, 'suid2')), 'nothing left')
  // A FIFO: never linked, never opened for blocking.
  const fifo = path.join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const f = await importFiles(dest, [['fifo', fifo]], { link: ['hardlink', 'copy'] })
  t.equal(f.files, 0)
  t.equal(f.errors[0].error.code, 'EINVAL')
  t.notOk(fs.existsSync(path.join(dest, 'fifo')), 'nothing left')
})

t.test('across devices: each unavailable rung is tried once, then remembered', async (t) => {
  const mounts = needMounts(t, 'xfs', 'ext4')
  if (!mounts) return
  const strace = spawnSync('strace', ['-V'])
  if (strace.status !== 0) {
    if (process.env.CI) t.fail('CI needs strace (apt-get install strace)')
    else t.skip('strace is not installed')
    return
  }
  const [xfs, ext4] = mounts
  const storeDir = fs.mkdtempSync(path.join(xfs, 'cc-'))
  const destDir = fs.mkdtempSync(path.join(ext4, 'cc-'))
  t.teardown(() => {
    fs.rmSync(storeDir, { recursive: true, force: true })
    fs.rmSync(destDir, { recursive: true, force: true })
  })
  const entries = makeStore(storeDir, 50)
  const script = `
    import { importFiles } from 'cowcopy'
    const entries = new Map(${JSON.stringify([...entries])})
    const out = []
    for (const [i, link] of [['hardlink', 'clone', 'copy'], ['clone', 'hardlink', 'copy'], ['clone', 'copy']].entries()) {
      out.push(await importFiles(${JSON.stringify(destDir)} + '/' + i, entries, { link, concurrency: 2 }))
    }
    console.log(JSON.stringify(out))
  `
  const log = path.join(destDir, 'strace.log')
  // link(2) too: the portable engine links through fs.link (libuv's link()).
  const run = spawnSync('strace', ['-f', '-qq', '-e', 'trace=link,linkat,ioctl', '-o', log, process.execPath, '--input-type=module', '-e', script],
    { encoding: 'utf8', cwd: process.cwd(), env: { ...process.env, NODE_OPTIONS: '' } })
  t.equal(run.status, 0, run.stderr)
  const results = JSON.parse(run.stdout)
  for (const r of results) {
    t.equal(r.files, entries.size)
    t.equal(r.methods.copy_file_range + r.methods.sendfile + r.methods.readwrite + r.methods.fs, entries.size, 'every file copied')
    t.same(r.errors, [])
  }
  const calls = fs.readFileSync(log, 'utf8').split('\n')
  const links = calls.filter((l) => /link(at)?\(.*EXDEV/.test(l))
  const clones = calls.filter((l) => /ioctl\(\d+, (FICLONE|BTRFS_IOC_CLONE)\b/.test(l))
  t.equal(links.length, 1, 'one linkat across the devices in three imports of 50 files')
  t.equal(clones.length, 1, 'one FICLONE across the devices in three imports of 50 files')
})

onFs(t, 'ext4', 'EMLINK: that file is copied, the rung stays for the others', async (t, dir) => {
  const full = path.join(dir, 'full')
  fs.writeFileSync(full, 'linked to the limit')
  const links = path.join(dir, 'links')
  fs.mkdirSync(links)
  // ext4 allows 65000 names per inode.
  let n = 1
  try {
    for (;;) {
      fs.linkSync(full, path.join(links, String(n)))
      n++
    }
  } catch (err) {
    t.equal(err.code, 'EMLINK', `linkSync stopped at ${n} names`)
  }
  const other = path.join(dir, 'other')
  fs.writeFileSync(other, 'still linkable')
  const r = await importFiles(path.join(dir, 'dest'), [['a', full], ['b', other]], { link: ['hardlink', 'copy'], concurrency: 1, listFiles: true })
  t.same(r.errors, [])
  t.same(Object.fromEntries(r.copied.map((c) => [path.basename(c.dest), c.method])), { a: BYTES, b: 'hardlink' })
  const later = await importFiles(path.join(dir, 'dest2'), [['c', other]], { link: ['hardlink', 'copy'] })
  t.equal(later.methods.hardlink, 1, 'EMLINK was not remembered for the device pair')
  fs.rmSync(links, { recursive: true, force: true })
})

onFs(t, 'btrfs', 'copyDir and copyFiles take the ladder', async (t, dir) => {
  const entries = makeStore(dir, 30)
  const tree = path.join(dir, 'tree')
  await importFiles(tree, entries)
  const out = path.join(dir, 'out')
  const r = await copyDir(tree, out, { link: ['hardlink'] })
  t.equal(r.methods.hardlink, entries.size)
  for (const rel of entries.keys()) t.equal(fs.statSync(path.join(out, rel)).ino, fs.statSync(path.join(tree, rel)).ino)
  const pairs = [...entries.keys()].map((rel) => [path.join(tree, rel), path.join(dir, `flat-${rel.replaceAll('/', '-')}`)])
  const f = await copyFiles(pairs, { link: ['hardlink', 'copy'] })
  t.equal(f.methods.hardlink, pairs.length)
  const c = await copyDir(tree, path.join(dir, 'out-clone'), { link: ['clone'] })
  t.equal(c.methods.clone, entries.size)
})

t.test('as an unprivileged user: protected_hardlinks refuses, the copy rung places the file', async (t) => {
  const [xfs] = needMounts(t, 'xfs') ?? []
  if (!xfs) return
  if (fs.readFileSync('/proc/sys/fs/protected_hardlinks', 'utf8').trim() !== '1' || process.getuid() !== 0) {
    t.skip('needs root and fs.protected_hardlinks=1')
    return
  }
  const dir = fs.mkdtempSync(path.join(xfs, 'cc-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.chmodSync(dir, 0o755)
  const src = path.join(dir, 'root-owned')
  fs.writeFileSync(src, 'root data')
  fs.chmodSync(src, 0o644)
  const dest = path.join(dir, 'user')
  fs.mkdirSync(dest)
  fs.chownSync(dest, 65534, 65534)
  const script = `
    import { importFiles } from 'cowcopy'
    const r = await importFiles(${JSON.stringify(dest)} + '/pkg', [['a', ${JSON.stringify(src)}], ['b', ${JSON.stringify(src)}]], { link: ['hardlink', 'copy'] })
    console.log(JSON.stringify(r))
  `
  const run = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--input-type=module', '-e', script],
    { encoding: 'utf8', cwd: process.cwd(), env: { ...process.env, NODE_OPTIONS: '' } })
  t.equal(run.status, 0, run.stderr)
  const r = JSON.parse(run.stdout)
  t.equal(r.files, 2)
  t.equal(r.methods.hardlink, 0)
  t.same(r.errors, [])
  t.equal(fs.statSync(path.join(dest, 'pkg', 'a')).uid, 65534, 'a copy owned by the user')
  t.equal(fs.statSync(src).nlink, 1, 'the root-owned file got no new name')
})
