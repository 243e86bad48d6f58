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
// "C loop, same checks" (bench/c-loop.c's checked mode) makes the system
// calls copyDir makes per file and per directory, with the list ready-made:
// copyDir's time over its time is the target ratio printed under the table.
// COWCOPY_BENCH_BASELINE=<cowcopy.node or a checkout> adds copyDir with that
// build (docs/benchmarks.md).
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { randomBytes } = require('node:crypto')
const reflinkPkg = require('@reflink/reflink')
const { buildCLoop, fsType, loadBaseline, median, needTestMounts, settle, shuffled, thisBuild } = require('./common')

const ROUNDS = Number(process.env.ROUNDS || 9)
const FILES = Number(process.env.TREE_FILES || 10000)
// For experiments: TREE_FS=btrfs,xfs (default btrfs,xfs,ext4); TREE_ONLY=<regexp>
// keeps the contenders whose name matches; TREE_THREADS=1,2,3 adds a copyDir
// row per concurrency.
const TREE_FS = (process.env.TREE_FS || 'btrfs,xfs,ext4').split(',')
const TREE_ONLY = process.env.TREE_ONLY ? new RegExp(process.env.TREE_ONLY) : null
const TREE_THREADS = process.env.TREE_THREADS ? process.env.TREE_THREADS.split(',').map(Number) : []

