// cloneRange / copyRange / dedupeRange / probe: ranges of files by path, fd
// or FileHandle, offsets as number or bigint, each operation one native call.
import * as fs from 'node:fs'
import { invalidArgType, outOfRange, systemError, type SystemError } from './errors'
import { native, warnNoNative } from './native'
import { runAsync, runSync } from './portable/ops'
import { copyRangeSteps, holdDescriptor, probeSteps, unavailable } from './portable/range'
import { rejectUnknownOptions, toPath, type PathLike } from './validate'

/** A file by path, by numeric fd, or as a fs.promises FileHandle (never closed by cowcopy). */
export type FileLike = PathLike | number | { fd: number; close(): Promise<void> }
/** A byte offset or length: a safe-integer number or a bigint, >= 0. */
export type Offset = number | bigint

export interface RangeOptions {
  /** Where to start in the source (default 0). */
  srcOffset?: Offset
  /** Where to put it in the destination (default 0). */
  destOffset?: Offset
  /** How many bytes; 0 (default) means to the end of the source. */
  length?: Offset
}

export interface DedupeTargetSpec {
  path?: PathLike
  fd?: number
  handle?: { fd: number; close(): Promise<void> }
  /** Where the identical bytes start in this target (default 0). */
  offset?: Offset
}

export interface DedupeResult {
  /**
   * Bytes now shared with the source (number when safe, else bigint). Less
   * than the length with 'same' when the range ends in a partial block that
   * is not at the end of both files: that tail was compared, equal, but
   * cannot be shared.
   */
  bytesDeduped: number | bigint
  /** 'same': every byte of the range is identical (shared up to `bytesDeduped`); 'differs': the data is not identical (nothing changed from there on); 'error': see `error`. */
  status: 'same' | 'differs' | 'error'
  error?: SystemError
}

export interface ProbeResult {
  /** From statfs: 'btrfs', 'xfs', 'ext4', 'tmpfs', 'nfs', 'overlay', ... or the magic number in hex. */
  fsType: string
  /** The filesystem's block size: range clones must be aligned to it. */
  blockSize: number
  /** FICLONE works here (tried). */
  clone: boolean
  /** FIDEDUPERANGE works here (tried). */
  dedupe: boolean
  /** copy_file_range works here (tried; on btrfs/XFS it may clone). */
  copyFileRange: boolean
}

const MAX_OFFSET = (1n << 63n) - 1n

type NativeFile = string | Buffer | number

function isFileHandle(v: unknown): v is { fd: number; close(): Promise<void> } {
  return typeof v === 'object' && v !== null && typeof (v as { fd?: unknown }).fd === 'number' &&
    typeof (v as { close?: unknown }).close === 'function'
}

// A descriptor as fs's validateInt32(fd, 0) takes it: never 1.5 or NaN
// (the addon would otherwise have to guess; Int32Value makes them fd 1 and 0).
function toFd(value: number, name: string): number {
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value)
  if (value < 0 || value > 0x7fffffff) throw outOfRange(name, '>= 0 && <= 2147483647', value)
  return value
}

function toFile(value: unknown, name: string): NativeFile {
  if (typeof value === 'number') return toFd(value, name)
  if (isFileHandle(value)) {
    const fd = value.fd
    // A closed FileHandle says fd -1, as fs.promises' does.
    if (fd === -1) throw systemError('EBADF', 'fstat', undefined, undefined, 'the FileHandle is closed')
    return toFd(fd, `${name}.fd`)
  }
  if (typeof value === 'object' && value !== null && 'fd' in value && typeof (value as { close?: unknown }).close === 'function') {
    throw invalidArgType(`${name}.fd`, 'of type number', (value as { fd: unknown }).fd)
  }
  if (typeof value === 'string' || value instanceof Uint8Array || (typeof value === 'object' && value !== null && 'href' in value)) {
    return toPath(value, name)
  }
  throw invalidArgType(name, 'of type string or number or an instance of Buffer, URL or FileHandle', value)
}

function toOffset(value: unknown, name: string): bigint {
  if (value === undefined) return 0n
  if (typeof value === 'bigint') {
    if (value < 0n || value > MAX_OFFSET) throw outOfRange(name, `>= 0 && <= ${MAX_OFFSET}`, value)
    return value
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw outOfRange(name, 'a safe integer >= 0 (or a bigint)', value)
    return BigInt(value)
  }
  throw invalidArgType(name, 'of type number or bigint', value)
}

