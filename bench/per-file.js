'use strict'
// Per-file cost of a single-file clone: a loop of N clones of one
// small file into an empty directory, on btrfs and XFS, by cowcopy, by
// @reflink/reflink and by Node's own fs with COPYFILE_FICLONE_FORCE. Sync
// loops, promise loops awaiting one call at a time, and 4 calls in flight.
// Medians of ROUNDS interleaved, shuffled rounds; µs per file and the ratio
// to @reflink/reflink's matching call (below 1: faster than it), all in the
// same run. Each contender's destination directory is emptied and the
// filesystem synced untimed before its loop.
//   ROUNDS=9 PER_FILE_N=2000 PER_FILE_SIZE=4096 PER_FILE_FS=btrfs,xfs PER_FILE_ONLY=<regexp>
//   PER_FILE_BASELINE=<another cowcopy checkout, built>: its copyFileSync and
//   copyFile as more rows of the same rounds (before/after on a busy machine).
const fs = require('node:fs')
const path = require('node:path')
const cowcopy = require('..')
const reflinkPkg = require('@reflink/reflink')
const { fsType, median, needTestMounts, settle, shuffled } = require('./common')

const ROUNDS = Number(process.env.ROUNDS || 9)
const N = Number(process.env.PER_FILE_N || 2000)
const SIZE = Number(process.env.PER_FILE_SIZE || 4096)
const FS = (process.env.PER_FILE_FS || 'btrfs,xfs').split(',')
const ONLY = process.env.PER_FILE_ONLY ? new RegExp(process.env.PER_FILE_ONLY) : null
const FORCE = fs.constants.COPYFILE_FICLONE_FORCE
const baseline = process.env.PER_FILE_BASELINE ? require(path.resolve(process.env.PER_FILE_BASELINE)) : null

async function inFlight(n, count, fn) {
  let next = 0
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < count) await fn(next++)
  }))
}

// `group`: the rows compared with one another; `base`: that group's
// @reflink/reflink row.
function contenders() {
  const sync = (fn) => (src, dests) => { for (let i = 0; i < N; i++) fn(src, dests[i]) }
  const seq = (fn) => async (src, dests) => { for (let i = 0; i < N; i++) await fn(src, dests[i]) }
  const four = (fn) => (src, dests) => inFlight(4, N, (i) => fn(src, dests[i]))
  const list = [
    { group: 'sync', name: 'cowcopy copyFileSync', run: sync((s, d) => cowcopy.copyFileSync(s, d)) },
    { group: 'sync', name: 'cowcopy copyFileSync(FICLONE_FORCE)', run: sync((s, d) => cowcopy.copyFileSync(s, d, FORCE)) },
    { group: 'sync', name: '@reflink/reflink reflinkFileSync', base: true, run: sync((s, d) => reflinkPkg.reflinkFileSync(s, d)) },
    { group: 'sync', name: 'fs.copyFileSync(FICLONE_FORCE)', run: sync((s, d) => fs.copyFileSync(s, d, FORCE)) },
    { group: 'promise, 1 at a time', name: 'cowcopy copyFile', run: seq((s, d) => cowcopy.copyFile(s, d)) },
    { group: 'promise, 1 at a time', name: '@reflink/reflink reflinkFile', base: true, run: seq((s, d) => reflinkPkg.reflinkFile(s, d)) },
    { group: 'promise, 1 at a time', name: 'fs.promises.copyFile(FICLONE_FORCE)', run: seq((s, d) => fs.promises.copyFile(s, d, FORCE)) },
    { group: 'promise, 4 in flight', name: 'cowcopy copyFile', run: four((s, d) => cowcopy.copyFile(s, d)) },
    { group: 'promise, 4 in flight', name: '@reflink/reflink reflinkFile', base: true, run: four((s, d) => reflinkPkg.reflinkFile(s, d)) },
    { group: 'promise, 4 in flight', name: 'fs.promises.copyFile(FICLONE_FORCE)', run: four((s, d) => fs.promises.copyFile(s, d, FORCE)) },
  ]
  if (baseline) {
    list.push(
      { group: 'sync', name: 'baseline copyFileSync', run: sync((s, d) => baseline.copyFileSync(s, d)) },
      { group: 'promise, 1 at a time', name: 'baseline copyFile', run: seq((s, d) => baseline.copyFile(s, d)) },
      { group: 'promise, 4 in flight', name: 'baseline copyFile', run: four((s, d) => baseline.copyFile(s, d)) },
    )
  }
  return ONLY ? list.filter((c) => c.base || ONLY.test(`${c.group}: ${c.name}`)) : list
}

async function benchDir(dir) {
  const work = fs.mkdtempSync(path.join(dir, 'cowcopy-per-file-'))
  try {
    const src = path.join(work, 'src')
    fs.writeFileSync(src, Buffer.alloc(SIZE, 0x5a))
    fs.chmodSync(src, 0o644)
    const destDir = path.join(work, 'dest')
    const dests = Array.from({ length: N }, (_, i) => path.join(destDir, `f${i}`))
    const list = contenders()
    const samples = list.map(() => [])
    // CPU time of the whole process (every thread) per file: what a busy
    // machine's other work disturbs least.
    const cpu = list.map(() => [])
    // One untimed warm-up round: code paths compiled, caches filled.
    for (let round = -1; round < ROUNDS; round++) {
      for (const i of shuffled(list.map((_, i) => i), round + 2)) {
        fs.rmSync(destDir, { recursive: true, force: true })
        fs.mkdirSync(destDir)
        settle(work)
        const c0 = process.cpuUsage()
        const t0 = process.hrtime.bigint()
        await list[i].run(src, dests)
        const us = Number(process.hrtime.bigint() - t0) / 1e3 / N
        const c = process.cpuUsage(c0)
        if (round >= 0) {
          samples[i].push(us)
          cpu[i].push((c.user + c.system) / N)
        }
      }
    }
    // The modes: every contender keeps the source's 0644.
    const mode = fs.statSync(dests[0]).mode & 0o7777
    if (mode !== 0o644) throw new Error(`the last contender left mode ${mode.toString(8)}`)
    return list.map((c, i) => ({ ...c, median: median(samples[i]), cpu: median(cpu[i]) }))
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

async function main() {
  const dirs = needTestMounts(FS)
  console.log(`\n${N} clones of one ${SIZE}-byte file per loop, median of ${ROUNDS} shuffled rounds (µs per file, wall clock and the process's CPU time); vs @reflink = this time / @reflink/reflink's matching call (below 1: faster).\n`)
  console.log('| fs | calls | contender | µs per file | files/s | vs @reflink | CPU µs per file | CPU vs @reflink |')
  console.log('|---|---|---|---:|---:|---:|---:|---:|')
  for (const dir of dirs) {
    const rows = await benchDir(dir)
    for (const r of rows) {
      const base = rows.find((b) => b.group === r.group && b.base)
      console.log(`| ${fsType(dir)} | ${r.group} | ${r.name} | ${r.median.toFixed(1)} | ${Math.round(1e6 / r.median)} | ${(r.median / base.median).toFixed(3)} | ${r.cpu.toFixed(1)} | ${(r.cpu / base.cpu).toFixed(3)} |`)
    }
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
