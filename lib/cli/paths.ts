// Paths as the command gets them: a string when the bytes are valid UTF-8,
// else a Buffer with the exact bytes (fs and the API take both). Path
// arithmetic goes through latin1, which maps every byte to one char and back.
import * as fs from 'node:fs'
import * as path from 'node:path'

export type P = string | Buffer

/** latin1 text of the bytes (one char per byte), for parsing and path math. */
export function bytesText(p: P): string {
  return (typeof p === 'string' ? Buffer.from(p) : p).toString('latin1')
}

/** Back from bytesText: a string if the bytes are UTF-8, else the Buffer. */
export function fromBytesText(s: string): P {
  const b = Buffer.from(s, 'latin1')
  const text = b.toString('utf8')
  return Buffer.from(text).equals(b) ? text : b
}

export const join = (...parts: P[]): P => fromBytesText(path.posix.join(...parts.map(bytesText)))
export const basename = (p: P): P => fromBytesText(path.posix.basename(bytesText(p)))
export const dirname = (p: P): P => fromBytesText(path.posix.dirname(bytesText(p)))
export const isAbsolute = (p: P): boolean => bytesText(p).startsWith('/')
export const text = (p: P): string => bytesText(p)

/**
 * The command's arguments with their exact bytes. Node decodes argv as
 * UTF-8 and turns invalid bytes into U+FFFD, so a name such as $'\xff'
 * cannot be found again from process.argv. On Linux /proc/self/cmdline
 * holds the bytes; its last entries are the script's arguments. Each is
 * used only when it decodes to what Node gave (the same argument), else
 * the string is kept.
 */
export function rawArgv(args: string[]): string[] {
  let raw: Buffer
  try {
    raw = fs.readFileSync('/proc/self/cmdline')
  } catch {
    return args.map((a) => Buffer.from(a).toString('latin1'))
  }
  const parts: Buffer[] = []
  let start = 0
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0) {
      parts.push(raw.subarray(start, i))
      start = i + 1
    }
  }
  const tail = parts.slice(parts.length - args.length)
  const same = tail.length === args.length && tail.every((b, i) => b.toString('utf8') === args[i])
  return args.map((a, i) => (same ? tail[i] : Buffer.from(a)).toString('latin1'))
}
