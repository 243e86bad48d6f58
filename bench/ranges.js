'use strict'
// Part of npm run bench: the range operations.
//  1. dedupeRange of a 1 GiB identical pair (GiB/s), on btrfs and XFS.
//  2. 1 000 ranges of 64 KiB cloned into one file with cloneRangeSync, against
//     the same file built with fs reads and writes (ratio, same run).
// Medians of ROUNDS rounds. Needs the mounts of test/fixtures/mounts.sh.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const cowcopy = require('..')
const { fsType, median, needTestMounts, settle, writeRandomFile } = require('./common')

const ROUNDS = Number(process.env.ROUNDS || 9)
const GiB = 2 ** 30
const RANGE = 64 * 1024
const RANGES = 1000



function time(fn) {
  const t0 = process.hrtime.bigint()
  fn()
  return Number(process.hrtime.bigint() - t0) / 1e6
}

function bench(dir) {
  const work = fs.mkdtempSync(path.join(dir, 'cowcopy-ranges-'))
  try {
    const name = fsType(dir)
    // 1. dedupe: a fresh identical pair each round (once shared, it is fast).
    const a = path.join(work, 'a')
    writeRandomFile(a, GiB, 1)
    const dedupe = []
    for (let r = 0; r < ROUNDS; r++) {
      const b = path.join(work, 'b')
      fs.rmSync(b, { force: true })
      execFileSync('cp', ['--reflink=never', a, b])
      settle(work)
      dedupe.push(time(() => {
        const [res] = cowcopy.dedupeRangeSync(a, { offset: 0, length: GiB }, [{ path: b }])
        if (res.status !== 'same' || res.bytesDeduped !== GiB) throw new Error(`dedupe: ${JSON.stringify(res)}`)
      }))
    }
    const dMs = median(dedupe)
    console.log(`| ${name} | dedupeRange, 1 GiB identical pair | ${dMs.toFixed(1)} ms | ${(1000 / dMs).toFixed(2)} GiB/s | |`)

    // 2. 1 000 ranges of 64 KiB from a 256 MiB file into one file.
    const src = path.join(work, 'src')
    writeRandomFile(src, 256 << 20, 2)
    const offsets = Array.from({ length: RANGES }, (_, i) => ((i * 7919) % 4096) * RANGE)
    const buf = Buffer.allocUnsafe(RANGE)
    const clone = []
    const rw = []
    for (let r = 0; r < ROUNDS; r++) {
      const out = path.join(work, 'out')
      for (const which of r % 2 ? ['rw', 'clone'] : ['clone', 'rw']) {
        fs.rmSync(out, { force: true })
        settle(work)
        if (which === 'clone') {
          const fdIn = fs.openSync(src, 'r')
          const fdOut = fs.openSync(out, 'w')
          clone.push(time(() => {
            offsets.forEach((off, i) => cowcopy.cloneRangeSync(fdIn, fdOut, { srcOffset: off, destOffset: i * RANGE, length: RANGE }))
          }))
          fs.closeSync(fdIn)
          fs.closeSync(fdOut)
        } else {
          const fdIn = fs.openSync(src, 'r')
          const fdOut = fs.openSync(out, 'w')
          rw.push(time(() => {
            offsets.forEach((off, i) => {
              fs.readSync(fdIn, buf, 0, RANGE, off)
              fs.writeSync(fdOut, buf, 0, RANGE, i * RANGE)
            })
          }))
          fs.closeSync(fdIn)
          fs.closeSync(fdOut)
        }
      }
    }
    const c = median(clone)
    const w = median(rw)
    console.log(`| ${name} | 1 000 × 64 KiB ranges into one file: cloneRangeSync (fds) | ${c.toFixed(1)} ms | | ${(w / c).toFixed(2)}× |`)
    console.log(`| ${name} | 1 000 × 64 KiB ranges into one file: fs.readSync + fs.writeSync | ${w.toFixed(1)} ms | | 1.00× |`)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

const dirs = needTestMounts(['btrfs', 'xfs'])
console.log(`\nRange operations, median of ${ROUNDS} rounds; ratio = the fs read/write time / this time:\n`)
console.log('| fs | operation | median | throughput | vs fs |')
console.log('|---|---|---:|---:|---:|')
for (const d of dirs) bench(d)
