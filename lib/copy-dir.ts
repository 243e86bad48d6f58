// copyDir: a whole tree in one native call (the walk and the copies happen
// in src-native/engine, or the portable engine). Here: its options, the
// filter's round trip, the checks before anything is created, and the
// destination's missing parents.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { abortedBeforeStart, emptyResult, supervise, type BatchResult, type BatchResultBuffer } from './batch'
import { parseBatch, TREE_OPTIONS, type BatchOptions, type ParsedBatch } from './batch-options'
import { direntType } from './dirent-type'
import { engine } from './engine'
import { asSystemError, incompatibleOptionPair, invalidArgType, invalidArgValue, invalidReturnValue, systemError, type SystemError } from './errors'
import { checkTree, linkBase } from './tree-paths'
import { toPath, type PathLike } from './validate'

const SLASH = 0x2f

/**
 * An entry as the copyDir filter sees it (like fs.Dirent). `name` and
 * `parentPath` are Buffers when copyDir was given a Buffer path or the bytes
 * are not valid UTF-8 (see {@link CopyDirOptions.filter}).
 */
export class DirEntry {
  constructor(
    /** The entry's name. */
    readonly name: string,
    /** Its directory, relative to the source root ('' at the top). */
    readonly parentPath: string,
    private readonly type: number,
  ) {}
  isFile(): boolean { return this.type === 8 }
  isDirectory(): boolean { return this.type === 4 }
  isSymbolicLink(): boolean { return this.type === 10 }
  isFIFO(): boolean { return this.type === 1 }
  isSocket(): boolean { return this.type === 12 }
  isCharacterDevice(): boolean { return this.type === 2 }
  isBlockDevice(): boolean { return this.type === 6 }
}

export interface CopyDirOptions extends BatchOptions {
  /**
   * Return false to leave an entry out (a directory: its whole subtree).
   * `relPath` is relative to the source root. Asked once per directory, in a
   * batch, so giving a filter costs one round trip to the main thread per
   * directory; not giving one costs nothing.
   *
   * The root is asked first, as fs.cp asks about `src`: `relPath` '' and an
   * entry named '' whose `isDirectory()` (or, for a file source, `isFile()`)
   * is true. false: nothing is copied or created, not even `dest`, and the
   * call resolves with zero counts. (Unlike fs.cp, the source is looked at
   * first: a missing source rejects with ENOENT whatever the filter says.)
   * Under `dereference`, a symlink is asked about as a symlink, before it is
   * followed.
   *
   * Synchronous only: a filter that returns a Promise (an async function)
   * rejects the copy with ERR_INVALID_RETURN_VALUE, as `fs.cpSync` does. The
   * walker thread waits for each answer while holding a libuv threadpool
   * thread, so awaiting a filter that itself needs the threadpool (fs calls)
   * could wait forever once as many copies as threadpool threads run.
   *
   * Paths are bytes: when copyDir is given a Buffer path, `relPath`,
   * `entry.name` and `entry.parentPath` are Buffers; with string paths they
   * are strings, except a name that is not valid UTF-8, which comes as a
   * Buffer of its exact bytes rather than decoded lossily.
   */
  filter?(relPath: string, entry: DirEntry): boolean
  /**
   * Follow symbolic links in the source, as fs.cp's `dereference` (and
   * `cp -rL`): a link to a file is copied as a regular file with its
   * target's bytes and mode, a link to a directory is walked as a directory.
   * Default false: links are recreated as links. The source root is always
   * followed.
   *
   * Following happens through descriptors: the link is opened with O_PATH
   * (nothing is opened for reading but a regular file or a directory), its
   * fstat decides, and the file is read through that descriptor. What a link
   * leads to, inside the tree or out of it, is only ever read. A link to a
   * FIFO, socket or device is skipped and listed in `skipped` (fs.cp rejects
   * a FIFO or socket, and reads a device such as /dev/zero without end). A
   * dangling link or a loop of links is listed in `errors` (ENOENT, ELOOP)
   * and the rest is copied (fs.cp rejects the whole call). A link to the
   * directory it is in or to one of its ancestors is refused at once with
   * ELOOP, "a cycle" (fs.cp copies the cycle until the path holds 40 links
   * and then rejects with ELOOP). A directory reached through two links is
   * copied twice, as fs.cp does. Files behind links are copied by the walker
   * thread, one at a time; files in followed directories go to the copy
   * threads as usual.
   */
  dereference?: boolean
  /**
   * **Default true, which is NOT fs.cp's default.** cowcopy copies every
   * symlink target verbatim, like `cp -a`: a relative link still points to
   * the same place relative to the copy, so a copied tree never points back
   * into its source. fs.cp by default (`verbatimSymlinks: false`) rewrites a
   * relative target as an absolute path resolved against the source link's
   * directory (lexically, as `path.resolve(path.dirname(srcLink), target)`,
   * the source path taken as given, against the working directory), so the
   * copy's links lead into the source tree. Pass `verbatimSymlinks: false` to
   * get exactly that. Absolute targets are never changed. As in fs.cp,
   * `dereference: true` with `verbatimSymlinks: true` given explicitly is
   * ERR_INCOMPATIBLE_OPTION_PAIR.
   */
  verbatimSymlinks?: boolean
  /**
   * With `overwrite: false` (or `force: false`): reject with the EEXIST error
   * of the first destination file or symlink that already exists (`path`
   * the source, `dest` the existing destination), instead of listing it in
   * `errors`. The walk stops there; what was copied before it stays (fs.cp
   * leaves it too), and the existing file is untouched. No effect when
   * overwriting, as in fs.cp. Existing directories are merged into, never an
   * error. Default false.
   */
  errorOnExist?: boolean
  /**
   * fs.cp's name for `overwrite` (the same default, true). Giving both with
   * different values is ERR_INCOMPATIBLE_OPTION_PAIR. One difference: fs.cp
   * with `force: false` skips an existing file silently and replaces an
   * existing symlink; copyDir keeps both and lists them in `errors` (EEXIST),
   * or rejects with `errorOnExist`.
   */
  force?: boolean
}

