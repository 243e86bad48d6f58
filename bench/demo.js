'use strict'
// npm run demo [-- DIR...]: copies a 256 MiB file with cowcopy and with
// fs.copyFile on each directory's filesystem, and prints the method cowcopy
// used, the bytes and the times side by side. Without arguments: the OS temp
// dir, plus the test mounts of test/fixtures/mounts.sh when they exist.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const cowcopy = require('..')
const { fsType, testMounts, writeRandomFile } = require('./common')

const SIZE = 256 << 20


async function time(fn) {
  const t0 = process.hrtime.bigint()
  const result = await fn()
  return { result, ms: Number(process.hrtime.bigint() - t0) / 1e6 }
}

async function demo(dir) {
  const work = fs.mkdtempSync(path.join(dir, 'cowcopy-demo-'))
  try {
    const src = path.join(work, 'source.bin')
    writeRandomFile(src, SIZE)
    console.log(`\n${dir} (${fsType(dir)}): copying a ${SIZE >> 20} MiB file`)
    // Warm up both (module load, thread pool start) so the times compare copies.
    const tiny = path.join(work, 'tiny')
    fs.writeFileSync(tiny, 'x')
    await cowcopy.copyFile(tiny, path.join(work, 'tiny1'))
    await fs.promises.copyFile(tiny, path.join(work, 'tiny2'))
    const mine = await time(() => cowcopy.copyFile(src, path.join(work, 'cowcopy.bin')))
    const theirs = await time(() => fs.promises.copyFile(src, path.join(work, 'fs.bin')))
    const theirsClone = await time(() =>
      fs.promises.copyFile(src, path.join(work, 'fs-ficlone.bin'), fs.constants.COPYFILE_FICLONE),
    )
    const row = (name, method, bytes, ms) =>
      console.log(`  ${name.padEnd(36)} ${method.padEnd(16)} ${String(bytes).padStart(10)} B ${ms.toFixed(1).padStart(9)} ms`)
    row('cowcopy.copyFile', mine.result.method, mine.result.bytes, mine.ms)
    row('fs.promises.copyFile', '(not reported)', fs.statSync(path.join(work, 'fs.bin')).size, theirs.ms)
    row('fs.promises.copyFile(FICLONE)', '(not reported)', fs.statSync(path.join(work, 'fs-ficlone.bin')).size, theirsClone.ms)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
}

async function main() {
  let dirs = process.argv.slice(2)
  if (dirs.length === 0) {
    dirs = [os.tmpdir()]
    dirs.push(...testMounts(['btrfs', 'xfs']))
  }
  for (const dir of dirs) await demo(dir)
  console.log('\nA CoW filesystem (btrfs, XFS) shows method "clone"; mount one with: bash test/fixtures/mounts.sh')
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
