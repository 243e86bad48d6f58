// copyFile / copyFileSync / reflink / reflinkSync: validation here, the copy in
// one native call, Node-style errors from its result.
import { AbortError, invalidArgValue, systemError } from './errors'
import { METHODS, native, warnNoNative } from './native'
import { portableCopyFile, portableCopyFileSync } from './portable/copy-file'
import { watchCopy } from './progress'
import {
  parseModeOrOptions,
  parseOptions,
  COPY_OPTIONS,
  quickFlags,
  toFlags,
  toPath,
  type CopyOptions,
  type ParsedCopy,
  type PathLike,
} from './validate'

/**
 * Which mechanism moved the data. 'none': source and destination were already
 * the same file (a hard link or the same path), so nothing was copied. 'fs':
 * the portable engine (no addon) copied with `fs.copyFile`, which may have
 * cloned or copied; it says 'clone' or 'readwrite' where it knows.
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
// The promise copyFile's result, made here rather than by the addon: one
// call into JavaScript costs less than two property sets from C++ (a profile
// put those at ~1.8 µs of a ~100 µs clone).
native?.setResultFactory((method, bytes) => ({ method: METHODS[method], bytes }))

// How the third argument becomes options: a plain function (not a closure
// per call) of the raw value and whether the promise API asked.
type Parse = (options: unknown, promiseApi: boolean) => ParsedCopy

// Not async: validation errors become a rejection, and without progress or a
// signal the native promise is returned as it is (it resolves with the final
// result or rejects with the final error): no extra promise, no extra tick.
// Anything thrown on the way (a signal's getter, its addEventListener) is a
// rejection too, never a synchronous throw from a promise API.
function run(src: unknown, dest: unknown, options: unknown, parse: Parse): Promise<CopyResult> {
  try {
    const s = toPath(src, 'src')
    const d = toPath(dest, 'dest')
    // No options or fs's numeric mode: straight to the flag word (a profile
    // of a clone loop showed the options object and its parse per call).
    const quick = native && parse === parseModeOrOptions ? quickFlags(options) : undefined
    if (quick !== undefined) return native!.copyFile(s, d, quick)
    const p = parse(options, true)
    // An already aborted signal: reject before any file is touched.
    if (p.signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: p.signal.reason }))
    if (!native) {
      warnNoNative()
      return portableCopyFile(s, d, p)
    }
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
  options: unknown,
  parse: Parse,
  caller: (...args: never[]) => unknown,
): CopyResult {
  const s = toPath(src, 'src')
  const d = toPath(dest, 'dest')
  const quick = native && parse === parseModeOrOptions ? quickFlags(options) : undefined
  let flags: number
  if (quick !== undefined) flags = quick
  else {
    const p = parse(options, false)
    if (!native) {
      warnNoNative()
      return portableCopyFileSync(s, d, p)
    }
    flags = toFlags(p)
  }
  const reason = native!.copyFileSync(s, d, flags, syncOut)
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
  return run(src, dest, modeOrOptions, parseModeOrOptions)
}

/** Synchronous {@link copyFile}: blocks the calling thread for the whole copy. */
export function copyFileSync(
  src: PathLike,
  dest: PathLike,
  modeOrOptions?: number | Omit<CopyOptions, 'onProgress' | 'signal'>,
): CopyResult {
  return runSync(src, dest, modeOrOptions, parseModeOrOptions, copyFileSync)
}

export type ReflinkOptions = Omit<CopyOptions, 'reflink' | 'sparse'>
// reflink() takes copyFile's options but sparse (a clone keeps holes), and
// reflink only as 'always'.
const REFLINK_OPTIONS = COPY_OPTIONS.filter((k) => k !== 'sparse')

function parseReflink(options: unknown, promiseApi: boolean): ParsedCopy {
  const parsed = parseOptions(options, 'options', promiseApi, 'reflink', REFLINK_OPTIONS)
  if (parsed.reflink !== 'always' && (options as CopyOptions | undefined)?.reflink !== undefined) {
    throw invalidArgValue('options.reflink', parsed.reflink, "must be 'always' (or left out) for reflink()")
  }
  return { ...parsed, reflink: 'always' }
}

/** Clones `src` to `dest` (FICLONE) or fails with the kernel's error; never copies bytes. */
export async function reflink(src: PathLike, dest: PathLike, options?: ReflinkOptions): Promise<void> {
  await run(src, dest, options, parseReflink)
}

/** Synchronous {@link reflink}. */
export function reflinkSync(
  src: PathLike,
  dest: PathLike,
  options?: Omit<ReflinkOptions, 'onProgress' | 'signal'>,
): void {
  runSync(src, dest, options, parseReflink, reflinkSync)
}

