'use strict'
// Part of npm run bench: a 10 000-file, node_modules-like tree (most files
// under 8 KiB, a few of 1-4 MiB, nested directories, symlinks) copied on
// btrfs, XFS and ext4 by cowcopy and its peers. Medians of ROUNDS interleaved,
// shuffled rounds; files/s and the ratio to the fastest Node peer and to the
// 1-thread C loop, all measured in the same run. Every contender does the
// whole job inside its time: those that take a list of files (copyFiles, the
// loops, the C loop) make the directories (parents first, one mkdir each)
// and the symlinks first, the way their users have to. One more row, the C
// loop given its directories and symlinks untimed, is the per-file floor.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { randomBytes } = require('node:crypto')
const cowcopy = require('..')
const reflinkPkg = require('@reflink/reflink')
const { fsType, median, needTestMounts, settle, shuffled } = require('./common')

const ROUNDS = Number(process.env.ROUNDS || 9)
const FILES = Number(process.env.TREE_FILES || 10000)
// For experiments: TREE_FS=btrfs,xfs (default btrfs,xfs,ext4); TREE_ONLY=<regexp>
// keeps the contenders whose name matches; TREE_THREADS=1,2,3 adds a copyDir
// row per concurrency.
const TREE_FS = (process.env.TREE_FS || 'btrfs,xfs,ext4').split(',')
const TREE_ONLY = process.env.TREE_ONLY ? new RegExp(process.env.TREE_ONLY) : null
const TREE_THREADS = process.env.TREE_THREADS ? process.env.TREE_THREADS.split(',').map(Number) : []

function makeTree(root) {
  let seed = 7
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
  const files = []
  const dirs = new Set()
  const links = []
  const blob = randomBytes(4 << 20)
  for (let i = 0; i < FILES; i++) {
    const pkg = `node_modules/pkg-${Math.floor(i / 40)}`
    const sub = ['', 'lib', 'lib/util', 'dist/esm'][i % 4]
    const dir = path.join(pkg, sub)
    const r = rand()
    const size = r < 0.005 ? (1 + Math.floor(rand() * 4)) << 20 : r < 0.9 ? Math.floor(rand() * 8192) : 8192 + Math.floor(rand() * 65536)
    const rel = path.join(dir, `f${i}.js`)
    fs.mkdirSync(path.join(root, dir), { recursive: true })
    for (let d = dir; d !== '.' && !dirs.has(d); d = path.dirname(d)) dirs.add(d)
    const start = Math.floor(rand() * (blob.length - size))
    fs.writeFileSync(path.join(root, rel), blob.subarray(start, start + size))
    if (i % 7 === 0) fs.chmodSync(path.join(root, rel), 0o755)
    files.push(rel)
    if (i % 40 === 0) {
      fs.symlinkSync('lib/f1.js', path.join(root, pkg, 'main.js'))
      links.push(['lib/f1.js', path.join(pkg, 'main.js')])
    }
  }
  // Parents before children: a path sorts after its own prefix.
  return { files, dirs: [...dirs].sort(), links }
}



// A benchmark of a copy that failed part-way would flatter it: stop instead.
async function checked(promise) {
  const r = await promise
  if (r.errors.length) throw new Error(`the copy reported ${r.errors.length} errors, first: ${r.errors[0].error.message}`)
  return r
}

async function inFlight(n, items, fn) {
  let next = 0
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++])
  }))
}

function contenders(cow, cLoop) {
  const FICLONE = fs.constants.COPYFILE_FICLONE
  // A list contender's own share of the job: the directories, then the
  // symlinks, then its files.
  const listed = (files) => (s, d, t) => {
    t.skeleton(d)
    return files(s, d, t)
  }
  const list = [
    { name: 'cowcopy copyDir', kind: 'cowcopy', tree: true, run: (s, d) => checked(cowcopy.copyDir(s, d)) },
    { name: 'cowcopy copyDir (1 thread)', kind: 'cowcopy', tree: true, run: (s, d) => checked(cowcopy.copyDir(s, d, { concurrency: 1 })) },
    { name: 'cowcopy copyDir (4 threads)', kind: 'cowcopy', tree: true, run: (s, d) => checked(cowcopy.copyDir(s, d, { concurrency: 4 })) },
    { name: 'cowcopy copyFiles', kind: 'cowcopy', run: listed((s, d, t) => checked(cowcopy.copyFiles(t.pairs(s, d)))) },
    { name: 'fs.copyFileSync(FICLONE) loop', kind: 'node', run: listed((s, d, t) => { for (const [a, b] of t.pairs(s, d)) fs.copyFileSync(a, b, FICLONE) }) },
    { name: 'fs.promises.copyFile, 64 in flight', kind: 'node', run: listed((s, d, t) => inFlight(64, t.pairs(s, d), ([a, b]) => fs.promises.copyFile(a, b, FICLONE))) },
    { name: 'fs.cpSync(recursive)', kind: 'node', tree: true, run: (s, d) => fs.cpSync(s, d, { recursive: true, mode: FICLONE, verbatimSymlinks: true }) },
    { name: 'fs.promises.cp(recursive)', kind: 'node', tree: true, run: (s, d) => fs.promises.cp(s, d, { recursive: true, mode: FICLONE, verbatimSymlinks: true }) },
    { name: 'cp -r --reflink=auto', kind: 'process', tree: true, run: (s, d) => execFileSync('cp', ['-r', '--reflink=auto', s, d]) },
  ]
  if (cow) {
    list.push(
      { name: '@reflink/reflink sync loop', kind: 'node', run: listed((s, d, t) => { for (const [a, b] of t.pairs(s, d)) reflinkPkg.reflinkFileSync(a, b) }) },
      { name: '@reflink/reflink, 16 in flight', kind: 'node', run: listed((s, d, t) => inFlight(16, t.pairs(s, d), ([a, b]) => reflinkPkg.reflinkFile(a, b))) },
    )
  }
  for (const n of TREE_THREADS) {
    list.push({ name: `cowcopy copyDir (concurrency ${n})`, kind: 'cowcopy', tree: true, run: (s, d) => checked(cowcopy.copyDir(s, d, { concurrency: n })) })
  }
  if (cLoop) {
    for (const threads of [1, 2]) {
      list.push({ name: `C loop, ${threads} thread${threads > 1 ? 's' : ''}`, kind: 'c', threads, run: (s, d, t) => t.cLoop(s, d, threads, true) })
    }
    list.push({ name: 'C loop, 1 thread, files only (directories and symlinks made untimed)', kind: 'c', floor: true, threads: 1, premade: true, run: (s, d, t) => t.cLoop(s, d, 1, false) })
  }
  return TREE_ONLY ? list.filter((c) => TREE_ONLY.test(c.name)) : list
}

