// Shared test helpers: where the real filesystems are, scratch directories,
// FIEMAP through filefrag, fd counts. No mocks: every check reads the kernel.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const DIST = path.join(ROOT, 'dist', 'index.js')

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
    return { dir: null, reason: `${dir} is not a ${name} mount (run: bash test/fixtures/mounts.sh)` }
  } catch {
    return { dir: null, reason: `${dir} is missing (run: bash test/fixtures/mounts.sh)` }
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

/**
 * The directories of several test filesystems, or null after skipping (or,
 * in CI, failing) the test with the reason one is missing.
 */
export function needMounts(t, ...names) {
  const found = names.map(fsDir)
  const missing = found.find((f) => !f.dir)
  if (!missing) return found.map((f) => f.dir)
  if (process.env.CI) t.fail(`CI needs the ${names.join(' and ')} mounts: ${missing.reason}`)
  else t.skip(missing.reason)
  return null
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

/** Up to `len` bytes of `file` at `off`. */
export function readAt(file, off, len) {
  const fd = fs.openSync(file, 'r')
  try {
    const buf = Buffer.alloc(len)
    return buf.subarray(0, fs.readSync(fd, buf, 0, len, off))
  } finally {
    fs.closeSync(fd)
  }
}

export function sameBytes(a, b) {
  return fs.readFileSync(a).equals(fs.readFileSync(b))
}

/**
 * A node_modules-like tree: `packages` packages of nested dirs, mostly small
 * files (a few of 1 MiB), exec bits, relative and dangling symlinks, empty
 * directories, names with spaces, unicode and a newline. Returns the number
 * of regular files.
 */
export function makeTree(root, { packages = 100, filesPerPackage = 30 } = {}) {
  let n = 0
  let seed = 42
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31
  fs.mkdirSync(root, { recursive: true })
  for (let p = 0; p < packages; p++) {
    const pkg = path.join(root, 'node_modules', p % 7 === 0 ? `@scope/pkg-${p}` : `pkg-${p}`)
    fs.mkdirSync(path.join(pkg, 'lib', 'deep', 'er'), { recursive: true })
    fs.mkdirSync(path.join(pkg, 'empty'), { recursive: true })
    for (let f = 0; f < filesPerPackage; f++) {
      const dir = [pkg, path.join(pkg, 'lib'), path.join(pkg, 'lib', 'deep'), path.join(pkg, 'lib', 'deep', 'er')][f % 4]
      const big = rand() < 0.01
      const size = big ? 1 << 20 : Math.floor(rand() * 8192)
      const file = path.join(dir, `file-${f}.js`)
      fs.writeFileSync(file, randomBytes(size))
      if (f % 5 === 0) fs.chmodSync(file, 0o755)
      if (f % 11 === 0) fs.chmodSync(file, 0o600)
      n++
    }
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: `pkg-${p}` }))
    n++
    fs.symlinkSync('lib/file-1.js', path.join(pkg, 'main.js'))
    fs.symlinkSync(`../pkg-${(p + 1) % packages}`, path.join(pkg, 'sibling'))
    fs.symlinkSync('does-not-exist', path.join(pkg, 'dangling'))
  }
  const odd = path.join(root, 'odd names')
  fs.mkdirSync(odd, { recursive: true })
  for (const name of ['with space.txt', 'ünïcödé-名前.txt', 'new\nline.txt', '.hidden']) {
    fs.writeFileSync(path.join(odd, name), name)
    n++
  }
  fs.chmodSync(path.join(root, 'node_modules'), 0o751)
  fs.mkdirSync(path.join(root, 'bin'), { mode: 0o700 })
  return n
}

/** Walks two trees and lists every difference in type, mode, link target or bytes. */
export function diffTrees(a, b) {
  const diffs = []
  const walk = (rel) => {
    const pa = path.join(a, rel)
    const pb = path.join(b, rel)
    let sa, sb
    try {
      sa = fs.lstatSync(pa)
      sb = fs.lstatSync(pb)
    } catch (err) {
      diffs.push(`${rel}: ${err.code}`)
      return
    }
    if ((sa.mode & 0o170000) !== (sb.mode & 0o170000)) return diffs.push(`${rel}: type`)
    if (!sa.isSymbolicLink() && (sa.mode & 0o7777) !== (sb.mode & 0o7777)) {
      diffs.push(`${rel}: mode ${(sa.mode & 0o7777).toString(8)} vs ${(sb.mode & 0o7777).toString(8)}`)
    }
    if (sa.isSymbolicLink() && fs.readlinkSync(pa) !== fs.readlinkSync(pb)) diffs.push(`${rel}: link target`)
    if (sa.isFile() && !fs.readFileSync(pa).equals(fs.readFileSync(pb))) diffs.push(`${rel}: bytes`)
    if (sa.isDirectory()) {
      const ea = fs.readdirSync(pa).sort()
      const eb = fs.readdirSync(pb).sort()
      if (ea.join('\0') !== eb.join('\0')) diffs.push(`${rel}: entries differ`)
      for (const e of ea) walk(path.join(rel, e))
    }
  }
  walk('')
  return diffs
}

