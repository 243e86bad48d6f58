// Ranges and probe on the portable engine. copyRange reads and writes at
// the offsets (Node has no copy_file_range); cloneRange and dedupeRange need
// ioctls Node cannot make, so they fail with ENOSYS, built from its name;
// probe reads statfs and tries a clone with fs.copyFile.
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import { asSystemError, systemError } from '../errors'
import { nativeLoadError } from '../native'
import { joinPath, notRegularReason } from './file'
import { hasLayer } from './layer'
import { call, closeQuietly, codeOf, fstat, open, read, write, type Bytes, type Steps } from './ops'

const C = fs.constants
const CHUNK = 1 << 20
const SYSCALL = 'copy_file_range'

export type RangeFile = Bytes | number

/** The error for an operation the portable engine cannot do at all. */
export function unavailable(op: string, a?: RangeFile, b?: RangeFile): Error {
  const why = nativeLoadError ? `: ${nativeLoadError.message}` : ''
  return systemError('ENOSYS', op, typeof a === 'number' ? undefined : a, typeof b === 'number' ? undefined : b,
    `${op} needs the native addon, which is not available here${why}`)
}

interface Opened {
  fd: number
  st: fs.Stats
  /** This call opened it (and closes it); `created`: it also made the file. */
  own: boolean
  created: boolean
}

function* checkRegular(o: Opened, source: boolean, src: RangeFile, dest: RangeFile): Steps<void> {
  if (o.st.isDirectory()) throw systemError('EISDIR', SYSCALL, pathOf(src), pathOf(dest))
  if (!o.st.isFile()) throw systemError('EINVAL', SYSCALL, pathOf(src), pathOf(dest), notRegularReason(o.st, source))
}

const pathOf = (f: RangeFile): Bytes | undefined => (typeof f === 'number' ? undefined : f)

function* ownDescriptor(fd: number): Steps<Opened> {
  return { fd, st: yield* fstat(fd), own: false, created: false }
}

const procFdAvailable = process.platform === 'linux' && fs.existsSync('/proc/self/fd')

/**
 * A caller's descriptor, reopened at once on Linux through /proc/self/fd: a
 * file description of the call's own, so closing the caller's number while
 * a promise call runs neither stops the copy nor sends its bytes to the file
 * that reuses the number (Node cannot dup(2)). Elsewhere, or when it cannot
 * be reopened in that mode, the number itself. Returns [file, ours to close].
 */
export function holdDescriptor(f: RangeFile, write: boolean): [RangeFile, number | undefined] {
  if (typeof f !== 'number' || !procFdAvailable) return [f, undefined]
  try {
    const own = fs.openSync(`/proc/self/fd/${f}`, (write ? C.O_WRONLY : C.O_RDONLY) | (C.O_NONBLOCK ?? 0))
    return [own, own]
  } catch (err) {
    if (codeOf(err) === 'ENOENT') throw systemError('EBADF', SYSCALL, undefined, undefined, 'bad file descriptor')
    return [f, undefined]
  }
}

function* openSource(src: RangeFile, dest: RangeFile): Steps<Opened> {
  if (typeof src === 'number') return yield* ownDescriptor(src)
  let fd: number
  try {
    fd = yield* open(src, C.O_RDONLY | (C.O_NONBLOCK ?? 0))
  } catch (err) {
    throw asSystemError(err, SYSCALL, src, pathOf(dest))
  }
  return { fd, st: yield* fstat(fd), own: true, created: false }
}

// An existing destination is written in place; a missing one is created
// (0666 & ~umask, never at the far end of a dangling symlink).
function* openDest(src: RangeFile, dest: RangeFile): Steps<Opened> {
  if (typeof dest === 'number') return yield* ownDescriptor(dest)
  let fd: number
  let created = false
  try {
    fd = yield* open(dest, C.O_WRONLY | (C.O_NONBLOCK ?? 0))
  } catch (err) {
    // ENXIO: a FIFO without a reader (O_NONBLOCK); say what is there.
    if (codeOf(err) === 'ENXIO') {
      const st = (yield ['lstat', dest]) as fs.Stats
      if (!st.isFile()) throw systemError('EINVAL', SYSCALL, pathOf(src), dest, notRegularReason(st, false))
    }
    if (codeOf(err) !== 'ENOENT') throw asSystemError(err, SYSCALL, pathOf(src), dest)
    try {
      fd = yield* open(dest, C.O_WRONLY | C.O_CREAT | C.O_EXCL | (C.O_NOFOLLOW ?? 0), 0o666)
      created = true
    } catch (err2) {
      if (codeOf(err2) === 'EEXIST' || codeOf(err2) === 'ELOOP') {
        throw systemError('EEXIST', SYSCALL, pathOf(src), dest, 'destination is a dangling symbolic link, not writing through it')
      }
      throw asSystemError(err2, SYSCALL, pathOf(src), dest)
    }
  }
  return { fd, st: yield* fstat(fd), own: true, created }
}

const position = (v: bigint): number => {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw systemError('EFBIG', SYSCALL, undefined, undefined, 'offsets past 2^53 need the native addon')
  return Number(v)
}

