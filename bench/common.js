'use strict'
// What the benchmarks share: the filesystem's name, medians, a deterministic
// shuffle for interleaved rounds, syncfs, random files, the C loop's build,
// and a second build of the addon to measure beside this one.
const { execFileSync } = require('node:child_process')
const { randomBytes } = require('node:crypto')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')

const NAMES = new Map([
  [0x9123683e, 'btrfs'],
  [0x58465342, 'xfs'],
  [0xef53, 'ext4'],
  [0x01021994, 'tmpfs'],
  [0x794c7630, 'overlay'],
  [0x6969, 'nfs'],
  [0x65735546, 'fuse'],
  [0xff534d42, 'cifs'],
  [0xfe534d42, 'smb2'],
  [0xca451a4e, 'bcachefs'],
  [0x2fc12fc1, 'zfs'],
])

function fsType(dir) {
  const type = fs.statfsSync(dir).type
  return NAMES.get(type) || `0x${type.toString(16)}`
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

// The same order for the same seed: each round runs the contenders in a new
// order, so none always follows the same neighbour's clean-up.
function shuffled(xs, seed) {
  const out = [...xs]
  let a = seed
  for (let i = out.length - 1; i > 0; i--) {
    a = (a * 1103515245 + 12345) % 2 ** 31
    const j = a % (i + 1)
    ;[out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

// syncfs: waits for write-back (and, after unlinks, XFS inodegc / the btrfs
// cleaner), untimed, so it does not land on whichever contender runs next.
function settle(dir) {
  execFileSync('sync', ['-f', dir])
}

// `size` random bytes (an 8 MiB pattern repeated; byte 0 of each chunk set to
// `seed` so two files differ), flushed to disk.
function writeRandomFile(file, size, seed = 0) {
  const chunk = randomBytes(Math.min(size, 8 << 20) || 1)
  chunk[0] = seed
  const fd = fs.openSync(file, 'w')
  for (let off = 0; off < size; off += chunk.length) fs.writeSync(fd, chunk, 0, Math.min(chunk.length, size - off), off)
  fs.fsyncSync(fd)
  fs.closeSync(fd)
}

// The test mounts (test/fixtures/mounts.sh) among `names` that are really
// mounted with that filesystem.
function testMounts(names) {
  const root = process.env.COWCOPY_MOUNT_ROOT || '/var/tmp/cowcopy-mounts'
  return names.map((n) => path.join(root, n)).filter((d) => {
    try {
      return fsType(d) === path.basename(d)
    } catch {
      return false
    }
  })
}

// Those mounts, or exit with how to make them.
function needTestMounts(names) {
  const dirs = testMounts(names)
  if (dirs.length === 0) {
    console.error(`No ${names.join('/')} test mount: run \`bash test/fixtures/mounts.sh\` first.`)
    process.exit(1)
  }
  return dirs
}

// bench/c-loop.c built with the system C compiler into a temporary file
// (removed at exit), or null with a note when there is no compiler.
function buildCLoop() {
  const out = path.join(os.tmpdir(), `cowcopy-c-loop-${process.pid}`)
  try {
    execFileSync('cc', ['-O2', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', out, path.join(__dirname, 'c-loop.c')], { stdio: 'pipe' })
    process.on('exit', () => fs.rmSync(out, { force: true }))
    return out
  } catch (err) {
    console.error(`(no C compiler, or c-loop.c failed to build: the C loops are left out)\n${err.stderr || ''}`)
    return null
  }
}

// The addon file a loaded copy of the library uses, and its source hash.
function addonOf(distDir) {
  const file = require(path.join(distDir, 'native.js')).nativeStatus.file
  return { file, sourceHash: file ? require(file).sourceHash : undefined }
}

// COWCOPY_BENCH_BASELINE: another build of the addon, measured in the same
// run as "cowcopy (baseline build)" rows (bench/tree.js, bench/store.js,
// bench/syscalls.js). Either
// - a .node file (a copy of src-native/build/Release/cowcopy.node kept from
//   before a change): loaded in this process with this checkout's dist/,
//   from a temporary package root (removed at exit) that holds no sources,
//   so lib/native.ts's stale-binary check has nothing to compare with and
//   loads it; the addon must take the calls this dist/ makes, or
// - a package directory (another checkout or worktree with dist/ and its
//   addon built): loaded as it is, its own JS and its own addon.
// Returns null when the variable is not set; throws when it names nothing
// that loads with its addon.
let baseline
function loadBaseline() {
  if (baseline !== undefined) return baseline
  const spec = process.env.COWCOPY_BENCH_BASELINE
  if (!spec) return (baseline = null)
  const abs = path.resolve(spec)
  let root
  if (fs.statSync(abs).isDirectory()) {
    if (fs.realpathSync(abs) === fs.realpathSync(ROOT)) throw new Error(`COWCOPY_BENCH_BASELINE=${spec} is this checkout: name another one, or a .node file`)
    root = abs
  } else {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-baseline-'))
    process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }))
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(root, 'package.json'))
    fs.cpSync(path.join(ROOT, 'dist'), path.join(root, 'dist'), { recursive: true, filter: (f) => path.basename(f) !== 'source-hash.txt' })
    fs.mkdirSync(path.join(root, 'build', 'Release'), { recursive: true })
    fs.copyFileSync(abs, path.join(root, 'build', 'Release', 'cowcopy.node'))
    fs.symlinkSync(fs.realpathSync(path.join(ROOT, 'node_modules')), path.join(root, 'node_modules'))
  }
  // Neither override may reach the baseline's own load.
  const saved = {}
  for (const k of ['COWCOPY_PREBUILD', 'COWCOPY_NATIVE']) {
    saved[k] = process.env[k]
    delete process.env[k]
  }
  let lib
  try {
    lib = require(root)
  } finally {
    for (const [k, v] of Object.entries(saved)) if (v !== undefined) process.env[k] = v
  }
  if (!lib.native) throw new Error(`COWCOPY_BENCH_BASELINE=${spec}: its addon did not load (${lib.nativeLoadError?.message})`)
  const addon = addonOf(path.join(root, 'dist'))
  return (baseline = { lib, spec: abs, ...addon })
}

// This checkout's library and the addon it loaded, for the reports.
function thisBuild() {
  const lib = require(ROOT)
  return { lib, ...addonOf(path.join(ROOT, 'dist')) }
}

module.exports = { buildCLoop, fsType, loadBaseline, median, needTestMounts, shuffled, settle, testMounts, thisBuild, writeRandomFile }
