'use strict'
// npm run bench: whole-file clone of a 1 GiB file on btrfs and XFS, by
// cowcopy (sync and promise), fs.copyFile(FICLONE_FORCE) and @reflink/reflink.
// Rounds are interleaved (every contender once per round, order shuffled) and
// each contender's median is reported as a ratio to the fastest of its kind
// (sync or promise) measured in the same run. Needs the mounts of
// test/fixtures/mounts.sh (or COWCOPY_BENCH_DIRS=dir1:dir2).
const fs = require('node:fs')
const path = require('node:path')
const cowcopy = require('..')
const reflinkPkg = require('@reflink/reflink')
const { fsType, median, settle, shuffled, testMounts, writeRandomFile } = require('./common')

const ROUNDS = Number(process.env.ROUNDS || 15)
// A clone of 1 GiB takes tens of microseconds: one sample times BATCH clones
// (into distinct names, removed untimed afterwards) so timer noise stays small.
const BATCH = Number(process.env.BATCH || 50)
const SIZE = 1 << 30
const FORCE = fs.constants.COPYFILE_FICLONE_FORCE

const contenders = [
  { kind: 'sync', name: 'cowcopy copyFileSync', run: (s, d) => cowcopy.copyFileSync(s, d) },
  { kind: 'sync', name: 'fs.copyFileSync(FICLONE_FORCE)', run: (s, d) => fs.copyFileSync(s, d, FORCE) },
  { kind: 'sync', name: '@reflink/reflink reflinkFileSync', run: (s, d) => reflinkPkg.reflinkFileSync(s, d) },
  { kind: 'promise', name: 'cowcopy copyFile', run: (s, d) => cowcopy.copyFile(s, d) },
  { kind: 'promise', name: 'fs.promises.copyFile(FICLONE_FORCE)', run: (s, d) => fs.promises.copyFile(s, d, FORCE) },
  { kind: 'promise', name: '@reflink/reflink reflinkFile', run: (s, d) => reflinkPkg.reflinkFile(s, d) },
]





async function benchDir(dir) {
  const work = fs.mkdtempSync(path.join(dir, 'cowcopy-bench-'))
  try {
    const src = path.join(work, 'src')
    writeRandomFile(src, SIZE)
    const dest = path.join(work, 'dest')
    const dests = Array.from({ length: BATCH }, (_, i) => path.join(work, `dest-${i}`))
    const samples = contenders.map(() => [])
    // Warm-up round: loads modules, starts thread pools, checks each clones.
    for (const c of contenders) {
      await c.run(src, dest)
      if (fs.statSync(dest).size !== SIZE) throw new Error(`${c.name} produced a wrong size`)
      fs.unlinkSync(dest)
    }
    settle(work)
    for (let round = 0; round < ROUNDS; round++) {
      for (const i of shuffled(contenders.map((_, i) => i), round + 1)) {
        const run = contenders[i].run
        const t0 = process.hrtime.bigint()
        for (const d of dests) await run(src, d)
        samples[i].push(Number(process.hrtime.bigint() - t0) / 1e6 / BATCH)
        for (const d of dests) fs.unlinkSync(d)
        settle(work)
      }
    }
    return contenders.map((c, i) => ({ ...c, median: median(samples[i]) }))
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

function defaultDirs() {
  if (process.env.COWCOPY_BENCH_DIRS) return process.env.COWCOPY_BENCH_DIRS.split(':')
  return testMounts(['btrfs', 'xfs'])
}

async function main() {
  const dirs = defaultDirs()
  if (dirs.length === 0) {
    console.error('No btrfs or XFS mount found: run `bash test/fixtures/mounts.sh` first.')
    process.exit(1)
  }
  console.log(`Whole-file clone of a 1 GiB file: median over ${ROUNDS} interleaved rounds of the mean of ${BATCH} clones; ratio = median / fastest of the same kind (sync or promise) in this run.\n`)
  console.log('| fs | kind | contender | median µs per clone | ratio |')
  console.log('|---|---|---|---:|---:|')
  for (const dir of dirs) {
    const rows = await benchDir(dir)
    for (const kind of ['sync', 'promise']) {
      const group = rows.filter((r) => r.kind === kind)
      const best = Math.min(...group.map((r) => r.median))
      for (const r of group) {
        console.log(`| ${fsType(dir)} | ${kind} | ${r.name} | ${(r.median * 1000).toFixed(1)} | ${(r.median / best).toFixed(2)}× |`)
      }
    }
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
