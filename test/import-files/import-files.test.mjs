// importFiles: a package from a store placed under one directory. Every
// outcome is read back from the real filesystems: bytes, modes, inode
// numbers (a hardlink is the store's inode), shared extents (a clone), the
// directory listing (nothing left by a failed or staged import).
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { importFiles, copyDir, copyFiles, copyFileSync } from 'cowcopy'
import { native } from '../../dist/native.js'
import { parseBatch } from '../../dist/batch-options.js'
import { portableImportFiles } from '../../dist/portable/import.js'
import { allShared, needMounts, onFs, openFds } from '../helpers.mjs'
import { PORTABLE } from '../engines.mjs'

// The engine itself, past lib/'s checks (as after a race, or a caller that
// skipped them): the native binding, or the portable engine's entry point.
function engineImport(dest, rels, srcs) {
  if (native) return native.importFiles(dest, rels, srcs, 0, 0, undefined, -1, false)
  const dirs = [...new Set(rels.flatMap((r) => r.split('/').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('/'))))]
  const p = parseBatch({})
  p.overwrite = false
  return portableImportFiles({ destDir: dest, rels, srcs, dirs: dirs.sort((a, b) => a.length - b.length), keys: rels, p, marker: -1, stage: false }, undefined)
}

// A store of n files (content-addressed names) and a package's entries map.
function makeStore(dir, n = 60) {
  const store = path.join(dir, 'store', 'files')
  fs.mkdirSync(store, { recursive: true })
  const entries = new Map()
  for (let i = 0; i < n; i++) {
    const file = path.join(store, `${String(i).padStart(2, '0')}-${(i * 2654435761 >>> 0).toString(16)}`)
    fs.writeFileSync(file, `module ${i}\n`.repeat(50 + i * 40))
    fs.chmodSync(file, i % 4 === 0 ? 0o755 : 0o644)
    const rel = i === 0 ? 'package.json' : `${i % 3 ? 'lib/' : ''}${i % 5 ? `sub${i % 4}/` : ''}file${i}.js`
    entries.set(rel, file)
  }
  return entries
}

function checkPlaced(t, dest, entries) {
  for (const [rel, src] of entries) {
    const d = path.join(dest, rel)
    t.ok(fs.readFileSync(d).equals(fs.readFileSync(src)), `${rel}: same bytes`)
    t.equal(fs.statSync(d).mode & 0o7777, fs.statSync(src).mode & 0o7777, `${rel}: the source's mode`)
  }
}

const BYTES = PORTABLE ? 'fs' : 'copy_file_range'
const COPY_METHOD = { btrfs: 'clone', xfs: 'clone', ext4: BYTES, tmpfs: BYTES }

for (const fsName of ['btrfs', 'xfs', 'ext4', 'tmpfs']) {
  onFs(t, fsName, 'a package with a marker, then the same again', async (t, dir) => {
    const entries = makeStore(dir)
    const dest = path.join(dir, 'node_modules', '.pnpm', 'pkg@1.0.0', 'node_modules', 'pkg')
    const fds = openFds()
    const r = await importFiles(dest, entries, { marker: 'package.json', listFiles: true })
    t.same(openFds(), fds, 'no descriptor leaked')
    t.equal(r.files, entries.size)
    t.equal(r.existing, 0)
    t.same(r.errors, [])
    t.equal(r.methods[COPY_METHOD[fsName]], entries.size, `every file by ${COPY_METHOD[fsName]}`)
    t.equal(r.copied.at(-1).dest, path.join(dest, 'package.json'), 'the marker was placed last')
    checkPlaced(t, dest, entries)
    // (The largest file: btrfs keeps small files inline, where nothing is shared.)
    if (COPY_METHOD[fsName] === 'clone') t.ok(allShared(path.join(dest, [...entries.keys()].at(-1))), 'shares extents')
    // Directories made (destDir's missing ancestors too) have mkdir's mode.
    const umask = process.umask()
    for (const d of [dest, path.join(dest, 'lib'), path.join(dest, 'lib', 'sub1'), path.join(dir, 'node_modules')]) {
      t.equal(fs.statSync(d).mode & 0o7777, 0o777 & ~umask, `${path.relative(dir, d)}: 0777 less the umask`)
    }
    const again = await importFiles(dest, entries)
    t.equal(again.files, 0, 'nothing placed twice')
    t.equal(again.existing, entries.size, 'every entry counted as existing')
    t.same(again.errors, [])
  })
}

