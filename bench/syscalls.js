'use strict'
// System calls per file and per directory, by name, read with strace (never
// guessed): `node bench/syscalls.js [--fs xfs,btrfs,ext4] [--only REGEX]
// [--files N] [--threads N] [--keep]`. On each filesystem it runs, each in a child
// process under `strace -ff -ttt -y`,
// - copyDir of the bench/tree.js tree (10 000 files by default),
// - importFiles of the bench/store.js store (every package in one call;
//   link: ['clone'] on btrfs/XFS, ['copy'] on ext4, and ['hardlink']),
// with this checkout's build, with COWCOPY_BENCH_BASELINE's build when that
// is set (docs/benchmarks.md), and the C loop with the same checks
// (bench/c-loop.c's checked mode) doing the same job. Only the calls between
// two marks made around the copy count (a stat, or the C loop's access(), of
// two names that do not exist), on every thread. Each call is charged to what it
// touches (its path arguments, resolved against the directory descriptor
// before them, and the paths strace -y prints for descriptors): a file of
// the job (its source or its destination), a directory (source or
// destination, the roots included), a symlink; the rest (futex, mmap, the
// JS layer's own calls on other paths...) is counted as it is. A failed call
// is its own row ("mkdir → EEXIST"). The store's copy on each mount is
// removed at the end unless --keep (as bench/store.js). Needs strace
// (apt-get install strace).
const { execFileSync, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const MARK = '/cowcopy-syscalls'

// ---------------------------------------------------------------------------
// The child: one copy between the two marks, its result on stdout.
async function child(specFile) {
  const spec = JSON.parse(fs.readFileSync(specFile, 'utf8'))
  const { loadBaseline, thisBuild } = require('./common')
  const lib = spec.build === 'baseline' ? loadBaseline().lib : thisBuild().lib
  await fs.promises.stat('/') // libuv's pool started before the window
  let entries
  if (spec.op === 'importFiles') entries = new Map(JSON.parse(fs.readFileSync(spec.entries, 'utf8')))
  const mark = (m) => fs.statSync(`${MARK}-${m}`, { throwIfNoEntry: false })
  mark('begin')
  const r = spec.op === 'copyDir' ? await lib.copyDir(spec.src, spec.dest) : await lib.importFiles(spec.dest, entries, { link: [spec.method] })
  mark('end')
  process.stdout.write(JSON.stringify({ files: r.files, dirs: r.dirs, symlinks: r.symlinks, threads: r.threads, methods: r.methods, errors: r.errors.map((e) => `${e.src}: ${e.error.message}`).slice(0, 3), nerrors: r.errors.length }))
}

if (process.argv[2] === '--child') {
  child(process.argv[3]).catch((err) => {
    console.error(err)
    process.exit(1)
  })
  return
}

// ---------------------------------------------------------------------------
const { buildCLoop, fsType, loadBaseline, needTestMounts, thisBuild } = require('./common')
const { checkedTreeList, makeTree } = require('./tree')
const store = require('./store')
const { splitArgs } = require('../test/strace-args.cjs')

function parseArgs(argv) {
  const a = { fs: ['btrfs', 'xfs', 'ext4'], only: null, files: Number(process.env.TREE_FILES || 10000), threads: 2, keep: false }
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i]
    if (v === '--fs') a.fs = argv[++i].split(',')
    else if (v === '--only') a.only = new RegExp(argv[++i])
    else if (v === '--files') a.files = Number(argv[++i])
    else if (v === '--threads') a.threads = Number(argv[++i])
    else if (v === '--keep') a.keep = true
    else throw new Error(`unknown argument ${v} (--fs xfs,btrfs,ext4, --only REGEX, --files N, --threads N, --keep)`)
  }
  if (!(a.files >= 1) || !(a.threads >= 1)) throw new Error('--files, --threads: positive numbers')
  return a
}

// ---------------------------------------------------------------------------
// strace's lines. With -ff each thread has its own file, so no call is split
// over two lines; -ttt stamps each line, which places it against the marks.

