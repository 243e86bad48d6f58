// The portable engine's file steps, shared by copyFile, the batches and the
// tree walk: open a source without blocking and prove it is a regular file,
// create a destination that did not exist (never through a symlink), move
// the bytes, set metadata through a descriptor, remove only what is ours.
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { AbortError, asSystemError, systemError } from '../errors'
import type { AbortSignalInstance } from '../global-types'
import type { ParsedCopy } from '../validate'
import { hasLayer } from './layer'
import { call, close, closeQuietly, codeOf, fstat, lstatMaybe, open, read, sleep, write, type Bytes, type Steps } from './ops'

const C = fs.constants
// Windows has neither O_NOFOLLOW nor O_NONBLOCK: there, a symlink at a name
// is seen by lstat before the open, and no FIFO can be opened by path.
const O_NOFOLLOW = C.O_NOFOLLOW ?? 0
const O_NONBLOCK = C.O_NONBLOCK ?? 0
const O_NOCTTY = C.O_NOCTTY ?? 0
export const isWindows = process.platform === 'win32'

/** A source: never waits for a FIFO's writer, never becomes a controlling tty. */
const SOURCE = C.O_RDONLY | O_NONBLOCK | O_NOCTTY
/** The own create: a new name only, never through a symlink, private (0600) until done. */
const CREATE = C.O_WRONLY | C.O_CREAT | C.O_EXCL | O_NOFOLLOW | O_NOCTTY
/** A file fs.copyFile made, reopened for its metadata: read-only, so a 0444 copy can be reopened. */
const REOPEN = C.O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY
/** Bytes moved per read/write; the signal is looked at between chunks. */
const CHUNK = 1 << 20
/** Zero runs this long in a sparse source become holes. */
const HOLE = 64 << 10
const ZEROS = Buffer.alloc(HOLE)

// On Linux, fs.copyFile and fs.link are given /proc/self/fd/N: the inode the
// call opened and checked, not whatever the name leads to a moment later.
const procFd = process.platform === 'linux' && fs.existsSync('/proc/self/fd')

export function notRegularReason(st: fs.Stats, source: boolean): string {
  const who = source ? 'source' : 'destination'
  if (st.isCharacterDevice()) return `${who} is a character device, not a regular file`
  if (st.isBlockDevice()) return `${who} is a block device, not a regular file`
  if (st.isFIFO()) return `${who} is a FIFO, not a regular file`
  if (st.isSocket()) return `${who} is a socket, not a regular file`
  if (st.isSymbolicLink()) return source ? 'source is a symbolic link, not following it' : 'destination is a symbolic link, not writing through it'
  return `${who} is not a regular file`
}

export interface Source {
  fd: number
  st: fs.Stats
  path: Bytes
  /** What fs.copyFile opens: the checked inode where the OS can say so. */
  ref: Bytes
}

/**
 * Opens `src` for reading and proves it is a regular file: a FIFO, socket
 * or device is refused (EINVAL) before a byte is read, a directory EISDIR.
 * `noFollow`: a symlink at the name is ELOOP, never followed.
 */
export function* openSource(src: Bytes, noFollow: boolean, syscall: string, dest?: Bytes): Steps<Source> {
  let fd: number
  try {
    fd = yield* open(src, SOURCE | (noFollow ? O_NOFOLLOW : 0))
  } catch (err) {
    if (noFollow && codeOf(err) === 'ELOOP') throw systemError('ELOOP', syscall, src, dest, 'source is a symbolic link, not following it')
    throw asSystemError(err, syscall, src, dest)
  }
  try {
    const st = yield* fstat(fd)
    if (st.isDirectory()) throw systemError('EISDIR', syscall, src, dest)
    if (!st.isFile()) throw systemError('EINVAL', syscall, src, dest, notRegularReason(st, true))
    return { fd, st, path: src, ref: procFd ? `/proc/self/fd/${fd}` : src }
  } catch (err) {
    yield* closeQuietly(fd)
    throw err
  }
}