t.test('relative paths are checked before anything is created', async (t) => {
  const [xfs] = needMounts(t, 'xfs') ?? []
  if (!xfs) return
  const dir = fs.mkdtempSync(path.join(xfs, 'cc-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'data')
  const dest = path.join(dir, 'dest')
  const bad = ['../escape', '/etc/passwd', 'a//b', 'a/./b', 'a/../../x', '.', '..', '', 'a/', 'a\0b', Buffer.from('a/../b')]
  for (const rel of bad) {
    await t.rejects(importFiles(dest, [['ok.js', src], [rel, src]]), { code: 'ERR_INVALID_ARG_VALUE', message: /entries\[1\]\[0\]/ },
      `${JSON.stringify(String(rel))} is refused, naming the entry`)
  }
  await t.rejects(importFiles(dest, [['a', src], ['a', src]]), { code: 'ERR_INVALID_ARG_VALUE', message: /listed twice/ })
  await t.rejects(importFiles(dest, [['a/b', src], ['a', src]]), { code: 'ERR_INVALID_ARG_VALUE', message: /also the directory/ })
  // The entry named is the first listed again (duplicates before files that
  // are directories), then the file whose name is a directory first met.
  const many = Array.from({ length: 3000 }, (_, i) => [`p${i % 50}/d${i % 7}/f${i}`, src])
  await t.rejects(importFiles(dest, [['x', src], ...many, ['x/y', src], ['a', src], ['p3/d1/f0', src], ['a', src]]),
    { code: 'ERR_INVALID_ARG_VALUE', message: /^The argument 'entries\[3004\]\[0\]' is listed twice\. Received 'a'$/ })
  await t.rejects(importFiles(dest, [...many, ['q/r/s', src], ['q/r', src], ['q', src]]),
    { code: 'ERR_INVALID_ARG_VALUE', message: /^The argument 'entries\[3002\]\[0\]' is a file and also the directory of another entry\. Received 'q'$/ })
  await t.rejects(importFiles(dest, [['a', src]], { marker: 'b' }), { code: 'ERR_INVALID_ARG_VALUE', message: /marker/ })
  await t.rejects(importFiles(dest, [[1, src]]), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(importFiles(dest, 'a'), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(importFiles(dest, [['a', src]], { link: ['clone', 'clone'] }), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(importFiles(dest, [['a', src]], { link: ['symlink'] }), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(importFiles(dest, [['a', src]], { link: [] }), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(importFiles(dest, [['a', src]], { link: 'clone' }), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(importFiles(dest, [['a', src]], { link: ['hardlink'], reflink: 'always' }), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(importFiles(dest, [['a', src]], { link: ['clone', 'copy'], reflink: 'never' }), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(importFiles(dest, [['a', src]], { stage: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
  t.notOk(fs.existsSync(dest), 'no destination was created by any of them')
  // The engine checks again (a caller of the binding that skipped lib/).
  await t.rejects(engineImport(dest, ['../x'], [src]), { code: 'EINVAL' })
  if (native) {
    await t.rejects(engineImport(dest, ['a', 'b/c', 'a'], [src, src, src]), { code: 'EINVAL', entryIndex: 2, entryProblem: 'twice' })
    await t.rejects(engineImport(dest, ['b/c', 'b'], [src, src]), { code: 'EINVAL', entryIndex: 1, entryProblem: 'fileAndDir' })
  }
  t.notOk(fs.existsSync(dest), 'nor by the engine')
})

t.test('a symlink in the destination is never followed', async (t) => {
  const [xfs] = needMounts(t, 'xfs') ?? []
  if (!xfs) return
  const dir = fs.mkdtempSync(path.join(xfs, 'cc-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'new data')
  const outside = path.join(dir, 'outside')
  fs.mkdirSync(outside)
  fs.writeFileSync(path.join(outside, 'victim'), 'precious')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(path.join(dest, 'lib'), { recursive: true })
  fs.symlinkSync(outside, path.join(dest, 'lib', 'evil'))
  await t.rejects(importFiles(dest, [['lib/ok', src], ['lib/evil/victim', src]]),
    { code: 'ERR_INVALID_ARG_VALUE', message: /entries\[1\]\[0\].*symbolic link/ })
  t.notOk(fs.existsSync(path.join(dest, 'lib', 'ok')), 'nothing placed')
  // Past lib/'s check (the binding called directly, as after a race): the
  // engine refuses the symlink with O_NOFOLLOW, for that entry only.
  const r = await engineImport(dest, ['lib/ok', 'lib/evil/victim'], [src, src])
  t.equal(r.files, 1)
  t.equal(r.errors.length, 1)
  t.match(r.errors[0].error, { code: 'ENOTDIR', message: /symbolic link is in the way/ })
  t.equal(fs.readFileSync(path.join(outside, 'victim'), 'utf8'), 'precious', 'nothing written outside')
  // A symlink at a file's own name: kept (overwrite false) or replaced, never written through.
  fs.symlinkSync(path.join(outside, 'victim'), path.join(dest, 'leaf'))
  const kept = await importFiles(dest, [['leaf', src]])
  t.equal(kept.existing, 1)
  t.ok(fs.lstatSync(path.join(dest, 'leaf')).isSymbolicLink(), 'the link is kept')
  for (const link of [undefined, ['hardlink']]) {
    fs.rmSync(path.join(dest, 'leaf'), { force: true })
    fs.symlinkSync(path.join(outside, 'victim'), path.join(dest, 'leaf'))
    const replaced = await importFiles(dest, [['leaf', src]], { overwrite: true, link })
    t.equal(replaced.files, 1)
    t.ok(fs.lstatSync(path.join(dest, 'leaf')).isFile(), `${link ?? 'default'}: the link is replaced by the file`)
    t.equal(fs.readFileSync(path.join(outside, 'victim'), 'utf8'), 'precious', 'and not written through')
  }
})

t.test('overwrite: true replaces by rename; a hard link elsewhere keeps the old bytes', async (t) => {
  const [xfs] = needMounts(t, 'xfs') ?? []
  if (!xfs) return
  const dir = fs.mkdtempSync(path.join(xfs, 'cc-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'new')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(dest)
  for (const link of [['clone', 'copy'], ['hardlink'], ['copy']]) {
    fs.rmSync(path.join(dest, 'f'), { force: true }) // (after 'hardlink' it is the source)
    fs.writeFileSync(path.join(dest, 'f'), 'old content')
    fs.rmSync(path.join(dir, 'other'), { force: true })
    fs.linkSync(path.join(dest, 'f'), path.join(dir, 'other'))
    const r = await importFiles(dest, [['f', src]], { overwrite: true, link })
    t.equal(r.files, 1, link.join())
    t.equal(fs.readFileSync(path.join(dest, 'f'), 'utf8'), 'new')
    t.equal(fs.readFileSync(path.join(dir, 'other'), 'utf8'), 'old content', 'the old inode was not written')
    t.same(fs.readdirSync(dest), ['f'], 'no temporary name left')
  }
  // Already a link of the source: nothing to do, no second name left behind.
  fs.rmSync(path.join(dest, 'f'))
  fs.linkSync(src, path.join(dest, 'f'))
  const r = await importFiles(dest, [['f', src]], { overwrite: true, link: ['hardlink'] })
  t.equal(r.errors.length, 0)
  t.same(fs.readdirSync(dest), ['f'])
  t.equal(fs.statSync(src).nlink, 2)
})

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

onFs(t, 'xfs', 'marker: not placed when an entry failed', async (t, dir) => {
  const entries = makeStore(dir, 20)
  entries.set('lib/missing.js', path.join(dir, 'no-such-file'))
  const dest = path.join(dir, 'dest')
  const r = await importFiles(dest, entries, { marker: 'package.json' })
  t.equal(r.files, entries.size - 2)
  const codes = r.errors.map((e) => [path.basename(e.dest), e.error.code]).sort()
  t.same(codes, [['missing.js', 'ENOENT'], ['package.json', 'ECANCELED']])
  t.match(r.errors.find((e) => e.dest.endsWith('package.json')).error.message, /marker not placed/)
  t.notOk(fs.existsSync(path.join(dest, 'package.json')), 'no marker')
  // Without its marker the directory is incomplete: nothing in it is kept.
  entries.delete('lib/missing.js')
  const stale = path.join(dest, [...entries.keys()][1])
  fs.writeFileSync(stale, 'partial')
  const again = await importFiles(dest, entries, { marker: 'package.json' })
  t.equal(again.existing, 0, 'no marker: every entry placed again')
  t.same(again.errors, [])
  t.equal(fs.readFileSync(stale, 'utf8'), fs.readFileSync(entries.get([...entries.keys()][1]), 'utf8'), 'the partial file was replaced')
  fs.writeFileSync(stale, 'kept')
  const third = await importFiles(dest, entries, { marker: 'package.json' })
  t.equal(third.existing, entries.size, 'with the marker in place, everything is kept')
  t.equal(fs.readFileSync(stale, 'utf8'), 'kept')
})

onFs(t, 'btrfs', 'stage: all or nothing', async (t, dir) => {
  const entries = makeStore(dir, 120)
  const dest = path.join(dir, 'pkg')
  const r = await importFiles(dest, entries, { stage: true, marker: 'package.json' })
  t.equal(r.files, entries.size)
  checkPlaced(t, dest, entries)
  t.same(fs.readdirSync(dir).sort(), ['pkg', 'store'], 'no staging directory left')
  t.equal(fs.statSync(dest).mode & 0o777, 0o777 & ~process.umask())
  await t.rejects(importFiles(dest, entries, { stage: true }), { code: 'EEXIST', message: /stage/ })

  const broken = new Map(entries)
  broken.set('lib/zz-missing.js', path.join(dir, 'nope'))
  const dest2 = path.join(dir, 'pkg2')
  await t.rejects(importFiles(dest2, broken, { stage: true }), { code: 'ENOENT', path: path.join(dir, 'nope') })
  t.same(fs.readdirSync(dir).sort(), ['pkg', 'store'], 'a failed staged import leaves nothing')

  const ac = new AbortController()
  const many = new Map()
  // Enough entries that the first progress poll (100 ms) comes before the end, even on a fast machine.
  for (let i = 0; i < 20000; i++) many.set(`d${i % 30}/f${i}`, [...entries.values()][i % entries.size])
  const p = importFiles(path.join(dir, 'pkg3'), many, { stage: true, signal: ac.signal, concurrency: 1, onProgress: () => ac.abort() })
  await t.rejects(p, { name: 'AbortError' })
  t.same(fs.readdirSync(dir).sort(), ['pkg', 'store'], 'an aborted staged import leaves nothing')
})

onFs(t, 'xfs', 'abort without stage: every file present is complete', async (t, dir) => {
  const entries = makeStore(dir, 50)
  const many = new Map()
  for (let i = 0; i < 4000; i++) many.set(`d${i % 40}/f${i}`, [...entries.values()][i % entries.size])
  const ac = new AbortController()
  const dest = path.join(dir, 'dest')
  await t.rejects(importFiles(dest, many, { signal: ac.signal, concurrency: 1, onProgress: () => ac.abort() }), { name: 'AbortError' })
  let present = 0
  for (const [rel, src] of many) {
    const d = path.join(dest, rel)
    if (!fs.existsSync(d)) continue
    present++
    if (!fs.readFileSync(d).equals(fs.readFileSync(src))) t.fail(`${rel} is partial`)
  }
  t.ok(present < many.size, `${present} of ${many.size} placed before the abort`)
  // Aborted before the native call even started (during lib/'s checks).
  const early = new AbortController()
  const p = importFiles(path.join(dir, 'dest-early'), many, { signal: early.signal })
  early.abort()
  await t.rejects(p, { name: 'AbortError' })
  t.notOk(fs.existsSync(path.join(dir, 'dest-early')), 'nothing was created')
  // copyDir had the same hole: an abort during its async checks was missed and the whole tree copied.
  const early2 = new AbortController()
  const p2 = copyDir(dest, path.join(dir, 'copy-early'), { signal: early2.signal })
  early2.abort()
  await t.rejects(p2, { name: 'AbortError' })
  t.notOk(fs.existsSync(path.join(dir, 'copy-early')), 'copyDir created nothing')
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

// The walker makes directories ahead of the copy threads (a batch of them,
// each held open until its files are placed): the batch is bounded by the
// descriptor limit, so an import of many directories under a low limit
// places everything instead of failing with EMFILE. Then an abort while
// the walker is handing a batch over still ends the call.
for (const fsName of ['btrfs', 'tmpfs']) {
  onFs(t, fsName, 'directories made ahead stay within the descriptor limit; an abort ends the call', async (t, dir) => {
    const store = path.join(dir, 'store')
    fs.mkdirSync(store)
    const files = [0, 1, 2].map((i) => {
      const f = path.join(store, `f${i}`)
      fs.writeFileSync(f, `content ${i}\n`.repeat(100))
      return f
    })
    const entries = []
    for (let d = 0; d < 400; d++) for (let i = 0; i < 3; i++) entries.push([`d${d}/sub/f${i}`, files[i]])
    const dest = path.join(dir, 'dest')
    const script = `
      import { importFiles } from 'cowcopy'
      import * as fs from 'node:fs'
      const entries = ${JSON.stringify(entries)}
      const r = await importFiles(${JSON.stringify(dest)}, entries, { concurrency: 2 })
      // Aborted once its first directories exist: the walker is then
      // making directories or waiting for the copy threads to close some.
      const ac = new AbortController()
      const dest2 = ${JSON.stringify(dest)} + '2'
      const many = []
      for (let d = 0; d < 4000; d++) many.push([\`d\${d}/f\`, entries[0][1]])
      const watch = () => { if (fs.existsSync(dest2 + '/d0')) ac.abort(); else setImmediate(watch) }
      setImmediate(watch)
      let aborted
      try {
        await importFiles(dest2, many, { concurrency: 2, signal: ac.signal })
      } catch (err) { aborted = err.name }
      console.log(JSON.stringify({ files: r.files, errors: r.errors.map((e) => e.error.code), aborted }))
    `
    const run = spawnSync('prlimit', ['--nofile=64:64', process.execPath, '--input-type=module', '-e', script],
      { encoding: 'utf8', cwd: process.cwd(), timeout: 60_000 })
    t.equal(run.status, 0, run.stderr)
    const r = JSON.parse(run.stdout)
    t.same(r.errors, [], 'no EMFILE (or any error) under a 64-descriptor limit')
    t.equal(r.files, entries.length, 'every entry placed')
    for (const [rel, src] of [entries[0], entries[entries.length - 1]]) {
      t.ok(fs.readFileSync(path.join(dest, rel)).equals(fs.readFileSync(src)), `${rel}: same bytes`)
    }
    t.equal(fs.readdirSync(dest).length, 400, 'every directory made')
    t.equal(r.aborted, 'AbortError', 'an abort while batches are handed over rejects the call')
  })
}

// A package manager's file index is often a plain object read from JSON.
t.test('entries as a plain object { relPath: src }; other objects are refused', async (t) => {
  const dirs = needMounts(t, 'ext4')
  if (!dirs) return
  const dir = fs.mkdtempSync(path.join(dirs[0], 'import-object-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, 'a'), 'a-bytes')
  fs.writeFileSync(path.join(dir, 'b'), 'b-bytes')
  const index = JSON.parse(JSON.stringify({ 'package.json': path.join(dir, 'a'), 'lib/index.js': path.join(dir, 'b') }))
  const r = await importFiles(path.join(dir, 'pkg'), index, { marker: 'package.json' })
  t.same(r.errors, [])
  t.equal(r.files, 2)
  t.equal(fs.readFileSync(path.join(dir, 'pkg', 'lib', 'index.js'), 'utf8'), 'b-bytes')
  t.equal(fs.readFileSync(path.join(dir, 'pkg', 'package.json'), 'utf8'), 'a-bytes')
  // Not an iterable and not a plain object: a Date, a class instance.
  for (const bad of [new Date(), new (class Index {})()]) {
    await t.rejects(importFiles(path.join(dir, 'other'), bad), { code: 'ERR_INVALID_ARG_TYPE', message: /plain object/ })
  }
  t.notOk(fs.existsSync(path.join(dir, 'other')), 'nothing made for a refused manifest')
})

// The entry a bad manifest's rejection names, by the rule docs/api.md
// states: the first entry whose relPath an earlier one has; else the file
// whose path is the first directory met (in entry order, parents first)
// that is also a file. The native engine finds these by sorting, the
// portable one in lib/: both must name the same entry. Random manifests
// from a fixed seed over a few names, as strings and Buffers.
function expectedBadEntry(rels) {
  const keys = rels.map((r) => Buffer.from(r).toString('latin1'))
  const seen = new Map()
  for (let i = 0; i < keys.length; i++) {
    if (seen.has(keys[i])) return `entries[${i}][0]' is listed twice`
    seen.set(keys[i], i)
  }
  const met = new Set()
  for (const key of keys) {
    const parts = key.split('/')
    for (let d = 1; d < parts.length; d++) {
      const dir = parts.slice(0, d).join('/')
      if (met.has(dir)) continue
      met.add(dir)
      if (seen.has(dir)) return `entries[${seen.get(dir)}][0]' is a file and also the directory`
    }
  }
  return null
}

t.test('a bad manifest names the entry the rule says, on random manifests', async (t) => {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'cowcopy-test-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'x')
  let seed = 20261207
  const rnd = (n) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n
  const names = ['a', 'b', 'a-b', 'é', '\ufffd', '\ud800']
  let bad = 0
  const mismatched = []
  for (let run = 0; run < 300; run++) {
    const rels = Array.from({ length: 1 + rnd(7) }, () => Array.from({ length: 1 + rnd(3) }, () => names[rnd(names.length)]).join('/'))
    const entries = rels.map((r) => [rnd(3) === 0 ? Buffer.from(r) : r, src])
    const want = expectedBadEntry(rels)
    const dest = path.join(dir, `d${run}`)
    let got = null
    try {
      await importFiles(dest, entries)
    } catch (err) {
      got = err.code === 'ERR_INVALID_ARG_VALUE' ? err.message : `${err.code} ${err.message}`
    }
    if (want) bad++
    if (want ? !(got && got.includes(want)) : got !== null) mismatched.push({ rels, want, got })
    if (want) t.notOk(fs.existsSync(dest), `run ${run}: nothing created`)
    fs.rmSync(dest, { recursive: true, force: true })
  }
  t.ok(bad > 50 && bad < 250, `both kinds of manifest were tried (${bad} of 300 bad)`)
  t.same(mismatched.slice(0, 3), [], 'every rejection names the entry the rule gives, and no good manifest is refused')
})
