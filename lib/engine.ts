// One interface, two engines. The facade (copy-file.ts, batch.ts, import.ts,
// range.ts) validates every option once and hands the same parsed request to
// the native engine (the C++ addon) when it loaded, else to the portable
// engine (TypeScript over node:fs, lib/portable/).
import type { BatchResult } from './batch'
import type { ParsedBatch } from './batch-options'
import type { ParsedTree } from './copy-dir'
import type { ImportResult } from './import'
import { systemError } from './errors'
import { native, warnNoNative } from './native'
import { portableCopyFiles } from './portable/batch'
import { portableCopyDir } from './portable/tree'
import { portableImportFiles } from './portable/import'
import { flagsOf } from './batch-options'

/** copyDir's request: both paths checked, the tree options parsed. */
export interface TreeRequest {
  src: string | Buffer
  dest: string | Buffer
  p: ParsedBatch
  tree: ParsedTree
  /** Asked once per directory with the entries' relative paths and DT_* types. */
  filter?: (rels: (string | Buffer)[], types: number[]) => boolean[]
  /** Absolute source root: relative link targets are resolved against it (fs.cp's rewrite). */
  linkBase?: string | Buffer
}

/** importFiles' request: every relPath checked, each directory listed once, parents first. */
export interface ImportRequest {
  destDir: string | Buffer
  rels: (string | Buffer)[]
  srcs: (string | Buffer)[]
  /** Every directory the entries need, as latin1 keys of their bytes, parents first. */
  dirs: string[]
  /** The relPaths as latin1 keys of their bytes. */
  keys: string[]
  p: ParsedBatch
  /** The marker's index in rels, or -1. */
  marker: number
  stage: boolean
}

export interface Engine {
  readonly name: 'native' | 'portable'
  copyFiles(srcs: (string | Buffer)[], dests: (string | Buffer)[], p: ParsedBatch, control: BigInt64Array | undefined): Promise<BatchResult>
  copyDir(req: TreeRequest, control: BigInt64Array | undefined): Promise<BatchResult>
  importFiles(req: ImportRequest, control: BigInt64Array | undefined): Promise<ImportResult>
}

/** copyDir's own option bits (src-native/batch_binding.cc TreeFlags). */
const TREE_FLAG = {
  DEREFERENCE: 1 << 24,
  ERROR_ON_EXIST: 1 << 25,
} as const

function nativeEngine(binding: NonNullable<typeof native>): Engine {
  return {
    name: 'native',
    copyFiles: (srcs, dests, p, control) =>
      binding.copyFiles(srcs, dests, flagsOf(p), p.concurrency, control) as Promise<BatchResult>,
    copyDir: (r, control) => {
      let flags = flagsOf(r.p)
      if (r.tree.dereference) flags |= TREE_FLAG.DEREFERENCE
      if (r.tree.errorOnExist && !r.p.overwrite) flags |= TREE_FLAG.ERROR_ON_EXIST
      return binding.copyDir(r.src, r.dest, flags, r.p.concurrency, control, r.filter, r.linkBase) as Promise<BatchResult>
    },
    importFiles: (r, control) =>
      binding.importFiles(r.destDir, r.rels, r.srcs, flagsOf(r.p), r.p.concurrency, control, r.marker, r.stage) as Promise<ImportResult>,
  }
}

// What the portable engine cannot keep, asked for by name, is an error
// before anything is touched (`preserve: true` keeps what it can).
function portableCan(p: ParsedBatch, syscall: string, path: string | Buffer): void {
  warnNoNative()
  if (p.preserve.xattrs && !p.preserve.all) {
    throw systemError('ENOSYS', syscall, path, undefined, 'preserving extended attributes needs the native addon')
  }
}

const portableEngine: Engine = {
  name: 'portable',
  copyFiles: async (srcs, dests, p, control) => {
    portableCan(p, 'copyfiles', srcs[0] ?? '')
    return portableCopyFiles(srcs, dests, p, control)
  },
  copyDir: async (r, control) => {
    portableCan(r.p, 'copydir', r.src)
    return portableCopyDir(r, control)
  },
  importFiles: async (r, control) => {
    portableCan(r.p, 'importfiles', r.destDir)
    return portableImportFiles(r, control)
  },
}

/** The engine every call of this process uses. */
export const engine: Engine = native ? nativeEngine(native) : portableEngine
