// The same API on fs.copyFile, for platforms where the addon cannot load (or
// COWCOPY_NATIVE=0). Every result says method 'fs'. Holes are not promised.
// fs.copyFile (libuv) unlinks the destination when a copy fails, even one
// that existed: it only ever gets a name that did not exist (COPYFILE_EXCL,
// or a temporary file). An existing destination is opened and written in
// place, as the native engine does, or replaced by rename (atomic, a batch,
// or a clone that must not be a byte copy).
//
// Names are never trusted after they are created: chown, chmod, utimes and
// fsync go through a descriptor this call opened. A copy into a directory
// another user can write, or of another user's setuid/setgid file, is made
// by this module's own O_EXCL|O_NOFOLLOW create (mode 0600) and read/write
// loop, never by fs.copyFile (which creates with the source's whole mode,
// and whose name could be swapped before the metadata calls).
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
const EPERM = 1
const ENOTSUP = 95
// An in-place overwrite or an own copy moves the bytes itself, this much at a
// time (and looks at the signal between chunks).
const CHUNK = 1 << 20
const NO_CLONE = 'a clone into a directory others can write, or of another user\'s setuid file, needs the native addon'

const C = fs.constants
// The own create: a new name only, never through a symlink, private until done.
const CREATE = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW | C.O_NOCTTY
// fs.copyFile's result, reopened to set its metadata.
const REOPEN = C.O_RDWR | C.O_NOFOLLOW | C.O_NOCTTY | C.O_NONBLOCK
// The source: O_NONBLOCK, a FIFO must not wait for a writer.
const SOURCE = C.O_RDONLY | C.O_NONBLOCK | C.O_NOCTTY

