// copyFiles / copyDir: many copies in one native call, spread over native
// threads. Validation and the checks that must come before anything is
// created happen here; the walk and the copies happen in src-native/engine.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { direntType } from './dirent-type'
import { engine } from './engine'
import { AbortError, asSystemError, incompatibleOptionPair, invalidArgType, invalidArgValue, invalidReturnValue, outOfRange, systemError, type SystemError } from './errors'
import type { BufferInstance } from './global-types'
import { onAbort, rethrowLater } from './progress'
import { COPY_OPTIONS, parseOptions, rejectUnknownOptions, toFlags, toPath, FLAG, type CopyOptions, type ParsedCopy, type PathLike } from './validate'

export interface BatchProgress {
  /** Files copied so far. */
  files: number
  /** Bytes of those files. */
  bytes: number
}

/** One way of placing a file: see {@link BatchOptions.link}. */
export type LinkMethod = 'clone' | 'hardlink' | 'copy'

export interface BatchOptions extends Omit<CopyOptions, 'atomic' | 'fsync' | 'onProgress'> {
  /**
   * The ladder: ways to place each file, tried in this order until one works.
   * Default `['clone', 'copy']` (clone when the filesystem can, else copy).
   * `['clone', 'hardlink', 'copy']` is pnpm's `auto`; `['hardlink', 'clone',
   * 'copy']` pnpm 12's order on Linux.
   *
   * - `'clone'`: FICLONE, shared extents (btrfs, XFS, bcachefs, ...).
   * - `'hardlink'`: linkat(2): the destination becomes another name of the
   *   source file (same inode: its mode and owner, and a later write through
   *   either name changes both). Never for a setuid/setgid source (that file
   *   goes to the next rung, which drops the bit as copyFile does).
   * - `'copy'`: copy_file_range, sendfile, read/write (the filesystem may
   *   still share extents, as copy_file_range allows; `reflink: 'never'` makes
   *   it a real copy).
   *
   * A rung that fails because it is not available between the two devices
   * (clone: EOPNOTSUPP, EXDEV, EINVAL, ENOTTY, EPERM, EACCES, ENOSYS; hardlink:
   * EXDEV, EPERM) is skipped for the rest of the process for that (source
   * device, destination device) pair, so the failed try is paid once. EMLINK
   * skips hardlink for that file only; passing errors (EAGAIN, ENOMEM) move
   * that file to the next rung without being remembered; real errors
   * (ENOSPC, EIO, EDQUOT, ...) fail the file. `reflink: 'always'` cannot be
   * combined with `link`; `reflink: 'never'` only without `'clone'`.
   */
  link?: readonly LinkMethod[]
  /** Copy threads (1-64). Default: measured per filesystem type (2 on btrfs, XFS, ext4, tmpfs and others on a 2-core machine). copyDir adds a walker thread when there is more than one. */
  concurrency?: number
  /** Stop at the first failed file (default false: the others go on, errors are listed). */
  stopOnError?: boolean
  /** List every copied file with the method that copied it in `copied` (default false). */
  listFiles?: boolean
  /** Called on the main thread at most every 100 ms, and once at the end. */
  onProgress?: (progress: BatchProgress) => void
}

/**
 * An entry as the copyDir filter sees it (like fs.Dirent). `name` and
 * `parentPath` are Buffers when copyDir was given a Buffer path or the bytes
 * are not valid UTF-8 (see {@link CopyDirOptions.filter}).
 */
export class DirEntry {
  constructor(
    /** The entry's name. */
    readonly name: string,
    /** Its directory, relative to the source root ('' at the top). */
    readonly parentPath: string,
    private readonly type: number,
  ) {}
  isFile(): boolean { return this.type === 8 }
  isDirectory(): boolean { return this.type === 4 }
  isSymbolicLink(): boolean { return this.type === 10 }
  isFIFO(): boolean { return this.type === 1 }
  isSocket(): boolean { return this.type === 12 }
  isCharacterDevice(): boolean { return this.type === 2 }
  isBlockDevice(): boolean { return this.type === 6 }
}

