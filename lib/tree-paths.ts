// copyDir's checks of its two paths before anything is created: the
// destination is not inside the source (compared by real path, in bytes),
// and is a directory if it exists; and the base fs.cp resolves relative
// link targets against.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { systemError } from './errors'

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
export async function linkBase(src: string | Buffer): Promise<string | Buffer> {
  if (typeof src === 'string') return path.resolve(src)
  return Buffer.from(path.posix.resolve((await absolute(src)).toString('latin1')), 'latin1')
}

// Before anything is created (the source is a directory): the destination
// is not inside it, and is a directory if it exists.
export async function checkTree(src: string | Buffer, dest: string | Buffer): Promise<void> {
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
