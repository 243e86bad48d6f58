// The same API on fs.copyFile, for platforms where the addon cannot load (or
// COWCOPY_NATIVE=0). Every result says method 'fs'. Holes are not promised.
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { systemError } from './errors'
import { warnNoNative } from './native'
import type { CopyResult } from './copy-file'
import type { ParsedCopy } from './validate'

const ENOSYS = 38

function fsFlags(p: ParsedCopy): number {
  let flags = p.overwrite ? 0 : fs.constants.COPYFILE_EXCL
  if (p.reflink === 'always') flags |= fs.constants.COPYFILE_FICLONE_FORCE
  else if (p.reflink === 'auto') flags |= fs.constants.COPYFILE_FICLONE
  return flags
}

type Bytes = string | Buffer

// dest split into its directory and name; Buffers stay bytes (a name that
// is not UTF-8 must not be decoded).
function split(dest: Bytes): [Bytes, Bytes] {
  if (typeof dest === 'string') return [path.dirname(dest), path.basename(dest)]
  let end = dest.length
  while (end > 1 && dest[end - 1] === 0x2f) end--
  const slash = dest.lastIndexOf(0x2f, end - 1)
  const dir = slash === -1 ? Buffer.from('.') : slash === 0 ? Buffer.from('/') : dest.subarray(0, slash)
  return [dir, dest.subarray(slash + 1, end)]
}

function cat(...parts: Bytes[]): Bytes {
  if (parts.every((x) => typeof x === 'string')) return parts.join('')
  return Buffer.concat(parts.map((x) => (typeof x === 'string' ? Buffer.from(x) : x)))
}

function tempBeside(dest: Bytes): Bytes {
  const [dir, base] = split(dest)
  return cat(dir, '/.', base, `.cowcopy-${randomBytes(6).toString('hex')}`)
}

function stagingPrefix(dest: Bytes): Bytes {
  return cat(split(dest)[0], '/.cowcopy-')
}

function checkSupported(src: string | Buffer, dest: string | Buffer, p: ParsedCopy): void {
  warnNoNative()
  if (p.preserve.xattrs) {
    throw systemError(ENOSYS, 'copyfile', src, dest, 'preserving extended attributes needs the native addon')
  }
}

// cp's rule: setuid/setgid survive only when ownership is preserved or the
// copier owns the source. fs.copyFile gives the copy the source's whole mode
// (setuid/setgid included) the moment it creates it, owned by the copier:
// root copying another user's 6755 file would make a setuid-root file of
// that user's content. Such a source is first copied into a private (0700)
// directory beside the destination and the bits dropped there, before any
// name another user can reach holds it; the destination is copied from that.
function foreignSetid(st: fs.Stats): boolean {
  return (st.mode & 0o6000) !== 0 && typeof process.geteuid === 'function' && st.uid !== process.geteuid()
}

// Steps after the data, in the native engine's order. chown clears
// setuid/setgid (Linux, root too): the mode is set again after it.
function finishSync(st: fs.Stats, target: Bytes, p: ParsedCopy): void {
  if (p.preserve.ownership) {
    try {
      fs.chownSync(target, st.uid, st.gid)
      if (st.mode & 0o6000) fs.chmodSync(target, st.mode & 0o7777)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err
      fs.chmodSync(target, st.mode & 0o1777)
    }
  }
  if (p.preserve.timestamps) fs.utimesSync(target, st.atime, st.mtime)
  if (p.fsync) {
    const fd = fs.openSync(target, 'r')
    try {
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
  }
}

export function fsCopySync(src: string | Buffer, dest: string | Buffer, p: ParsedCopy): CopyResult {
  checkSupported(src, dest, p)
  // A missing source: fs.copyFile's own error ('copyfile'), as without cowcopy.
  let st = fs.statSync(src, { throwIfNoEntry: false })
  if (!st) {
    fs.copyFileSync(src, dest, fsFlags(p)) // throws; if it does not, the source came back
    st = fs.statSync(src)
  }
  let staging: Bytes | undefined
  let from: Bytes = src
  try {
    if (foreignSetid(st)) {
      staging = (typeof dest === 'string'
        ? fs.mkdtempSync(stagingPrefix(dest) as string)
        : fs.mkdtempSync(stagingPrefix(dest) as string, { encoding: 'buffer' }))
      from = cat(staging, '/f')
      fs.copyFileSync(src, from, fsFlags({ ...p, overwrite: true }))
      fs.chmodSync(from, st.mode & 0o1777)
    }
    const target = p.atomic ? tempBeside(dest) : dest
    try {
      fs.copyFileSync(from, target, p.atomic ? fsFlags({ ...p, overwrite: false }) : fsFlags(p))
      finishSync(st, target, p)
      if (p.atomic) {
        if (p.overwrite) fs.renameSync(target, dest)
        else {
          fs.linkSync(target, dest)
          fs.unlinkSync(target)
        }
      }
    } catch (err) {
      if (p.atomic) fs.rmSync(target, { force: true })
      throw err
    }
  } finally {
    if (staging) fs.rmSync(staging, { recursive: true, force: true })
  }
  return { method: 'fs', bytes: fs.statSync(dest).size }
}

async function finish(st: fs.Stats, target: Bytes, p: ParsedCopy): Promise<void> {
  if (p.preserve.ownership) {
    try {
      await fs.promises.chown(target, st.uid, st.gid)
      if (st.mode & 0o6000) await fs.promises.chmod(target, st.mode & 0o7777)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err
      await fs.promises.chmod(target, st.mode & 0o1777)
    }
  }
  if (p.preserve.timestamps) await fs.promises.utimes(target, st.atime, st.mtime)
  if (p.fsync) {
    const fh = await fs.promises.open(target, 'r')
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
  }
}

export async function fsCopy(src: string | Buffer, dest: string | Buffer, p: ParsedCopy): Promise<CopyResult> {
  checkSupported(src, dest, p)
  // A missing source: fs.copyFile's own error ('copyfile'), as without cowcopy.
  const st = await fs.promises.stat(src).catch(async () => {
    await fs.promises.copyFile(src, dest, fsFlags(p)) // throws; if it does not, the source came back
    return fs.promises.stat(src)
  })
  let staging: Bytes | undefined
  let from: Bytes = src
  try {
    if (foreignSetid(st)) {
      staging = typeof dest === 'string'
        ? await fs.promises.mkdtemp(stagingPrefix(dest) as string)
        : await fs.promises.mkdtemp(stagingPrefix(dest) as string, { encoding: 'buffer' })
      from = cat(staging, '/f')
      await fs.promises.copyFile(src, from, fsFlags({ ...p, overwrite: true }))
      await fs.promises.chmod(from, st.mode & 0o1777)
    }
    const target = p.atomic ? tempBeside(dest) : dest
    try {
      await fs.promises.copyFile(from, target, p.atomic ? fsFlags({ ...p, overwrite: false }) : fsFlags(p))
      await finish(st, target, p)
      if (p.atomic) {
        if (p.overwrite) await fs.promises.rename(target, dest)
        else {
          await fs.promises.link(target, dest)
          await fs.promises.unlink(target)
        }
      }
    } catch (err) {
      if (p.atomic) await fs.promises.rm(target, { force: true })
      throw err
    }
  } finally {
    if (staging) await fs.promises.rm(staging, { recursive: true, force: true })
  }
  const bytes = (await fs.promises.stat(dest)).size
  p.onProgress?.({ bytesCopied: bytes, totalBytes: bytes })
  return { method: 'fs', bytes }
}
