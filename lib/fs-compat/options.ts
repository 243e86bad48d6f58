// fs's argument checks for cp and copyFile, with Node's codes and messages:
// the options object and its booleans, the copy mode (0-7), the callback.
import { constants as fsConstants } from 'node:fs'
import { incompatibleOptionPair, invalidArgType, outOfRange } from '../errors'
import { toPath } from '../validate'

export interface CpOptions {
  dereference: boolean
  errorOnExist: boolean
  filter: ((src: string, dest: string) => boolean | Promise<boolean>) | undefined
  force: boolean
  mode: number
  preserveTimestamps: boolean
  recursive: boolean
  verbatimSymlinks: boolean
}

const DEFAULTS = {
  dereference: false,
  errorOnExist: false,
  filter: undefined,
  force: true,
  preserveTimestamps: false,
  recursive: false,
  verbatimSymlinks: false,
}

const BOOLEANS = ['dereference', 'errorOnExist', 'force', 'preserveTimestamps', 'recursive', 'verbatimSymlinks'] as const

const MAX_MODE = fsConstants.COPYFILE_EXCL | fsConstants.COPYFILE_FICLONE | fsConstants.COPYFILE_FICLONE_FORCE

/** fs's getValidMode(mode, 'copyFile'): undefined/null is 0, else an integer 0-7. */
export function validMode(mode: unknown): number {
  if (mode === undefined || mode === null) return 0
  if (typeof mode !== 'number') throw invalidArgType('mode', 'of type number', mode)
  if (!Number.isInteger(mode)) throw outOfRange('mode', 'an integer', mode)
  if (mode < 0 || mode > MAX_MODE) throw outOfRange('mode', `>= 0 && <= ${MAX_MODE}`, mode)
  return mode
}

/** fs's validateCpOptions: a new object (the caller's is never written), every option checked. */
export function validateCpOptions(options: unknown): CpOptions {
  if (options === undefined) return { ...DEFAULTS, mode: 0 }
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgType('options', 'of type object', options)
  }
  // As fs: a key given as undefined overrides the default, and fails its check.
  const o: Record<string, unknown> = { ...DEFAULTS, ...(options as Record<string, unknown>) }
  for (const key of BOOLEANS) {
    if (typeof o[key] !== 'boolean') throw invalidArgType(`options.${key}`, 'of type boolean', o[key])
  }
  const mode = validMode(o.mode)
  if (o.dereference === true && o.verbatimSymlinks === true) throw incompatibleOptionPair('dereference', 'verbatimSymlinks')
  if (o.filter !== undefined && typeof o.filter !== 'function') {
    throw invalidArgType('options.filter', 'of type function', o.filter)
  }
  return { ...(o as unknown as CpOptions), mode }
}

/** fs's makeCallback: the callback must be a function. */
export function validCallback(cb: unknown): (err: Error | null) => void {
  if (typeof cb !== 'function') throw invalidArgType('cb', 'of type function', cb)
  return cb as (err: Error | null) => void
}

/** A path as fs.cp takes it (string, Buffer, file: URL), as a string. */
export function cpPath(value: unknown, name: 'src' | 'dest'): string {
  const p = toPath(value, name)
  return typeof p === 'string' ? p : p.toString('utf8')
}
