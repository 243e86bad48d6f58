// copyDir on every filesystem and across filesystems: the copied tree equals
// the source in type, mode, link target and bytes; on btrfs/XFS every file
// shares its extents. Plus: filters, skipped types, refusals before anything
// is created, abort, fd leaks and memory for 100 000 files.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyDir } from 'cowcopy'
import { COW_FS, diffTrees, listFiles, makeTree, needMounts, onFs, openFds, unsharedFiles } from '../helpers.mjs'
import { DEFAULT_THREADS, MEMORY_BOUND_MIB } from '../engines.mjs'

for (const fsName of ['btrfs', 'xfs', 'ext4', 'tmpfs']) {
  onFs(t, fsName, 'a node_modules-like tree', async (t, dir) => {
    const src = path.join(dir, 'src')
    const files = makeTree(src, { packages: 100, filesPerPackage: 30 })
    execFileSync('mkfifo', [path.join(src, 'odd names', 'a-fifo')])
    t.ok(files >= 3000, `${files} files`)
    const dest = path.join(dir, 'dest')
    const fdsBefore = openFds()
    const r = await copyDir(src, dest)
    t.same(openFds(), fdsBefore, 'no descriptor leaked')
    t.equal(r.threads, DEFAULT_THREADS, 'the measured default number of copy threads')
    t.equal(r.files, files, 'every file copied')
    t.equal(r.symlinks, 300, 'every symlink recreated')
    t.same(r.errors, [])
    t.same(r.skipped, [{ path: path.join(src, 'odd names', 'a-fifo'), type: 'fifo' }], 'the FIFO skipped and reported')
    fs.unlinkSync(path.join(src, 'odd names', 'a-fifo'))
    t.same(diffTrees(src, dest), [], 'same types, modes, link targets and bytes')
    if (COW_FS.includes(fsName)) {
      t.equal(r.methods.clone, files, 'all cloned')
      t.same(unsharedFiles(listFiles(dest)), [], 'every file shares its extents (FIEMAP)')
    } else {
      t.equal(r.methods.clone, 0)
    }
  })
}

t.test('across filesystems: btrfs -> xfs and ext4 -> tmpfs', async (t) => {
  for (const [from, to] of [['btrfs', 'xfs'], ['ext4', 'tmpfs']]) {
    const dirs = needMounts(t, from, to)
    if (!dirs) continue
    const src = fs.mkdtempSync(path.join(dirs[0], 'tree-'))
    const dest = path.join(fs.mkdtempSync(path.join(dirs[1], 'tree-')), 'copy')
    t.teardown(() => {
      fs.rmSync(src, { recursive: true, force: true })
      fs.rmSync(path.dirname(dest), { recursive: true, force: true })
    })
    const files = makeTree(src, { packages: 20, filesPerPackage: 10 })
    const r = await copyDir(src, dest)
    t.equal(r.files, files, `${from} -> ${to}: every file`)
    t.equal(r.methods.clone, 0, `${from} -> ${to}: no clone across filesystems`)
    t.same(diffTrees(src, dest), [], `${from} -> ${to}: trees equal`)
  }
})

onFs(t, 'xfs', 'listFiles: every copied file with its method', async (t, dir) => {
  const src = path.join(dir, 'src')
  const files = makeTree(src, { packages: 3, filesPerPackage: 5 })
  const r = await copyDir(src, path.join(dir, 'dest'), { listFiles: true, concurrency: 2 })
  t.equal(r.copied.length, files)
  t.ok(r.copied.every((c) => c.method === 'clone' && c.src.startsWith(src + '/') && c.dest === c.src.replace(src, path.join(dir, 'dest'))))
  t.equal(r.copied.reduce((n, c) => n + c.bytes, 0), r.bytes)
  const plain = await copyDir(src, path.join(dir, 'dest2'))
  t.equal(plain.copied, undefined, 'not listed unless asked')
})

