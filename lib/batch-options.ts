// The options of the batch calls (copyFiles, copyDir, importFiles): their
// types, the ladder given as `link`, and the parser each call starts with.
import { invalidArgType, invalidArgValue, outOfRange } from './errors'
import { COPY_OPTIONS, parseOptions, rejectUnknownOptions, toFlags, FLAG, type CopyOptions, type ParsedCopy } from './validate'

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