/**
 * A range [offset, offset + length) must end at or before the largest file
 * offset (2^63 - 1, the kernel's loff_t): checked before any file is touched.
 */
function checkEnd(offset: bigint, length: bigint, name: string, shown: unknown, what: string): void {
  if (offset + length > MAX_OFFSET) {
    throw outOfRange(name, `<= ${MAX_OFFSET - (name.endsWith('length') ? offset : length)} (${what} must not pass ${MAX_OFFSET})`, shown)
  }
}

/** number when it is exact, bigint past Number.MAX_SAFE_INTEGER. */
function toResult(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
}

function closeAll(fds: (number | undefined)[]): void {
  for (const fd of fds) if (fd !== undefined) fs.close(fd, () => {})
}

// What the portable engine cannot do at all (an ioctl Node cannot make).
function noNative(op: string, a?: NativeFile, b?: NativeFile): Error {
  warnNoNative()
  return unavailable(op, a, b)
}

function rangeArgs(src: unknown, dest: unknown, range: unknown): [NativeFile, NativeFile, bigint, bigint, bigint] {
  const s = toFile(src, 'src')
  const d = toFile(dest, 'dest')
  if (range !== undefined && (typeof range !== 'object' || range === null)) throw invalidArgType('range', 'of type object', range)
  rejectUnknownOptions(range, ['srcOffset', 'destOffset', 'length'], 'cloneRange and copyRange', 'range')
  const r = (range ?? {}) as RangeOptions
  const srcOffset = toOffset(r.srcOffset, 'range.srcOffset')
  const destOffset = toOffset(r.destOffset, 'range.destOffset')
  const length = toOffset(r.length, 'range.length')
  checkEnd(srcOffset, length, 'range.length', r.length, 'srcOffset + length')
  checkEnd(destOffset, length, 'range.length', r.length, 'destOffset + length')
  return [s, d, srcOffset, destOffset, length]
}

function promised<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn()
  } catch (err) {
    return Promise.reject(err)
  }
}

function synced<T>(fn: () => T, caller: (...args: never[]) => unknown): T {
  try {
    return fn()
  } catch (err) {
    if (err instanceof Error && 'syscall' in err) Error.captureStackTrace(err, caller)
    throw err
  }
}

/**
 * Shares a block-aligned range of `src` into `dest` (ioctl FICLONERANGE): no
 * data is copied, the extents are shared copy-on-write. `dest` is created if
 * missing and grows when the range ends past its end. EINVAL says which value
 * is not aligned to the filesystem's block size.
 */
export function cloneRange(src: FileLike, dest: FileLike, range?: RangeOptions): Promise<void> {
  return promised(() => {
    const a = rangeArgs(src, dest, range)
    if (!native) throw noNative('ioctl_ficlonerange', a[0], a[1])
    return native.cloneRange(...a, false) as Promise<void>
  })
}

/** Synchronous {@link cloneRange}. */
export function cloneRangeSync(src: FileLike, dest: FileLike, range?: RangeOptions): void {
  synced(() => {
    const a = rangeArgs(src, dest, range)
    if (!native) throw noNative('ioctl_ficlonerange', a[0], a[1])
    native.cloneRange(...a, true)
  }, cloneRangeSync)
}

/**
 * Copies a range with copy_file_range (in the kernel; NFS 4.2, SMB3 and CephFS
 * do it on the server; btrfs/XFS may share extents), looped until `length`
 * bytes or the end of the source; across filesystems pread/pwrite does it.
 * Resolves with the bytes copied.
 */
export function copyRange(src: FileLike, dest: FileLike, range?: RangeOptions): Promise<number | bigint> {
  return promised(() => {
    const a = rangeArgs(src, dest, range)
    if (!native) {
      warnNoNative()
      const [s, sHeld] = holdDescriptor(a[0], false)
      let dHeld: number | undefined
      try {
        let d: NativeFile
        ;[d, dHeld] = holdDescriptor(a[1], true)
        const held = [sHeld, dHeld]
        return runAsync(copyRangeSteps(s, d, a[2], a[3], a[4])).then(toResult).finally(() => closeAll(held))
      } catch (err) {
        closeAll([sHeld, dHeld])
        throw err
      }
    }
    return (native.copyRange(...a, false) as Promise<bigint>).then(toResult)
  })
}