export interface CopyDirOptions extends BatchOptions {
  /**
   * Return false to leave an entry out (a directory: its whole subtree).
   * `relPath` is relative to the source root. Asked once per directory, in a
   * batch, so giving a filter costs one round trip to the main thread per
   * directory; not giving one costs nothing.
   *
   * The root is asked first, as fs.cp asks about `src`: `relPath` '' and an
   * entry named '' whose `isDirectory()` (or, for a file source, `isFile()`)
   * is true. false: nothing is copied or created, not even `dest`, and the
   * call resolves with zero counts. (Unlike fs.cp, the source is looked at
   * first: a missing source rejects with ENOENT whatever the filter says.)
   * Under `dereference`, a symlink is asked about as a symlink, before it is
   * followed.
   *
   * Synchronous only: a filter that returns a Promise (an async function)
   * rejects the copy with ERR_INVALID_RETURN_VALUE, as `fs.cpSync` does. The
   * walker thread waits for each answer while holding a libuv threadpool
   * thread, so awaiting a filter that itself needs the threadpool (fs calls)
   * could wait forever once as many copies as threadpool threads run.
   *
   * Paths are bytes: when copyDir is given a Buffer path, `relPath`,
   * `entry.name` and `entry.parentPath` are Buffers; with string paths they
   * are strings, except a name that is not valid UTF-8, which comes as a
   * Buffer of its exact bytes rather than decoded lossily.
   */
  filter?(relPath: string, entry: DirEntry): boolean
  /**
   * Follow symbolic links in the source, as fs.cp's `dereference` (and
   * `cp -rL`): a link to a file is copied as a regular file with its
   * target's bytes and mode, a link to a directory is walked as a directory.
   * Default false: links are recreated as links. The source root is always
   * followed.
   *
   * Following happens through descriptors: the link is opened with O_PATH
   * (nothing is opened for reading but a regular file or a directory), its
   * fstat decides, and the file is read through that descriptor. What a link
   * leads to, inside the tree or out of it, is only ever read. A link to a
   * FIFO, socket or device is skipped and listed in `skipped` (fs.cp rejects
   * a FIFO or socket, and reads a device such as /dev/zero without end). A
   * dangling link or a loop of links is listed in `errors` (ENOENT, ELOOP)
   * and the rest is copied (fs.cp rejects the whole call). A link to the
   * directory it is in or to one of its ancestors is refused at once with
   * ELOOP, "a cycle" (fs.cp copies the cycle until the path holds 40 links
   * and then rejects with ELOOP). A directory reached through two links is
   * copied twice, as fs.cp does. Files behind links are copied by the walker
   * thread, one at a time; files in followed directories go to the copy
   * threads as usual.
   */
  dereference?: boolean
  /**
   * **Default true, which is NOT fs.cp's default.** cowcopy copies every
   * symlink target verbatim, like `cp -a`: a relative link still points to
   * the same place relative to the copy, so a copied tree never points back
   * into its source. fs.cp by default (`verbatimSymlinks: false`) rewrites a
   * relative target as an absolute path resolved against the source link's
   * directory (lexically, as `path.resolve(path.dirname(srcLink), target)`,
   * the source path taken as given, against the working directory), so the
   * copy's links lead into the source tree. Pass `verbatimSymlinks: false` to
   * get exactly that. Absolute targets are never changed. As in fs.cp,
   * `dereference: true` with `verbatimSymlinks: true` given explicitly is
   * ERR_INCOMPATIBLE_OPTION_PAIR.
   */
  verbatimSymlinks?: boolean
  /**
   * With `overwrite: false` (or `force: false`): reject with the EEXIST error
   * of the first destination file or symlink that already exists (`path`
   * the source, `dest` the existing destination), instead of listing it in
   * `errors`. The walk stops there; what was copied before it stays (fs.cp
   * leaves it too), and the existing file is untouched. No effect when
   * overwriting, as in fs.cp. Existing directories are merged into, never an
   * error. Default false.
   */
  errorOnExist?: boolean
  /**
   * fs.cp's name for `overwrite` (the same default, true). Giving both with
   * different values is ERR_INCOMPATIBLE_OPTION_PAIR. One difference: fs.cp
   * with `force: false` skips an existing file silently and replaces an
   * existing symlink; copyDir keeps both and lists them in `errors` (EEXIST),
   * or rejects with `errorOnExist`.
   */
  force?: boolean
}

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

/** @internal */
export interface ParsedTree {
  dereference: boolean
  verbatimSymlinks: boolean
  errorOnExist: boolean
}

