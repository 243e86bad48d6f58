// Shared test helpers: where the real filesystems are, scratch directories,
// FIEMAP through filefrag, fd counts. No mocks: every check reads the kernel.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'

export const MOUNT_ROOT = process.env.COWCOPY_MOUNT_ROOT || '/var/tmp/cowcopy-mounts'

const MAGIC = {
  btrfs: 0x9123683e,
  xfs: 0x58465342,
  ext4: 0xef53,
  tmpfs: 0x01021994,
}
export const FS_NAMES = ['btrfs', 'xfs', 'ext4', 'tmpfs']
export const COW_FS = ['btrfs', 'xfs']

/** The directory of a test filesystem, or null with the reason it is missing. */
export function fsDir(name) {
  const dir = path.join(MOUNT_ROOT, name === 'tiny' ? 'tiny' : name)
  const magic = name === 'tiny' ? MAGIC.xfs : MAGIC[name]
  try {
    if (fs.statfsSync(dir).type === magic) return { dir, reason: null }
    return { dir: null, reason: `${dir} is not a ${name} mount (run: sudo bash test/fixtures/mounts.sh)` }
  } catch {
    return { dir: null, reason: `${dir} is missing (run: sudo bash test/fixtures/mounts.sh)` }
  }
}

/**
 * Runs `fn(t, dir)` in a subtest with a fresh scratch directory on the named
 * filesystem, removed afterwards. Without the mount it skips with the reason,
 * or fails when CI is set: in CI a missing mount must not pass as a skip.
 */
export function onFs(t, name, title, fn) {
  const { dir, reason } = fsDir(name)
  if (!dir) {
    if (process.env.CI) return t.test(`${name}: ${title}`, (tt) => tt.fail(`CI needs the ${name} mount: ${reason}`))
    return t.test(`${name}: ${title}`, { skip: reason }, () => {})
  }
  return t.test(`${name}: ${title}`, async (tt) => {
    const scratch = fs.mkdtempSync(path.join(dir, 'cc-'))
    tt.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }))
    await fn(tt, scratch)
  })
}

/** A scratch directory on any filesystem (the OS temp dir). */
export function tmpScratch(t) {
  const d = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'cowcopy-test-'))
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }))
  return d
}

/** Writes `size` random bytes, flushed to disk so FIEMAP sees real extents. */
export function makeFile(file, size, mode = 0o644) {
  const fd = fs.openSync(file, 'w', mode)
  try {
    const chunk = randomBytes(Math.min(size, 8 << 20))
    for (let done = 0; done < size; ) {
      const n = Math.min(chunk.length, size - done)
      fs.writeSync(fd, chunk, 0, n, done)
      done += n
    }
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.chmodSync(file, mode)
}

/**
 * The file's extents from FIEMAP (filefrag -v, after a sync of the file):
 * [{ logical, physical, length, flags: string[] }] in filesystem blocks.
 */
export function extents(file) {
  const out = execFileSync('filefrag', ['-s', '-v', file], { encoding: 'utf8' })
  const rows = []
  for (const line of out.split('\n')) {
    const m = line.match(/^\s*\d+:\s+(\d+)\.\.\s*(\d+):\s+(\d+)\.\.\s*(\d+):\s+(\d+):\s*(?:\d+:)?\s*(\S*)\s*$/)
    if (m) rows.push({ logical: +m[1], physical: +m[3], length: +m[5], flags: m[6] ? m[6].split(',') : [] })
  }
  return rows
}

/** True when the file has extents and every one is flagged shared. */
export function allShared(file) {
  const e = extents(file)
  return e.length > 0 && e.every((x) => x.flags.includes('shared'))
}

/** True when no extent of the file is flagged shared. */
export function noneShared(file) {
  return extents(file).every((x) => !x.flags.includes('shared'))
}

/** Open file descriptors of this process, as the kernel lists them. */
export function openFds() {
  return fs.readdirSync('/proc/self/fd').sort()
}

export function sameBytes(a, b) {
  return fs.readFileSync(a).equals(fs.readFileSync(b))
}
