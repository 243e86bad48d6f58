export { constants } from './constants'
export { copyFile, copyFileSync, reflink, reflinkSync } from './copy-file'
export { copyFiles } from './batch'
export { copyDir, DirEntry } from './copy-dir'
export { importFiles } from './import'
export { cloneRange, cloneRangeSync, copyRange, copyRangeSync, dedupeRange, dedupeRangeSync, probe, probeSync } from './range'
export type { DedupeResult, DedupeTargetSpec, FileLike, Offset, ProbeResult, RangeOptions } from './range'
export type { BatchOptions, BatchProgress, BatchResult, BatchResultBuffer, LinkMethod } from './batch'
export type { CopyDirOptions } from './copy-dir'
export type { ImportEntries, ImportOptions, ImportResult, ImportResultBuffer } from './import'
export type { CopyResult, Method, ReflinkOptions } from './copy-file'
export type { CopyOptions, PathLike, PreserveOptions, Progress, ReflinkMode } from './validate'
export type { SystemError } from './errors'

import { cloneLayer as layer, native as binding, nativeLoadError as loadError } from './native'
/** true when the native engine (the addon, Linux) is in use; false when cowcopy runs on its portable engine (TypeScript over node:fs). */
export const native: boolean = binding !== null
/**
 * The per-OS clone layer the portable engine clones through: 'darwin' on
 * macOS (clonefile: files, and whole directories in copyDir), null where
 * there is none (Linux's native engine clones by itself; elsewhere the
 * portable engine clones only as far as fs.copyFile does).
 */
export const cloneLayer: string | null = layer?.os ?? null
/**
 * Why the addon is not in use, null when it is (the engine, or the clone layer). `code`: COWCOPY_NO_PREBUILD
 * (no binary for this platform: `npm run build:native` in the package
 * builds one), COWCOPY_ADDONS_DISABLED (Node's permission model without
 * --allow-addons), COWCOPY_STALE_BINARY (built from other sources),
 * COWCOPY_LOAD_FAILED, COWCOPY_NATIVE_DISABLED (COWCOPY_NATIVE=0). The first
 * call that runs without the addon also emits one process warning saying why.
 */
export const nativeLoadError: (Error & { code: string }) | null = loadError as (Error & { code: string }) | null
