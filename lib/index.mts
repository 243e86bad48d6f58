// The ESM entry: the same module instance as the CommonJS one, re-exported by name.
import cjs from './index.js'

export const { constants, copyFile, copyFileSync, copyDir, copyFiles, DirEntry, reflink, reflinkSync } = cjs
export type {
  BatchOptions,
  BatchProgress,
  BatchResult,
  CopyDirOptions,
  CopyOptions,
  CopyResult,
  Method,
  PathLike,
  PreserveOptions,
  Progress,
  ReflinkMode,
  ReflinkOptions,
  SystemError,
} from './index.js'
export default cjs
