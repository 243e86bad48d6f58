// The ESM entry: the same module instance as the CommonJS one, re-exported by name.
import cjs from './index.js'

export const { constants, copyFile, copyFileSync, reflink, reflinkSync } = cjs
export type { CopyOptions, CopyResult, Method, PathLike, ReflinkMode, ReflinkOptions, SystemError } from './index.js'
export default cjs
