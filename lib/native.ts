// Loads the native addon once, at runtime (no install script: principle 9):
// a build from source in src-native/build, else the prebuild for this
// platform in prebuilds/. null when none loads (no prebuild for the platform,
// addons disabled by Node's permission model, a binary built from other
// sources) or when COWCOPY_NATIVE=0 asks for the portable engine; the
// reason is exported, and said once, at first use, by warnNoNative().
import * as fs from 'node:fs'
import * as path from 'node:path'

/** Method names by the engine's numeric code (src-native/engine/method.h). */
export const METHODS = ['none', 'clone', 'copy_file_range', 'sendfile', 'readwrite', 'hardlink'] as const
export type NativeMethod = (typeof METHODS)[number]


export type PathArg = string | Buffer

export interface NativeBatchResult {
  files: number
  bytes: number
  dirs: number
  symlinks: number
  threads: number
  methods: Record<NativeMethod, number>
  overlayLinks: number
  errors: { src: string; dest: string; error: Error }[]
  skipped: { path: string; type: string }[]
  /** importFiles only. */
  existing?: number
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
  copyFile(src: PathArg, dest: PathArg, flags: number, control?: BigInt64Array): Promise<{ method: Exclude<NativeMethod, 'hardlink'>; bytes: number }>
  /** Registers (errno, reason, src, dest, syscall?) => Error for the promise APIs' failures. */
  setErrorFactory(
    make: (errno: number, reason: string | undefined, src: string, dest: string, syscall?: string) => Error,
  ): void
  /** Registers (method code, bytes) => result for copyFile's promise. */
  setResultFactory(make: (method: number, bytes: number) => { method: NativeMethod; bytes: number }): void
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
  /** importFiles: entries as parallel arrays; marker: an index or -1. */
  importFiles(
    destDir: PathArg,
    rels: PathArg[],
    srcs: PathArg[],
    flags: number,
    concurrency: number,
    control: BigInt64Array | undefined,
    marker: number,
    stage: boolean,
  ): Promise<NativeBatchResult>
  /** Forgets the ladder rungs found unavailable between devices (tests). */
  resetLinkMemory(): void
  /** A whole tree; filter(relPaths, types) answers once per directory. */
  copyDir(
    src: PathArg,
    dest: PathArg,
    flags: number,
    concurrency: number,
    control: BigInt64Array | undefined,
    filter: ((rels: (string | Buffer)[], types: number[]) => boolean[]) | undefined,
    /** Absolute source root: relative link targets are resolved against it (fs.cp's rewrite). */
    linkBase?: PathArg,
  ): Promise<NativeBatchResult>
}

/** What a whole-tree clone answered (src-native/clone-layer/layer.h TreeAnswer). */
export interface TreeAnswer {
  /** 0, or the errno of the clone (the platform's own number). */
  errno: number
  /** Why the tree was not cloned whole (a FIFO, a mount point, an own setuid file...): copy it per file. */
  ineligible: string | undefined
  files: number
  dirs: number
  symlinks: number
  bytes: number
}

/**
 * The per-OS clone layer (src-native/clone-layer/): what the portable engine
 * calls where Node cannot clone (macOS: fclonefileat, clonefileat). Each
 * answer is 0 or the platform's own errno.
 */
export interface CloneLayer {
  kind: 'clone-layer'
  /** Which OS calls are linked: 'darwin', or 'linux-shim' (the same logic over FICLONE, for the tests). */
  os: string
  /** A clone of the open file `srcFd` at `dest`, a name that must not exist. */
  cloneFileSync(srcFd: number, dest: PathArg): number
  cloneFile(srcFd: number, dest: PathArg): Promise<number>
  /** The directory `src` cloned whole as the new directory `dest`, or why not. */
  cloneTreeSync(src: PathArg, dest: PathArg): TreeAnswer
  cloneTree(src: PathArg, dest: PathArg): Promise<TreeAnswer>
  /** Clones made so far in this process (tests). */
  counters(): { fileClones: number; treeClones: number }
}

/** What loaded, or why nothing did. */
export interface NativeStatus {
  /** The addon file in use (the engine, or the clone layer the portable engine calls), or null when there is none. */
  file: string | null
  /** Why the addon is not in use, as nativeLoadError.code; null when it is. */
  reason: keyof typeof REASONS | null
}

/** nativeLoadError.code by reason. */
const REASONS = {
  disabled: 'COWCOPY_NATIVE_DISABLED', // COWCOPY_NATIVE=0
  'no-prebuild': 'COWCOPY_NO_PREBUILD', // no binary for this platform, none built from source
  permission: 'COWCOPY_ADDONS_DISABLED', // Node's permission model without --allow-addons (or --no-addons)
  stale: 'COWCOPY_STALE_BINARY', // built from other sources
  'load-failed': 'COWCOPY_LOAD_FAILED', // dlopen failed (another libc, a missing symbol)
} as const

interface NodeGypBuild {
  (dir: string): unknown
  resolve(dir: string): string
}

interface Loaded {
  binding: NativeBinding | null
  layer: CloneLayer | null
  loadError: Error | null
  status: NativeStatus
}