function fsFlags(p: ParsedCopy): number {
  let flags = p.overwrite ? 0 : C.COPYFILE_EXCL
  if (p.reflink === 'always') flags |= C.COPYFILE_FICLONE_FORCE
  else if (p.reflink === 'auto') flags |= C.COPYFILE_FICLONE
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

function checkSupported(src: string | Buffer, dest: string | Buffer, p: ParsedCopy): void {
  warnNoNative()
  if (p.preserve.xattrs) {
    throw systemError(ENOSYS, 'copyfile', src, dest, 'preserving extended attributes needs the native addon')
  }
}

const euid = (): number => (typeof process.geteuid === 'function' ? process.geteuid() : -1)

// cp's rule: setuid/setgid survive only when ownership is preserved or the
// copier owns the source. fs.copyFile gives the copy the source's whole mode
// (setuid/setgid included) the moment it creates it, owned by the copier:
// root copying another user's 6755 file would make a setuid-root file of
// that user's content. Such a source is copied by the own create (0600
// until its data and metadata are done), never by fs.copyFile.
function foreignSetid(st: fs.Stats): boolean {
  return (st.mode & 0o6000) !== 0 && euid() !== -1 && st.uid !== euid()
}

// A directory another user can write (group/other write, or owned by
// neither the copier nor root): a name created there can be swapped before
// fs.copyFile's result is reopened. A directory that cannot be stat'ed is
// left to fs.copyFile, whose error is the one to report.
function sharedDir(dir: fs.Stats | undefined): boolean {
  if (!dir || euid() === -1) return false
  return (dir.mode & 0o022) !== 0 || (dir.uid !== euid() && dir.uid !== 0)
}

function ownCopy(st: fs.Stats, dir: fs.Stats | undefined, src: Bytes, dest: Bytes, p: ParsedCopy): boolean {
  const own = foreignSetid(st) || sharedDir(dir)
  if (own && p.reflink === 'always') throw systemError(ENOTSUP, 'copyfile', src, dest, NO_CLONE)
  return own
}

// The mode a copy gets: the source's, less setuid/setgid of another owner.
function copyMode(st: fs.Stats): number {
  return foreignSetid(st) ? st.mode & 0o1777 : st.mode & 0o7777
}

// The metadata steps on our own descriptor, in the native engine's order.
// chown clears setuid/setgid (Linux, root too): the mode is set after it.
type Meta = { owner?: [number, number]; mode: number; times?: [Date, Date]; fsync: boolean }

function metaOf(st: fs.Stats, p: ParsedCopy): Meta {
  return {
    owner: p.preserve.ownership ? [st.uid, st.gid] : undefined,
    mode: p.preserve.ownership ? st.mode & 0o7777 : copyMode(st),
    times: p.preserve.timestamps ? [st.atime, st.mtime] : undefined,
    fsync: p.fsync,
  }
}

function isEperm(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'EPERM'
}

// Node 20's permission model refuses fchmod, fchown and futimes outright
// (ERR_ACCESS_DENIED: it cannot check a descriptor against its path rules).
// There, and only there, the call goes by name, which the model does check.
function deniedByPermissionModel(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ERR_ACCESS_DENIED'
}

function fdOrNameSync(byFd: () => void, byName: () => void): void {
  try {
    byFd()
  } catch (err) {
    if (!deniedByPermissionModel(err)) throw err
    byName()
  }
}

async function fdOrName(byFd: () => Promise<void>, byName: () => Promise<void>): Promise<void> {
  try {
    await byFd()
  } catch (err) {
    if (!deniedByPermissionModel(err)) throw err
    await byName()
  }
}

function metaSync(fd: number, name: Bytes, st: fs.Stats, p: ParsedCopy): void {
  const m = metaOf(st, p)
  if (m.owner) {
    const [uid, gid] = m.owner
    try {
      fdOrNameSync(() => fs.fchownSync(fd, uid, gid), () => fs.chownSync(name, uid, gid))
    } catch (err) {
      if (!isEperm(err)) throw err
      m.mode = st.mode & 0o1777
    }
  }
  fdOrNameSync(() => fs.fchmodSync(fd, m.mode), () => fs.chmodSync(name, m.mode))
  const times = m.times
  if (times) fdOrNameSync(() => fs.futimesSync(fd, times[0], times[1]), () => fs.utimesSync(name, times[0], times[1]))
  if (m.fsync) fs.fsyncSync(fd)
}

async function meta(fh: fs.promises.FileHandle, name: Bytes, st: fs.Stats, p: ParsedCopy): Promise<void> {
  const m = metaOf(st, p)
  if (m.owner) {
    const [uid, gid] = m.owner
    try {
      await fdOrName(() => fh.chown(uid, gid), () => fs.promises.chown(name, uid, gid))
    } catch (err) {
      if (!isEperm(err)) throw err
      m.mode = st.mode & 0o1777
    }
  }
  await fdOrName(() => fh.chmod(m.mode), () => fs.promises.chmod(name, m.mode))
  const times = m.times
  if (times) await fdOrName(() => fh.utimes(times[0], times[1]), () => fs.promises.utimes(name, times[0], times[1]))
  if (m.fsync) await fh.sync()
}

// The existing file at dest, opened for writing in place; null when there is
// none. It follows a symlink, as fs.copyFile does (copyFile only; a batch
// never opens an existing destination). O_NONBLOCK: opening a FIFO must not
// wait for a reader (it fails).
const OPEN_EXISTING = C.O_WRONLY | C.O_NOCTTY | C.O_NONBLOCK

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

// The bytes of the source descriptor into `fd` from offset 0, then its
// length cut to what was copied (an existing file may have been longer).
function pumpSync(input: number, fd: number): number {
  const buf = Buffer.allocUnsafe(CHUNK)
  let off = 0
  for (;;) {
    const got = fs.readSync(input, buf, 0, CHUNK, off)
    if (got === 0) break
    for (let done = 0; done < got;) done += fs.writeSync(fd, buf, done, got - done, off + done)
    off += got
  }
  fs.ftruncateSync(fd, off)
  return off
}

async function pump(input: fs.promises.FileHandle, fh: fs.promises.FileHandle, p: ParsedCopy): Promise<number> {
  const buf = Buffer.allocUnsafe(CHUNK)
  let off = 0
  for (;;) {
    mustNotAbort(p)
    const { bytesRead: got } = await input.read(buf, 0, CHUNK, off)
    if (got === 0) break
    for (let done = 0; done < got;) done += (await fh.write(buf, done, got - done, off + done)).bytesWritten
    off += got
  }
  await fh.truncate(off)
  return off
}

// An existing destination written in place: emptied, the source's bytes,
// the mode it would get as a new file (copyMode; fchmod before the data
// would do for a setuid source, and the kernel clears setuid on write too).
function overwriteSync(src: Bytes, fd: number, name: Bytes, st: fs.Stats, p: ParsedCopy): void {
  const input = fs.openSync(src, SOURCE)
  try {
    fdOrNameSync(() => fs.fchmodSync(fd, copyMode(st) & 0o777), () => fs.chmodSync(name, copyMode(st) & 0o777))
    fs.ftruncateSync(fd, 0)
    pumpSync(input, fd)
  } finally {
    fs.closeSync(input)
  }
  metaSync(fd, name, st, p)
}

async function overwrite(src: Bytes, fh: fs.promises.FileHandle, name: Bytes, st: fs.Stats, p: ParsedCopy): Promise<void> {
  const input = await fs.promises.open(src, SOURCE)
  try {
    await fdOrName(() => fh.chmod(copyMode(st) & 0o777), () => fs.promises.chmod(name, copyMode(st) & 0o777))
    await fh.truncate(0)
    await pump(input, fh, p)
  } finally {
    await input.close()
  }
  await meta(fh, name, st, p)
}

function sameFile(a: fs.Stats, b: fs.Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino
}

// fs.copyFile's new file, reopened: it must still be the regular file this
// call made (owned by the copier, one link) before any metadata through it.
function checkCreated(st: fs.Stats, src: Bytes, dest: Bytes): void {
  if (!st.isFile() || (euid() !== -1 && st.uid !== euid()) || st.nlink !== 1) {
    throw systemError(EPERM, 'copyfile', src, dest, 'the new destination was replaced by another file before its metadata was set')
  }
}

// Removes `name` only while it is still the file open on `fd`; a name that
// is not provably ours is left alone.
function removeOursSync(name: Bytes, ours: fs.Stats | undefined): void {
  if (!ours) return
  try {
    const now = fs.lstatSync(name, { throwIfNoEntry: false })
    if (now && sameFile(now, ours)) fs.unlinkSync(name)
  } catch {
    // The failure being reported matters more.
  }
}

async function removeOurs(name: Bytes, ours: fs.Stats | undefined): Promise<void> {
  if (!ours) return
  try {
    const now = await fs.promises.lstat(name)
    if (sameFile(now, ours)) await fs.promises.unlink(name)
  } catch {
    // The failure being reported matters more.
  }
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

// A new file at `target` (which must not exist) with the source's data and
// metadata; returns its size. EEXIST when the name exists. On any other
// failure the file is removed, if the name is still ours.
function createSync(src: Bytes, target: Bytes, dest: Bytes, st: fs.Stats, own: boolean, p: ParsedCopy): number {
  let fd = -1
  let ours: fs.Stats | undefined
  try {
    if (own) {
      try {
        fd = fs.openSync(target, CREATE, 0o600)
      } catch (err) {
        throw asCopyError(err, src, dest)
      }
      ours = fs.fstatSync(fd)
      const input = fs.openSync(src, SOURCE)
      try {
        pumpSync(input, fd)
      } catch (err) {
        throw asCopyError(err, src, dest)
      } finally {
        fs.closeSync(input)
      }
    } else {
      fs.copyFileSync(src, target, fsFlags({ ...p, overwrite: false }))
      fd = fs.openSync(target, REOPEN)
      const now = fs.fstatSync(fd)
      checkCreated(now, src, dest)
      ours = now
    }
    metaSync(fd, target, st, p)
    return fs.fstatSync(fd).size
  } catch (err) {
    if (fd >= 0) {
      removeOursSync(target, ours)
      fs.closeSync(fd)
      fd = -1
    }
    throw err
  } finally {
    if (fd >= 0) fs.closeSync(fd)
  }
}

async function create(src: Bytes, target: Bytes, dest: Bytes, st: fs.Stats, own: boolean, p: ParsedCopy): Promise<number> {
  let fh: fs.promises.FileHandle | undefined
  let ours: fs.Stats | undefined
  try {
    if (own) {
      try {
        fh = await fs.promises.open(target, CREATE, 0o600)
      } catch (err) {
        throw asCopyError(err, src, dest)
      }
      ours = await fh.stat()
      const input = await fs.promises.open(src, SOURCE)
      try {
        await pump(input, fh, p)
      } catch (err) {
        throw err instanceof AbortError ? err : asCopyError(err, src, dest)
      } finally {
        await input.close()
      }
    } else {
      await fs.promises.copyFile(src, target, fsFlags({ ...p, overwrite: false }))
      // From here `target` is this call's, once reopened and checked: removed
      // if anything fails or the signal fired while fs.copyFile ran.
      fh = await fs.promises.open(target, REOPEN)
      const now = await fh.stat()
      checkCreated(now, src, dest)
      ours = now
    }
    mustNotAbort(p)
    await meta(fh, target, st, p)
    mustNotAbort(p)
    return (await fh.stat()).size
  } catch (err) {
    if (fh) await removeOurs(target, ours)
    throw err
  } finally {
    await fh?.close()
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
      fs.copyFileSync(src, probe, C.COPYFILE_EXCL)
    } catch (err) {
      throw asCopyError(err, src, dest)
    }
    fs.rmSync(probe, { force: true })
    st = fs.statSync(src)
  }
  const own = ownCopy(st, fs.statSync(split(dest)[0], { throwIfNoEntry: false }), src, dest, p)
  // Up to three rounds, as the native open: a name created or removed by
  // someone else between the open and the exclusive create.
  for (let round = 0; ; round++) {
    const atomic = p.atomic || (p.overwrite && p.reflink === 'always' && fs.lstatSync(dest, { throwIfNoEntry: false }) !== undefined)
    if (!atomic && p.overwrite) {
      const existing = openExistingSync(src, dest)
      if (existing) {
        try {
          if (sameFile(existing.st, st)) return { method: 'fs', bytes: st.size }
          overwriteSync(src, existing.fd, dest, st, p)
          return { method: 'fs', bytes: fs.fstatSync(existing.fd).size }
        } finally {
          fs.closeSync(existing.fd)
        }
      }
    }
    const target = atomic ? tempBeside(dest) : dest
    let bytes: number
    try {
      bytes = createSync(src, target, dest, st, own, p)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && p.overwrite && !atomic && round < 2) continue
      throw err
    }
    if (atomic) {
      const ours = fs.lstatSync(target)
      try {
        if (p.overwrite) fs.renameSync(target, dest)
        else {
          fs.linkSync(target, dest)
          fs.unlinkSync(target)
        }
      } catch (err) {
        removeOursSync(target, ours)
        throw err
      }
    }
    return { method: 'fs', bytes }
  }
}

