// The per-OS clone layer as portable-engine steps: where Node cannot clone
// (macOS: libuv makes COPYFILE_FICLONE a plain copy and FICLONE_FORCE
// ENOSYS), the addon's layer clones an open file or a whole directory. Its
// answers are errnos of the platform's own table, turned into Node-style
// errors here.
import { systemError } from '../errors'
import { cloneLayer, type TreeAnswer } from '../native'
import type { Bytes } from './ops'

/** The layer's calls by step name, sync and callback forms (ops.ts adds them to its table). */
export const layerCalls: Record<string, (...args: unknown[]) => unknown> = {}

if (cloneLayer) {
  const layer = cloneLayer
  // As fs.copyFile's own errors are: syscall 'copyfile', the source's path
  // (the step's third argument: the layer gets the open descriptor), and
  // not final: the caller names the destination it was given, not the
  // temporary name the clone went to (asSystemError re-labels).
  const fail = (errno: number, dest: unknown, src: unknown): Error => {
    const built = systemError(errno, 'copyfile', src as Bytes, dest as Bytes)
    const { code, syscall, path, message } = built
    return Object.assign(new Error(message), { code, errno: built.errno, syscall, path, dest })
  }
  layerCalls.cloneFileSync = (fd, dest, src) => {
    const errno = layer.cloneFileSync(fd as number, dest as Bytes)
    if (errno !== 0) throw fail(errno, dest, src)
  }
  layerCalls.cloneFile = (fd, dest, src, cb) => {
    const done = cb as (err: Error | null) => void
    layer.cloneFile(fd as number, dest as Bytes).then(
      (errno) => done(errno === 0 ? null : fail(errno, dest, src)),
      (err: Error) => done(err),
    )
  }
}

/** Whether this process has a clone layer: writeNew clones through it, copyDir may clone a tree whole. */
export const hasLayer = cloneLayer !== null

/** The whole-tree clone, or undefined where there is no layer. */
export function cloneTree(src: Bytes, dest: Bytes): Promise<TreeAnswer> | undefined {
  return cloneLayer?.cloneTree(src, dest)
}
