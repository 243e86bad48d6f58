// The same API on fs.copyFile, for platforms where the addon cannot load (or
// COWCOPY_NATIVE=0). Every result says method 'fs'. Holes are not promised.
// fs.copyFile (libuv) unlinks the destination when a copy fails, even one
// that existed: it only ever gets a name that did not exist (COPYFILE_EXCL,
// or a temporary file). An existing destination is opened and written in
// place, as the native engine does, or replaced by rename (atomic, or a
// clone that must not be a byte copy).
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { AbortError, systemError } from './errors'
import { warnNoNative } from './native'
import { rethrowLater } from './progress'
import type { CopyResult } from './copy-file'
import type { ParsedCopy } from './validate'

const ENOSYS = 38
const EINVAL = 22
// An in-place overwrite moves the bytes itself, this much at a time (and
// looks at the signal between chunks).
const CHUNK = 1 << 20

function fsFlags(p: ParsedCopy): number {
  let flags = p.overwrite ? 0 : fs.constants.COPYFILE_EXCL
  if (p.reflink === 'always') flags |= fs.constants.COPYFILE_FICLONE_FORCE
  else if (p.reflink === 'auto') flags |= fs.constants.COPYFILE_FICLONE
  return flags
}

type Bytes = string | Buffer

// dest split into its directory and name; Buffers stay bytes (a name that
// is not UTF-8 must not be decoded).
function split(dest: Bytes): [Bytes, Bytes] {
  if (typeof dest === 'string') return [path.dirname(dest), path.basename(dest)]
  let end = dest.length
  while (end > 1 && dest[end - 1] === 0x2f) end--
  const slash = dest.lastIndexOf(0x2f, end - 1)
  const dir = slash === -1 ? Buffer.from('.') : slash === 0 ? Buffer.from('/') : dest.subarray(0, slash)
  return [dir, dest.subarray(slash + 1, end)]
}

function cat(...parts: Bytes[]): Bytes {
  if (parts.every((x) => typeof x === 'string')) return parts.join('')
  return Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : x)))
}

function tempBeside(dest: Bytes): Bytes {
  const [dir, base] = split(dest)
  return cat(dir, '/.', base, `.cowcopy-${randomBytes(6).toString('hex')}`)
}

function stagingPrefix(dest: Bytes): Bytes {
  return cat(split(dest)[0], '/.cowcopy-')
}

function checkSupported(src: string | Buffer, dest: string | Buffer, p: ParsedCopy): void {
  warnNoNative()
  if (p.preserve.xattrs) {
    throw systemError(ENOSYS, 'copyfile', src, dest, 'preserving extended attributes needs the native addon')
  }
}

// cp's rule: setuid/setgid survive only when ownership is preserved or the
// copier owns the source. fs.copyFile gives the copy the source's whole mode
// (setuid/setgid included) the moment it creates it, owned by the copier:
// root copying another user's 6755 file would make a setuid-root file of
// that user's content. Such a source is first copied into a private (0700)
// directory beside the destination and the bits dropped there, before any
// name another user can reach holds it; the destination is copied from that.
function foreignSetid(st: fs.Stats): boolean {
  return (st.mode & 0o6000) !== 0 && typeof process.geteuid === 'function' && st.uid !== process.geteuid()
}

