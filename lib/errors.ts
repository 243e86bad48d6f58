// Errors shaped like Node's own: system errors as fs reports them, argument
// errors with Node's classes, codes and message formats.
import { constants as osConstants } from 'node:os'
import { getSystemErrorMap, inspect } from 'node:util'
import type { BufferInstance } from './global-types'

/** A platform's error table as Node's fs uses it: errno (negative) -> [code, description]. */
export type ErrorTable = Map<number, [string, string]>

// libuv's map lacks some errnos a copy meets (EDQUOT, ESTALE on some
// versions); the kernel's name and number from os.constants still apply.
const fallbackText: Record<string, string> = {
  EDQUOT: 'disk quota exceeded',
  ESTALE: 'stale file handle',
}

export interface SystemError extends Error {
  code: string
  errno: number
  syscall: string
  /** A string, as fs gives it; a Buffer of the exact bytes when they are not valid UTF-8. */
  path?: string | BufferInstance
  /** As `path`. */
  dest?: string | BufferInstance
}

/** @internal True when the bytes decode to a string and back without a change. */
export function isExactUtf8(b: Buffer): boolean {
  return Buffer.from(b.toString('utf8'), 'utf8').equals(b)
}

// fs gives error paths as strings; a name that is not valid UTF-8 would be
// decoded lossily (U+FFFD), so it stays the Buffer of its exact bytes.
function errorPath(p: string | Buffer): string | Buffer {
  return typeof p === 'string' || !isExactUtf8(p) ? p : p.toString('utf8')
}

/**
 * @internal
 * The system-error builder for one platform's table. `errno` is either a
 * name ('ENOSYS', 'EXDEV': what the JavaScript layer decides) or a positive
 * number as this platform's kernel gave it (what the native engine reports).
 * A name takes its number from the table, so `code` and `errno` match what
 * Node's own fs gives on every OS (on Windows that is libuv's numbers, EEXIST
 * -4075, never Linux's 17). `reason` replaces the table's text when the
 * engine knows better ("source is a FIFO, not a regular file").
 */
export function systemErrorFor(table: ErrorTable, osErrno: Record<string, number>) {
  const byName = new Map<string, number>()
  for (const [n, [name]] of table) if (!byName.has(name)) byName.set(name, n)
  const kernelNames = new Map<number, string>(Object.entries(osErrno).map(([name, n]) => [n, name]))
  // EOPNOTSUPP is libuv's ENOTSUP wherever the two are one number (Linux);
  // elsewhere libuv has only ENOTSUP.
  const alias: Record<string, string> = { EOPNOTSUPP: 'ENOTSUP' }
  return function systemError(
    errno: number | string,
    syscall: string,
    path?: string | Buffer,
    dest?: string | Buffer,
    reason?: string,
  ): SystemError {
    let code: string
    let number: number
    if (typeof errno === 'string') {
      const name = byName.has(errno) ? errno : (alias[errno] ?? errno)
      const n = byName.get(name)
      code = n === undefined ? errno : name
      number = n ?? (osErrno[errno] !== undefined ? -osErrno[errno] : -1)
    } else {
      number = -errno
      code = table.get(number)?.[0] ?? kernelNames.get(errno) ?? 'UNKNOWN'
    }
    const desc = reason ?? table.get(number)?.[1] ?? fallbackText[code] ?? 'unknown error'
    let message = `${code}: ${desc}, ${syscall}`
    const pathStr = path === undefined ? undefined : path.toString()
    const destStr = dest === undefined ? undefined : dest.toString()
    if (pathStr !== undefined) message += ` '${pathStr}'`
    if (destStr !== undefined) message += ` -> '${destStr}'`
    const err = new Error(message) as SystemError
    err.errno = number
    err.code = code
    err.syscall = syscall
    if (path !== undefined) err.path = errorPath(path)
    if (dest !== undefined) err.dest = errorPath(dest)
    built.add(err)
    return err
  }
}

