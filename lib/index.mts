// The ESM entry: the same module instance as the CommonJS one, re-exported by name.
import cjs from './index.js'

export const {
  cloneRange,
  cloneRangeSync,
  constants,
  copyDir,
  copyFile,
  copyFileSync,
  copyFiles,
  copyRange,
  copyRangeSync,
  dedupeRange,
  dedupeRangeSync,
  DirEntry,
  probe,
  probeSync,
  reflink,
  reflinkSync,
} = cjs
export type {
  BatchOptions,
  BatchProgress,
  BatchResult,
  BatchResultBuffer,
  CopyDirOptions,
  CopyOptions,
  CopyResult,
  DedupeResult,
  DedupeTargetSpec,
  FileLike,
  Offset,
  ProbeResult,
  RangeOptions,
  Method,
  PathLike,
  PreserveOptions,
  Progress,
  ReflinkMode,
  ReflinkOptions,
  SystemError,
} from './index.js'
export default cjs
