'use strict'
// Part of npm run bench: real (byte) copies of large files, where a copy that
// cannot clone takes seconds.
//  1. A 2 GiB file with reflink 'never' on ext4 and tmpfs: cowcopy against
//     fs.copyFileSync, `cp --reflink=never` and a plain read/write loop.
//  2. An 8 GiB sparse file holding 2 MiB of data: cowcopy against
//     `cp --sparse=always --reflink=never`.
// Medians of interleaved, shuffled rounds. Each time runs until the copy is
// on disk (copy + syncfs), so no contender pays for another's write-back.
// Ratios are against cp, measured in the same run. Needs test/fixtures/mounts.sh.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { randomBytes } = require('node:crypto')
const cowcopy = require('..')
const { fsType, median, needTestMounts, settle, shuffled, writeRandomFile } = require('./common')

const ROUNDS = Number(process.env.ROUNDS || 9)
const BIG = Number(process.env.BIG_MIB || 2048) * 2 ** 20
const SPARSE = 8 * 2 ** 30

function readWriteLoop(src, dest) {
  const buf = Buffer.allocUnsafe(1 << 20)
  const fin = fs.openSync(src, 'r')
  const fout = fs.openSync(dest, 'w')
  try {
    for (;;) {
      const n = fs.readSync(fin, buf, 0, buf.length, null)
      if (n === 0) break
      for (let off = 0; off < n; ) off += fs.writeSync(fout, buf, off, n - off)
    }
  } finally {
    fs.closeSync(fin)
    fs.closeSync(fout)
  }
}

const bigContenders = [
  { name: "cowcopy copyFileSync(reflink: 'never')", run: (s, d) => cowcopy.copyFileSync(s, d, { reflink: 'never' }) },
  { name: 'fs.copyFileSync', run: (s, d) => fs.copyFileSync(s, d) },
  { name: 'cp --reflink=never', cp: true, run: (s, d) => execFileSync('cp', ['--reflink=never', s, d]) },
  { name: 'read/write loop (1 MiB buffer)', run: readWriteLoop },
]
const sparseContenders = [
  { name: "cowcopy copyFileSync(reflink: 'never')", run: (s, d) => cowcopy.copyFileSync(s, d, { reflink: 'never' }) },
  { name: 'cp --sparse=always --reflink=never', cp: true, run: (s, d) => execFileSync('cp', ['--sparse=always', '--reflink=never', s, d]) },
]




function measure(dir, src, contenders) {
  const dest = path.join(dir, 'dest')
  const samples = contenders.map(() => [])
  for (let round = 0; round < ROUNDS; round++) {
    for (const i of shuffled(contenders.map((_, i) => i), round + 1)) {
      fs.rmSync(dest, { force: true })
      settle(dir)
      const t0 = process.hrtime.bigint()
      contenders[i].run(src, dest)
      // Until the data is on disk: otherwise dirty-page throttling decides
      // who pays for whose write-back (same cost for every contender).
      settle(dir)
      samples[i].push(Number(process.hrtime.bigint() - t0) / 1e6)
    }
  }
  fs.rmSync(dest, { force: true })
  return contenders.map((c, i) => ({ ...c, median: median(samples[i]) }))
}

function table(title, rows, fsName, unit) {
  const cp = rows.find((r) => r.cp).median
  for (const r of rows) {
    console.log(`| ${fsName} | ${title} | ${r.name} | ${r.median.toFixed(unit === 'ms' ? 1 : 0)} | ${(cp / r.median).toFixed(2)}× |`)
  }
}


function makeSparse(file) {
  fs.writeFileSync(file, '')
  fs.truncateSync(file, SPARSE)
  const fd = fs.openSync(file, 'r+')
  fs.writeSync(fd, randomBytes(1 << 20), 0, 1 << 20, 1 << 30)
  fs.writeSync(fd, randomBytes(1 << 20), 0, 1 << 20, 5 * 2 ** 30)
  fs.closeSync(fd)
}

function main() {
  const dirs = needTestMounts(['ext4', 'tmpfs', 'xfs'])
  console.log(`\nByte copies: time until the copy is on disk (copy + syncfs), median of ${ROUNDS} shuffled rounds; ratio = cp's time / this time, so > 1 is faster than cp.\n`)
  console.log('| fs | file | contender | median ms | vs cp |')
  console.log('|---|---|---|---:|---:|')
  for (const dir of dirs) {
    const work = fs.mkdtempSync(path.join(dir, 'cowcopy-bench-'))
    try {
      const name = fsType(dir)
      if (name !== 'xfs') {
        const big = path.join(work, 'big')
        writeRandomFile(big, BIG)
        table(`${BIG / 2 ** 30} GiB`, measure(work, big, bigContenders), name, 'ms')
        fs.rmSync(big)
      }
      const sparse = path.join(work, 'sparse')
      makeSparse(sparse)
      table('8 GiB sparse, 2 MiB data', measure(work, sparse, sparseContenders), name, 'ms')
    } finally {
      fs.rmSync(work, { recursive: true, force: true })
    }
  }
}

main()