function makeTree(root, count = FILES) {
  let seed = 7
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
  const files = []
  const dirs = new Set()
  const links = []
  const blob = randomBytes(4 << 20)
  for (let i = 0; i < count; i++) {
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

// The checked C loop's list for the tree (bench/c-loop.c): the root, every
// directory by its parent's number, the symlinks, then the files, each by
// its directory's number and its name.
function checkedTreeList(src, dest, tree) {
  const index = new Map([['.', 0]])
  const lines = [`R\t${src}\t${dest}`]
  for (const dir of tree.dirs) {
    index.set(dir, index.size)
    lines.push(`d\t${index.get(path.dirname(dir))}\t${path.basename(dir)}`)
  }
  for (const [target, rel] of tree.links) lines.push(`s\t${index.get(path.dirname(rel))}\t${target}\t${path.basename(rel)}`)
  for (const f of tree.files) lines.push(`f\t${index.get(path.dirname(f))}\t${path.basename(f)}`)
  return lines.join('\n') + '\n'
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

function contenders(cow, cLoop, cowcopy, base) {
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
    ...(base ? [{ name: 'cowcopy copyDir (baseline build)', kind: 'cowcopy', tree: true, baseline: true, run: (s, d) => checked(base.copyDir(s, d)) }] : []),
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
    for (const threads of [1, 2]) {
      list.push({ name: `C loop, same checks, ${threads} thread${threads > 1 ? 's' : ''}`, kind: 'c', checks: true, threads, run: (s, d, t) => t.cLoop(s, d, threads, true, true) })
    }
  }
  return TREE_ONLY ? list.filter((c) => TREE_ONLY.test(c.name)) : list
}

async function benchDir(dir, cBin, cowcopy, base) {
  const work = fs.mkdtempSync(path.join(dir, 'cowcopy-tree-'))
  try {
    const src = path.join(work, 'src')
    const tree = makeTree(src)
    const { files, dirs, links } = tree
    execFileSync('sync', ['-f', work])
    const listFile = path.join(work, 'list.txt')
    const tools = {
      pairs: (s, d) => files.map((f) => [path.join(s, f), path.join(d, f)]),
      skeleton: (d) => {
        fs.mkdirSync(d)
        for (const dir of dirs) fs.mkdirSync(path.join(d, dir))
        for (const [target, rel] of links) fs.symlinkSync(target, path.join(d, rel))
      },
      cLoop: (s, d, threads, whole, checks) => {
        if (checks) {
          fs.writeFileSync(listFile, checkedTreeList(s, d, tree))
        } else {
          const lines = whole ? [`D\t${d}`, ...dirs.map((dir) => `D\t${path.join(d, dir)}`), ...links.map(([target, rel]) => `L\t${target}\t${path.join(d, rel)}`)] : []
          for (const f of files) lines.push(`F\t${path.join(s, f)}\t${path.join(d, f)}`)
          fs.writeFileSync(listFile, lines.join('\n'))
        }
        return Number(execFileSync(cBin, [listFile, String(threads)], { encoding: 'utf8' })) / 1000
      },
    }
    const list = contenders(['btrfs', 'xfs'].includes(fsType(dir)), cBin, cowcopy, base)
    const threadsUsed = list.map(() => undefined)
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
        if (c.kind === 'cowcopy') threadsUsed[i] = inner.threads
      }
    }
    fs.rmSync(dest, { recursive: true, force: true })
    return list.map((c, i) => ({ ...c, median: median(samples[i]), threadsUsed: threadsUsed[i] }))
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

// Under each filesystem's table: copyDir's time over the C loop with the
// same checks (the target), and over the baseline build's.
function targets(kind, rows) {
  const x = (a, b) => `${(a.median / b.median).toFixed(2)}×`
  const checks = rows.filter((r) => r.checks).sort((a, b) => a.median - b.median)
  const find = (name) => rows.find((r) => r.name === name)
  const copy = (r) => (r.threadsUsed ? ` (${r.threadsUsed} copy thread${r.threadsUsed > 1 ? 's' : ''})` : '')
  const lines = []
  if (checks[0]) {
    const best = `the fastest C loop with the same checks (${checks[0].threads} thread${checks[0].threads > 1 ? 's' : ''})`
    const now = find('cowcopy copyDir')
    if (now) lines.push(`- ${kind}: copyDir${copy(now)} / ${best}: ${x(now, checks[0])} (target ≤ 1.05×)`)
    const base = find('cowcopy copyDir (baseline build)')
    if (base) lines.push(`- ${kind}: copyDir, baseline build${copy(base)} / ${best}: ${x(base, checks[0])}`)
    const one = find('cowcopy copyDir (1 thread)')
    const checks1 = checks.find((r) => r.threads === 1)
    if (one && checks1) lines.push(`- ${kind}: copyDir (1 thread) / the C loop with the same checks, 1 thread: ${x(one, checks1)}`)
  }
  const now = find('cowcopy copyDir')
  const base = find('cowcopy copyDir (baseline build)')
  if (now && base) lines.push(`- ${kind}: copyDir, this build / the baseline build: ${x(now, base)} (below 1: this build is faster)`)
  return lines.join('\n')
}

async function main() {
  const dirs = needTestMounts(TREE_FS)
  const cBin = buildCLoop()
  const me = thisBuild()
  const base = loadBaseline()
  console.log(`\nA ${FILES}-file tree, median of ${ROUNDS} shuffled rounds; every contender makes the directories and symlinks inside its time but the last row. vs Node = the fastest Node peer's time / this time; vs C = the 1-thread C loop's; vs floor = the C loop's given its directories and symlinks; vs C same checks = the faster of the C loops with copyDir's checks (above 1: faster).`)
  console.log(`This build: ${me.file} (sources ${me.sourceHash})${base ? `; baseline build: ${base.spec} (sources ${base.sourceHash})` : ''}.\n`)
  console.log('| fs | contender | median ms | files/s | vs Node | vs C 1 thread | vs C floor | vs C same checks |')
  console.log('|---|---|---:|---:|---:|---:|---:|---:|')
  const notes = []
  for (const dir of dirs) {
    const rows = await benchDir(dir, cBin, me.lib, base?.lib)
    const bestNode = Math.min(...rows.filter((r) => r.kind === 'node').map((r) => r.median))
    const c1 = rows.find((r) => r.kind === 'c' && r.threads === 1 && !r.floor && !r.checks)?.median
    const floor = rows.find((r) => r.floor)?.median
    const checks = Math.min(...rows.filter((r) => r.checks).map((r) => r.median))
    const ratio = (base, r) => (Number.isFinite(base) ? `${(base / r.median).toFixed(2)}×` : '-')
    for (const r of rows) {
      console.log(`| ${fsType(dir)} | ${r.name} | ${r.median.toFixed(1)} | ${Math.round(FILES / (r.median / 1000))} | ${ratio(bestNode, r)} | ${ratio(c1, r)} | ${ratio(floor, r)} | ${ratio(checks, r)} |`)
    }
    notes.push(targets(fsType(dir), rows))
  }
  console.log(`\n${notes.filter(Boolean).join('\n')}`)
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}

module.exports = { checkedTreeList, makeTree }
