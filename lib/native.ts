// Loads the native addon once. null when it cannot load (no prebuild for this
// platform and no compiler at install time) or when COWCOPY_NATIVE=0 asks for
// the fs.copyFile fallback.
import * as path from 'node:path'

/** Method names by the engine's numeric code (src-native/engine/method.h). */
export const METHODS = ['none', 'clone', 'copy_file_range', 'sendfile', 'readwrite'] as const
export type NativeMethod = (typeof METHODS)[number]


export type PathArg = string | Buffer

export interface NativeBatchResult {
  files: number
  bytes: number
  dirs: number
  symlinks: number
  threads: number
  methods: Record<NativeMethod, number>
  errors: { src: string; dest: string; error: Error }[]
  skipped: { path: string; type: string }[]
}

export interface NativeBinding {
  /**
   * Copies with option bits `flags` (validate.ts FLAG); fills out[0..2] with
   * errno, method code, bytes; returns the engine's reason text, if any.
   */
  copyFileSync(src: PathArg, dest: PathArg, flags: number, out: Float64Array): string | undefined
  /**
   * Resolves with the result; rejects with what the error factory made of the
   * errno. `control`: [cancel flag, bytes done, bytes total], shared with the
   * worker thread while the copy runs.
   */
  copyFile(src: PathArg, dest: PathArg, flags: number, control?: BigInt64Array): Promise<{ method: NativeMethod; bytes: number }>
  /** Registers (errno, reason, src, dest, syscall?) => Error for the promise APIs' failures. */
  setErrorFactory(
    make: (errno: number, reason: string | undefined, src: string, dest: string, syscall?: string) => Error,
  ): void
  /** Many pairs in one call; control: [cancel, bytes done, files done]. */
  copyFiles(
    srcs: PathArg[],
    dests: PathArg[],
    flags: number,
    concurrency: number,
    control?: BigInt64Array,
  ): Promise<NativeBatchResult>
  /** FICLONERANGE; sync: returns undefined or throws; else a promise. */
  cloneRange(src: PathArg | number, dest: PathArg | number, srcOff: bigint, destOff: bigint, len: bigint, sync: boolean): unknown
  /** copy_file_range loop; bytes copied as a bigint (or a promise of it). */
  copyRange(src: PathArg | number, dest: PathArg | number, srcOff: bigint, destOff: bigint, len: bigint, sync: boolean): unknown
  /** FIDEDUPERANGE per target: [{ bytesDeduped: bigint, status, error? }] (or a promise of it). */
  dedupeRange(src: PathArg | number, off: bigint, len: bigint, targets: [PathArg | number, bigint][], sync: boolean): unknown
  /** statfs + tries; { fsType, blockSize, clone, dedupe, copyFileRange } (or a promise of it). */
  probe(dir: PathArg, sync: boolean): unknown
  /** A whole tree; filter(relPaths, types) answers once per directory. */
  copyDir(
    src: PathArg,
    dest: PathArg,
    flags: number,
    concurrency: number,
    control: BigInt64Array | undefined,
    filter: ((rels: (string | Buffer)[], types: number[]) => boolean[]) | undefined,
  ): Promise<NativeBatchResult>
}

function load(): { binding: NativeBinding | null; loadError: Error | null } {
  if (process.env.COWCOPY_NATIVE === '0') {
    return { binding: null, loadError: new Error('disabled by COWCOPY_NATIVE=0') }
  }
  const root = path.join(__dirname, '..')
  let binding: NativeBinding & { sourceHash?: string }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeBinding
    binding = nodeGypBuild(root)
  } catch (err) {
    return { binding: null, loadError: err as Error }
  }
  // A binary built from other sources (a stale prebuild, a build/ left from
  // an older checkout) may lack functions or behave differently: refuse it.
  let expected: string | undefined
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expected = (require(path.join(root, 'src-native', 'source-hash.js')) as { sourceHash(): string }).sourceHash()
  } catch {
    expected = undefined // sources not shipped: nothing to compare with
  }
  if (expected !== undefined && binding.sourceHash !== expected) {
    const err = new Error(
      `cowcopy: the native addon was built from other sources (${binding.sourceHash ?? 'unknown'}, ` +
        `sources are ${expected}); rebuild it (npm rebuild cowcopy). Using the fs.copyFile fallback.`,
    )
    process.emitWarning(err.message, 'CowcopyWarning')
    return { binding: null, loadError: err }
  }
  return { binding, loadError: null }
}

const loaded = load()
export const native: NativeBinding | null = loaded.binding
/** Why the addon is not in use (null when it is). */
export const nativeLoadError: Error | null = loaded.loadError