// Steps after the data, in the native engine's order. chown clears
// setuid/setgid (Linux, root too): the mode is set again after it.
function finishSync(st: fs.Stats, target: Bytes, p: ParsedCopy): void {
  if (p.preserve.ownership) {
    try {
      fs.chownSync(target, st.uid, st.gid)
      if (st.mode & 0o6000) fs.chmodSync(target, st.mode & 0o7777)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err
      fs.chmodSync(target, st.mode & 0o1777)
    }
  }
  if (p.preserve.timestamps) fs.utimesSync(target, st.atime, st.mtime)
  if (p.fsync) {
    const fd = fs.openSync(target, 'r')
    try {
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
  }
}


// The existing file at dest, opened for writing in place; null when there is
// none. O_NONBLOCK: opening a FIFO must not wait for a reader (it fails).
const OPEN_EXISTING = fs.constants.O_WRONLY | fs.constants.O_NOCTTY | fs.constants.O_NONBLOCK

type Existing = { fd: number; st: fs.Stats } | null

function checkExisting(st: fs.Stats, src: Bytes, dest: Bytes): void {
  if (!st.isFile()) {
    throw systemError(EINVAL, 'copyfile', src, dest, st.isDirectory() ? 'the destination is a directory' : 'the destination is not a regular file')
  }
}

function openExistingSync(src: Bytes, dest: Bytes): Existing {
  let fd: number
  try {
    fd = fs.openSync(dest, OPEN_EXISTING)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  try {
    const st = fs.fstatSync(fd)
    checkExisting(st, src, dest)
    return { fd, st }
  } catch (err) {
    fs.closeSync(fd)
    throw err
  }
}

// fs.copyFile's error for a copy from src to dest (it ran onto a temporary name).
function asCopyError(err: unknown, src: Bytes, dest: Bytes): unknown {
  const e = err as NodeJS.ErrnoException
  return typeof e?.errno === 'number' ? systemError(-e.errno, 'copyfile', src, dest) : err
}

function mustNotAbort(p: ParsedCopy): void {
  if (p.signal?.aborted) throw new AbortError(undefined, { cause: p.signal.reason })
}

// The bytes of `from` into the open existing file, from offset 0, then its
// length cut to what was copied; the mode follows the source, as fs.copyFile
// gives it.
function overwriteSync(from: Bytes, fd: number, mode: number): number {
  const input = fs.openSync(from, 'r')
  try {
    fs.ftruncateSync(fd, 0)
    const buf = Buffer.allocUnsafe(CHUNK)
    let off = 0
    for (;;) {
      const got = fs.readSync(input, buf, 0, CHUNK, off)
      if (got === 0) break
      for (let done = 0; done < got;) done += fs.writeSync(fd, buf, done, got - done, off + done)
      off += got
    }
    fs.ftruncateSync(fd, off)
    fs.fchmodSync(fd, mode)
    return off
  } finally {
    fs.closeSync(input)
  }
}

async function overwrite(from: Bytes, fd: fs.promises.FileHandle, mode: number, p: ParsedCopy): Promise<number> {
  const input = await fs.promises.open(from, 'r')
  try {
    await fd.truncate(0)
    const buf = Buffer.allocUnsafe(CHUNK)
    let off = 0
    for (;;) {
      mustNotAbort(p)
      const { bytesRead: got } = await input.read(buf, 0, CHUNK, off)
      if (got === 0) break
      for (let done = 0; done < got;) done += (await fd.write(buf, done, got - done, off + done)).bytesWritten
      off += got
    }
    await fd.truncate(off)
    await fd.chmod(mode)
    return off
  } finally {
    await input.close()
  }
}

function sameFile(a: fs.Stats, b: fs.Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino
}

// The mode a copy gets: the source's, less setuid/setgid of another owner.
function copyMode(st: fs.Stats): number {
  return foreignSetid(st) ? st.mode & 0o1777 : st.mode & 0o7777
}

// The final call of onProgress: the copy is complete and kept, so a throw
// cannot turn it into a failure (see progress.ts rethrowLater).
function finalProgress(p: ParsedCopy, bytes: number): void {
  try {
    p.onProgress?.({ bytesCopied: bytes, totalBytes: bytes })
  } catch (err) {
    rethrowLater(err)
  }
}

export function fsCopySync(src: string | Buffer, dest: string | Buffer, p: ParsedCopy): CopyResult {
  checkSupported(src, dest, p)
  // A missing source: fs.copyFile's own error ('copyfile'), as without cowcopy.
  let st = fs.statSync(src, { throwIfNoEntry: false })
  if (!st) {
    // Throws; if it does not, the source came back. Never onto dest itself:
    // libuv would unlink an existing one on a later failure.
    const probe = tempBeside(dest)
    try {
      fs.copyFileSync(src, probe, fs.constants.COPYFILE_EXCL)
    } catch (err) {
      throw asCopyError(err, src, dest)
    }
    fs.rmSync(probe, { force: true })
    st = fs.statSync(src)
  }
  let staging: Bytes | undefined
  let from: Bytes = src
  try {
    if (foreignSetid(st)) {
      staging = (typeof dest === 'string'
        ? fs.mkdtempSync(stagingPrefix(dest) as string)
        : fs.mkdtempSync(stagingPrefix(dest) as string, { encoding: 'buffer' }))
      from = cat(staging, '/f')
      fs.copyFileSync(src, from, fsFlags({ ...p, overwrite: true }))
      fs.chmodSync(from, st.mode & 0o1777)
    }
    // Up to three rounds, as the native open: a name created or removed by
    // someone else between the open and the exclusive create.
    for (let round = 0; ; round++) {
      const atomic = p.atomic || (p.overwrite && p.reflink === 'always' && fs.lstatSync(dest, { throwIfNoEntry: false }) !== undefined)
      if (!atomic && p.overwrite) {
        const existing = openExistingSync(src, dest)
        if (existing) {
          try {
            if (sameFile(existing.st, st)) return { method: 'fs', bytes: st.size }
            overwriteSync(from, existing.fd, copyMode(st))
          } finally {
            fs.closeSync(existing.fd)
          }
          finishSync(st, dest, p)
          break
        }
      }
      const target = atomic ? tempBeside(dest) : dest
      try {
        fs.copyFileSync(from, target, fsFlags({ ...p, overwrite: false }))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST' && p.overwrite && !atomic && round < 2) continue
        throw err
      }
      try {
        finishSync(st, target, p)
        if (atomic) {
          if (p.overwrite) fs.renameSync(target, dest)
          else {
            fs.linkSync(target, dest)
            fs.unlinkSync(target)
          }
        }
      } catch (err) {
        fs.rmSync(target, { force: true })
        throw err
      }
      break
    }
  } finally {
    if (staging) fs.rmSync(staging, { recursive: true, force: true })
  }
  return { method: 'fs', bytes: fs.statSync(dest).size }
}

async function finish(st: fs.Stats, target: Bytes, p: ParsedCopy): Promise<void> {
  if (p.preserve.ownership) {
    try {
      await fs.promises.chown(target, st.uid, st.gid)
      if (st.mode & 0o6000) await fs.promises.chmod(target, st.mode & 0o7777)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err
      await fs.promises.chmod(target, st.mode & 0o1777)
    }
  }
  if (p.preserve.timestamps) await fs.promises.utimes(target, st.atime, st.mtime)
  if (p.fsync) {
    const fh = await fs.promises.open(target, 'r')
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
  }
}

async function openExisting(src: Bytes, dest: Bytes): Promise<{ fh: fs.promises.FileHandle; st: fs.Stats } | null> {
  let fh: fs.promises.FileHandle
  try {
    fh = await fs.promises.open(dest, OPEN_EXISTING)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  let st: fs.Stats
  try {
    st = await fh.stat()
    checkExisting(st, src, dest)
  } catch (err) {
    await fh.close()
    throw err
  }
  return { fh, st }
}

/**
 * The promise fallback. An abort is seen between steps and, over an existing
 * file, between 1 MiB chunks; fs.copyFile itself cannot be stopped, so a new
 * destination (or atomic temporary file) is removed once it returns and the
 * promise rejects with an AbortError.
 */
export async function fsCopy(src: string | Buffer, dest: string | Buffer, p: ParsedCopy): Promise<CopyResult> {
  checkSupported(src, dest, p)
  // A missing source: fs.copyFile's own error ('copyfile'), as without cowcopy.
  const st = await fs.promises.stat(src).catch(async () => {
    // Throws; if it does not, the source came back (see fsCopySync).
    const probe = tempBeside(dest)
    await fs.promises.copyFile(src, probe, fs.constants.COPYFILE_EXCL).catch((err) => {
      throw asCopyError(err, src, dest)
    })
    await fs.promises.rm(probe, { force: true })
    return fs.promises.stat(src)
  })
  let staging: Bytes | undefined
  let from: Bytes = src
  let bytes = -1
  try {
    mustNotAbort(p)
    if (foreignSetid(st)) {
      staging = typeof dest === 'string'
        ? await fs.promises.mkdtemp(stagingPrefix(dest) as string)
        : await fs.promises.mkdtemp(stagingPrefix(dest) as string, { encoding: 'buffer' })
      from = cat(staging, '/f')
      await fs.promises.copyFile(src, from, fsFlags({ ...p, overwrite: true }))
      await fs.promises.chmod(from, st.mode & 0o1777)
    }
    for (let round = 0; ; round++) {
      mustNotAbort(p)
      const atomic = p.atomic || (p.overwrite && p.reflink === 'always' &&
        (await fs.promises.lstat(dest).then(() => true, () => false)))
      if (!atomic && p.overwrite) {
        const existing = await openExisting(src, dest)
        if (existing) {
          try {
            if (sameFile(existing.st, st)) {
              bytes = st.size
              break
            }
            await overwrite(from, existing.fh, copyMode(st), p)
          } finally {
            await existing.fh.close()
          }
          await finish(st, dest, p)
          break
        }
      }
      const target = atomic ? tempBeside(dest) : dest
      try {
        await fs.promises.copyFile(from, target, fsFlags({ ...p, overwrite: false }))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST' && p.overwrite && !atomic && round < 2) continue
        throw err
      }
      // From here `target` is this call's: removed if anything fails or the
      // signal fired while fs.copyFile ran.
      try {
        mustNotAbort(p)
        await finish(st, target, p)
        mustNotAbort(p)
        if (atomic) {
          if (p.overwrite) await fs.promises.rename(target, dest)
          else {
            await fs.promises.link(target, dest)
            await fs.promises.unlink(target)
          }
        }
      } catch (err) {
        await fs.promises.rm(target, { force: true })
        throw err
      }
      break
    }
  } finally {
    if (staging) await fs.promises.rm(staging, { recursive: true, force: true })
  }
  if (bytes < 0) bytes = (await fs.promises.stat(dest)).size
  finalProgress(p, bytes)
  return { method: 'fs', bytes }
}