for (const fsName of ['xfs', 'ext4']) {
  // 1: the walker copies; more: it only walks, up to 64 chunks ahead, while
  // the copy threads drain the queue (a tree of 250 directories fills it).
  onFs(t, fsName, 'the same tree at 1, 2 and 5 copy threads', async (t, dir) => {
    const src = path.join(dir, 'src')
    const files = makeTree(src, { packages: 50, filesPerPackage: 12 })
    for (const concurrency of [1, 2, 5]) {
      const dest = path.join(dir, `dest-${concurrency}`)
      const fdsBefore = openFds()
      const r = await copyDir(src, dest, { concurrency })
      t.same(openFds(), fdsBefore, `${concurrency}: no descriptor leaked`)
      t.equal(r.threads, concurrency, `${concurrency}: copy threads`)
      t.equal(r.files, files, `${concurrency}: every file`)
      t.same(r.errors, [])
      t.same(diffTrees(src, dest), [], `${concurrency}: trees equal`)
    }
  })
}

onFs(t, 'btrfs', "reflink 'never' in a tree: real copies", async (t, dir) => {
  const src = path.join(dir, 'src')
  makeTree(src, { packages: 5, filesPerPackage: 8 })
  const r = await copyDir(src, path.join(dir, 'dest'), { reflink: 'never' })
  t.equal(r.methods.clone + r.methods.copy_file_range, 0)
  t.same(diffTrees(src, path.join(dir, 'dest')), [])
  const files = listFiles(path.join(dir, 'dest')).filter((f) => fs.statSync(f).size > 8192)
  t.same(unsharedFiles(files), files, 'no file shares its extents')
})

onFs(t, 'ext4', 'filter: a skipped directory takes its subtree, a throwing filter rejects', async (t, dir) => {
  const src = path.join(dir, 'src')
  makeTree(src, { packages: 4, filesPerPackage: 4 })
  const seen = []
  // A trailing slash on the source must not shift the relative paths.
  const r = await copyDir(src + '/', path.join(dir, 'dest'), {
    filter: (rel, entry) => {
      seen.push([rel, entry.isDirectory(), entry.isFile(), entry.isSymbolicLink(), entry.name, entry.parentPath])
      return !(entry.isDirectory() && entry.name === 'lib') && !rel.endsWith('package.json')
    },
  })
  t.notOk(fs.existsSync(path.join(dir, 'dest', 'node_modules', 'pkg-1', 'lib')), 'lib/ left out')
  t.notOk(fs.existsSync(path.join(dir, 'dest', 'node_modules', 'pkg-1', 'package.json')))
  t.ok(fs.existsSync(path.join(dir, 'dest', 'node_modules', 'pkg-1', 'file-0.js')))
  t.ok(seen.some(([rel, isDir, , , name, parent]) => rel === 'node_modules/pkg-1/lib' && isDir && name === 'lib' && parent === 'node_modules/pkg-1'))
  t.notOk(seen.some(([rel]) => rel.includes('/lib/')), 'nothing under a skipped directory was asked')
  t.same(seen[0].slice(0, 2), ['', true], 'the root asked first, as a directory')
  t.ok(seen.slice(1).every(([rel]) => rel.startsWith('node_modules') || rel.startsWith('odd names') || rel === 'bin'), 'paths relative to the root')
  t.ok(seen.some(([rel, , , isLink]) => rel.endsWith('main.js') && isLink))
  t.equal(r.files, 4 * 2, 'pkg files outside lib/, minus package.json')
  const boom = new Error('filter says no')
  await t.rejects(copyDir(src, path.join(dir, 'dest2'), { filter: () => { throw boom } }), boom)
})

