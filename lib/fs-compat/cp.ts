// fs.cp, fs.cpSync and fs.promises.cp: fs's signatures and argument checks,
// walk.ts's steps, cowcopy's copyFile for the file data.
import { runAsync, runSync } from './drive'
import { cpPath, validateCpOptions, validCallback } from './options'
import { cpSteps } from './walk'

type Callback = (err: Error | null) => void

/** fs.cpSync: the whole copy on the calling thread; every step is synchronous. */
export function cpSync(src: unknown, dest: unknown, options?: unknown): void {
  const o = validateCpOptions(options)
  runSync(cpSteps(cpPath(src, 'src'), cpPath(dest, 'dest'), o))
}

/** fs.promises.cp: argument errors are rejections too. */
export async function cpPromise(src: unknown, dest: unknown, options?: unknown): Promise<void> {
  const o = validateCpOptions(options)
  await runAsync(cpSteps(cpPath(src, 'src'), cpPath(dest, 'dest'), o))
}

/** fs.cp: argument errors are thrown; the callback gets null or the copy's error. */
export function cp(src: unknown, dest: unknown, options: unknown, callback?: unknown): void {
  if (typeof options === 'function') {
    callback = options
    options = undefined
  }
  const cb: Callback = validCallback(callback)
  const o = validateCpOptions(options)
  const steps = cpSteps(cpPath(src, 'src'), cpPath(dest, 'dest'), o)
  runAsync(steps).then(() => cb(null), cb)
}