/** Synchronous {@link copyRange}. */
export function copyRangeSync(src: FileLike, dest: FileLike, range?: RangeOptions): number | bigint {
  return synced(() => {
    const a = rangeArgs(src, dest, range)
    if (!native) {
      warnNoNative()
      return toResult(runSync(copyRangeSteps(...a)))
    }
    return toResult(native.copyRange(...a, true) as bigint)
  }, copyRangeSync)
}

function dedupeArgs(src: unknown, range: unknown, targets: unknown): [NativeFile, bigint, bigint, [NativeFile, bigint][]] {
  const s = toFile(src, 'src')
  if (range !== undefined && (typeof range !== 'object' || range === null)) throw invalidArgType('range', 'of type object', range)
  rejectUnknownOptions(range, ['offset', 'length'], 'dedupeRange', 'range')
  const r = (range ?? {}) as { offset?: Offset; length?: Offset }
  const offset = toOffset(r.offset, 'range.offset')
  const length = toOffset(r.length, 'range.length')
  checkEnd(offset, length, 'range.length', r.length, 'offset + length')
  if (!Array.isArray(targets)) throw invalidArgType('targets', 'an array', targets)
  const list = targets.map((t, i): [NativeFile, bigint] => {
    if (typeof t !== 'object' || t === null) throw invalidArgType(`targets[${i}]`, 'of type object', t)
    rejectUnknownOptions(t, ['path', 'fd', 'handle', 'offset'], 'dedupeRange', `targets[${i}]`)
    const spec = t as DedupeTargetSpec
    const file = spec.handle ?? spec.fd ?? spec.path
    if (file === undefined) throw invalidArgType(`targets[${i}].path`, 'of type string or an instance of Buffer or URL (or give fd or handle)', file)
    const at = toOffset(spec.offset, `targets[${i}].offset`)
    checkEnd(at, length, `targets[${i}].offset`, spec.offset, `targets[${i}].offset + length`)
    return [toFile(file, `targets[${i}]`), at]
  })
  return [s, offset, length, list]
}

interface NativeDedupe { bytesDeduped: bigint; status: DedupeResult['status']; error?: SystemError }

function dedupeResults(rows: NativeDedupe[]): DedupeResult[] {
  return rows.map((r) => (r.error ? { bytesDeduped: toResult(r.bytesDeduped), status: r.status, error: r.error } : { bytesDeduped: toResult(r.bytesDeduped), status: r.status }))
}

/**
 * Shares identical bytes of `src` with each target (ioctl FIDEDUPERANGE): the
 * kernel compares and, where equal, makes the target share the source's
 * extents; a target's data never changes. Looped until the whole range is
 * done (the kernel does at most 16 MiB per call on btrfs); one result per
 * target. `length` 0 means to the end of the source.
 */
export function dedupeRange(src: FileLike, range: { offset?: Offset; length?: Offset }, targets: DedupeTargetSpec[]): Promise<DedupeResult[]> {
  return promised(() => {
    const a = dedupeArgs(src, range, targets)
    if (!native) throw noNative('ioctl_fideduperange', a[0])
    return (native.dedupeRange(...a, false) as Promise<NativeDedupe[]>).then(dedupeResults)
  })
}

/** Synchronous {@link dedupeRange}. */
export function dedupeRangeSync(src: FileLike, range: { offset?: Offset; length?: Offset }, targets: DedupeTargetSpec[]): DedupeResult[] {
  return synced(() => {
    const a = dedupeArgs(src, range, targets)
    if (!native) throw noNative('ioctl_fideduperange', a[0])
    return dedupeResults(native.dedupeRange(...a, true) as NativeDedupe[])
  }, dedupeRangeSync)
}

/** What `dir`'s filesystem can do, found by trying on two temporary files that never outlive the call. */
export function probe(dir: PathLike): Promise<ProbeResult> {
  return promised(() => {
    const d = toPath(dir, 'dir')
    if (!native) {
      warnNoNative()
      return runAsync(probeSteps(d))
    }
    return native.probe(d, false) as Promise<ProbeResult>
  })
}

/** Synchronous {@link probe}. */
export function probeSync(dir: PathLike): ProbeResult {
  return synced(() => {
    const d = toPath(dir, 'dir')
    if (!native) {
      warnNoNative()
      return runSync(probeSteps(d))
    }
    return native.probe(d, true) as ProbeResult
  }, probeSync)
}
