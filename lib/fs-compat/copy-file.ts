// fs.copyFile, fs.copyFileSync and fs.promises.copyFile on cowcopy's
// copyFile: fs's argument checks (src, dest, mode 0-7, callback), fs's mode
// flags (COPYFILE_FICLONE_FORCE: a clone or the kernel's error), undefined
// as the result.
import { copyFile as cowCopyFile, copyFileSync as cowCopyFileSync } from '../copy-file'
import { toPath } from '../validate'
import { validCallback, validMode } from './options'

export function copyFileSync(src: unknown, dest: unknown, mode?: unknown): void {
  const s = toPath(src, 'src')
  const d = toPath(dest, 'dest')
  cowCopyFileSync(s, d, validMode(mode))
}

export async function copyFilePromise(src: unknown, dest: unknown, mode?: unknown): Promise<void> {
  const s = toPath(src, 'src')
  const d = toPath(dest, 'dest')
  await cowCopyFile(s, d, validMode(mode))
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
  cowCopyFile(s, d, m).then(() => cb(null), cb)
}
