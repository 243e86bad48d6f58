// The SystemError class Node's fs.cp throws (ERR_FS_CP_*, ERR_FS_EISDIR):
// name 'SystemError', `code` the ERR_ key, `info` the context, and `errno`,
// `syscall`, `path`, `dest` as accessors onto it, with Node 20's message
// "<prefix>: cp returned <CODE> (<reason>) <path>".
import { constants as osConstants } from 'node:os'

const PREFIX = {
  ERR_FS_CP_DIR_TO_NON_DIR: 'Cannot overwrite non-directory with directory',
  ERR_FS_CP_EEXIST: 'Target already exists',
  ERR_FS_CP_EINVAL: 'Invalid src or dest',
  ERR_FS_CP_FIFO_PIPE: 'Cannot copy a FIFO pipe',
  ERR_FS_CP_NON_DIR_TO_DIR: 'Cannot overwrite directory with non-directory',
  ERR_FS_CP_SOCKET: 'Cannot copy a socket file',
  ERR_FS_CP_SYMLINK_TO_SUBDIRECTORY: 'Cannot overwrite symlink in subdirectory of self',
  ERR_FS_CP_UNKNOWN: 'Cannot copy an unknown file type',
  ERR_FS_EISDIR: 'Path is a directory',
} as const

export type CpErrorKey = keyof typeof PREFIX

export interface CpErrorContext {
  message: string
  path: string
  syscall: 'cp'
  errno: number
  code: string
}

// Named as Node's own class is (its errors' constructor.name is NodeError).
class NodeError extends Error {
  declare code: CpErrorKey
  declare info: CpErrorContext
  declare errno: number
  declare syscall: string
  declare path: string

  constructor(key: CpErrorKey, context: CpErrorContext) {
    super(`${PREFIX[key]}: ${context.syscall} returned ${context.code} (${context.message}) ${context.path}`)
    Object.defineProperty(this, 'name', { value: 'SystemError', enumerable: false, writable: true, configurable: true })
    // The stack's first line as Node's: "SystemError [ERR_...]: message".
    if (typeof this.stack === 'string') {
      this.stack = this.stack.replace(/^[^\n]*/, `SystemError [${key}]: ${this.message}`)
    }
    this.code = key
    Object.defineProperty(this, 'info', { value: context, enumerable: true, configurable: true, writable: false })
    for (const field of ['errno', 'syscall', 'path'] as const) {
      Object.defineProperty(this, field, {
        get: () => context[field],
        set: (value: never) => {
          context[field] = value
        },
        enumerable: true,
        configurable: true,
      })
    }
  }

  override toString(): string {
    return `${this.name} [${this.code}]: ${this.message}`
  }
}

export { NodeError as CpSystemError }

const errno = osConstants.errno

/**
 * One of fs.cp's errors, `code`/`errno` the pair fs.promises.cp gives
 * (Node 20's cpSync gave ERR_FS_EISDIR EINVAL's number; its cp, EISDIR's).
 */
export function cpError(key: CpErrorKey, message: string, path: string, code: string, number = errno[code as keyof typeof errno]): NodeError {
  return new NodeError(key, { message, path, syscall: 'cp', errno: number, code })
}