/** Reads and writes `length` bytes (0: to the end of the source) at the offsets; returns the bytes copied. */
export function* copyRangeSteps(src: RangeFile, dest: RangeFile, srcOffset: bigint, destOffset: bigint, length: bigint): Steps<bigint> {
  const s = yield* openSource(src, dest)
  let d: Opened | undefined
  let done = 0n
  try {
    yield* checkRegular(s, true, src, dest)
    d = yield* openDest(src, dest)
    yield* checkRegular(d, false, src, dest)
    // Within one file, "to the end" is the end it had: the copy must not chase itself.
    let want = length
    if (want === 0n && s.st.dev === d.st.dev && s.st.ino === d.st.ino) {
      want = BigInt(s.st.size) > srcOffset ? BigInt(s.st.size) - srcOffset : 0n
      if (want === 0n) return 0n
    }
    if (s.st.dev === d.st.dev && s.st.ino === d.st.ino) {
      const end = want === 0n ? BigInt(s.st.size) : srcOffset + want
      const span = end - srcOffset
      if (srcOffset < destOffset + span && destOffset < srcOffset + span) {
        throw systemError('EINVAL', SYSCALL, pathOf(src), pathOf(dest), 'the source and destination ranges overlap within one file')
      }
    }
    const buf = Buffer.allocUnsafe(CHUNK)
    while (want === 0n || done < want) {
      const ask = want === 0n ? CHUNK : Number(want - done < BigInt(CHUNK) ? want - done : BigInt(CHUNK))
      const got = yield* read(s.fd, buf, 0, ask, position(srcOffset + done))
      if (got === 0) break
      for (let off = 0; off < got;) off += yield* write(d.fd, buf, off, got - off, position(destOffset + done + BigInt(off)))
      done += BigInt(got)
    }
    return done
  } catch (err) {
    if (d?.created && typeof dest !== 'number') {
      try {
        yield* call('unlink', dest)
      } catch {
        // Already gone.
      }
    }
    throw asSystemError(err, SYSCALL, pathOf(src), pathOf(dest))
  } finally {
    if (d?.own) yield* closeQuietly(d.fd)
    if (s.own) yield* closeQuietly(s.fd)
  }
}

const FS_TYPES: Record<number, string> = {
  0x9123683e: 'btrfs', 0x58465342: 'xfs', 0xef53: 'ext4', 0x01021994: 'tmpfs', 0x6969: 'nfs', 0x794c7630: 'overlay',
  0x65735546: 'fuse', 0xff534d42: 'cifs', 0xfe534d42: 'smb2', 0xca451a4e: 'bcachefs', 0x2fc12fc1: 'zfs',
  0x7461636f: 'ocfs2', 0x00c36400: 'ceph', 0x4d44: 'vfat', 0x5346544e: 'ntfs', 0xf2f52010: 'f2fs', 0x858458f6: 'ramfs',
  0x9fa0: 'proc', 0x62656572: 'sysfs', 0x1a: 'apfs', 0x11: 'hfs',
}

export interface PortableProbe {
  fsType: string
  blockSize: number
  clone: boolean
  dedupe: boolean
  copyFileRange: boolean
}

// Whether a call succeeds.
function* tries(c: [string, ...unknown[]]): Steps<boolean> {
  try {
    yield* call(...c)
    return true
  } catch {
    return false
  }
}

/**
 * What `dir`'s filesystem can do as far as Node's fs can try: its type and
 * block size from statfs, and whether fs.copyFile can clone there
 * (COPYFILE_FICLONE_FORCE, or the clone layer's clone, on two files that
 * never outlive the call). dedupe and copyFileRange are false: the portable
 * engine cannot call them.
 */
export function* probeSteps(dir: Bytes): Steps<PortableProbe> {
  let sf: fs.StatsFs
  try {
    sf = (yield ['statfs', dir]) as fs.StatsFs
  } catch (err) {
    throw asSystemError(err, 'probe', dir)
  }
  const a = joinPath(dir, '/', `.cowcopy-probe-${randomBytes(6).toString('hex')}`)
  const b = joinPath(a, '-clone')
  let clone = false
  try {
    const fd = yield* open(a, C.O_RDWR | C.O_CREAT | C.O_EXCL | (C.O_NOFOLLOW ?? 0), 0o600)
    try {
      yield* write(fd, Buffer.alloc(4096, 1), 0, 4096, 0)
      // The clone layer where one loaded (macOS), else fs.copyFile.
      clone = yield* tries(hasLayer ? ['cloneFile', fd, b, a] : ['copyFile', a, b, C.COPYFILE_EXCL | C.COPYFILE_FICLONE_FORCE])
    } finally {
      yield* closeQuietly(fd)
    }
  } catch (err) {
    throw asSystemError(err, 'probe', dir)
  } finally {
    for (const f of [b, a]) {
      try {
        yield* call('unlink', f)
      } catch {
        // Never made.
      }
    }
  }
  const type = FS_TYPES[sf.type] ?? `0x${sf.type.toString(16)}`
  return { fsType: type, blockSize: sf.bsize, clone, dedupe: false, copyFileRange: false }
}
