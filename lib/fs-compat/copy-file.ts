// fs.copyFile, fs.copyFileSync and fs.promises.copyFile on cowcopy's
// copyFile: fs's argument checks (src, dest, mode 0-7, callback), fs's mode
// flags (COPYFILE_FICLONE_FORCE: a clone or the kernel's error), undefined
// as the result.
import * as fs from 'node:fs'
import { copyFile as cowCopyFile, copyFileSync as cowCopyFileSync } from '../copy-file'
import { systemError } from '../errors'
import { native } from '../native'
import { toPath } from '../validate'
import { validCallback, validMode } from './options'

type Bytes = string | Buffer

// fs.copyFile opens an existing destination for writing, so one the caller
// may not write is refused (EACCES). The native engine writes in place and
// is refused the same way; the portable engine replaces the destination by a
// rename, which needs only the directory, so it asks first.
function refused(err: unknown, s: Bytes, d: Bytes): Error | undefined {
  const code = (err as { code?: string } | null)?.code
  return code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? systemError(code, 'copyfile', s, d) : undefined
}

function checkWritableSync(s: Bytes, d: Bytes): void {
  if (native) return
  try {
    fs.accessSync(d, fs.constants.W_OK)
  } catch (err) {
    const e = refused(err, s, d)
    if (e) throw e
  }
}

async function checkWritable(s: Bytes, d: Bytes): Promise<void> {
  if (native) return
  try {
    await fs.promises.access(d, fs.constants.W_OK)
  } catch (err) {
    const e = refused(err, s, d)
    if (e) throw e
  }
}

export function copyFileSync(src: unknown, dest: unknown, mode?: unknown): void {
  const s = toPath(src, 'src')
  const d = toPath(dest, 'dest')
  const m = validMode(mode)
  checkWritableSync(s, d)
  cowCopyFileSync(s, d, m)
}

export async function copyFilePromise(src: unknown, dest: unknown, mode?: unknown): Promise<void> {
  const s = toPath(src, 'src')
  const d = toPath(dest, 'dest')
  const m = validMode(mode)
  await checkWritable(s, d)
  await cowCopyFile(s, d, m)
}

export function copyFile(src: unknown, dest: unknown, mode: unknown, callback?: unknown): void {
  if (typeof mode === 'function') {
    callback = mode
    mode = 0
  }
  const s = toPath(src, 'src')
  const d = toPath(dest, 'dest')
  const m = validMode(mode)
  const cb = validCallback(callback)
  checkWritable(s, d)
    .then(() => cowCopyFile(s, d, m))
    .then(() => cb(null), cb)
}