// dest split into its directory and name; Buffers stay bytes (a name that
// is not UTF-8 must not be decoded).
export function splitPath(dest: Bytes): [Bytes, Bytes] {
  if (typeof dest === 'string') return [path.dirname(dest), path.basename(dest)]
  let end = dest.length
  while (end > 1 && dest[end - 1] === 0x2f) end--
  const slash = dest.lastIndexOf(0x2f, end - 1)
  const dir = slash === -1 ? Buffer.from('.') : slash === 0 ? Buffer.from('/') : dest.subarray(0, slash)
  return [dir, dest.subarray(slash + 1, end)]
}

export function joinPath(...parts: Bytes[]): Bytes {
  if (parts.every((x) => typeof x === 'string')) return (parts as string[]).join('')
  return Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : x)))
}

/**
 * At most `max` bytes of a name, so a temporary name built on it fits
 * NAME_MAX (255 bytes); a string is never cut inside a UTF-8 character.
 */
export function shortName(name: Bytes, max: number): Bytes {
  if (typeof name !== 'string') return name.subarray(0, max)
  if (Buffer.byteLength(name) <= max) return name
  let out = ''
  let bytes = 0
  for (const ch of name) {
    const n = Buffer.byteLength(ch)
    if (bytes + n > max) break
    out += ch
    bytes += n
  }
  return out
}

/** A hidden name beside `dest` that only this call knows. */
export function tempBeside(dest: Bytes): Bytes {
  const [dir, base] = splitPath(dest)
  const sep = typeof dir === 'string' && isWindows ? path.sep : '/'
  return joinPath(dir, sep, '.', shortName(base, 200), `.cowcopy-${randomBytes(6).toString('hex')}`)
}

export const euid = (): number => (typeof process.geteuid === 'function' ? process.geteuid() : -1)

// cp's rule: setuid/setgid survive only when ownership is preserved or the
// copier owns the source.
export function foreignSetid(st: fs.Stats): boolean {
  return (st.mode & 0o6000) !== 0 && euid() !== -1 && st.uid !== euid()
}

/**
 * A directory another user can write (group/other write, or owned by
 * neither the copier nor root) and not sticky: a name created there could be
 * swapped before a second step by name, so only the own create is used
 * there. In a sticky directory (/tmp) only the name's owner can rename or
 * remove it.
 */
export function sharedDir(dir: fs.Stats | undefined): boolean {
  if (!dir || euid() === -1) return false
  if ((dir.mode & 0o1000) !== 0 && (dir.uid === euid() || dir.uid === 0)) return false
  return (dir.mode & 0o022) !== 0 || (dir.uid !== euid() && dir.uid !== 0)
}

/** The mode a copy gets: the source's, less setuid/setgid of another owner. */
export function copyMode(st: fs.Stats): number {
  return foreignSetid(st) ? st.mode & 0o1777 : st.mode & 0o7777
}

export function mustNotAbort(signal: AbortSignalInstance | undefined): void {
  if (signal?.aborted) throw new AbortError(undefined, { cause: signal.reason })
}

/** Bytes done so far and the source's size. */
export type Progress = (done: number, total: number) => void

/**
 * The source's bytes into `fd` from offset 0, then its length set to what
 * was read (never trusting st_size: /proc files say 0). A sparse source's
 * zero runs are skipped, so they stay holes.
 */