const unquote = (q) => q.slice(1, q.lastIndexOf('"')).replace(/\\(["\\])/g, '$1')

// The paths one call touches: a descriptor's path on its own, a name an
// *at call resolves against the descriptor before it, an absolute path. Not
// paths: a symlink's target, readlink's answer, an xattr's name.
const FD = /^(?:-?\d+|AT_FDCWD)<(.*)>$/
function touched(name, args) {
  const at = /at2?$/.test(name) || name === 'statx'
  const skip = { symlink: 0, symlinkat: 0, readlink: 1, readlinkat: 2 }[name]
  const isName = (i) => i < args.length && i !== skip && args[i].startsWith('"')
  const paths = []
  for (let i = 0; i < args.length; i++) {
    if (i === skip) continue
    const fd = FD.exec(args[i])
    if (fd) {
      if (!(at && isName(i + 1))) paths.push(fd[1])
    } else if (isName(i)) {
      const str = unquote(args[i])
      const dir = at && i > 0 ? FD.exec(args[i - 1]) : null
      if (dir) paths.push(str === '' ? dir[1] : str.startsWith('/') ? str : `${dir[1]}/${str}`)
      else if (str.startsWith('/')) paths.push(str)
    }
  }
  return paths
}

// Counts by category (file, dir, symlink, other) and row name, and the
// threads seen, between the marks in the traces `prefix`.*.
function count(prefix, known) {
  const dir = path.dirname(prefix)
  const base = path.basename(prefix)
  const files = fs.readdirSync(dir).filter((f) => f.startsWith(`${base}.`)).map((f) => path.join(dir, f))
  const calls = []
  let begin = Infinity
  let end = -Infinity
  for (const f of files) {
    const tid = f.slice(f.lastIndexOf('.') + 1)
    for (const line of fs.readFileSync(f, 'utf8').split('\n')) {
      const m = /^(\d+\.\d+) (\w+)\((.*)\)\s+= (.*)$/.exec(line)
      if (!m) continue
      const [, ts, name, rawArgs, ret] = m
      const t = Number(ts)
      if (rawArgs.includes(`"${MARK}-begin"`)) begin = Math.min(begin, t)
      else if (rawArgs.includes(`"${MARK}-end"`)) end = Math.max(end, t)
      else calls.push({ t, tid, name, rawArgs, ret })
    }
  }
  if (!(begin < end)) throw new Error(`no marks in the traces ${prefix}.*`)
  const rows = { file: new Map(), dir: new Map(), symlink: new Map(), other: new Map() }
  const threads = new Set()
  for (const c of calls) {
    if (c.t < begin || c.t > end) continue
    threads.add(c.tid)
    const args = splitArgs(c.rawArgs)
    let key = c.name
    if (c.name === 'ioctl') key = `ioctl(${/FICLONE\b/.test(args[1] || '') ? 'FICLONE' : (args[1] || '?').split(' ')[0]})`
    const err = /^-1 (E\w+)/.exec(c.ret)
    if (err) key += ` → ${err[1]}`
    const kinds = touched(c.name, args).map((p) => known.get(p))
    const cat = kinds.includes('file') ? 'file' : kinds.includes('symlink') ? 'symlink' : kinds.includes('dir') ? 'dir' : 'other'
    rows[cat].set(key, (rows[cat].get(key) || 0) + 1)
  }
  return { rows, threads: threads.size }
}

function strace(prefix, argv, env) {
  const r = spawnSync('strace', ['-ff', '-ttt', '-y', '-o', prefix, ...argv], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 64 << 20 })
  if (r.status !== 0) throw new Error(`${argv.join(' ')} under strace: exit ${r.status}\n${r.stderr}`)
  return r.stdout
}

// ---------------------------------------------------------------------------
// The jobs: what is copied, which paths are whose, how each contender runs it.
function treeJob(work, files) {
  const src = `${fs.realpathSync(work)}/src`
  const tree = makeTree(src, files)
  const dest = `${fs.realpathSync(work)}/dest`
  const known = new Map()
  for (const root of [src, dest]) {
    known.set(root, 'dir')
    for (const d of tree.dirs) known.set(`${root}/${d}`, 'dir')
    for (const f of tree.files) known.set(`${root}/${f}`, 'file')
    for (const [, l] of tree.links) known.set(`${root}/${l}`, 'symlink')
  }
  return {
    name: `copyDir of the bench/tree.js tree`,
    what: `${tree.files.length} files, ${tree.dirs.length + 1} directories (the root too), ${tree.links.length} symlinks`,
    counts: { file: tree.files.length, dir: tree.dirs.length + 1, symlink: tree.links.length },
    dest, known,
    spec: { op: 'copyDir', src, dest },
    cList: () => checkedTreeList(src, dest, tree),
  }
}

function storeJobs(work, storeDir, derived, cow) {
  const job = store.jobFor(fs.realpathSync(storeDir), derived)
  const dest = `${fs.realpathSync(work)}/dest`
  const known = new Map()
  for (const d of job.dirs) known.set(d ? `${dest}/${d}` : dest, 'dir')
  const entries = []
  for (const p of job.packages) {
    for (const [rel, s] of p.entries) {
      entries.push([`${p.rel}/${rel}`, s])
      known.set(`${dest}/${p.rel}/${rel}`, 'file')
      known.set(s, 'file')
    }
  }
  const entriesFile = path.join(work, 'entries.json')
  fs.writeFileSync(entriesFile, JSON.stringify(entries))
  return (cow ? ['clone', 'hardlink'] : ['copy', 'hardlink']).map((method) => ({
    name: `importFiles of the bench/store.js store, one call, link: ['${method}']`,
    what: `${entries.length} files, ${job.dirs.length} directories (the root too), ${job.packages.length} packages`,
    counts: { file: entries.length, dir: job.dirs.length, symlink: 0 },
    dest, known,
    spec: { op: 'importFiles', dest, method, entries: entriesFile },
    cList: () => {
      const f = path.join(work, 'store-list.txt')
      store.writeCList(f, dest, job, method, true)
      return fs.readFileSync(f, 'utf8')
    },
  }))
}

function runJob(work, job, contender, cBin, threads) {
  fs.rmSync(job.dest, { recursive: true, force: true })
  execFileSync('sync', ['-f', work])
  const traces = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-strace-'))
  try {
    const prefix = path.join(traces, 't')
    let result
    if (contender === 'c') {
      const list = path.join(work, 'c-list.txt')
      fs.writeFileSync(list, job.cList())
      strace(prefix, [cBin, list, String(threads)], { COWCOPY_C_LOOP_MARK: MARK })
      result = { threads }
    } else {
      const specFile = path.join(work, 'spec.json')
      fs.writeFileSync(specFile, JSON.stringify({ ...job.spec, build: contender }))
      result = JSON.parse(strace(prefix, [process.execPath, __filename, '--child', specFile]))
      if (result.nerrors) throw new Error(`${job.name} (${contender} build): ${result.nerrors} errors, first: ${result.errors.join('; ')}`)
      if (result.files !== job.counts.file) throw new Error(`${job.name} (${contender} build): ${result.files} files, expected ${job.counts.file}`)
    }
    return { ...count(prefix, job.known), result }
  } finally {
    fs.rmSync(traces, { recursive: true, force: true })
    fs.rmSync(job.dest, { recursive: true, force: true })
  }
}

// One table per category: a row per call, a column per contender.
function tables(kind, job, columns) {
  const out = [`### ${kind}: ${job.name}\n\n${job.what}. ${columns.map((c) => `${c.label}: ${c.threads} threads made calls${c.copyThreads ? ` (${c.copyThreads} copy thread${c.copyThreads > 1 ? 's' : ''})` : ''}`).join('; ')}.\n`]
  const fmt = (n) => (n === 0 ? '0' : n >= 100 ? n.toFixed(0) : n >= 0.01 ? n.toFixed(2) : n.toExponential(1))
  for (const [cat, title, per] of [['file', 'per file', job.counts.file], ['dir', 'per directory', job.counts.dir], ['symlink', 'per symlink', job.counts.symlink], ['other', 'not charged to a file, directory or symlink (count in the window)', 1]]) {
    if (!per) continue
    const keys = new Map()
    for (const c of columns) for (const [k, v] of c.rows[cat]) keys.set(k, Math.max(keys.get(k) || 0, v))
    if (keys.size === 0) continue
    const sorted = [...keys.keys()].sort((a, b) => keys.get(b) - keys.get(a) || (a < b ? -1 : 1))
    out.push(`| ${title} | ${columns.map((c) => c.label).join(' | ')} |`)
    out.push(`|---|${columns.map(() => '---:').join('|')}|`)
    for (const k of sorted) out.push(`| ${k} | ${columns.map((c) => fmt((c.rows[cat].get(k) || 0) / per)).join(' | ')} |`)
    const total = (c) => [...c.rows[cat].values()].reduce((a, b) => a + b, 0)
    out.push(`| **all** | ${columns.map((c) => `**${fmt(total(c) / per)}**`).join(' | ')} |`)
    if (cat === 'other') out.push(`| all ÷ files | ${columns.map((c) => fmt(total(c) / job.counts.file)).join(' | ')} |`)
    out.push('')
  }
  return out.join('\n')
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  if (spawnSync('strace', ['-V']).status !== 0) {
    console.error('bench/syscalls.js needs strace (apt-get install strace)')
    process.exit(1)
  }
  const mounts = needTestMounts(opts.fs)
  const cBin = buildCLoop()
  const me = thisBuild()
  const base = loadBaseline()
  const want = store.ensureSeed((why) => {
    console.error(`(the store jobs are left out: ${why})`)
    return null
  })
  const derived = want ? store.deriveEntries() : null
  const contenders = [['this', 'this build'], ...(base ? [['baseline', 'baseline build']] : []), ...(cBin ? [['c', `C loop, same checks, ${opts.threads} thread${opts.threads > 1 ? 's' : ''}`]] : [])]
  console.log(`\nSystem calls by name, per file, per directory and per symlink of each job, read with \`strace -ff\` between two marks around the copy, on every thread (\`node bench/syscalls.js${opts.fs.join(',') !== 'btrfs,xfs,ext4' ? ` --fs ${opts.fs.join(',')}` : ''}${opts.only ? ` --only '${opts.only.source}'` : ''}\`, kernel ${os.release()}, Node ${process.version}). A call is charged to the file, directory or symlink of the job it names (by path, or by a descriptor strace resolves); the C loop is given its list ready-made (no getdents64, no readlinkat).`)
  console.log(`This build: ${me.file} (sources ${me.sourceHash})${base ? `; baseline build: ${base.spec} (sources ${base.sourceHash})` : ''}.\n`)
  for (const mount of mounts) {
    const kind = fsType(mount)
    const cow = kind === 'btrfs' || kind === 'xfs'
    const work = fs.mkdtempSync(path.join(mount, 'cowcopy-syscalls-'))
    let storeDir = null
    try {
      const jobs = [treeJob(work, opts.files)]
      if (derived) {
        storeDir = store.ensureMountCopy(mount, want)
        jobs.push(...storeJobs(work, storeDir, derived, cow))
      }
      for (const job of jobs) {
        if (opts.only && !opts.only.test(job.name)) continue
        const columns = []
        for (const [id, label] of contenders) {
          process.stderr.write(`${kind}: ${job.name}: ${label}\n`)
          const r = runJob(work, job, id, cBin, opts.threads)
          columns.push({ label, rows: r.rows, threads: r.threads, copyThreads: id === 'c' ? undefined : r.result.threads })
        }
        console.log(tables(kind, job, columns))
      }
    } finally {
      execFileSync('rm', ['-rf', work])
      if (storeDir && !opts.keep) execFileSync('rm', ['-rf', storeDir])
    }
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
