// fs.cp's walk, written once as steps: each file-system call, each file copy
// and each filter question is yielded, so cpSync runs it on the calling
// thread (every step synchronous) and cp on the event loop (every step
// awaited), with the same decisions and the same errors. The order of checks
// and the errors are fs.cp's (Node 20's lib/internal/fs/cp): the file data
// is copied by cowcopy's copyFile, which clones where the filesystem can.
import type { Stats } from 'node:fs'
import * as path from 'node:path'
import type { CpOptions } from './options'
import { cpError } from './system-error'

/**
 * A step: an fs call by name, a cowcopy file copy, a filter question, or
 * the steps of one directory entry (copyEntry's), which the driver runs on
 * its own stack of walks: `yield*` down the tree would put a few frames per
 * level on the JavaScript stack (and make every step resume through all of
 * them), and a tree a path can still name ran out of stack (from about 1 300
 * levels) where fs.promises.cp, awaiting each level, does not.
 */
export type Step =
  | [kind: 'fs', name: string, ...args: unknown[]]
  | [kind: 'copy', src: string, dest: string, mode: number]
  | [kind: 'filter', filter: NonNullable<CpOptions['filter']>, src: string, dest: string]
  | [kind: 'walk', steps: Steps<unknown>]

export type Steps<T> = Generator<Step, T, unknown>

function* call<T>(name: string, ...args: unknown[]): Steps<T> {
  return (yield ['fs', name, ...args]) as T
}

function codeOf(err: unknown): unknown {
  return (err as { code?: unknown } | null)?.code
}

/** Same inode on the same device (an inode of 0 never matches). */
function identical(a: Stats, b: Stats): boolean {
  return Boolean(b.ino && b.dev && b.ino === a.ino && b.dev === a.dev)
}

/** Whether `dest` is `src` or lies under it, by path components after resolve(). */
function isSubdir(src: string, dest: string): boolean {
  const s = path.resolve(src).split(path.sep).filter(Boolean)
  const d = path.resolve(dest).split(path.sep).filter(Boolean)
  return s.every((part, i) => d[i] === part)
}

function* statOf(p: string, o: CpOptions): Steps<Stats> {
  return yield* call<Stats>(o.dereference ? 'stat' : 'lstat', p)
}

/** The filter, then the stats and the checks fs.cp makes before it copies an entry; undefined: filtered out. */
function* checkPaths(src: string, dest: string, o: CpOptions): Steps<[Stats, Stats | undefined] | undefined> {
  if (o.filter && !(yield ['filter', o.filter, src, dest])) return undefined
  const srcStat = yield* statOf(src, o)
  let destStat: Stats | undefined
  try {
    destStat = yield* statOf(dest, o)
  } catch (err) {
    if (codeOf(err) !== 'ENOENT') throw err
  }
  if (destStat) {
    if (identical(srcStat, destStat)) {
      throw cpError('ERR_FS_CP_EINVAL', 'src and dest cannot be the same', dest, 'EINVAL')
    }
    if (srcStat.isDirectory() && !destStat.isDirectory()) {
      throw cpError('ERR_FS_CP_DIR_TO_NON_DIR', `cannot overwrite non-directory ${dest} with directory ${src}`, dest, 'EISDIR')
    }
    if (!srcStat.isDirectory() && destStat.isDirectory()) {
      throw cpError('ERR_FS_CP_NON_DIR_TO_DIR', `cannot overwrite directory ${dest} with non-directory ${src}`, dest, 'ENOTDIR')
    }
  }
  if (srcStat.isDirectory() && isSubdir(src, dest)) {
    throw cpError('ERR_FS_CP_EINVAL', `cannot copy ${src} to a subdirectory of self ${dest}`, dest, 'EINVAL')
  }
  return [srcStat, destStat]
}

/** No existing ancestor of `dest` (followed through links) may be `src` itself. */
function* checkParentPaths(src: string, srcStat: Stats, dest: string): Steps<void> {
  const srcParent = path.resolve(path.dirname(src))
  let at = dest
  for (;;) {
    const parent = path.resolve(path.dirname(at))
    if (parent === srcParent || parent === path.parse(parent).root) return
    let st: Stats
    try {
      st = yield* call<Stats>('stat', parent)
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return
      throw err
    }
    if (identical(srcStat, st)) {
      throw cpError('ERR_FS_CP_EINVAL', `cannot copy ${src} to a subdirectory of self ${dest}`, dest, 'EINVAL')
    }
    at = parent
  }
}

/** fs.cp(src, dest, options), after validation. */
export function* cpSteps(src: string, dest: string, o: CpOptions): Steps<void> {
  const checked = yield* checkPaths(src, dest, o)
  if (!checked) return
  const [srcStat, destStat] = checked
  yield* checkParentPaths(src, srcStat, dest)
  const parent = path.dirname(dest)
  let parentExists = true
  try {
    yield* call('stat', parent)
  } catch {
    parentExists = false
  }
  if (!parentExists) yield* call('mkdir', parent, { recursive: true })
  yield* copyEntry(destStat, src, dest, o)
}

