// importFiles: a package from a store placed under one directory. Every
// outcome is read back from the real filesystems: bytes, modes, inode
// numbers (a hardlink is the store's inode), shared extents (a clone), the
// directory listing (nothing left by a failed or staged import).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { importFiles, copyDir } from 'cowcopy'
import { allShared, needMounts, onFs, openFds } from '../helpers.mjs'
import { COPY_METHOD, checkPlaced, engineImport, makeStore } from './store.mjs'

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

onFs(t, 'xfs', 'a symlink in the destination is never followed', async (t, dir) => {
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