/**
 * The promise fallback. An abort is seen between steps and between 1 MiB
 * chunks of a copy made here; fs.copyFile itself cannot be stopped, so a new
 * destination (or atomic temporary file) is removed once it returns and the
 * promise rejects with an AbortError.
 */
export async function fsCopy(src: string | Buffer, dest: string | Buffer, p: ParsedCopy): Promise<CopyResult> {
  checkSupported(src, dest, p)
  // A missing source: fs.copyFile's own error ('copyfile'), as without cowcopy.
  const st = await fs.promises.stat(src).catch(async () => {
    // Throws; if it does not, the source came back (see fsCopySync).
    const probe = tempBeside(dest)
    await fs.promises.copyFile(src, probe, C.COPYFILE_EXCL).catch((err) => {
      throw asCopyError(err, src, dest)
    })
    await fs.promises.rm(probe, { force: true })
    return fs.promises.stat(src)
  })
  mustNotAbort(p)
  const own = ownCopy(st, await fs.promises.stat(split(dest)[0]).catch(() => undefined), src, dest, p)
  let bytes = -1
  for (let round = 0; ; round++) {
    mustNotAbort(p)
    const atomic = p.atomic || (p.overwrite && p.reflink === 'always' &&
      (await fs.promises.lstat(dest).then(() => true, () => false)))
    if (!atomic && p.overwrite) {
      const existing = await openExisting(src, dest)
      if (existing) {
        try {
          if (sameFile(existing.st, st)) bytes = st.size
          else {
            await overwrite(src, existing.fh, dest, st, p)
            bytes = (await existing.fh.stat()).size
          }
        } finally {
          await existing.fh.close()
        }
        break
      }
    }
    const target = atomic ? tempBeside(dest) : dest
    try {
      bytes = await create(src, target, dest, st, own, p)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && p.overwrite && !atomic && round < 2) continue
      throw err
    }
    if (atomic) {
      const ours = await fs.promises.lstat(target)
      try {
        mustNotAbort(p)
        if (p.overwrite) await fs.promises.rename(target, dest)
        else {
          await fs.promises.link(target, dest)
          await fs.promises.unlink(target)
        }
      } catch (err) {
        await removeOurs(target, ours)
        throw err
      }
    }
    break
  }
  finalProgress(p, bytes)
  return { method: 'fs', bytes }
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
