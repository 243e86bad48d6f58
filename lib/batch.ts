// copyFiles, and what every batch call shares: the result's shape, the
// progress polling and the abort wiring. Validation and the checks that must
// come before anything is created happen in lib/; the copies happen in
// src-native/engine (or the portable engine).
import { engine } from './engine'
import { AbortError, invalidArgType, type SystemError } from './errors'
import type { BufferInstance } from './global-types'
import { onAbort, rethrowLater } from './progress'
import { parseBatch, type BatchOptions, type ParsedBatch } from './batch-options'
import { toPath, type PathLike } from './validate'

export type { BatchOptions, BatchProgress, LinkMethod } from './batch-options'

export interface BatchResult {
  /** Regular files copied. */
  files: number
  /** Their bytes. */
  bytes: number
  /** Directories created or merged into (copyDir; the root included). */
  dirs: number
  /** Symbolic links recreated (copyDir). */
  symlinks: number
  /** Copy threads that ran. */
  threads: number
  /**
   * How many files each method copied. `fs`: the portable engine (no addon)
   * copied it with fs.copyFile, which may have cloned or copied.
   */
  methods: { clone: number; hardlink: number; copy_file_range: number; sendfile: number; readwrite: number; none: number; fs: number }
  /**
   * Of `methods.hardlink`, the links made on overlayfs (Docker's and
   * Podman's image layers). There the kernel links a file that exists only
   * in a lower layer by first copying it whole into the upper layer
   * (copy-up): each of these may have been a full copy, and nothing visible
   * from inside the mount tells which. 0 elsewhere.
   */
  overlayLinks: number
  /**
   * Files that failed; they left no partial destination. `error` is a
   * Node-style system error (`code`, `errno`, `syscall`). `error.path` and
   * `error.dest` are strings as fs gives them, Buffers when not valid UTF-8.
   */
  errors: { src: string; dest: string; error: SystemError }[]
  /** Entries that are neither file, directory nor symlink (FIFOs, sockets, devices), not copied. */
  skipped: { path: string; type: string }[]
  /** With `listFiles`: every copied file, in the order they finished. */
  copied?: { src: string; dest: string; method: BatchMethod; bytes: number }[]
}

/** The method that placed one file of a batch. */
export type BatchMethod = 'clone' | 'hardlink' | 'copy_file_range' | 'sendfile' | 'readwrite' | 'none' | 'fs'

/**
 * What copyFiles/copyDir resolve with when given Buffer paths: every path in
 * it (rows of `errors`, `skipped`, `copied`) is a Buffer of the exact bytes,
 * as fs.readdir gives names with `encoding: 'buffer'`. With string paths, a
 * path that is not valid UTF-8 is a Buffer too (never decoded lossily).
 */
export interface BatchResultBuffer extends Omit<BatchResult, 'errors' | 'skipped' | 'copied'> {
  errors: { src: BufferInstance; dest: BufferInstance; error: SystemError }[]
  skipped: { path: BufferInstance; type: string }[]
  copied?: { src: BufferInstance; dest: BufferInstance; method: BatchMethod; bytes: number }[]
}

/** @internal An AbortError for a call stopped before it copied anything: its result says so. */
export function abortedBeforeStart(p: ParsedBatch, keepsWork = true): AbortError {
  const e = new AbortError(undefined, { cause: p.signal?.reason })
  if (keepsWork) e.result = zeroResult(p)
  return e
}

function zeroResult(p: ParsedBatch): BatchResult {
  const r: BatchResult = {
    files: 0, bytes: 0, dirs: 0, symlinks: 0, threads: 0,
    methods: { clone: 0, hardlink: 0, copy_file_range: 0, sendfile: 0, readwrite: 0, none: 0, fs: 0 },
    overlayLinks: 0, errors: [], skipped: [],
  }
  if (p.listFiles) r.copied = []
  return r
}

// A call with nothing to do (the root filtered out): a result, and the final progress call.
/** @internal */
export function emptyResult(p: ParsedBatch): BatchResult {
  const r = zeroResult(p)
  finalProgress(p, r)
  return r
}

