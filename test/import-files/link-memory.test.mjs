// What importFiles remembers for the process after a failure: a rung that
// fails between two devices is not tried again there (the next rung places
// the files), but a failure that belongs to one file, one directory or one
// mount -- another user's NODATACOW file, a foreign file under
// protected_hardlinks, an immutable or append-only store file, an immutable
// destination directory, EXDEV between two mounts of one filesystem -- must
// not turn clones or hardlinks off for later imports. Each import runs in a
// fresh process (fresh memory). As root: setpriv for the other users,
// unshare for a private bind mount.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { importFiles, copyDir } from 'cowcopy'
import { importChild, importChildJson, onFs } from '../helpers.mjs'

const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups']
const isRoot = process.getuid?.() === 0

// EINVAL from one NODATACOW file is that file's answer: it must not be
// remembered as "no clones between these devices" (ladder.cc, copy_file.cc).
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
    const r = importChild(`
      const link = ${JSON.stringify(link)}, store = ${JSON.stringify(store)}, dir = ${JSON.stringify(dir)}
      await importFiles(dir + '/poison-' + link.length, [['evil.js', store + '/evil']], { link })
      const r = await importFiles(dir + '/pkg-' + link.length, Array.from({ length: 50 }, (_, i) => ['f' + i, store + '/f' + i]), { link })
      console.log(JSON.stringify(r.methods))`)
    t.equal(JSON.parse(r.out).clone, 50, `${JSON.stringify(link)}: the next package is still cloned`)
  }
})

// EPERM from protected_hardlinks (one file of another user) must not be
// remembered as "no hardlinks between these devices" (ladder.cc hardlink()).
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
  const r = importChild(`
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
  const r = importChild(`
    const store = ${JSON.stringify(store)}, dir = ${JSON.stringify(dir)}, link = ['hardlink', 'copy']
    const first = await importFiles(dir + '/locked', [['a.js', store + '/f0']], { link })
    const r = await importFiles(dir + '/pkg', Array.from({ length: 20 }, (_, i) => ['f' + i, store + '/f' + i]), { link })
    console.log(JSON.stringify({ first: first.errors.map((e) => e.error.code), methods: r.methods }))`)
  const out = JSON.parse(r.out)
  t.same(out.first, ['EPERM'], 'the immutable directory refuses the file')
  t.equal(out.methods.hardlink, 20, 'the next package is still hardlinked')
})

// EPERM from linkat is remembered for the devices when the caller owns the
// file (ladder.cc) -- but an immutable or append-only file (chattr +i / +a:
// vfs_link's IS_IMMUTABLE/IS_APPEND) says EPERM for itself only.
onFs(t, 'xfs', 'one immutable store file does not turn hardlinks off for the process', async (t, dir) => {
  if (!isRoot) return t.skip('needs root (chattr +i)')
  const store = path.join(dir, 'store')
  fs.mkdirSync(store)
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(store, `f${i}`), `file ${i}\n`)
  fs.writeFileSync(path.join(store, 'locked'), 'locked\n')
  fs.writeFileSync(path.join(store, 'append'), 'append\n')
  execFileSync('chattr', ['+i', path.join(store, 'locked')])
  execFileSync('chattr', ['+a', path.join(store, 'append')])
  t.teardown(() => spawnSync('chattr', ['-i', '-a', path.join(store, 'locked'), path.join(store, 'append')]))
  for (const poison of ['locked', 'append']) {
    const r = importChildJson(`
      const store = ${JSON.stringify(store)}, dir = ${JSON.stringify(dir)}, link = ['hardlink', 'copy']
      const p = await importFiles(dir + '/poison-${poison}', [['x', store + '/${poison}']], { link })
      const r = await importFiles(dir + '/pkg-${poison}', Array.from({ length: 20 }, (_, i) => ['f' + i, store + '/f' + i]), { link })
      console.log(JSON.stringify({ poisonErrors: p.errors.length, hardlink: r.methods.hardlink }))`)
    t.equal(r.poisonErrors, 0, `${poison}: the ${poison} file itself is placed (copied)`)
    t.equal(r.hardlink, 20, `${poison}: the next package is still hardlinked`)
  }
})

// EXDEV is remembered for (st_dev, st_dev) (ladder.cc), but linkat also
// refuses across two mounts of one filesystem (a bind mount: same st_dev):
// one import from a store seen through a bind mount must not stop every
// later import on that filesystem from hardlinking.
onFs(t, 'xfs', 'EXDEV between two mounts of one filesystem does not turn hardlinks off for it', async (t, dir) => {
  if (!isRoot || spawnSync('unshare', ['-m', 'true']).status !== 0) return t.skip('needs root and unshare -m')
  const store = path.join(dir, 'store')
  const view = path.join(dir, 'view')
  fs.mkdirSync(store)
  fs.mkdirSync(view)
  for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(store, `f${i}`), `file ${i}\n`)
  const r = importChildJson(`
    const store = ${JSON.stringify(store)}, view = ${JSON.stringify(view)}, dir = ${JSON.stringify(dir)}, link = ['hardlink', 'copy']
    execFileSync('mount', ['--bind', store, view])
    const a = await importFiles(dir + '/a', [['f0', view + '/f0']], { link })
    const b = await importFiles(dir + '/b', Array.from({ length: 10 }, (_, i) => ['f' + i, store + '/f' + i]), { link })
    execFileSync('umount', [view])
    console.log(JSON.stringify({ viaBind: a.methods.hardlink, copiedViaBind: a.files, hardlink: b.methods.hardlink }))`,
  ['unshare', '-m', '--propagation', 'private'])
  t.equal(r.copiedViaBind, 1, 'the file seen through the bind mount is placed (copied: EXDEV is genuine there)')
  t.equal(r.hardlink, 10, 'an import within one mount still hardlinks')
})
