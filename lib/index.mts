// The ESM entry: the same module instance as the CommonJS one, re-exported by name.
import cjs from './index.js'
import type { DirEntry as DirEntryClass } from './index.js'

/** An entry as the copyDir filter sees it (the class below, as a type). */
export type DirEntry = DirEntryClass

export const {
  cloneLayer,
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
  importFiles,
  native,
  nativeLoadError,
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
  ImportEntries,
  ImportOptions,
  ImportResult,
  ImportResultBuffer,
  LinkMethod,
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
