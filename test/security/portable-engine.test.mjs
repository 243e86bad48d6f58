// The portable engine (COWCOPY_NATIVE=0) under a root copier: a batch
// never writes through, chowns or chmods a symlink or hard link planted at a
// destination name; every metadata call goes through a descriptor the call
// opened; no staging directory; a copy into a directory other users can
// write (or of another user's setuid file) is made by the portable engine's own
// O_EXCL|O_NOFOLLOW create, never by fs.copyFile.
import t from 'tap'
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { onFs, setuidScript } from '../helpers.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const DIST = path.join(root, 'dist', 'index.js')

/** Runs CommonJS `code` in a child node with COWCOPY_NATIVE=0; `args` become process.argv[1..]. */
function portableChild(code, args = []) {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, ['-e', `const c = require(${JSON.stringify(DIST)}); ${code}`, '--', ...args], {
      env: { ...process.env, COWCOPY_NATIVE: '0' },
      timeout: 20000,
    })
    let stdout = ''
    let stderr = ''
    c.stdout.on('data', (d) => { stdout += d })
    c.stderr.on('data', (d) => { stderr += d })
    c.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

const asRoot = (t) => {
  if (process.getuid() !== 0) {
    t.skip('needs root')
    return false
  }
  return true
}

function canary(dir) {
  const outside = path.join(dir, 'outside')
  fs.mkdirSync(outside, { mode: 0o755 })
  const file = path.join(outside, 'canary')
  fs.writeFileSync(file, 'root secret canary\n', { mode: 0o600 })
  fs.chmodSync(file, 0o600)
  return file
}

function unchanged(t, file, what) {
  const st = fs.statSync(file)
  t.equal(fs.readFileSync(file, 'utf8'), 'root secret canary\n', `${what}: canary content unchanged`)
  t.equal(st.uid, 0, `${what}: canary still root's`)
  t.equal(st.gid, 0, `${what}: canary group unchanged`)
  t.equal(st.mode & 0o7777, 0o600, `${what}: canary mode unchanged`)
}

// An existing destination is opened O_NOFOLLOW and never chowned, chmodded
// or utimed by name: otherwise root writes into and gives away the file a
// planted symlink points at.
onFs(t, 'ext4', 'copyFiles never writes through, chowns or chmods a symlink planted at the destination', async (t, dir) => {
  if (!asRoot(t)) return
  const target = canary(dir)
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'attacker content\n')
  fs.chownSync(src, 65534, 65534)
  const dst = path.join(dir, 'dst')
  fs.mkdirSync(dst)
  fs.chmodSync(dst, 0o777)
  const names = ['f', 'g', 'keep']
  for (const n of names) fs.symlinkSync(target, path.join(dst, n))
  // A hard link to the canary too (root can make one; a batch must replace it, not write into it).
  fs.linkSync(target, path.join(dst, 'h'))
  const r = await portableChild(`
    const [src, dst] = process.argv.slice(1);
    (async () => {
      const a = await c.copyFiles([[src, dst + '/f'], [src, dst + '/h']], { preserve: { ownership: true, timestamps: true } })
      const b = await c.copyFiles([[src, dst + '/g']], { preserve: true })
      const k = await c.copyFiles([[src, dst + '/keep']], { overwrite: false, preserve: { ownership: true } })
      console.log(JSON.stringify([a.errors.map((e) => e.error.code), b.errors.map((e) => e.error.code), k.errors.map((e) => e.error.code)]))
    })().catch((e) => { console.log(e.stack); process.exitCode = 1 })`, [src, dst])
  t.equal(r.status, 0, r.stderr)
  t.same(JSON.parse(r.stdout), [[], [], ['EEXIST']], 'f, g and h replaced (preserve: true keeps what the portable engine can), keep: EEXIST')
  unchanged(t, target, 'after the batches')
  t.ok(fs.lstatSync(path.join(dst, 'keep')).isSymbolicLink(), 'overwrite: false leaves the planted name alone')
  for (const n of ['f', 'g', 'h']) {
    const st = fs.lstatSync(path.join(dst, n))
    t.ok(st.isFile(), `dst/${n} is a regular file now`)
    t.equal(st.nlink, 1, `dst/${n} is a new file, not the canary's link`)
    t.equal(st.uid, 65534, `dst/${n} got the source's owner`)
    t.equal(fs.readFileSync(path.join(dst, n), 'utf8'), 'attacker content\n')
  }
  const x = await portableChild(`c.copyFiles([[process.argv[1], process.argv[2]]], { preserve: { xattrs: true } }).then(() => console.log('ok'), (e) => console.log(e.code))`, [src, path.join(dst, 'keep')])
  t.equal(x.stdout.trim(), 'ENOSYS', 'xattrs asked for by name: ENOSYS, before anything is touched')
  t.ok(fs.lstatSync(path.join(dst, 'keep')).isSymbolicLink(), 'a refused copy leaves the planted name alone')
  t.same(fs.readdirSync(dst).filter((n) => n.startsWith('.')), [], 'no temporary left')
})