/** Regular files under root, for FIEMAP checks. */
export function listFiles(root) {
  const out = []
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile()) out.push(p)
    }
  }
  walk(root)
  return out
}

/** Files (of those given) whose extents are not all shared; empty and btrfs-inline files count as shared. */
export function unsharedFiles(files) {
  const bad = []
  for (let i = 0; i < files.length; i += 200) {
    const chunk = files.slice(i, i + 200).filter((f) => fs.statSync(f).size > 0 && !f.includes('\n'))
    if (chunk.length === 0) continue
    const out = execFileSync('filefrag', ['-s', '-v', ...chunk], { encoding: 'utf8', maxBuffer: 64 << 20 })
    let current = null
    let size = 0
    let shared = true
    const finish = () => {
      if (current !== null && !shared) bad.push(current)
    }
    for (const line of out.split('\n')) {
      const head = line.match(/^File size of (.*) is (\d+)/)
      if (head) {
        finish()
        current = head[1]
        size = Number(head[2])
        shared = true
        continue
      }
      const m = line.match(/^\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+\.\.\s*\d+:\s+\d+:\s*(?:\d+:)?\s*(\S*)\s*$/)
      if (!m) continue
      const flags = m[1].split(',')
      // btrfs keeps files up to max_inline (2 KiB by default) inside its
      // metadata: a clone copies them, there is no extent to share.
      const inlineSmall = flags.includes('inline') && size <= 2048
      if (!flags.includes('shared') && !inlineSmall) shared = false
    }
    finish()
  }
  return bad
}

// Ctrl-C once the copy has started (the child holds the source open): a
// fixed delay races with node's start-up after the page cache was dropped.
/** Starts `node ...args`, sends SIGINT once it holds `source` open; its exit code and stderr. */
export async function interruptOnceOpen(args, source, signal = 'SIGINT') {
  const child = spawn(process.execPath, args)
  let stderr = ''
  child.stderr.on('data', (b) => (stderr += b))
  const exited = new Promise((r) => child.on('exit', (c) => r(c)))
  const holds = () => {
    try {
      return fs.readdirSync(`/proc/${child.pid}/fd`).some((fd) => {
        try {
          return fs.readlinkSync(`/proc/${child.pid}/fd/${fd}`) === source
        } catch {
          return false
        }
      })
    } catch {
      return false
    }
  }
  for (let i = 0; i < 1000 && !holds(); i++) await new Promise((r) => setTimeout(r, 10))
  await new Promise((r) => setTimeout(r, 50))
  child.kill(signal)
  return { code: await exited, stderr }
}

/** Writes `data` to `file` and fsyncs it (a clone or dedupe then sees settled extents); returns `data`. */
export function writeSynced(file, data) {
  const fd = fs.openSync(file, 'w')
  fs.writeSync(fd, data)
  fs.fsyncSync(fd)
  fs.closeSync(fd)
  return data
}

