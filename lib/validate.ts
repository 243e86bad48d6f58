// Argument validation: everything is checked before any file is touched.
import { fileURLToPath } from 'node:url'
import { constants } from './constants'
import { invalidArgType, invalidArgValue, outOfRange } from './errors'
import type { AbortSignalInstance, URLInstance } from './global-types'

/** A path as fs accepts it: a string, a Buffer (any Uint8Array) or a file: URL. */
export type PathLike = string | Uint8Array | URLInstance

/** How a copy may use copy-on-write: like `cp --reflink`. */
export type ReflinkMode = 'auto' | 'always' | 'never'

/** Numeric codes shared with the native binding. */
export const REFLINK_CODE: Record<ReflinkMode, number> = { auto: 0, always: 1, never: 2 }

export interface PreserveOptions {
  /** Always kept; `false` is refused (fs.copyFile keeps the mode too). */
  mode?: boolean
  /** atime and mtime, with nanoseconds. */
  timestamps?: boolean
  /** uid and gid; when not permitted the copy still succeeds and drops setuid/setgid, like `cp -p`. */
  ownership?: boolean
  /** Extended attributes: user.* always, trusted.* / security.* when permitted. */
  xattrs?: boolean
}

export interface Progress {
  /** Bytes of the source covered so far (holes of a sparse file count as covered). */
  bytesCopied: number
  /** The source's size. */
  totalBytes: number
}

export interface CopyOptions {
  /** 'auto' (default): clone when possible, else copy; 'always': clone or fail; 'never': real copy. */
  reflink?: ReflinkMode
  /** Replace an existing destination (default true). false = COPYFILE_EXCL: fail with EEXIST. */
  overwrite?: boolean
  /** Keep holes of a sparse source as holes (default true); false writes every byte. */
  sparse?: boolean
  /** Write a temporary file beside `dest` and rename it into place: dest is old or new, never partial. */
  atomic?: boolean
  /** Flush the data to disk before returning (with `atomic`, the directory entry too). */
  fsync?: boolean
  /** true: all of PreserveOptions. The mode is always kept. */
  preserve?: boolean | PreserveOptions
  /** Promise API only: called on the main thread, at most every 100 ms, and once at the end. */
  onProgress?: (progress: Progress) => void
  /** Promise API only: aborts the copy; the promise rejects with an AbortError. */
  signal?: AbortSignalInstance
}

/** Option bits as the native binding takes them (src-native/binding.cc Flags). */
export const FLAG = {
  NO_OVERWRITE: 1 << 2,
  DENSE: 1 << 3,
  ATOMIC: 1 << 4,
  FSYNC: 1 << 5,
  KEEP_TIMESTAMPS: 1 << 6,
  KEEP_OWNERSHIP: 1 << 7,
  KEEP_XATTRS: 1 << 8,
  STOP_ON_ERROR: 1 << 9,
  LIST_FILES: 1 << 10,
  PATHS_AS_BUFFERS: 1 << 11,
} as const

export interface ParsedCopy {
  reflink: ReflinkMode
  overwrite: boolean
  sparse: boolean
  atomic: boolean
  fsync: boolean
  /** `all`: preserve was `true` (everything the engine can keep), not a list. */
  preserve: { timestamps: boolean; ownership: boolean; xattrs: boolean; all?: boolean }
  onProgress?: (progress: Progress) => void
  signal?: AbortSignalInstance
}

/** The native flag word for parsed options. */
export function toFlags(p: ParsedCopy): number {
  let f = REFLINK_CODE[p.reflink]
  if (!p.overwrite) f |= FLAG.NO_OVERWRITE
  if (!p.sparse) f |= FLAG.DENSE
  if (p.atomic) f |= FLAG.ATOMIC
  if (p.fsync) f |= FLAG.FSYNC
  if (p.preserve.timestamps) f |= FLAG.KEEP_TIMESTAMPS
  if (p.preserve.ownership) f |= FLAG.KEEP_OWNERSHIP
  if (p.preserve.xattrs) f |= FLAG.KEEP_XATTRS
  return f
}

function defaults(): ParsedCopy {
  return {
    reflink: 'auto',
    overwrite: true,
    sparse: true,
    atomic: false,
    fsync: false,
    preserve: { timestamps: false, ownership: false, xattrs: false },
  }
}

