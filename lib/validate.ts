// Argument validation: everything is checked before any file is touched.
import { fileURLToPath } from 'node:url'
import { constants } from './constants'
import { invalidArgType, invalidArgValue, outOfRange } from './errors'

/** A path as fs accepts it. */
export type PathLike = string | Buffer | URL

/** How a copy may use copy-on-write: like `cp --reflink`. */
export type ReflinkMode = 'auto' | 'always' | 'never'

/** Numeric codes shared with the native binding. */
export const REFLINK_CODE: Record<ReflinkMode, number> = { auto: 0, always: 1, never: 2 }

export interface CopyOptions {
  /** 'auto' (default): clone when possible, else copy; 'always': clone or fail; 'never': real copy. */
  reflink?: ReflinkMode
  /** Replace an existing destination (default true). false = COPYFILE_EXCL: fail with EEXIST. */
  overwrite?: boolean
}

export interface ParsedCopy {
  reflink: ReflinkMode
  overwrite: boolean
}

function isURL(value: unknown): value is URL {
  // Node's own test (internal/url.js isURL): duck-typed so URLs from other realms pass.
  const v = value as { href?: unknown; protocol?: unknown; auth?: unknown; path?: unknown } | null
  return Boolean(v && v.href && v.protocol && v.auth === undefined && v.path === undefined)
}

const PATH_TYPES = 'of type string or an instance of Buffer or URL'
const NUL_REASON = 'must be a string, Uint8Array, or URL without null bytes'

/** Validates a path and returns it as the native binding takes it. */
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
  const reflink: ReflinkMode = mode & constants.COPYFILE_FICLONE_FORCE ? 'always' : 'auto'
  return { reflink, overwrite: (mode & constants.COPYFILE_EXCL) === 0 }
}

// Options DESIGN.md promises that this version does not implement yet: an
// explicit error beats silently ignoring, say, `atomic: true`.
const NOT_YET = ['atomic', 'sparse', 'preserve', 'onProgress', 'signal'] as const

export function parseOptions(options: unknown, name: string): ParsedCopy {
  if (options === undefined || options === null) return { reflink: 'auto', overwrite: true }
  if (typeof options !== 'object') throw invalidArgType(name, 'of type object', options)
  const o = options as Record<string, unknown>
  let reflink: ReflinkMode = 'auto'
  if (o.reflink !== undefined) {
    if (o.reflink !== 'auto' && o.reflink !== 'always' && o.reflink !== 'never') {
      throw invalidArgValue(`${name}.reflink`, o.reflink, "must be one of: 'auto', 'always', 'never'")
    }
    reflink = o.reflink
  }
  let overwrite = true
  if (o.overwrite !== undefined) {
    if (typeof o.overwrite !== 'boolean') {
      throw invalidArgType(`${name}.overwrite`, 'of type boolean', o.overwrite)
    }
    overwrite = o.overwrite
  }
  for (const key of NOT_YET) {
    if (o[key] !== undefined) {
      throw invalidArgValue(`${name}.${key}`, o[key], 'is not supported by this version of cowcopy')
    }
  }
  return { reflink, overwrite }
}

/** copyFile's third argument: fs.copyFile's numeric mode, or an options object. */
export function parseModeOrOptions(value: unknown): ParsedCopy {
  if (typeof value === 'number') return parseMode(value, 'mode')
  if (value === undefined || value === null || typeof value === 'object') {
    return parseOptions(value, 'options')
  }
  throw invalidArgType('mode', 'of type number or an instance of Object', value)
}