/** @internal */
export interface ParsedTree {
  dereference: boolean
  verbatimSymlinks: boolean
  errorOnExist: boolean
}

// The fs.cp options copyDir takes; `force` lands in p.overwrite.
function parseTree(options: unknown, p: ParsedBatch): ParsedTree {
  const o = (options ?? {}) as Record<string, unknown>
  const bool = (key: string): boolean | undefined => {
    const v = o[key]
    if (v !== undefined && typeof v !== 'boolean') throw invalidArgType(`options.${key}`, 'of type boolean', v)
    return v as boolean | undefined
  }
  const dereference = bool('dereference') ?? false
  const verbatim = bool('verbatimSymlinks')
  const errorOnExist = bool('errorOnExist') ?? false
  const force = bool('force')
  // fs.cp's `recursive: true`, which a tree copy is anyway; false cannot be.
  if (bool('recursive') === false) throw invalidArgValue('options.recursive', false, 'cannot be false: copyDir copies the whole tree (copyFile copies one file)')
  if (dereference && verbatim === true) throw incompatibleOptionPair('dereference', 'verbatimSymlinks')
  if (force !== undefined) {
    if (o.overwrite !== undefined && o.overwrite !== force) throw incompatibleOptionPair('force', 'overwrite')
    p.overwrite = force
  }
  return { dereference, verbatimSymlinks: verbatim ?? true, errorOnExist }
}

/**
 * Copies a whole tree like `cp -r --reflink=auto`: directories (mode kept),
 * regular files (cloned or copied, mode kept), symlinks recreated as symlinks
 * (dangling ones too); other types are skipped and listed. One native call:
 * the walk uses directory descriptors (openat, getdents64), the files go to
 * a pool of native threads.
 *
 * A file as `src` is copied to `dest` as fs.cp copies it (`files: 1`; a
 * directory at `dest` is refused with EISDIR). The fs.cp options
 * `dereference`, `verbatimSymlinks`, `errorOnExist` and `force` are taken
 * (see {@link CopyDirOptions}; the default for relative link targets
 * differs from fs.cp's).
 */