onFs(t, 'ext4', 'refused before anything is created', async (t, dir) => {
  const src = path.join(dir, 'src')
  makeTree(src, { packages: 2, filesPerPackage: 2 })
  fs.writeFileSync(path.join(dir, 'file'), 'x')
  const before = fs.readdirSync(dir).sort()
  const srcBefore = diffTrees(src, src)
  await t.rejects(copyDir(src, path.join(src, 'node_modules', 'inside')), {
    code: 'EINVAL', syscall: 'copydir', message: /cannot copy a directory into itself/,
  })
  await t.rejects(copyDir(src, src), { code: 'EINVAL' })
  await t.rejects(copyDir(src, path.join(dir, 'file')), { code: 'ENOTDIR', message: /destination is not a directory/ })
  // A file source is copied as fs.cp copies it (test/fs-compat/cp-parity.test.mjs), but never onto a directory.
  await t.rejects(copyDir(path.join(dir, 'file'), src), { code: 'EISDIR', message: /cannot overwrite a directory with a non-directory/ })
  await t.rejects(copyDir(path.join(dir, 'missing'), path.join(dir, 'x')), { code: 'ENOENT', syscall: 'copydir' })
  await t.rejects(copyDir(src, path.join(dir, 'x'), { atomic: true }), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(copyDir(src, path.join(dir, 'x'), { concurrency: 0 }), { code: 'ERR_OUT_OF_RANGE' })
  t.same(fs.readdirSync(dir).sort(), before, 'nothing created')
  t.same(srcBefore, [])
  t.notOk(fs.existsSync(path.join(src, 'node_modules', 'inside')))
})

onFs(t, 'ext4', 'overwrite: false merges into an existing tree and reports each clash', async (t, dir) => {
  const src = path.join(dir, 'src')
  const files = makeTree(src, { packages: 3, filesPerPackage: 3 })
  const dest = path.join(dir, 'dest')
  await copyDir(src, dest)
  const r = await copyDir(src, dest, { overwrite: false })
  t.equal(r.files, 0)
  t.equal(r.errors.length, files + 9, 'every file and symlink clashes')
  t.ok(r.errors.every((e) => e.error.code === 'EEXIST'))
  const again = await copyDir(src, dest)
  t.equal(again.files, files, 'overwrite (the default) replaces')
  t.same(again.errors, [])
  t.same(diffTrees(src, dest), [])
})

onFs(t, 'ext4', 'abort in the middle: AbortError, no half-written file', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  for (let i = 0; i < 64; i++) fs.writeFileSync(path.join(src, `f${i}`), Buffer.alloc(8 << 20, i))
  // Written back and dropped from the cache, so the copy reads from disk.
  execFileSync('sync', ['-f', src])
  fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
  const ac = new AbortController()
  const dest = path.join(dir, 'dest')
  const p = copyDir(src, dest, { signal: ac.signal, reflink: 'never', concurrency: 1 })
  // Aborted once the first file is in place, not after a fixed delay: on a
  // loaded machine a timer can fire before the copy has made dest at all.
  const started = setInterval(() => {
    try {
      if (fs.readdirSync(dest).length > 0) { clearInterval(started); ac.abort() }
    } catch {}
  }, 2)
  const err = await p.catch((e) => e)
  clearInterval(started)
  t.equal(err?.name, 'AbortError')
  t.equal(err?.code, 'ABORT_ERR')
  const copied = fs.readdirSync(path.join(dir, 'dest'))
  t.ok(copied.length < 64, `stopped early (${copied.length} of 64 files)`)
  for (const f of copied) {
    t.ok(fs.readFileSync(path.join(dir, 'dest', f)).equals(fs.readFileSync(path.join(src, f))), `${f} is complete`)
  }
})

onFs(t, 'tmpfs', '100 000 files: memory stays bounded', async (t, dir) => {
  const src = path.join(dir, 'src')
  for (let d = 0; d < 100; d++) {
    const sub = path.join(src, `d${d}`)
    fs.mkdirSync(sub, { recursive: true })
    for (let f = 0; f < 1000; f++) fs.writeFileSync(path.join(sub, `f${f}`), 'x')
  }
  globalThis.gc?.()
  const before = process.memoryUsage().rss
  const r = await copyDir(src, path.join(dir, 'dest'))
  const grew = (process.memoryUsage().rss - before) / 2 ** 20
  t.equal(r.files, 100000)
  t.comment(`RSS grew ${grew.toFixed(1)} MiB`)
  t.ok(grew < MEMORY_BOUND_MIB, `RSS growth ${grew.toFixed(1)} MiB < ${MEMORY_BOUND_MIB} MiB`)
  t.equal(fs.readdirSync(path.join(dir, 'dest', 'd99')).length, 1000)
})

