// copyFile / copyFileSync / reflink / reflinkSync: validation here, the copy in
// one native call, Node-style errors from its result.
import { AbortError, invalidArgValue, systemError } from './errors'
import { fsCopy, fsCopySync } from './fs-fallback'
import { METHODS, native } from './native'
import { watchCopy } from './progress'
import {
  parseModeOrOptions,
  parseOptions,
  toFlags,
  toPath,
  type CopyOptions,
  type ParsedCopy,
  type PathLike,
} from './validate'

/**
 * Which mechanism moved the data. 'none': source and destination were already
 * the same file (a hard link or the same path), so nothing was copied. 'fs':
 * the native addon is not available and `fs.copyFile` did the work.
 */
export type Method = 'none' | 'clone' | 'copy_file_range' | 'sendfile' | 'readwrite' | 'fs'

export interface CopyResult {
  method: Method
  /** The destination's size: bytes of the source now in it (0 for method 'none'). */
  bytes: number
}

native?.setErrorFactory((errno, reason, src, dest, syscall) =>
  systemError(errno, syscall ?? 'copyfile', src, dest, reason),
)

// Not async: validation errors become a rejection, and without progress or a
// signal the native promise is returned as it is (it resolves with the final
// result or rejects with the final error): no extra promise, no extra tick.
// Anything thrown on the way (a signal's getter, its addEventListener) is a
// rejection too, never a synchronous throw from a promise API.
function run(src: unknown, dest: unknown, parse: () => ParsedCopy): Promise<CopyResult> {
  try {
    const s = toPath(src, 'src')
    const d = toPath(dest, 'dest')
    const p = parse()
    // An already aborted signal: reject before any file is touched.
    if (p.signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: p.signal.reason }))
    if (!native) return fsCopy(s, d, p)
    if (!p.onProgress && !p.signal) return native.copyFile(s, d, toFlags(p))
    return watchCopy(native, s, d, p)
  } catch (err) {
    return Promise.reject(err)
  }
}

// Reused by every sync call: [errno, method code, bytes]. JavaScript is
// single-threaded and the call is synchronous, so one array is enough.
const syncOut = new Float64Array(3)

function runSync(
  src: unknown,
  dest: unknown,
  parse: () => ParsedCopy,
  caller: (...args: never[]) => unknown,
): CopyResult {
  const s = toPath(src, 'src')
  const d = toPath(dest, 'dest')
  const p = parse()
  if (!native) return fsCopySync(s, d, p)
  const reason = native.copyFileSync(s, d, toFlags(p), syncOut)
  if (syncOut[0] !== 0) {
    const err = systemError(syncOut[0], 'copyfile', s, d, reason)
    // The stack starts at the caller's line, as fs.copyFileSync's does.
    Error.captureStackTrace(err, caller)
    throw err
  }
  // A single copy never links: METHODS[5] ('hardlink') comes from batches only.
  return { method: METHODS[syncOut[1]] as Method, bytes: syncOut[2] }
}

/**
 * Copies `src` to `dest`: a copy-on-write clone where the filesystem allows,
 * else copy_file_range, sendfile or read/write. Resolves with the method used.
 * `modeOrOptions` takes fs.copyFile's numeric flags or a {@link CopyOptions}.
 */
export function copyFile(
  src: PathLike,
  dest: PathLike,
  modeOrOptions?: number | CopyOptions,
): Promise<CopyResult> {
  return run(src, dest, () => parseModeOrOptions(modeOrOptions, true))
}

/** Synchronous {@link copyFile}: blocks the calling thread for the whole copy. */
export function copyFileSync(
  src: PathLike,
  dest: PathLike,
  modeOrOptions?: number | Omit<CopyOptions, 'onProgress' | 'signal'>,
): CopyResult {
  return runSync(src, dest, () => parseModeOrOptions(modeOrOptions, false), copyFileSync)
}

export type ReflinkOptions = Omit<CopyOptions, 'reflink' | 'sparse'>

function parseReflink(options: unknown, promiseApi: boolean): ParsedCopy {
  const parsed = parseOptions(options, 'options', promiseApi)
  if (parsed.reflink !== 'always' && (options as CopyOptions | undefined)?.reflink !== undefined) {
    throw invalidArgValue('options.reflink', parsed.reflink, "must be 'always' (or left out) for reflink()")
  }
  return { ...parsed, reflink: 'always' }
}

/** Clones `src` to `dest` (FICLONE) or fails with the kernel's error; never copies bytes. */
export async function reflink(src: PathLike, dest: PathLike, options?: ReflinkOptions): Promise<void> {
  await run(src, dest, () => parseReflink(options, true))
}

/** Synchronous {@link reflink}. */
export function reflinkSync(
  src: PathLike,
  dest: PathLike,
  options?: Omit<ReflinkOptions, 'onProgress' | 'signal'>,
): void {
  runSync(src, dest, () => parseReflink(options, false), reflinkSync)
}

