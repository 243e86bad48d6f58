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

function tempBeside(dest: string | Buffer): string {
  const d = dest.toString()
  return path.join(path.dirname(d), `.${path.basename(d)}.cowcopy-${randomBytes(6).toString('hex')}`)
}

function checkSupported(src: string | Buffer, dest: string | Buffer, p: ParsedCopy): void {
  warnNoNative()
  if (p.preserve.xattrs) {
    throw systemError(ENOSYS, 'copyfile', src, dest, 'preserving extended attributes needs the native addon')
  }
}

// Steps after the data, in the native engine's order.
function finishSync(src: string | Buffer, target: string, p: ParsedCopy): void {
  const st = fs.statSync(src)
  if (p.preserve.ownership) {
    try {
      fs.chownSync(target, st.uid, st.gid)
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
  const target = p.atomic ? tempBeside(dest) : dest.toString()
  try {
    fs.copyFileSync(src, target, p.atomic ? fsFlags({ ...p, overwrite: false }) : fsFlags(p))
    finishSync(src, target, p)
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
  return { method: 'fs', bytes: fs.statSync(dest).size }
}

async function finish(src: string | Buffer, target: string, p: ParsedCopy): Promise<void> {
  const st = await fs.promises.stat(src)
  if (p.preserve.ownership) {
    try {
      await fs.promises.chown(target, st.uid, st.gid)
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
  const target = p.atomic ? tempBeside(dest) : dest.toString()
  try {
    await fs.promises.copyFile(src, target, p.atomic ? fsFlags({ ...p, overwrite: false }) : fsFlags(p))
    await finish(src, target, p)
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
  const bytes = (await fs.promises.stat(dest)).size
  p.onProgress?.({ bytesCopied: bytes, totalBytes: bytes })
  return { method: 'fs', bytes }
}