export function* pump(src: Source, fd: number, p: Pick<ParsedCopy, 'sparse' | 'signal'>, progress?: Progress): Steps<number> {
  const buf = Buffer.allocUnsafe(CHUNK)
  const sparse = p.sparse && src.st.blocks !== undefined && src.st.blocks * 512 < src.st.size
  // The size first: writes that never extend the file get no speculative
  // preallocation past their end (XFS), which a later write would keep.
  if (sparse) yield* call('ftruncate', fd, src.st.size)
  let off = 0
  for (;;) {
    mustNotAbort(p.signal)
    let got: number
    try {
      got = yield* read(src.fd, buf, 0, CHUNK, off)
    } catch (err) {
      // A "regular" file whose read would wait (/proc/kmsg): say so.
      if (codeOf(err) === 'EAGAIN') throw systemError('EAGAIN', 'copyfile', src.path, undefined, 'would block: not a regular disk file')
      throw err
    }
    if (got === 0) break
    for (let at = 0; at < got;) {
      const len = sparse ? Math.min(HOLE, got - at) : got - at
      if (!(sparse && len === HOLE && buf.subarray(at, at + len).equals(ZEROS))) {
        for (let done = 0; done < len;) done += yield* write(fd, buf, at + done, len - done, off + at + done)
      }
      at += len
    }
    off += got
    progress?.(off, src.st.size)
  }
  yield* call('ftruncate', fd, off)
  return off
}

export type DataWay = 'clone' | 'auto' | 'plain' | 'own'

/** What writeNew made: the descriptor it holds (its own loop), the bytes, how. */
export interface Written {
  fd: number | undefined
  bytes: number
  way: DataWay
  /** The copy lacks the source's setuid/setgid bits (a clone layer's clone): its mode is not final yet. */
  setidDropped?: boolean
}

/**
 * Writes the source to `target`, a name that must not exist (EEXIST). 'own':
 * this engine's O_EXCL|O_NOFOLLOW create (0600) and read/write loop, a real
 * copy with extents of its own; the others are fs.copyFile with
 * COPYFILE_EXCL and FICLONE_FORCE ('clone': a clone or an error), FICLONE
 * ('auto') or nothing ('plain'). Returns the descriptor when it opened one.
 * On failure nothing is left at `target` (fs.copyFile removes what it made).
 */
export function* writeNew(src: Source, target: Bytes, way: DataWay, p: Pick<ParsedCopy, 'sparse' | 'signal'>, progress?: Progress): Steps<Written> {
  if (way === 'clone' && hasLayer) {
    // The clone layer (macOS clonefile): a clone of the opened inode, or an
    // error. The clone has the source's mode without setuid/setgid.
    yield* call('cloneFile', src.fd, target, src.path)
    return { fd: undefined, bytes: src.st.size, way, setidDropped: (src.st.mode & 0o6000) !== 0 }
  }
  if (way === 'own') {
    const fd = yield* open(target, CREATE, 0o600)
    try {
      const bytes = yield* pump(src, fd, p, progress)
      return { fd, bytes, way }
    } catch (err) {
      yield* unlinkOurs(target, fd)
      yield* closeQuietly(fd)
      throw err
    }
  }
  const flag = way === 'clone' ? C.COPYFILE_FICLONE_FORCE : way === 'auto' ? C.COPYFILE_FICLONE : 0
  try {
    yield* call('copyFile', src.ref, target, C.COPYFILE_EXCL | flag)
  } catch (err) {
    // OpenZFS 2.2+ answers copy_file_range with EAGAIN while block cloning
    // cannot proceed (openzfs/zfs#15170), and libuv passes that on as the
    // copy's failure; a regular file's bytes can still be read, so our own
    // loop copies it (fs.copyFile removed what it made). A clone asked for
    // ('clone') has no other way.
    if (way === 'clone' || codeOf(err) !== 'EAGAIN') throw err
    return yield* writeNew(src, target, 'own', p, progress)
  }
  return { fd: undefined, bytes: src.st.size, way }
}

/** The metadata a copy gets: the mode (setid rule), and what `preserve` asks. */
export interface Meta {
  mode: number
  owner?: [number, number]
  times?: [number, number]
  fsync: boolean
}

export function metaOf(st: fs.Stats, p: Pick<ParsedCopy, 'preserve' | 'fsync'>): Meta {
  return {
    mode: p.preserve.ownership ? st.mode & 0o7777 : copyMode(st),
    owner: p.preserve.ownership ? [st.uid, st.gid] : undefined,
    // Seconds as a double, from the milliseconds with their fraction: as
    // close as Node can set them (a Date would cut them to the millisecond).
    times: p.preserve.timestamps ? [st.atimeMs / 1000, st.mtimeMs / 1000] : undefined,
    fsync: p.fsync,
  }
}