// The fs.cp options copyDir takes; `force` lands in p.overwrite.
function parseTree(options: unknown, p: ParsedBatch): ParsedTree {
  const o = (options ?? {}) as Record<string, unknown>
  const bool = (key: string): boolean | undefined => {
    const v = o[key]
    if (v !== undefined && typeof v !== 'boolean') throw invalidArgType(`options.${key}`, 'of type boolean', v)
    return v as boolean | undefined
  }
  const dereference = bool('dereference') ?? false
  const verbatim = bool('verbatimSymlinks')
  const errorOnExist = bool('errorOnExist') ?? false
  const force = bool('force')
  // fs.cp's `recursive: true`, which a tree copy is anyway; false cannot be.
  if (bool('recursive') === false) throw invalidArgValue('options.recursive', false, 'cannot be false: copyDir copies the whole tree (copyFile copies one file)')
  if (dereference && verbatim === true) throw incompatibleOptionPair('dereference', 'verbatimSymlinks')
  if (force !== undefined) {
    if (o.overwrite !== undefined && o.overwrite !== force) throw incompatibleOptionPair('force', 'overwrite')
    p.overwrite = force
  }
  return { dereference, verbatimSymlinks: verbatim ?? true, errorOnExist }
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
function emptyResult(p: ParsedBatch): BatchResult {
  const r = zeroResult(p)
  finalProgress(p, r)
  return r
}

/** @internal */
export interface ParsedBatch extends ParsedCopy {
  /** The ladder as flag bits (0: the default, clone then copy). */
  ladder: number
  /** The ladder as given (undefined: the default for the reflink mode). */
  link?: readonly LinkMethod[]
  /** Paths in the result as Buffers: the caller passed a Buffer. */
  buffers: boolean
  concurrency: number
  stopOnError: boolean
  listFiles: boolean
  batchProgress?: (p: BatchProgress) => void
}

const RUNGS: Record<LinkMethod, number> = { clone: 0, hardlink: 1, copy: 2 }
const LADDER_SHIFT = 12

// `link` as flag bits: the count in two bits, then two bits per rung.
function parseLink(link: unknown, reflink: unknown): number {
  if (link === undefined) return 0
  if (!Array.isArray(link)) throw invalidArgType('options.link', 'an array', link)
  if (link.length < 1 || link.length > 3 || new Set(link).size !== link.length ||
      !link.every((r) => typeof r === 'string' && Object.hasOwn(RUNGS, r))) {
    throw invalidArgValue('options.link', link, "must list 'clone', 'hardlink' and/or 'copy', each at most once")
  }
  if (reflink === 'always') {
    throw invalidArgValue('options.reflink', reflink, "cannot be combined with options.link (use link: ['clone'])")
  }
  if (reflink === 'never' && link.includes('clone')) {
    throw invalidArgValue('options.link', link, "cannot include 'clone' with reflink: 'never'")
  }
  let bits = link.length
  link.forEach((r: LinkMethod, i) => { bits |= RUNGS[r] << (2 + 2 * i) })
  return bits << LADDER_SHIFT
}

// The option names of the batch calls (atomic and fsync are known, to be
// refused with their own reason below).
const BATCH_OPTIONS = ['reflink', 'overwrite', 'sparse', 'preserve', 'signal', 'onProgress', 'link', 'concurrency', 'stopOnError', 'listFiles', 'atomic', 'fsync']
/** @internal */
export const TREE_OPTIONS = [...BATCH_OPTIONS, 'filter', 'dereference', 'verbatimSymlinks', 'errorOnExist', 'force', 'recursive']
/** @internal */
export const IMPORT_OPTIONS = [...BATCH_OPTIONS, 'marker', 'stage']

/** @internal The options of copyFiles (`api`, `known`: of copyDir or importFiles). */
export function parseBatch(options: unknown, api = 'copyFiles', known: readonly string[] = BATCH_OPTIONS): ParsedBatch {
  const o = (options ?? {}) as Record<string, unknown>
  if (options !== undefined && options !== null && typeof options !== 'object') {
    throw invalidArgType('options', 'of type object', options)
  }
  rejectUnknownOptions(options, known, api)
  for (const key of ['atomic', 'fsync'] as const) {
    if (o[key] !== undefined) throw invalidArgValue(`options.${key}`, o[key], 'is not supported by batch copies')
  }
  // onProgress has another shape here: keep it away from the single-file parser.
  const { onProgress, concurrency, stopOnError, listFiles, link } = o
  // The single-file parser gets copyFile's options only (onProgress has
  // another shape here; the tree's and import's own go to their parsers).
  const single = Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'onProgress' && (COPY_OPTIONS as readonly string[]).includes(k)))
  const p = parseOptions(single, 'options', true) as ParsedBatch
  p.ladder = parseLink(link, o.reflink)
  if (link !== undefined) p.link = [...(link as LinkMethod[])]
  p.buffers = false
  p.concurrency = 0
  if (concurrency !== undefined) {
    if (typeof concurrency !== 'number') throw invalidArgType('options.concurrency', 'of type number', concurrency)
    if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
      throw outOfRange('options.concurrency', 'an integer >= 1 && <= 64', concurrency)
    }
    p.concurrency = concurrency
  }
  p.stopOnError = false
  if (stopOnError !== undefined) {
    if (typeof stopOnError !== 'boolean') throw invalidArgType('options.stopOnError', 'of type boolean', stopOnError)
    p.stopOnError = stopOnError
  }
  p.listFiles = false
  if (listFiles !== undefined) {
    if (typeof listFiles !== 'boolean') throw invalidArgType('options.listFiles', 'of type boolean', listFiles)
    p.listFiles = listFiles
  }
  if (onProgress !== undefined) {
    if (typeof onProgress !== 'function') throw invalidArgType('options.onProgress', 'of type function', onProgress)
    p.batchProgress = onProgress as ParsedBatch['batchProgress']
  }
  return p
}