function isURL(value: unknown): value is URL {
  // Node's own test (internal/url.js isURL): duck-typed so URLs from other realms pass.
  const v = value as { href?: unknown; protocol?: unknown; auth?: unknown; path?: unknown } | null
  return Boolean(v && v.href && v.protocol && v.auth === undefined && v.path === undefined)
}

const PATH_TYPES = 'of type string or an instance of Buffer or URL'
const NUL_REASON = 'must be a string, Uint8Array, or URL without null bytes'

/** @internal Validates a path and returns it as the native binding takes it. */
export function toPath(value: unknown, name: string): string | Buffer {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) throw invalidArgValue(name, value, NUL_REASON)
    return value
  }
  if (value instanceof Uint8Array) {
    const buf = Buffer.isBuffer(value)
      ? value
      : Buffer.from(value.buffer, value.byteOffset, value.byteLength)
    if (buf.includes(0)) throw invalidArgValue(name, value, NUL_REASON)
    return buf
  }
  if (isURL(value)) {
    const p = fileURLToPath(value) // throws ERR_INVALID_URL_SCHEME etc., as fs does
    if (p.includes('\u0000')) throw invalidArgValue(name, value, NUL_REASON)
    return p
  }
  throw invalidArgType(name, PATH_TYPES, value)
}

const KNOWN_FLAGS =
  constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE | constants.COPYFILE_FICLONE_FORCE

/** fs.copyFile's numeric mode: COPYFILE_EXCL / COPYFILE_FICLONE / COPYFILE_FICLONE_FORCE. */
export function parseMode(mode: number, name: string): ParsedCopy {
  if (!Number.isInteger(mode)) throw outOfRange(name, 'an integer', mode)
  if (mode < 0 || mode > KNOWN_FLAGS) throw outOfRange(name, `>= 0 && <= ${KNOWN_FLAGS}`, mode)
  // COPYFILE_FICLONE (or no flag) is cowcopy's default, 'auto': clone when the
  // filesystem can. COPYFILE_FICLONE_FORCE means clone or fail.
  const p = defaults()
  p.reflink = mode & constants.COPYFILE_FICLONE_FORCE ? 'always' : 'auto'
  p.overwrite = (mode & constants.COPYFILE_EXCL) === 0
  return p
}

/**
 * The flag word for the commonest calls without building a ParsedCopy: no
 * options, or a valid fs.copyFile numeric mode (the same word toFlags gives
 * for parseMode's result). undefined for anything else: parse it.
 */
export function quickFlags(modeOrOptions: unknown): number | undefined {
  if (modeOrOptions === undefined) return 0
  if (typeof modeOrOptions !== 'number' || !Number.isInteger(modeOrOptions)) return undefined
  if (modeOrOptions < 0 || modeOrOptions > KNOWN_FLAGS) return undefined
  return (
    (modeOrOptions & constants.COPYFILE_FICLONE_FORCE ? REFLINK_CODE.always : REFLINK_CODE.auto) |
    (modeOrOptions & constants.COPYFILE_EXCL ? FLAG.NO_OVERWRITE : 0)
  )
}

function optionalBoolean(o: Record<string, unknown>, key: string, name: string, fallback: boolean): boolean {
  const v = o[key]
  if (v === undefined) return fallback
  if (typeof v !== 'boolean') throw invalidArgType(`${name}.${key}`, 'of type boolean', v)
  return v
}

function parsePreserve(value: unknown, name: string): ParsedCopy['preserve'] {
  if (value === undefined || value === false) return { timestamps: false, ownership: false, xattrs: false }
  if (value === true) return { timestamps: true, ownership: true, xattrs: true, all: true }
  if (value === null || typeof value !== 'object') {
    throw invalidArgType(`${name}.preserve`, 'of type boolean or object', value)
  }
  const o = value as Record<string, unknown>
  rejectUnknownOptions(o, PRESERVE_OPTIONS, 'preserve', `${name}.preserve`)
  if (optionalBoolean(o, 'mode', `${name}.preserve`, true) === false) {
    throw invalidArgValue(`${name}.preserve.mode`, false, 'cannot be false: the mode is always kept')
  }
  return {
    timestamps: optionalBoolean(o, 'timestamps', `${name}.preserve`, false),
    ownership: optionalBoolean(o, 'ownership', `${name}.preserve`, false),
    xattrs: optionalBoolean(o, 'xattrs', `${name}.preserve`, false),
  }
}