function buildCLoop() {
  const out = path.join(os.tmpdir(), `cowcopy-c-loop-${process.pid}`)
  try {
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', out, path.join(__dirname, 'c-loop.c')], { stdio: 'pipe' })
    return out
  } catch {
    console.error('(no C compiler: the C reference loop is left out)')
    return null
  }
}

async function benchDir(dir, cBin) {
  const work = fs.mkdtempSync(path.join(dir, 'cowcopy-tree-'))
  try {
    const src = path.join(work, 'src')
    const { files, dirs, links } = makeTree(src)
    execFileSync('sync', ['-f', work])
    const listFile = path.join(work, 'list.txt')
    const tools = {
      pairs: (s, d) => files.map((f) => [path.join(s, f), path.join(d, f)]),
      skeleton: (d) => {
        fs.mkdirSync(d)
        for (const dir of dirs) fs.mkdirSync(path.join(d, dir))
        for (const [target, rel] of links) fs.symlinkSync(target, path.join(d, rel))
      },
      cLoop: (s, d, threads, whole) => {
        const lines = whole ? [`D\t${d}`, ...dirs.map((dir) => `D\t${path.join(d, dir)}`), ...links.map(([target, rel]) => `L\t${target}\t${path.join(d, rel)}`)] : []
        for (const f of files) lines.push(`F\t${path.join(s, f)}\t${path.join(d, f)}`)
        fs.writeFileSync(listFile, lines.join('\n'))
        return Number(execFileSync(cBin, [listFile, String(threads)], { encoding: 'utf8' })) / 1000
      },
    }
    const list = contenders(['btrfs', 'xfs'].includes(fsType(dir)), cBin)
    const samples = list.map(() => [])
    const dest = path.join(work, 'dest')
    for (let round = 0; round < ROUNDS; round++) {
      for (const i of shuffled(list.map((_, i) => i), round + 1)) {
        const c = list[i]
        fs.rmSync(dest, { recursive: true, force: true })
        if (c.premade) {
          tools.skeleton(dest)
        }
        settle(work)
        const t0 = process.hrtime.bigint()
        const inner = await c.run(src, dest, tools)
        const ms = c.kind === 'c' ? inner : Number(process.hrtime.bigint() - t0) / 1e6
        samples[i].push(ms)
      }
    }
    fs.rmSync(dest, { recursive: true, force: true })
    return list.map((c, i) => ({ ...c, median: median(samples[i]) }))
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

async function main() {
  const dirs = needTestMounts(TREE_FS)
  const cBin = buildCLoop()
  console.log(`\nA ${FILES}-file tree, median of ${ROUNDS} shuffled rounds; every contender makes the directories and symlinks inside its time but the last row. vs Node = the fastest Node peer's time / this time; vs C = the 1-thread C loop's; vs floor = the C loop's given its directories and symlinks (above 1: faster).\n`)
  console.log('| fs | contender | median ms | files/s | vs Node | vs C 1 thread | vs C floor |')
  console.log('|---|---|---:|---:|---:|---:|---:|')
  try {
    for (const dir of dirs) {
      const rows = await benchDir(dir, cBin)
      const bestNode = Math.min(...rows.filter((r) => r.kind === 'node').map((r) => r.median))
      const c1 = rows.find((r) => r.kind === 'c' && r.threads === 1 && !r.floor)?.median
      const floor = rows.find((r) => r.floor)?.median
      const ratio = (base, r) => (base ? `${(base / r.median).toFixed(2)}×` : '-')
      for (const r of rows) {
        console.log(`| ${fsType(dir)} | ${r.name} | ${r.median.toFixed(1)} | ${Math.round(FILES / (r.median / 1000))} | ${ratio(bestNode, r)} | ${ratio(c1, r)} | ${ratio(floor, r)} |`)
      }
    }
  } finally {
    if (cBin) fs.rmSync(cBin, { force: true })
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}

module.exports = { makeTree }
