'use strict'
// Part of npm run bench: the portable engine (cowcopy without its addon,
// COWCOPY_NATIVE=0) against the native engine and what Node offers without
// cowcopy, on the same 10 000-file tree as bench/tree.js: copyDir, importFiles
// of the same files, fs.promises.cp, a sequential fs.promises.copyFile loop
// and one with 16 in flight (both making the directories first, as their
// users must). Both engines run in this one process: the library is loaded
// twice, the second time with COWCOPY_NATIVE=0. Medians of ROUNDS shuffled
// rounds; ratios against fs.promises.cp measured in the same run.
const fs = require('node:fs')
const path = require('node:path')
const { fsType, median, needTestMounts, settle, shuffled } = require('./common')
const { makeTree } = require('./tree')

const ROUNDS = Number(process.env.ROUNDS || 5)
const FSES = (process.env.PORTABLE_FS || 'btrfs,xfs,ext4').split(',')

function load(portable) {
  for (const key of Object.keys(require.cache)) if (key.includes(`${path.sep}dist${path.sep}`)) delete require.cache[key]
  if (portable) process.env.COWCOPY_NATIVE = '0'
  try {
    return require('..')
  } finally {
    delete process.env.COWCOPY_NATIVE
  }
}

const engines = { native: load(false), portable: load(true) }
if (!engines.native.native || engines.portable.native) throw new Error('could not load both engines')

async function checked(promise) {
  const r = await promise
  if (r.errors.length) throw new Error(`${r.errors.length} errors, first: ${r.errors[0].error.message}`)
  return r
}

async function inFlight(n, items, fn) {
  let next = 0
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < items.length) await fn(items[next++])
  }))
}

function contenders(t) {
  const FICLONE = fs.constants.COPYFILE_FICLONE
  const skeleton = async (d) => {
    await fs.promises.mkdir(d)
    for (const dir of t.dirs) await fs.promises.mkdir(path.join(d, dir))
    for (const [target, rel] of t.links) await fs.promises.symlink(target, path.join(d, rel))
  }
  const row = []
  for (const [name, lib] of Object.entries(engines)) {
    row.push({ name: `cowcopy copyDir (${name})`, run: (s, d) => checked(lib.copyDir(s, d)) })
    row.push({ name: `cowcopy importFiles (${name})`, run: (s, d) => checked(lib.importFiles(d, t.files.map((f) => [f, path.join(s, f)]))) })
  }
  row.push(
    { name: 'fs.promises.cp(recursive)', base: true, run: (s, d) => fs.promises.cp(s, d, { recursive: true, mode: FICLONE, verbatimSymlinks: true }) },
    { name: 'fs.promises.copyFile loop, sequential', run: async (s, d) => { await skeleton(d); for (const f of t.files) await fs.promises.copyFile(path.join(s, f), path.join(d, f), FICLONE) } },
    { name: 'fs.promises.copyFile, 16 in flight', run: async (s, d) => { await skeleton(d); await inFlight(16, t.files, (f) => fs.promises.copyFile(path.join(s, f), path.join(d, f), FICLONE)) } },
  )
  return row
}

async function benchDir(dir) {
  const work = fs.mkdtempSync(path.join(dir, 'cowcopy-portable-'))
  try {
    const src = path.join(work, 'src')
    const t = makeTree(src)
    settle(work)
    const list = contenders(t)
    const samples = list.map(() => [])
    const dest = path.join(work, 'dest')
    for (let round = 0; round < ROUNDS; round++) {
      for (const i of shuffled(list.map((_, i) => i), round + 1)) {
        fs.rmSync(dest, { recursive: true, force: true })
        settle(work)
        const t0 = process.hrtime.bigint()
        await list[i].run(src, dest)
        samples[i].push(Number(process.hrtime.bigint() - t0) / 1e6)
      }
    }
    return list.map((c, i) => ({ ...c, median: median(samples[i]), files: t.files.length }))
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

async function main() {
  const dirs = needTestMounts(FSES)
  console.log(`\nThe portable engine (no addon) beside the native one and Node's own ways, one ${process.env.TREE_FILES || 10000}-file tree, median of ${ROUNDS} shuffled rounds; vs cp = fs.promises.cp's time / this time (above 1: faster).\n`)
  console.log('| fs | contender | median ms | files/s | vs fs.promises.cp |')
  console.log('|---|---|---:|---:|---:|')
  for (const dir of dirs) {
    const rows = await benchDir(dir)
    const base = rows.find((r) => r.base).median
    for (const r of rows) {
      console.log(`| ${fsType(dir)} | ${r.name} | ${r.median.toFixed(1)} | ${Math.round(r.files / (r.median / 1000))} | ${(base / r.median).toFixed(2)}× |`)
    }
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