/** A file of `mib` MiB of real data (no holes), written in 32 MiB chunks. */
export function writeBigFile(file, mib = 512) {
  const fd = fs.openSync(file, 'w')
  try {
    const chunk = Buffer.alloc(32 << 20, 0xab)
    for (let i = 0; i < mib / 32; i++) fs.writeSync(fd, chunk)
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * Runs CommonJS `script` in a child node with the package (dist/index.js)
 * loaded as `cow`; a hang is killed after `timeout` ms, and the child must
 * have finished by itself. Returns spawnSync's result.
 */
export function cowChild(t, script, { env = {}, timeout = 10000 } = {}) {
  const r = spawnSync(process.execPath, ['-e', `const cow = require(${JSON.stringify(DIST)});\n${script}`], {
    encoding: 'utf8',
    timeout,
    killSignal: 'SIGKILL',
    env: { ...process.env, ...env },
  })
  t.equal(r.signal, null, `the child finished within ${timeout} ms (stderr: ${r.stderr})`)
  return r
}

/**
 * Runs CommonJS `code` in a child node started at the package root, with
 * cowcopy loaded as `c` and node:fs as `fs`; never waits longer than `ms`
 * (then SIGKILL). Resolves with { status, signal, timedOut, out, err }.
 */
export function cowChildAsync(code, { env = {}, ms = 8000 } = {}) {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['-e', `const c = require('cowcopy'); const fs = require('fs');\n${code}`], {
      cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => (out += d))
    p.stderr.on('data', (d) => (err += d))
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      p.kill('SIGKILL')
    }, ms)
    p.on('close', (status, signal) => {
      clearTimeout(timer)
      resolve({ status, signal, timedOut, out: out.trim(), err: err.trim() })
    })
  })
}

/** Runs CommonJS `code` in a child node (spawnSync, 20 s timeout); `args` become process.argv[1..]. */
export function nodeChild(code, args = [], opts = {}) {
  return spawnSync(process.execPath, ['-e', code, '--', ...args], {
    encoding: 'utf8',
    timeout: 20000,
    ...opts,
    env: { ...process.env, ...opts.env },
  })
}

/**
 * Runs an importFiles script (an async body; `importFiles` in scope) in a
 * fresh process (fresh link memory; a crash stays there), as setpriv `as`
 * says when given. A rejection prints { rejected: code }. Returns
 * { status, signal, out, err }.
 */
export function importChild(code, { as } = {}) {
  const script = `const { importFiles } = require(${JSON.stringify(ROOT)});\n(async () => { ${code} })().catch((e) => { console.log(JSON.stringify({ rejected: e.code })) })`
  const argv = as ? ['setpriv', [...as, process.execPath, '-e', script]] : [process.execPath, ['-e', script]]
  const r = spawnSync(argv[0], argv[1], { encoding: 'utf8' })
  return { status: r.status, signal: r.signal, out: r.stdout.trim(), err: r.stderr }
}

/**
 * Runs an importFiles/copyDir script (an async body; `importFiles`,
 * `copyDir` and `execFileSync` in scope) in a fresh process, optionally
 * wrapped by a command (setpriv, unshare). Its last line of stdout, parsed; a
 * rejection prints { rejected: code, message }.
 */
export function importChildJson(code, wrap = []) {
  const script = `const { importFiles, copyDir } = require(${JSON.stringify(ROOT)});\nconst { execFileSync } = require('node:child_process');\n(async () => { ${code} })().catch((e) => { console.log(JSON.stringify({ rejected: e.code, message: e.message })) })`
  const argv = [...wrap, process.execPath, '-e', script]
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' })
  const lines = r.stdout.trim().split('\n')
  try {
    return JSON.parse(lines[lines.length - 1])
  } catch {
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }
  }
}

/** `size` random bytes, every 8 MiB chunk different (a chunk's number in its head). */
export function writeNumberedFile(file, size) {
  const chunk = randomBytes(8 << 20)
  const fd = fs.openSync(file, 'w')
  for (let at = 0; at < size; at += chunk.length) {
    chunk.writeUInt32LE(at / chunk.length, 0)
    fs.writeSync(fd, chunk, 0, Math.min(chunk.length, size - at), at)
  }
  fs.closeSync(fd)
}

/** A shell script `name` in `dir` owned by `uid` (and gid) with mode 6755 (setuid and setgid); its path. */
export function setuidScript(dir, name, uid) {
  const f = path.join(dir, name)
  fs.writeFileSync(f, '#!/bin/sh\necho hi\n')
  fs.chownSync(f, uid, uid)
  fs.chmodSync(f, 0o6755)
  return f
}

const shims = new Map()
/**
 * Builds C `source` into an LD_PRELOAD shim (gcc -Wall -Werror, -ldl) in a
 * temporary directory removed at exit; its path. Built once per source.
 */
export function buildShim(source) {
  if (shims.has(source)) return shims.get(source)
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'cowcopy-shim-'))
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, 'shim.c'), source)
  const so = path.join(dir, 'shim.so')
  execFileSync('gcc', ['-shared', '-fPIC', '-O1', '-Wall', '-Werror', '-o', so, path.join(dir, 'shim.c'), '-ldl'], { stdio: 'pipe' })
  shims.set(source, so)
  return so
}
