'use strict'
// What the benchmarks share: the filesystem's name, medians, a deterministic
// shuffle for interleaved rounds, syncfs, random files.
const { execFileSync } = require('node:child_process')
const { randomBytes } = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

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

module.exports = { fsType, median, needTestMounts, shuffled, settle, testMounts, writeRandomFile }