// The final onProgress call: the work is complete and in place, so a throw
// cannot turn it into a failure; the error is thrown again outside the
// promise, as Node does with a throwing callback (see progress.ts).
function finalProgress(p: ParsedBatch, r: BatchResult): void {
  try {
    p.batchProgress?.({ files: r.files, bytes: r.bytes })
  } catch (err) {
    rethrowLater(err)
  }
}

// Progress polling and abort wiring shared by copyFiles, copyDir and
// importFiles on either engine: the engine publishes [cancel, bytes, files]
// in `control`. A throwing onProgress while files are still moving stops the
// work (the cancel word) and the promise rejects with its error; once the
// engine has finished, the result stands and the error is thrown outside.
/** @internal */
export function supervise<R extends BatchResult>(
  p: ParsedBatch,
  run: (control: BigInt64Array | undefined) => Promise<R>,
  extraFailure: () => unknown,
  keepsWork = true,
): Promise<R> {
  // Aborted while lib/ checked the paths (copyDir's and importFiles' async
  // checks run before this): an abort listener added now would never fire.
  if (p.signal?.aborted) return Promise.reject(abortedBeforeStart(p, keepsWork))
  const control = p.batchProgress || p.signal ? new BigInt64Array(3) : undefined
  const cancel = () => control && Atomics.store(control, 0, 1n)
  let last = -1
  let callbackFailed = false
  let callbackError: unknown
  const poll = () => {
    const files = Number(control![2])
    if (files <= last || callbackFailed) return
    last = files
    try {
      p.batchProgress!({ files, bytes: Number(control![1]) })
    } catch (err) {
      callbackFailed = true
      callbackError = err
      cancel()
    }
  }
  const timer = p.batchProgress ? setInterval(poll, 100) : undefined
  timer?.unref()
  const unsubscribe = onAbort(p.signal, cancel)
  const cleanup = () => {
    if (timer) clearInterval(timer)
    unsubscribe()
  }
  return run(control).then(
    (r) => {
      cleanup()
      r.methods.fs ??= 0
      if (callbackFailed) rethrowLater(callbackError)
      else finalProgress(p, r)
      return r
    },
    (err: NodeJS.ErrnoException) => {
      cleanup()
      if (callbackFailed) throw callbackError
      const extra = extraFailure()
      if (extra) throw extra
      if (err.code === 'ECANCELED' && p.signal?.aborted) {
        const aborted = new AbortError(undefined, { cause: p.signal.reason })
        // What was done before the abort stays (unless a staged import
        // discarded it): the engine's count of it goes with the error.
        const done = (err as { result?: R }).result
        if (keepsWork && done) {
          done.methods.fs ??= 0
          aborted.result = done
        }
        throw aborted
      }
      throw err
    },
  )
}

/**
 * Copies every [src, dest] pair in one native call, spread over a few native
 * threads, with copyFile's engine, reflink modes and error rules. One failed
 * pair does not stop the others (unless `stopOnError`): see `errors`.
 */
export function copyFiles(pairs: Iterable<readonly [string | URL, string | URL]>, options?: BatchOptions): Promise<BatchResult>
export function copyFiles(pairs: Iterable<readonly [PathLike, PathLike]>, options?: BatchOptions): Promise<BatchResult | BatchResultBuffer>
export function copyFiles(pairs: Iterable<readonly [PathLike, PathLike]>, options?: BatchOptions): Promise<BatchResult | BatchResultBuffer> {
  let srcs: (string | Buffer)[], dests: (string | Buffer)[], p: ParsedBatch
  try {
    if (pairs === null || typeof pairs !== 'object' || !(Symbol.iterator in pairs)) {
      throw invalidArgType('pairs', 'an iterable of [src, dest] pairs', pairs)
    }
    srcs = []
    dests = []
    let i = 0
    for (const pair of pairs) {
      if (!Array.isArray(pair) || pair.length !== 2) throw invalidArgType(`pairs[${i}]`, 'a [src, dest] pair', pair)
      srcs.push(toPath(pair[0], `pairs[${i}][0]`))
      dests.push(toPath(pair[1], `pairs[${i}][1]`))
      i++
    }
    p = parseBatch(options)
    p.buffers = srcs.some(Buffer.isBuffer) || dests.some(Buffer.isBuffer)
  } catch (err) {
    return Promise.reject(err)
  }
  return supervise(p, (control) => engine.copyFiles(srcs, dests, p, control), () => undefined)
}