// On btrfs the walker makes up to 256 directories before handing their files
// to the copy threads (in batches: this tree needs three). Every file and
// directory arrives, each directory with its source's mode once its files
// are in, and an abort during the batches still ends the call.
onFs(t, 'btrfs', 'directories made ahead in batches: the whole tree, modes, abort', async (t, dir) => {
  const src = path.join(dir, 'src')
  for (let d = 0; d < 700; d++) {
    const sub = path.join(src, `d${d}`, 'lib')
    fs.mkdirSync(sub, { recursive: true })
    fs.writeFileSync(path.join(sub, 'index.js'), `module ${d}\n`.repeat(d % 50 + 1))
    fs.writeFileSync(path.join(src, `d${d}`, 'package.json'), `{"name":"d${d}"}\n`)
    fs.chmodSync(sub, d % 2 ? 0o750 : 0o755)
  }
  const fds = openFds()
  const r = await copyDir(src, path.join(dir, 'dest'), { concurrency: 2 })
  t.same(openFds(), fds, 'no descriptor leaked')
  t.same(r.errors, [])
  t.equal(r.files, 1400)
  t.same(diffTrees(src, path.join(dir, 'dest')), [], 'same types, modes and bytes')
  const ac = new AbortController()
  const p = copyDir(src, path.join(dir, 'dest2'), { concurrency: 2, signal: ac.signal })
  setImmediate(() => ac.abort())
  await t.rejects(p, { name: 'AbortError' })
  t.same(openFds(), fds, 'no descriptor leaked by the aborted copy')
})

// copyDir(src, dest, { concurrency: 2 }) in a child node under prlimit
// --nofile=N:N; spawnSync's result, stdout { files, errors: [code] }.
function copyDirUnderNofile(src, dest, nofile) {
  const script = `
    import { copyDir } from 'cowcopy'
    const r = await copyDir(${JSON.stringify(src)}, ${JSON.stringify(dest)}, { concurrency: 2 })
    console.log(JSON.stringify({ files: r.files, errors: r.errors.map((e) => e.error.code) }))
  `
  return spawnSync('prlimit', [`--nofile=${nofile}:${nofile}`, process.execPath, '--input-type=module', '-e', script],
    { encoding: 'utf8', cwd: process.cwd(), timeout: 60_000 })
}

// Each queued chunk of files holds its directory pair open: with few
// descriptors left the queue is shorter, so a low limit never fails
// entries with EMFILE (a fixed 64-chunk queue would, under
// `prlimit --nofile=64`).
for (const fsName of ['btrfs', 'tmpfs']) {
  onFs(t, fsName, 'a low descriptor limit: every file copied, no EMFILE', async (t, dir) => {
    const src = path.join(dir, 'src')
    for (let d = 0; d < 400; d++) {
      fs.mkdirSync(path.join(src, `d${d}`, 'sub'), { recursive: true })
      fs.writeFileSync(path.join(src, `d${d}`, 'sub', 'f'), `file ${d}\n`)
      fs.writeFileSync(path.join(src, `d${d}`, 'g'), `other ${d}\n`)
    }
    const dest = path.join(dir, 'dest')
    const run = copyDirUnderNofile(src, dest, 64)
    t.equal(run.status, 0, run.stderr)
    const r = JSON.parse(run.stdout)
    t.same(r.errors, [], 'no EMFILE (or any error) under a 64-descriptor limit')
    t.equal(r.files, 800, 'every file copied')
    t.same(diffTrees(src, dest), [], 'same types, modes and bytes')
  })
}

