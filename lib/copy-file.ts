// copyFile / copyFileSync / reflink / reflinkSync: validation here, the copy in
// one native call, Node-style errors from its result.
import * as fs from 'node:fs'
import { invalidArgValue, systemError } from './errors'
import { METHODS, native } from './native'
import {
  REFLINK_CODE,
  parseModeOrOptions,
  parseOptions,
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
  /** Bytes of the source now in the destination (0 for method 'none'). */
  bytes: number
}

native?.setErrorFactory((errno, reason, src, dest) => systemError(errno, 'copyfile', src, dest, reason))

// Reused by every sync call: [errno, method code, bytes]. JavaScript is
// single-threaded and the call is synchronous, so one array is enough.
const syncOut = new Float64Array(3)

function fsFlags(p: ParsedCopy): number {
  let flags = p.overwrite ? 0 : fs.constants.COPYFILE_EXCL
  if (p.reflink === 'always') flags |= fs.constants.COPYFILE_FICLONE_FORCE
  else if (p.reflink === 'auto') flags |= fs.constants.COPYFILE_FICLONE
  return flags
}

async function fsCopy(src: string | Buffer, dest: string | Buffer, p: ParsedCopy): Promise<CopyResult> {
  await fs.promises.copyFile(src, dest, fsFlags(p))
  return { method: 'fs', bytes: (await fs.promises.stat(dest)).size }
}

function fsCopySync(src: string | Buffer, dest: string | Buffer, p: ParsedCopy): CopyResult {
  fs.copyFileSync(src, dest, fsFlags(p))
  return { method: 'fs', bytes: fs.statSync(dest).size }
}

// Not async: validation errors become a rejection, and the native promise is
// returned as it is (it resolves with the final result or rejects with the
// final error), so a copy costs no extra promise or microtask.
function run(src: unknown, dest: unknown, parse: () => ParsedCopy): Promise<CopyResult> {
  let s: string | Buffer, d: string | Buffer, p: ParsedCopy
  try {
    s = toPath(src, 'src')
    d = toPath(dest, 'dest')
    p = parse()
  } catch (err) {
    return Promise.reject(err)
  }
  if (!native) return fsCopy(s, d, p)
  return native.copyFile(s, d, REFLINK_CODE[p.reflink], p.overwrite)
}

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
  const reason = native.copyFileSync(s, d, REFLINK_CODE[p.reflink], p.overwrite, syncOut)
  if (syncOut[0] !== 0) {
    const err = systemError(syncOut[0], 'copyfile', s, d, reason)
    // The stack starts at the caller's line, as fs.copyFileSync's does.
    Error.captureStackTrace(err, caller)
    throw err
  }
  return { method: METHODS[syncOut[1]], bytes: syncOut[2] }
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
  return run(src, dest, () => parseModeOrOptions(modeOrOptions))
}

/** Synchronous {@link copyFile}: blocks the calling thread for the whole copy. */
export function copyFileSync(
  src: PathLike,
  dest: PathLike,
  modeOrOptions?: number | CopyOptions,
): CopyResult {
  return runSync(src, dest, () => parseModeOrOptions(modeOrOptions), copyFileSync)
}

export type ReflinkOptions = Omit<CopyOptions, 'reflink'>

function parseReflink(options: unknown): ParsedCopy {
  const parsed = parseOptions(options, 'options')
  if (parsed.reflink !== 'always' && (options as CopyOptions | undefined)?.reflink !== undefined) {
    throw invalidArgValue('options.reflink', parsed.reflink, "must be 'always' (or left out) for reflink()")
  }
  return { ...parsed, reflink: 'always' }
}

/** Clones `src` to `dest` (FICLONE) or fails with the kernel's error; never copies bytes. */
export async function reflink(src: PathLike, dest: PathLike, options?: ReflinkOptions): Promise<void> {
  await run(src, dest, () => parseReflink(options))
}

/** Synchronous {@link reflink}. */
export function reflinkSync(src: PathLike, dest: PathLike, options?: ReflinkOptions): void {
  runSync(src, dest, () => parseReflink(options), reflinkSync)
}
