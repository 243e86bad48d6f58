export { constants } from './constants'
export { copyFile, copyFileSync, reflink, reflinkSync } from './copy-file'
export { copyFiles, copyDir, DirEntry } from './batch'
export { importFiles } from './import'
export { cloneRange, cloneRangeSync, copyRange, copyRangeSync, dedupeRange, dedupeRangeSync, probe, probeSync } from './range'
export type { DedupeResult, DedupeTargetSpec, FileLike, Offset, ProbeResult, RangeOptions } from './range'
export type { BatchOptions, BatchProgress, BatchResult, BatchResultBuffer, CopyDirOptions, LinkMethod } from './batch'
export type { ImportEntries, ImportOptions, ImportResult, ImportResultBuffer } from './import'
export type { CopyResult, Method, ReflinkOptions } from './copy-file'
export type { CopyOptions, PathLike, PreserveOptions, Progress, ReflinkMode } from './validate'
export type { SystemError } from './errors'

import { native as binding, nativeLoadError as loadError } from './native'
/** true when the native addon is in use; false when cowcopy runs on its portable engine (TypeScript over node:fs). */
export const native: boolean = binding !== null
/**
 * Why the addon is not in use, null when it is. `code`: COWCOPY_NO_PREBUILD
 * (no binary for this platform: `npm run build:native` in the package
 * builds one), COWCOPY_ADDONS_DISABLED (Node's permission model without
 * --allow-addons), COWCOPY_STALE_BINARY (built from other sources),
 * COWCOPY_LOAD_FAILED, COWCOPY_NATIVE_DISABLED (COWCOPY_NATIVE=0). The first
 * call that runs without the addon also emits one process warning saying why.
 */
export const nativeLoadError: (Error & { code: string }) | null = loadError as (Error & { code: string }) | null