// destDir's missing parents are made as mkdir -p (and fs.cp) make them; a
// call that then fails as a whole removes the ones it made (while empty).
t.test("destDir's missing parents are made, and removed again when the call fails", async (t) => {
  const dirs = needMounts(t, 'ext4')
  if (!dirs) return
  const dir = fs.mkdtempSync(path.join(dirs[0], 'parents-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.mkdirSync(path.join(dir, 'src', 'sub'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'src', 'sub', 'f'), 'bytes')
  const r = await copyDir(path.join(dir, 'src'), path.join(dir, 'a', 'b', 'c', 'dest'))
  t.same(r.errors, [])
  t.equal(fs.readFileSync(path.join(dir, 'a', 'b', 'c', 'dest', 'sub', 'f'), 'utf8'), 'bytes')
  // A file as the source: the same.
  const r2 = await copyDir(path.join(dir, 'src', 'sub', 'f'), path.join(dir, 'm', 'n', 'f'))
  t.equal(r2.files, 1)
  t.equal(fs.readFileSync(path.join(dir, 'm', 'n', 'f'), 'utf8'), 'bytes')
  // The whole call fails (a source nobody can read, as uid 65534): no parent is left.
  fs.chmodSync(dir, 0o777)
  fs.mkdirSync(path.join(dir, 'locked'), { mode: 0o000 })
  fs.chmodSync(path.join(dir, 'locked'), 0o000)
  const code = `
    try { await c.copyDir(args[0], args[1]); report('copied') } catch (e) { report(e.code) }`
  const { runChild, NOBODY } = await import('../portable/child.mjs')
  const { native } = await import('cowcopy')
  // This Node must be one uid 65534 may run (a Node unpacked under root's
  // 0700 cache is not: then this part is for the run on the system's Node).
  const probe = spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'env', process.execPath, '--version'])
  if (probe.status !== 0) return t.skip(`uid ${NOBODY} cannot run ${process.execPath}`)
  const out = await runChild(code, { native, uid: NOBODY, args: [path.join(dir, 'locked'), path.join(dir, 'x', 'y', 'dest')] })
  t.equal(out.result, 'EACCES', out.stderr)
  t.notOk(fs.existsSync(path.join(dir, 'x')), 'the parents it made are gone')
  // A destDir spelled with '.' and '..' (as given, not normalized): mkdir -p
  // walks it by name, so 'p/.' and 'r/..' are on the way up but are not
  // directories it made; p and r, which it made, go too.
  for (const [dest, made] of [[`${dir}/p/./q/dest`, ['p']], [`${dir}/r/../s/t/dest`, ['r', 's']]]) {
    const again = await runChild(code, { native, uid: NOBODY, args: [path.join(dir, 'locked'), dest] })
    t.equal(again.result, 'EACCES', again.stderr)
    for (const name of made) t.notOk(fs.existsSync(path.join(dir, name)), `${dest}: ${name}, which it made, is gone`)
  }
})

// On btrfs copyDir holds file chunks back until a batch of directories is
// made. Each held chunk keeps its directory open, and with it every
// ancestor (a DirNode holds its parent): a batch counts the directories it
// keeps open, not only those with files. Files only at the ends of deep,
// unshared branches (.pnpm/<pkg>/node_modules/<pkg>/...) are the case.

for (const fsName of ['btrfs', 'xfs']) {
  onFs(t, fsName, 'files only at the ends of deep branches: no EMFILE under a low limit', async (t, dir) => {
    const src = path.join(dir, 'src')
    for (let b = 0; b < 300; b++) {
      const leaf = path.join(src, `b${b}`, 'l2', 'l3', 'l4', 'l5', 'l6')
      fs.mkdirSync(leaf, { recursive: true })
      fs.writeFileSync(path.join(leaf, 'f'), `file ${b}\n`)
    }
    const dest = path.join(dir, 'dest')
    const run = copyDirUnderNofile(src, dest, 1024)
    t.equal(run.status, 0, run.stderr)
    const r = JSON.parse(run.stdout)
    t.same(r.errors, [], 'no EMFILE (or any error) under a 1024-descriptor limit')
    t.equal(r.files, 300, 'every file copied')
    t.same(diffTrees(src, dest), [], 'same types, modes and bytes')
  })
}