// Node 20's permission model refuses fchmod, fchown and futimes outright
// (ERR_ACCESS_DENIED); there, and only there, the call goes by name.
function* byFdOrName(fdCall: Parameters<typeof call>, nameCall: Parameters<typeof call>): Steps<void> {
  try {
    yield* call(...fdCall)
  } catch (err) {
    if (codeOf(err) !== 'ERR_ACCESS_DENIED') throw err
    yield* call(...nameCall)
  }
}

/**
 * Metadata through `fd` (or, when the data step opened none, through a
 * read-only reopen of `target` that must still be the file this call made).
 * chown clears setuid/setgid: the mode comes after it. `modeSet`: the mode
 * is already the final one (fs.copyFile gave the copy the source's mode).
 */
export function* setMeta(fd: number | undefined, target: Bytes, st: fs.Stats, m: Meta, modeSet: boolean): Steps<void> {
  if (fd === undefined && modeSet && !m.owner && !m.times && !m.fsync) return
  let own = fd
  if (own === undefined) {
    own = yield* open(target, isWindows && m.fsync ? C.O_RDWR : REOPEN)
  }
  try {
    if (fd === undefined) {
      const now = yield* fstat(own)
      if (!now.isFile() || (euid() !== -1 && now.uid !== euid()) || now.nlink !== 1) {
        throw systemError('EPERM', 'copyfile', undefined, target, 'the new destination was replaced by another file before its metadata was set')
      }
    }
    let mode = m.mode
    if (m.owner) {
      try {
        yield* byFdOrName(['fchown', own, ...m.owner], ['chown', target, ...m.owner])
        modeSet = false
      } catch (err) {
        if (codeOf(err) !== 'EPERM') throw err
        mode = st.mode & 0o1777
        modeSet = modeSet && mode === m.mode
      }
    }
    if (!modeSet) yield* byFdOrName(['fchmod', own, mode], ['chmod', target, mode])
    if (m.times) yield* byFdOrName(['futimes', own, ...m.times], ['utimes', target, ...m.times])
    if (m.fsync) yield* call('fsync', own)
  } finally {
    if (fd === undefined) yield* closeQuietly(own)
  }
}

export function sameFile(a: fs.Stats, b: fs.Stats): boolean {
  return a.dev === b.dev && a.ino === b.ino
}

/** Removes `name` only while it is still the file open on `fd` (or `ours`); anything else is left alone. */
export function* unlinkOurs(name: Bytes, fd: number | undefined, ours?: fs.Stats): Steps<void> {
  try {
    const mine = ours ?? (fd === undefined ? undefined : yield* fstat(fd))
    const now = yield* lstatMaybe(name)
    if (mine && now && sameFile(now, mine)) yield* call('unlink', name)
  } catch {
    // The failure being reported matters more.
  }
}

/**
 * rename(2). On Windows a rename over a file another process holds open
 * without FILE_SHARE_DELETE (an antivirus, an indexer) fails with EPERM or
 * EBUSY for a moment: tried again for up to ~1 s, as graceful-fs does.
 */
export function* renameOver(from: Bytes, to: Bytes): Steps<void> {
  for (let round = 0; ; round++) {
    try {
      yield* call('rename', from, to)
      return
    } catch (err) {
      const code = codeOf(err)
      if (!isWindows || round >= 10 || (code !== 'EPERM' && code !== 'EBUSY' && code !== 'EACCES')) throw err
      yield* sleep(10 * (round + 1))
    }
  }
}

/** fsync of a directory, where the OS has it (Windows cannot open one for it). */
export function* syncDir(dir: Bytes): Steps<void> {
  if (isWindows) return
  const fd = yield* open(dir, C.O_RDONLY)
  try {
    yield* call('fsync', fd)
  } finally {
    yield* close(fd)
  }
}