// No staging directory; a copy into a directory other users
// can write goes through the portable engine's own create (so reflink 'always',
// which only fs.copyFile could clone, fails with ENOTSUP and leaves nothing),
// and the setuid bit of another user's file is never on any name.
onFs(t, 'btrfs', 'a shared (0777) destination directory: own O_EXCL create, no staging directory, no setuid bit', async (t, dir) => {
  if (!asRoot(t)) return
  const src = setuidScript(dir, 'suid', 65534)
  const plain = path.join(dir, 'plain')
  fs.writeFileSync(plain, 'plain data\n')
  const shared = path.join(dir, 'shared')
  fs.mkdirSync(shared)
  // Not sticky: in a sticky directory only a name's owner can move it, so fs.copyFile may be used there.
  fs.chmodSync(shared, 0o777)
  const priv = path.join(dir, 'private')
  fs.mkdirSync(priv, { mode: 0o700 })
  // Every name created in the shared directory while the child runs.
  const seen = []
  const watcher = fs.watch(shared, (ev, name) => { if (name) seen.push(String(name)) })
  // A mode sampler would race; the watcher sees names, the end state the mode.
  const r = await portableChild(`
    const [src, plain, shared, priv] = process.argv.slice(1); const d = (n) => shared + '/' + n;
    const code = (f) => { try { f(); return 'ok' } catch (e) { return [e.code, /needs the native addon/.test(e.message)] } };
    const acode = (p) => p.then(() => 'ok', (e) => [e.code, /needs the native addon/.test(e.message)]);
    (async () => {
      c.copyFileSync(src, d('sync'))
      await c.copyFile(src, d('async'))
      await c.copyFile(src, d('atomic'), { atomic: true })
      c.copyFileSync(src, d('atomic-sync'), { atomic: true })
      const b = await c.copyFiles([[src, d('batch')]])
      if (b.errors.length) throw b.errors[0].error
      const out = {
        syncAlways: code(() => c.copyFileSync(plain, d('always-sync'), { reflink: 'always' })),
        asyncAlways: await acode(c.copyFile(plain, d('always'), { reflink: 'always' })),
        setuidAlways: await acode(c.copyFile(src, priv + '/suid-always', { reflink: 'always' })),
        batchAlways: (await c.copyFiles([[plain, d('always-batch')]], { reflink: 'always' })).errors.map((e) => e.error.code),
        privateAlways: (await c.copyFile(plain, priv + '/cloned', { reflink: 'always' })).method,
      }
      console.log(JSON.stringify(out))
    })().catch((e) => { console.log(e.stack); process.exitCode = 1 })`, [src, plain, shared, priv])
  await new Promise((resolve) => setTimeout(resolve, 100))
  watcher.close()
  t.equal(r.status, 0, r.stderr)
  t.same(JSON.parse(r.stdout), {
    syncAlways: ['ENOTSUP', true],
    asyncAlways: ['ENOTSUP', true],
    setuidAlways: ['ENOTSUP', true],
    batchAlways: ['ENOTSUP'],
    privateAlways: 'clone',
  }, 'reflink always: ENOTSUP where only the own create may be used; a clone in a private directory')
  for (const name of ['sync', 'async', 'atomic', 'atomic-sync', 'batch']) {
    const st = fs.statSync(path.join(shared, name))
    t.equal(st.mode & 0o7777, 0o755, `${name}: setuid/setgid dropped`)
    t.equal(st.uid, 0, `${name}: owned by the copier`)
    t.equal(fs.readFileSync(path.join(shared, name), 'utf8'), '#!/bin/sh\necho hi\n')
  }
  t.same(fs.readdirSync(shared).filter((n) => n.startsWith('.') || n.startsWith('always')), [], 'nothing left by the failed calls')
  t.same(fs.readdirSync(priv).sort(), ['cloned'], 'private: the clone only')
  t.same(seen.filter((n) => /^\.cowcopy-/.test(n)), [], 'no staging directory was ever created')
  t.same(fs.readdirSync(dir).filter((n) => n.startsWith('.')), [], 'none beside the directory either')
})

// fs.copyFile in a private directory, then the name opened
// O_NOFOLLOW and checked before any metadata on that descriptor.
onFs(t, 'ext4', 'a private directory: fs.copyFile, then ownership and times on the descriptor', async (t, dir) => {
  if (!asRoot(t)) return
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'data\n')
  fs.chownSync(src, 65534, 65534)
  fs.chmodSync(src, 0o640)
  fs.utimesSync(src, 1000, 2000)
  const dst = path.join(dir, 'dst')
  fs.mkdirSync(dst, { mode: 0o755 })
  const r = await portableChild(`
    const [src, dst] = process.argv.slice(1);
    (async () => {
      c.copyFileSync(src, dst + '/sync', { preserve: { ownership: true, timestamps: true } })
      await c.copyFile(src, dst + '/async', { preserve: { ownership: true, timestamps: true }, fsync: true })
      const b = await c.copyFiles([[src, dst + '/batch']], { preserve: { ownership: true, timestamps: true } })
      if (b.errors.length) throw b.errors[0].error
      console.log('ok')
    })().catch((e) => { console.log(e.stack); process.exitCode = 1 })`, [src, dst])
  t.equal(r.stdout, 'ok\n', r.stderr)
  for (const n of ['sync', 'async', 'batch']) {
    const st = fs.statSync(path.join(dst, n))
    t.equal(st.uid, 65534, `${n}: owner`)
    t.equal(st.mode & 0o7777, 0o640, `${n}: mode`)
    t.equal(st.mtimeMs, 2000000, `${n}: mtime`)
  }
})
