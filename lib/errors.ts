// Errors shaped like Node's own: system errors as fs reports them, argument
// errors with Node's classes, codes and message formats.
import { getSystemErrorMap, inspect } from 'node:util'

const systemErrors = getSystemErrorMap()

export interface SystemError extends Error {
  code: string
  errno: number
  syscall: string
  path?: string
  dest?: string
}

/**
 * @internal
 * `errno` is positive, as the kernel returns it; the error carries it negative,
 * as Node does. `reason` replaces strerror's text when the engine knows better
 * (e.g. "source is a FIFO, not a regular file").
 */
export function systemError(
  errno: number,
  syscall: string,
  path?: string | Buffer,
  dest?: string | Buffer,
  reason?: string,
): SystemError {
  const entry = systemErrors.get(-errno)
  const code = entry ? entry[0] : `Unknown system error ${-errno}`
  const desc = reason ?? (entry ? entry[1] : `Unknown system error ${-errno}`)
  let message = `${code}: ${desc}, ${syscall}`
  const pathStr = path === undefined ? undefined : path.toString()
  const destStr = dest === undefined ? undefined : dest.toString()
  if (pathStr !== undefined) message += ` '${pathStr}'`
  if (destStr !== undefined) message += ` -> '${destStr}'`
  const err = new Error(message) as SystemError
  err.errno = -errno
  err.code = code
  err.syscall = syscall
  if (pathStr !== undefined) err.path = pathStr
  if (destStr !== undefined) err.dest = destStr
  return err
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

/** Node's AbortError: name 'AbortError', code 'ABORT_ERR', the signal's reason as cause. */
export class AbortError extends Error {
  readonly code = 'ABORT_ERR'
  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AbortError'
  }
}