// Errors this module built: asSystemError passes them on as they are.
const built = new WeakSet<Error>()

/**
 * @internal This platform's builder: see {@link systemErrorFor}. Takes a name
 * ('EXDEV') or a positive errno from the native engine.
 */
export const systemError = systemErrorFor(getSystemErrorMap() as ErrorTable, osConstants.errno as Record<string, number>)

/** @internal Node's own fs error (from a call the portable engine made) with cowcopy's syscall and paths. */
export function asSystemError(err: unknown, syscall: string, path?: string | Buffer, dest?: string | Buffer, reason?: string): unknown {
  if (err instanceof Error && built.has(err)) return err
  const code = (err as NodeJS.ErrnoException | null)?.code
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? systemError(code, syscall, path, dest, reason) : err
}

type ErrorClass = TypeErrorConstructor | RangeErrorConstructor | ErrorConstructor

function nodeError(Class: ErrorClass, code: string, message: string): Error & { code: string } {
  const err = new Class(message) as Error & { code: string }
  err.code = code
  return err
}

// Node's determineSpecificType(), so messages read like the built-ins'.
export function describeReceived(value: unknown): string {
  if (value === null || value === undefined) return String(value)
  if (typeof value === 'function' && value.name) return `function ${value.name}`
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name
    if (name) return `an instance of ${name}`
    return inspect(value, { depth: -1 })
  }
  let shown = inspect(value, { colors: false })
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`
  return `type ${typeof value} (${shown})`
}

function argLabel(name: string, kind: 'argument' | 'property'): string {
  return name.includes('.') ? `property '${name}'` : `${kind} '${name}'`
}

export function invalidArgType(name: string, expected: string, actual: unknown): TypeError {
  const label = name.includes('.') ? `"${name}" property` : `"${name}" argument`
  return nodeError(
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    `The ${label} must be ${expected}. Received ${describeReceived(actual)}`,
  ) as TypeError
}

export function invalidArgValue(name: string, value: unknown, reason: string): TypeError {
  let shown = inspect(value)
  if (shown.length > 128) shown = `${shown.slice(0, 128)}...`
  return nodeError(
    TypeError,
    'ERR_INVALID_ARG_VALUE',
    `The ${argLabel(name, 'argument')} ${reason}. Received ${shown}`,
  ) as TypeError
}

export function outOfRange(name: string, range: string, value: unknown): RangeError {
  const shown = typeof value === 'bigint' ? `${value}n` : inspect(value)
  return nodeError(
    RangeError,
    'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${range}. Received ${shown}`,
  ) as RangeError
}

/** Node's ERR_INVALID_RETURN_VALUE: a callback returned what it may not. */
export function invalidReturnValue(expected: string, name: string, value: unknown): TypeError {
  const ctor = (value as { constructor?: { name?: string } } | null | undefined)?.constructor?.name
  const type = ctor ? `instance of ${ctor}` : `type ${typeof value}`
  return nodeError(
    TypeError,
    'ERR_INVALID_RETURN_VALUE',
    `Expected ${expected} to be returned from the "${name}" function but got ${type}.`,
  ) as TypeError
}

/** Node's AbortError: name 'AbortError', code 'ABORT_ERR', the signal's reason as cause. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR'
  /**
   * An aborted copyFiles, copyDir or importFiles (not staged): what it
   * completed before it stopped, as the result it would have resolved with.
   * Those files stay; the one in progress was removed.
   */
  result?: import('./batch').BatchResult
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AbortError'
  }
}

/** Node's ERR_INCOMPATIBLE_OPTION_PAIR: two options that cannot be given together. */
export function incompatibleOptionPair(a: string, b: string): TypeError {
  return nodeError(
    TypeError,
    'ERR_INCOMPATIBLE_OPTION_PAIR',
    `Option "${a}" cannot be used in combination with option "${b}"`,
  ) as TypeError
}