export function copyDir(src: string | URL, dest: string | URL, options?: CopyDirOptions): Promise<BatchResult>
export function copyDir(src: PathLike, dest: PathLike, options?: CopyDirOptions): Promise<BatchResult | BatchResultBuffer>
export function copyDir(src: PathLike, dest: PathLike, options?: CopyDirOptions): Promise<BatchResult | BatchResultBuffer> {
  let s: string | Buffer, d: string | Buffer, p: ParsedBatch, tree: ParsedTree
  let filter: CopyDirOptions['filter']
  try {
    s = toPath(src, 'src')
    d = toPath(dest, 'dest')
    p = parseBatch(options, 'copyDir', TREE_OPTIONS)
    tree = parseTree(options, p)
    p.buffers = Buffer.isBuffer(s) || Buffer.isBuffer(d)
    filter = (options as CopyDirOptions | undefined)?.filter
    if (filter !== undefined && typeof filter !== 'function') {
      throw invalidArgType('options.filter', 'of type function', filter)
    }
  } catch (err) {
    return Promise.reject(err)
  }
  if (p.signal?.aborted) return Promise.reject(abortedBeforeStart(p))
  let filterError: unknown
  const userFilter = filter
  const batchFilter = userFilter
    ? (rels: (string | Buffer)[], types: number[]): boolean[] => {
        try {
          return rels.map((rel, i) => {
            const slash = typeof rel === 'string' ? rel.lastIndexOf('/') : rel.lastIndexOf(SLASH)
            const name = rel.slice(slash + 1)
            const parent = slash === -1 ? rel.slice(0, 0) : rel.slice(0, slash)
            const entry = new DirEntry(name as string, parent as string, types[i])
            const keep: unknown = userFilter.call(options, rel as string, entry)
            if (typeof (keep as PromiseLike<unknown> | null)?.then === 'function') {
              // Its outcome is nobody's now: a rejection must not end the process.
              Promise.resolve(keep).catch(() => {})
              throw invalidReturnValue('boolean', 'filter', keep)
            }
            return Boolean(keep)
          })
        } catch (err) {
          filterError ??= err
          return [] // the walk stops; the promise rejects with the filter's error
        }
      }
    : undefined
  // errorOnExist: the engine stopped at the first EEXIST; it becomes the rejection.
  const rejectExisting = (r: BatchResult): BatchResult => {
    if (tree.errorOnExist && !p.overwrite) {
      const row = r.errors.find((e) => (e.error as SystemError).code === 'EEXIST')
      if (row) throw row.error
    }
    return r
  }
  const run = async (): Promise<BatchResult> => {
    const st = await fs.promises.stat(s).catch((err: unknown) => {
      throw asSystemError(err, 'copydir', s, d)
    })
    // The root first, as fs.cp asks about src: false copies and creates nothing.
    if (batchFilter) {
      const keep = batchFilter([p.buffers ? Buffer.alloc(0) : ''], [direntType(st)])
      if (filterError) throw filterError
      if (!keep[0]) return emptyResult(p)
    }
    if (st.isDirectory()) await checkTree(s, d)
    const made = await makeParents(d, s)
    const copy = async (): Promise<BatchResult> => {
      if (!st.isDirectory()) return copySourceFile(s, d, st, p).then(rejectExisting)
      const base = tree.verbatimSymlinks || tree.dereference ? undefined : await linkBase(s)
      return supervise(
        p,
        (control) => engine.copyDir({ src: s, dest: d, p, tree, filter: batchFilter, linkBase: base }, control),
        () => filterError,
      ).then(rejectExisting)
    }
    return copy().catch(async (err: unknown) => {
      await removeParents(made)
      throw err
    })
  }
  return run()
}

const parentOf = (p: string | Buffer): string | Buffer =>
  typeof p === 'string' ? path.dirname(p) : Buffer.from(path.dirname(p.toString('latin1')), 'latin1')

/**
 * destDir's missing parents, made as `mkdir -p` makes them (fs.cp does
 * too): the directories made, deepest first, so that a call that then
 * fails as a whole removes them again (each only while empty).
 */
async function makeParents(d: string | Buffer, s: string | Buffer): Promise<(string | Buffer)[]> {
  const parent = parentOf(d)
  let first: string | undefined
  try {
    first = await fs.promises.mkdir(parent, { recursive: true })
  } catch (err) {
    // A file where a parent directory should be: ENOTDIR, as mkdir -p and
    // the engines say (Node's recursive mkdir says EEXIST for the last one).
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw systemError('ENOTDIR', 'copydir', s, d)
    throw asSystemError(err, 'copydir', s, d)
  }
  if (first === undefined) return []
  // mkdir names the shallowest directory it made: the chain is parent up to it.
  const depth = (x: string) => x.split(path.sep).filter(Boolean).length
  const count = depth(typeof parent === 'string' ? parent : parent.toString('utf8')) - depth(first) + 1
  const made: (string | Buffer)[] = []
  for (let at = parent, i = 0; i < count; at = parentOf(at), i++) made.push(at)
  return made
}

async function removeParents(made: (string | Buffer)[]): Promise<void> {
  for (const dir of made) {
    // 'p/.' or 'r/..' of a destDir spelled so: on mkdir's way up by name,
    // but an existing directory it did not make (rmdir refuses such a name,
    // and stopping there left p and r, which it made).
    const last = path.basename(typeof dir === 'string' ? dir : dir.toString('latin1'))
    if (last === '.' || last === '..') continue
    try {
      await fs.promises.rmdir(dir)
    } catch {
      return // not empty (someone else's now), or gone: leave the rest
    }
  }
}

// A file as copyDir's source: copied to dest as fs.cp copies it, through the
// engine's single-file path (copyFiles with one pair: its trust rules, and
// an existing destination replaced by rename, never written through). A
// directory at dest is refused, as fs.cp refuses it; so is the file itself.
async function copySourceFile(s: string | Buffer, d: string | Buffer, st: fs.Stats, p: ParsedBatch): Promise<BatchResult> {
  const at = await fs.promises.lstat(d).catch(() => null)
  if (at?.isDirectory()) {
    throw systemError('EISDIR', 'copydir', s, d, 'cannot overwrite a directory with a non-directory')
  }
  if (at && at.dev === st.dev && at.ino === st.ino) {
    throw systemError('EINVAL', 'copydir', s, d, 'cannot copy a file onto itself')
  }
  return supervise(p, (control) => engine.copyFiles([s], [d], p, control), () => undefined)
}