/** @internal */
export function flagsOf(p: ParsedBatch): number {
  return toFlags(p) | p.ladder | (p.stopOnError ? FLAG.STOP_ON_ERROR : 0) | (p.listFiles ? FLAG.LIST_FILES : 0) |
    (p.buffers ? FLAG.PATHS_AS_BUFFERS : 0)
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

const SLASH = 0x2f

// `p` as an absolute path in bytes (relative to the working directory).
async function absolute(p: Buffer): Promise<Buffer> {
  if (p[0] === SLASH) return p
  return Buffer.concat([await fs.promises.realpath('.', { encoding: 'buffer' }), Buffer.from('/'), p])
}

// The real path of `p`, which may not exist yet: its nearest existing
// ancestor resolved, the missing names appended. In bytes: a string would
// decode names that are not UTF-8 lossily (two names could compare equal).
async function realpathBeneath(p: Buffer): Promise<Buffer> {
  let probe = await absolute(p)
  const rest: Buffer[] = []
  for (;;) {
    try {
      probe = await fs.promises.realpath(probe, { encoding: 'buffer' })
      break
    } catch {
      let end = probe.length
      while (end > 1 && probe[end - 1] === SLASH) end--
      const slash = probe.lastIndexOf(SLASH, end - 1)
      if (slash <= 0 && end <= 1) break
      const name = probe.subarray(slash + 1, end)
      if (name.length && !(name.length === 1 && name[0] === 0x2e)) rest.unshift(name)
      probe = slash <= 0 ? Buffer.from('/') : probe.subarray(0, slash)
    }
  }
  // '..' among the missing names: resolved by the kernel later, after the
  // existing part; path.posix.normalize on latin1 keeps every byte.
  const joined = Buffer.concat([probe, ...rest.flatMap((r) => [Buffer.from('/'), r])])
  return Buffer.from(path.posix.normalize(joined.toString('latin1')), 'latin1')
}

// The absolute source root that fs.cp resolves relative link targets
// against: the path as given, made absolute against the working directory
// and normalized lexically (path.resolve). In bytes for a Buffer path.
async function linkBase(src: string | Buffer): Promise<string | Buffer> {
  if (typeof src === 'string') return path.resolve(src)
  return Buffer.from(path.posix.resolve((await absolute(src)).toString('latin1')), 'latin1')
}

// Before anything is created (the source is a directory): the destination
// is not inside it, and is a directory if it exists.
async function checkTree(src: string | Buffer, dest: string | Buffer): Promise<void> {
  if (process.platform === 'win32') return checkTreeWindows(src, dest)
  const realSrc = await fs.promises.realpath(src, { encoding: 'buffer' })
  const realDest = await realpathBeneath(Buffer.isBuffer(dest) ? dest : Buffer.from(dest))
  const inside = realDest.length > realSrc.length
    ? realDest.subarray(0, realSrc.length).equals(realSrc) &&
      (realSrc[realSrc.length - 1] === SLASH || realDest[realSrc.length] === SLASH)
    : realDest.equals(realSrc)
  if (inside) throw systemError('EINVAL', 'copydir', src, dest, 'cannot copy a directory into itself')
  const d = await fs.promises.stat(dest).catch(() => null)
  if (d && !d.isDirectory()) throw systemError('ENOTDIR', 'copydir', src, dest, 'destination is not a directory')
}

// Windows: either separator, and names that differ only in case are one
// (NTFS and ReFS compare names case-insensitively by default).
async function checkTreeWindows(src: string | Buffer, dest: string | Buffer): Promise<void> {
  const realSrc = (await fs.promises.realpath(src.toString())).toLowerCase()
  let probe = path.resolve(dest.toString())
  const rest: string[] = []
  for (;;) {
    try {
      probe = await fs.promises.realpath(probe)
      break
    } catch {
      const up = path.dirname(probe)
      if (up === probe) break
      rest.unshift(path.basename(probe))
      probe = up
    }
  }
  const realDest = path.resolve(probe, ...rest).toLowerCase()
  const prefix = realSrc.endsWith(path.sep) ? realSrc : realSrc + path.sep
  if (realDest === realSrc || realDest.startsWith(prefix)) {
    throw systemError('EINVAL', 'copydir', src, dest, 'cannot copy a directory into itself')
  }
  const d = await fs.promises.stat(dest).catch(() => null)
  if (d && !d.isDirectory()) throw systemError('ENOTDIR', 'copydir', src, dest, 'destination is not a directory')
}

/**
 * Copies a whole tree like `cp -r --reflink=auto`: directories (mode kept),
 * regular files (cloned or copied, mode kept), symlinks recreated as symlinks
 * (dangling ones too); other types are skipped and listed. One native call:
 * the walk uses directory descriptors (openat, getdents64), the files go to
 * a pool of native threads.
 *
 * A file as `src` is copied to `dest` as fs.cp copies it (`files: 1`; a
 * directory at `dest` is refused with EISDIR). The fs.cp options
 * `dereference`, `verbatimSymlinks`, `errorOnExist` and `force` are taken
 * (see {@link CopyDirOptions}; the default for relative link targets
 * differs from fs.cp's).
 */
export function copyDir(src: string | URL, dest: string | URL, options?: CopyDirOptions): Promise<BatchResult>
export function copyDir(src: PathLike, dest: PathLike, options?: CopyDirOptions): Promise<BatchResult | BatchResultBuffer>
export function copyDir(src: PathLike, dest: PathLike, options?: CopyDirOptions): Promise<BatchResult | BatchResultBuffer> {
  let s: string | Buffer, d: string | Buffer, p: ParsedBatch, tree: ParsedTree
  let filter: CopyDirOptions['filter']
  try {
    s = toPath(src, 'src')
    d = toPath(dest, 'dest')
    p = parseBatch(options, 'copyDir', TREE_OPTIONS)
    tree = parseTree(options, p)
    p.buffers = Buffer.isBuffer(s) || Buffer.isBuffer(d)
    filter = (options as CopyDirOptions | undefined)?.filter
    if (filter !== undefined && typeof filter !== 'function') {
      throw invalidArgType('options.filter', 'of type function', filter)
    }
  } catch (err) {
    return Promise.reject(err)
  }
  if (p.signal?.aborted) return Promise.reject(abortedBeforeStart(p))
  let filterError: unknown
  const userFilter = filter
  const batchFilter = userFilter
    ? (rels: (string | Buffer)[], types: number[]): boolean[] => {
        try {
          return rels.map((rel, i) => {
            const slash = typeof rel === 'string' ? rel.lastIndexOf('/') : rel.lastIndexOf(SLASH)
            const name = rel.slice(slash + 1)
            const parent = slash === -1 ? rel.slice(0, 0) : rel.slice(0, slash)
            const entry = new DirEntry(name as string, parent as string, types[i])
            const keep: unknown = userFilter.call(options, rel as string, entry)
            if (typeof (keep as PromiseLike<unknown> | null)?.then === 'function') {
              // Its outcome is nobody's now: a rejection must not end the process.
              Promise.resolve(keep).catch(() => {})
              throw invalidReturnValue('boolean', 'filter', keep)
            }
            return Boolean(keep)
          })
        } catch (err) {
          filterError ??= err
          return [] // the walk stops; the promise rejects with the filter's error
        }
      }
    : undefined
  // errorOnExist: the engine stopped at the first EEXIST; it becomes the rejection.
  const rejectExisting = (r: BatchResult): BatchResult => {
    if (tree.errorOnExist && !p.overwrite) {
      const row = r.errors.find((e) => (e.error as SystemError).code === 'EEXIST')
      if (row) throw row.error
    }
    return r
  }
  const run = async (): Promise<BatchResult> => {
    const st = await fs.promises.stat(s).catch((err: unknown) => {
      throw asSystemError(err, 'copydir', s, d)
    })
    // The root first, as fs.cp asks about src: false copies and creates nothing.
    if (batchFilter) {
      const keep = batchFilter([p.buffers ? Buffer.alloc(0) : ''], [direntType(st)])
      if (filterError) throw filterError
      if (!keep[0]) return emptyResult(p)
    }
    if (st.isDirectory()) await checkTree(s, d)
    const made = await makeParents(d, s)
    const copy = async (): Promise<BatchResult> => {
      if (!st.isDirectory()) return copySourceFile(s, d, st, p).then(rejectExisting)
      const base = tree.verbatimSymlinks || tree.dereference ? undefined : await linkBase(s)
      return supervise(
        p,
        (control) => engine.copyDir({ src: s, dest: d, p, tree, filter: batchFilter, linkBase: base }, control),
        () => filterError,
      ).then(rejectExisting)
    }
    return copy().catch(async (err: unknown) => {
      await removeParents(made)
      throw err
    })
  }
  return run()
}

const parentOf = (p: string | Buffer): string | Buffer =>
  typeof p === 'string' ? path.dirname(p) : Buffer.from(path.dirname(p.toString('latin1')), 'latin1')

/**
 * destDir's missing parents, made as `mkdir -p` makes them (fs.cp does
 * too): the directories made, deepest first, so that a call that then
 * fails as a whole removes them again (each only while empty).
 */
async function makeParents(d: string | Buffer, s: string | Buffer): Promise<(string | Buffer)[]> {
  const parent = parentOf(d)
  let first: string | undefined
  try {
    first = await fs.promises.mkdir(parent, { recursive: true })
  } catch (err) {
    // A file where a parent directory should be: ENOTDIR, as mkdir -p and
    // the engines say (Node's recursive mkdir says EEXIST for the last one).
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw systemError('ENOTDIR', 'copydir', s, d)
    throw asSystemError(err, 'copydir', s, d)
  }
  if (first === undefined) return []
  // mkdir names the shallowest directory it made: the chain is parent up to it.
  const depth = (x: string) => x.split(path.sep).filter(Boolean).length
  const count = depth(typeof parent === 'string' ? parent : parent.toString('utf8')) - depth(first) + 1
  const made: (string | Buffer)[] = []
  for (let at = parent, i = 0; i < count; at = parentOf(at), i++) made.push(at)
  return made
}

async function removeParents(made: (string | Buffer)[]): Promise<void> {
  for (const dir of made) {
    // 'p/.' or 'r/..' of a destDir spelled so: on mkdir's way up by name,
    // but an existing directory it did not make (rmdir refuses such a name,
    // and stopping there left p and r, which it made).
    const last = path.basename(typeof dir === 'string' ? dir : dir.toString('latin1'))
    if (last === '.' || last === '..') continue
    try {
      await fs.promises.rmdir(dir)
    } catch {
      return // not empty (someone else's now), or gone: leave the rest
    }
  }
}

// A file as copyDir's source: copied to dest as fs.cp copies it, through the
// engine's single-file path (copyFiles with one pair: its trust rules, and
// an existing destination replaced by rename, never written through). A
// directory at dest is refused, as fs.cp refuses it; so is the file itself.
async function copySourceFile(s: string | Buffer, d: string | Buffer, st: fs.Stats, p: ParsedBatch): Promise<BatchResult> {
  const at = await fs.promises.lstat(d).catch(() => null)
  if (at?.isDirectory()) {
    throw systemError('EISDIR', 'copydir', s, d, 'cannot overwrite a directory with a non-directory')
  }
  if (at && at.dev === st.dev && at.ino === st.ino) {
    throw systemError('EINVAL', 'copydir', s, d, 'cannot copy a file onto itself')
  }
  return supervise(p, (control) => engine.copyFiles([s], [d], p, control), () => undefined)
}
