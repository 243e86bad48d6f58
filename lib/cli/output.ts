// What the command prints: cp's wording of errors, paths quoted and escaped
// for a terminal, and the --json lines.
import { getSystemErrorMap } from 'node:util'
import type { P } from './paths'

export class UsageError extends Error {}

/** exit 2 "not supported: ..." for a cp option cowcopy does not have. */
export class Unsupported extends UsageError {
  constructor(what: string) {
    super(`not supported: ${what}`)
  }
}

// glibc's strerror text where libuv words an errno differently, so that
// messages read as cp's ("File exists", not "file already exists").
const STRERROR: Record<string, string> = {
  EEXIST: 'File exists',
  ELOOP: 'Too many levels of symbolic links',
  EXDEV: 'Invalid cross-device link',
  ENOTSUP: 'Operation not supported',
  EOPNOTSUPP: 'Operation not supported',
  ETXTBSY: 'Text file busy',
  ENAMETOOLONG: 'File name too long',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  ENOTEMPTY: 'Directory not empty',
  EMLINK: 'Too many links',
  EROFS: 'Read-only file system',
  ENOSPC: 'No space left on device',
}
const uvText = new Map([...getSystemErrorMap().values()].map(([name, text]) => [name, text]))

// cp's wording of an errno: "No such file or directory".
export function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  const m = /^([A-Z0-9_]+): (.*?), [a-z_]+ '/.exec(e?.message ?? '')
  if (m && STRERROR[m[1]] && uvText.get(m[1]) === m[2]) return STRERROR[m[1]]
  const text = m ? m[2] : (e?.message ?? String(err))
  return text.charAt(0).toUpperCase() + text.slice(1)
}

// Bytes that are not UTF-8 (a name from argv or copyDir) as \xNN, never
// as U+FFFD.
function plain(p: P): string {
  if (typeof p === 'string') return p
  if (Buffer.from(p.toString('utf8')).equals(p)) return p.toString('utf8')
  let s = ''
  let i = 0
  while (i < p.length) {
    // the longest valid UTF-8 sequence at i, else one escaped byte
    let n = 0
    for (const len of [4, 3, 2, 1]) {
      const chunk = p.subarray(i, i + len)
      if (chunk.length === len && Buffer.from(chunk.toString('utf8')).equals(chunk) && !chunk.toString('utf8').includes('\ufffd')) {
        n = len
        break
      }
    }
    if (n) {
      s += p.subarray(i, i + n).toString('utf8')
      i += n
    } else {
      s += `\\x${p[i].toString(16)}`
      i++
    }
  }
  return s
}

// A path as printed: in single quotes, control characters (a newline in a
// file name) escaped so one file stays one line and a name cannot drive the
// terminal: C0, DEL and C1 (U+0080-U+009F: a lone CSI, U+009B, starts an
// escape sequence on many terminals).
export function q(p: P): string {
  return `'${plain(p).replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => {
    const n = c.charCodeAt(0)
    return n < 0x80 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`
  })}'`
}

/** A path in a JSON line: a string; bytes that are not UTF-8 as \xNN. */
export const jsonPath = (p: P): string => plain(p)

export function errorJson(err: unknown): { code?: string; message: string } {
  return { code: (err as NodeJS.ErrnoException)?.code, message: (err as Error)?.message ?? String(err) }
}

export function fail(msg: string): void {
  process.stderr.write(`cowcopy: ${msg}\n`)
}

export function out(line: string): void {
  process.stdout.write(line + '\n')
}

export function json(obj: Record<string, unknown>): void {
  out(JSON.stringify(obj))
}