function load(): Loaded {
  const fail = (reason: NonNullable<NativeStatus['reason']>, message: string, cause?: unknown): Loaded => {
    const err = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code: string }
    err.code = REASONS[reason]
    return { binding: null, layer: null, loadError: err, status: { file: null, reason } }
  }
  if (process.env.COWCOPY_NATIVE === '0') return fail('disabled', 'disabled by COWCOPY_NATIVE=0')
  const root = path.join(__dirname, '..')
  let nodeGypBuild: NodeGypBuild
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    nodeGypBuild = require('node-gyp-build') as NodeGypBuild
  } catch (err) {
    // Under Node's permission model the loader's own probe of
    // /etc/alpine-release (is this musl?) is a file read outside the app.
    if ((err as NodeJS.ErrnoException).code === 'ERR_ACCESS_DENIED') {
      return fail(
        'permission',
        `Node's permission model denied the addon loader a file read (${(err as Error).message}); ` +
          `allow it with --allow-fs-read=/etc/alpine-release (or set LIBC=glibc), and --allow-addons`,
        err,
      )
    }
    return fail('load-failed', `its loader, node-gyp-build, did not load: ${(err as Error).message}`, err)
  }
  let file: string
  try {
    // A build from source (npm run build:native: src-native/build/Release)
    // first, then the prebuilds shipped in the package (prebuilds/<platform>-<arch>/).
    // COWCOPY_PREBUILD (node-gyp-build's own override, read against the
    // package root) names another directory to load from: test/sanitize.sh
    // points it at a sanitizer build.
    try {
      if (process.env.COWCOPY_PREBUILD) throw new Error('override')
      file = nodeGypBuild.resolve(path.join(root, 'src-native'))
    } catch {
      file = nodeGypBuild.resolve(root)
    }
  } catch (err) {
    return fail(
      'no-prebuild',
      `no prebuilt binary for ${process.platform}-${process.arch} (${libc()}) in this package ` +
        `(build one with \`npm run build:native\` in ${root})`,
      err,
    )
  }
  let binding: NativeBinding & { sourceHash?: string }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    binding = require(file) as NativeBinding
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ERR_DLOPEN_DISABLED' || code === 'ERR_ACCESS_DENIED') {
      return fail('permission', `native addons are disabled in this process (Node's permission model without --allow-addons, or --no-addons)`, err)
    }
    return fail('load-failed', `the native addon ${file} did not load: ${(err as Error).message}`, err)
  }
  // A binary built from other sources (a stale prebuild, a build/ left from
  // an older checkout) may lack functions or behave differently: refuse it.
  const expected = expectedHash(root)
  if (expected !== undefined && binding.sourceHash !== expected) {
    return fail(
      'stale',
      `the native addon ${file} was built from other sources (${binding.sourceHash ?? 'unknown'}, ` +
        `sources are ${expected}); rebuild it (npm run build:native)`,
    )
  }
  // Off Linux the addon is the clone layer the portable engine calls.
  if ((binding as unknown as { kind?: string }).kind === 'clone-layer') {
    return { binding: null, layer: binding as unknown as CloneLayer, loadError: null, status: { file, reason: null } }
  }
  return { binding, layer: null, loadError: null, status: { file, reason: null } }
}

/**
 * The source hash the addon must carry: of the sources when they are here
 * (a checkout, or the package with src-native/), else the one recorded in
 * dist/ when lib/ was built.
 */
function expectedHash(root: string): string | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(path.join(root, 'src-native', 'source-hash.js')) as { sourceHash(): string }).sourceHash()
  } catch {
    try {
      return fs.readFileSync(path.join(__dirname, 'source-hash.txt'), 'utf8').trim() || undefined
    } catch {
      return undefined // neither: nothing to compare with
    }
  }
}

function libc(): string {
  if (process.platform !== 'linux') return process.platform
  try {
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
    if (report?.header?.glibcVersionRuntime) return `glibc ${report.header.glibcVersionRuntime}`
  } catch {}
  return 'musl or another libc'
}

const loaded = load()
export const native: NativeBinding | null = loaded.binding
/** The per-OS clone layer the portable engine uses, when that is what loaded. */
export const cloneLayer: CloneLayer | null = loaded.layer
/**
 * Why the addon is not in use (null when it is); its `code` says which of
 * REASONS, its message names the file or the platform.
 */
export const nativeLoadError: Error | null = loaded.loadError
/** The addon file in use, or why there is none. */
export const nativeStatus: NativeStatus = loaded.status

let warned = false
/**
 * Called by every path that runs without the addon: the first time, one
 * process warning saying why (not when COWCOPY_NATIVE=0 asked for it).
 */
export function warnNoNative(): void {
  if (warned || !nativeLoadError || nativeStatus.reason === 'disabled') return
  warned = true
  process.emitWarning(`cowcopy: ${nativeLoadError.message}; using the portable engine (slower and less hardened, not broken)`, {
    type: 'CowcopyWarning',
    code: `COWCOPY_NO_NATIVE`,
  })
}