function* copyEntry(destStat: Stats | undefined, src: string, dest: string, o: CpOptions): Steps<void> {
  const st = yield* statOf(src, o)
  if (st.isDirectory()) {
    if (!o.recursive) {
      throw cpError('ERR_FS_EISDIR', `${src} is a directory (not copied)`, src, 'EISDIR')
    }
    return yield* onDir(st, destStat, src, dest, o)
  }
  if (st.isFile() || st.isCharacterDevice() || st.isBlockDevice()) return yield* onFile(destStat, src, dest, o)
  if (st.isSymbolicLink()) return yield* onLink(destStat, src, dest, o)
  if (st.isSocket()) throw cpError('ERR_FS_CP_SOCKET', `cannot copy a socket file: ${dest}`, dest, 'EINVAL')
  if (st.isFIFO()) throw cpError('ERR_FS_CP_FIFO_PIPE', `cannot copy a FIFO pipe: ${dest}`, dest, 'EINVAL')
  throw cpError('ERR_FS_CP_UNKNOWN', `cannot copy an unknown file type: ${dest}`, dest, 'EINVAL')
}

function* onFile(destStat: Stats | undefined, src: string, dest: string, o: CpOptions): Steps<void> {
  if (destStat) {
    if (!o.force) {
      if (o.errorOnExist) throw cpError('ERR_FS_CP_EEXIST', `${dest} already exists`, dest, 'EEXIST')
      return
    }
    // As fs.cp: the old entry goes first, the copy is a new file.
    yield* call('unlink', dest)
  }
  yield ['copy', src, dest, o.mode]
  if (o.preserveTimestamps) {
    // utimes by name needs no write permission for the owner, but fs.cp
    // makes a read-only copy writable for it first, and so does this. The
    // mode given back is the one the copy got, not the source's: the copy
    // dropped setuid/setgid another user's file had (cp's rule), and
    // chmod with the source's mode would set them again (root copying
    // uid 1001's 04555 program made a setuid-root one).
    const made = (yield* call<Stats>('stat', dest)).mode & 0o7777
    const readOnly = (made & 0o200) === 0
    if (readOnly) yield* call('chmod', dest, made | 0o200)
    const now = yield* call<Stats>('stat', src)
    yield* call('utimes', dest, now.atime, now.mtime)
    if (readOnly) yield* call('chmod', dest, made)
  }
}

function* onDir(st: Stats, destStat: Stats | undefined, src: string, dest: string, o: CpOptions): Steps<void> {
  if (destStat) return yield* copyDirEntries(src, dest, o)
  yield* call('mkdir', dest)
  yield* copyDirEntries(src, dest, o)
  yield* call('chmod', dest, st.mode)
}

function* copyDirEntries(src: string, dest: string, o: CpOptions): Steps<void> {
  const names = yield* call<string[]>('readdir', src)
  for (const name of names) {
    const s = path.join(src, name)
    const d = path.join(dest, name)
    const checked = yield* checkPaths(s, d, o)
    // A walk of its own (see Step): the tree's depth is not the stack's.
    if (checked) yield ['walk', copyEntry(checked[1], s, d, o)]
  }
}

function* onLink(destStat: Stats | undefined, src: string, dest: string, o: CpOptions): Steps<void> {
  let target = yield* call<string>('readlink', src)
  if (!o.verbatimSymlinks && !path.isAbsolute(target)) target = path.resolve(path.dirname(src), target)
  if (!destStat) return yield* call('symlink', target, dest)
  let destTarget: string
  try {
    destTarget = yield* call<string>('readlink', dest)
  } catch (err) {
    // Not a link: the symlink call below fails with EEXIST, as fs.cp's does.
    if (codeOf(err) === 'EINVAL' || codeOf(err) === 'UNKNOWN') return yield* call('symlink', target, dest)
    throw err
  }
  if (!path.isAbsolute(destTarget)) destTarget = path.resolve(path.dirname(dest), destTarget)
  if (isSubdir(target, destTarget)) {
    throw cpError('ERR_FS_CP_EINVAL', `cannot copy ${target} to a subdirectory of self ${destTarget}`, dest, 'EINVAL')
  }
  // Replacing a link that leads to a directory holding the source would
  // remove what the new link points to.
  const st = yield* call<Stats>('stat', src)
  if (st.isDirectory() && isSubdir(destTarget, target)) {
    throw cpError('ERR_FS_CP_SYMLINK_TO_SUBDIRECTORY', `cannot overwrite ${destTarget} with ${target}`, dest, 'EINVAL')
  }
  yield* call('unlink', dest)
  yield* call('symlink', target, dest)
}