// The option names each call takes. A name it does not know is refused
// before anything is touched: a typo (`overwirte`, fs.cp's
// `preserveTimestamps`) must never silently weaken a copy.
export const COPY_OPTIONS = ['reflink', 'overwrite', 'sparse', 'atomic', 'fsync', 'preserve', 'onProgress', 'signal'] as const
const PRESERVE_OPTIONS = ['mode', 'timestamps', 'ownership', 'xattrs'] as const

// fs.cp's and fs.copyFile's names, with what they are here.
const FS_NAMES: Record<string, string> = {
  preserveTimestamps: " (fs.cp's; here: preserve: { timestamps: true })",
  mode: " (fs.cp's numeric mode; here: reflink: 'always' for COPYFILE_FICLONE_FORCE, overwrite: false for COPYFILE_EXCL)",
  recursive: ' (the copy is always recursive)',
}

// Levenshtein distance, for "did you mean".
function distance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    row = next
  }
  return row[b.length]
}

/**
 * ERR_INVALID_ARG_VALUE for the first own key of `options` that is not in
 * `known`, naming it (and the closest known name, when one is close).
 */
export function rejectUnknownOptions(options: unknown, known: readonly string[], api: string, name = 'options'): void {
  if (options === null || typeof options !== 'object') return
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue
    let near: string | undefined
    let best = 3
    for (const k of known) {
      const d = k.toLowerCase() === key.toLowerCase() ? 0 : distance(k, key)
      if (d < best) [near, best] = [k, d]
    }
    const hint = FS_NAMES[key] ?? (near ? ` (did you mean '${near}'?)` : '')
    throw invalidArgValue(`${name}.${key}`, (options as Record<string, unknown>)[key], `is not an option of ${api}${hint}`)
  }
}

function isAbortSignal(v: unknown): v is AbortSignal {
  // Duck-typed like Node's validateAbortSignal, so signals from other realms
  // pass; and able to be listened to, which the copy does.
  if (typeof v !== 'object' || v === null || !('aborted' in v)) return false
  const o = v as { addEventListener?: unknown; removeEventListener?: unknown }
  return typeof o.addEventListener === 'function' && typeof o.removeEventListener === 'function'
}

/**
 * An options object. `promiseApi`: onProgress and signal are accepted (the
 * sync API cannot report progress or be aborted while it blocks the thread).
 */
export function parseOptions(options: unknown, name: string, promiseApi: boolean, api = 'copyFile', known: readonly string[] = COPY_OPTIONS): ParsedCopy {
  const p = defaults()
  if (options === undefined || options === null) return p
  if (typeof options !== 'object') throw invalidArgType(name, 'of type object', options)
  rejectUnknownOptions(options, known, api, name)
  const o = options as Record<string, unknown>
  if (o.reflink !== undefined) {
    if (o.reflink !== 'auto' && o.reflink !== 'always' && o.reflink !== 'never') {
      throw invalidArgValue(`${name}.reflink`, o.reflink, "must be one of: 'auto', 'always', 'never'")
    }
    p.reflink = o.reflink
  }
  p.overwrite = optionalBoolean(o, 'overwrite', name, true)
  p.sparse = optionalBoolean(o, 'sparse', name, true)
  p.atomic = optionalBoolean(o, 'atomic', name, false)
  p.fsync = optionalBoolean(o, 'fsync', name, false)
  p.preserve = parsePreserve(o.preserve, name)
  for (const key of ['onProgress', 'signal'] as const) {
    if (o[key] !== undefined && !promiseApi) {
      throw invalidArgValue(`${name}.${key}`, o[key], 'is only supported by the promise API')
    }
  }
  if (o.onProgress !== undefined) {
    if (typeof o.onProgress !== 'function') throw invalidArgType(`${name}.onProgress`, 'of type function', o.onProgress)
    p.onProgress = o.onProgress as ParsedCopy['onProgress']
  }
  if (o.signal !== undefined) {
    if (!isAbortSignal(o.signal)) throw invalidArgType(`${name}.signal`, 'an instance of AbortSignal', o.signal)
    p.signal = o.signal
  }
  return p
}

/** copyFile's third argument: fs.copyFile's numeric mode, or an options object. */
export function parseModeOrOptions(value: unknown, promiseApi: boolean): ParsedCopy {
  if (typeof value === 'number') return parseMode(value, 'mode')
  if (value === undefined || value === null || typeof value === 'object') {
    return parseOptions(value, 'options', promiseApi)
  }
  throw invalidArgType('mode', 'of type number or an instance of Object', value)
}
