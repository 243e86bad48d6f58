// One file placed by the `link` ladder on the portable engine: clone
// (fs.copyFile with COPYFILE_FICLONE_FORCE: a clone or an error, so
// `method: 'clone'` is the truth), hardlink (fs.link, the new name checked to
// be the opened source's inode) or copy. A rung that is not available between
// two devices is remembered for the process; a file's own answer is not.
import type * as fs from 'node:fs'
import { asSystemError, systemError } from '../errors'
import type { LinkMethod } from '../batch'
import type { ParsedCopy } from '../validate'
import {
  foreignSetid, metaOf, openSource, renameOver, sameFile, setMeta, tempBeside, unlinkOurs, writeNew, type DataWay,
  sharedDir, splitPath, type Progress, type Source,
} from './file'
import { hasLayer } from './layer'
import { call, close, closeQuietly, codeOf, fstat, lstat, lstatMaybe, canWait, sleep, type Bytes, type Steps } from './ops'

export type PlacedMethod = 'clone' | 'hardlink' | 'fs' | 'readwrite' | 'none'

export interface PlaceOptions {
  p: Pick<ParsedCopy, 'reflink' | 'sparse' | 'preserve' | 'signal'> & { fsync?: boolean }
  rungs: readonly LinkMethod[]
  /** A symlink at the source's name is refused (ELOOP), never followed. */
  noFollowSource: boolean
  /** What happens when the name is taken: replaced (temp + rename), kept ('existing'), or EEXIST. */
  taken: 'replace' | 'keep' | 'fail'
  /** The reason an EEXIST of taken: 'fail' gives. */
  takenReason?: string
  /** Never write under the final name before the data is complete (temp + link or rename). */
  atomic: boolean
  syscall: string
  /** Bytes moved so far, while this engine's own loop copies (copyFile's onProgress). */
  progress?: Progress
  /**
   * The path the opened source must have (Linux: its /proc/self/fd link), or
   * ESTALE: a tree walk's file is opened by name, and a directory above it
   * swapped for a symlink must not lead the open outside the source tree.
   */
  sourceAt?: Bytes
}

/** What one rung made. */
type Made = Pick<Placed, 'method' | 'bytes' | 'onOverlay'>

// overlayfs links a file that is only in a lower layer by first copying it
// whole into the upper layer (copy-up), and nothing visible from inside the
// mount tells which files were: the batch counts links made there
// (BatchResult.overlayLinks). One statfs of the directory per link.
const OVERLAYFS_SUPER_MAGIC = 0x794c7630

function* onOverlayfs(dir: Bytes): Steps<boolean> {
  try {
    return ((yield ['statfs', dir]) as fs.StatsFs).type === OVERLAYFS_SUPER_MAGIC
  } catch {
    return false
  }
}

export interface Placed {
  method: PlacedMethod
  bytes: number
  /** The name was taken and kept (taken: 'keep'). */
  existing?: boolean
  /** A hardlink made on overlayfs, where it may have been a copy-up (BatchResult.overlayLinks). */
  onOverlay?: boolean
}

// Answers about the two devices (remembered); answers about one file (passed
// on to the next rung for that file only); anything else fails the file.
// ENOSYS: libuv has no clone on this OS (macOS, Windows: COPYFILE_FICLONE_FORCE).
const PAIR: Record<Exclude<LinkMethod, 'copy'>, ReadonlySet<string>> = {
  clone: new Set(['ENOSYS', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'ENOTTY']),
  hardlink: new Set(['EXDEV', 'ENOSYS', 'ENOTSUP', 'EOPNOTSUPP']),
}
// EINVAL: a btrfs NOCOW file; EPERM/EACCES: an immutable file, another
// user's file under protected_hardlinks; EMLINK: the file's link limit.
const PASS: Record<Exclude<LinkMethod, 'copy'>, ReadonlySet<string>> = {
  clone: new Set(['EINVAL', 'EPERM', 'EACCES', 'EAGAIN', 'EBADF', 'ETXTBSY']),
  // EAGAIN: the new name is not the opened inode (a symlink source: link(2) does not follow it).
  hardlink: new Set(['EPERM', 'EMLINK', 'EACCES', 'EAGAIN']),
}

/** Rungs found unavailable per "source device:destination device", with the answer that said so. */
const unavailable = new Map<string, Map<LinkMethod, string>>()

/** Rungs being tried for the first time per pair: others wait for that answer rather than pay the same failure. */
const trying = new Set<string>()
/** Pairs whose answer for a rung is known (worked, or remembered as unavailable). */
const seen = new Set<string>()

/** Forgets what the ladder learned (tests). */
export function resetLinkMemory(): void {
  unavailable.clear()
  seen.clear()
}

/** The default ladder for a reflink mode, or the caller's. */
export function rungsOf(link: readonly LinkMethod[] | undefined, reflink: ParsedCopy['reflink']): readonly LinkMethod[] {
  if (link) return link
  if (reflink === 'always') return ['clone']
  if (reflink === 'never') return ['copy']
  return ['clone', 'copy']
}

// One rung onto `target`, a name that does not exist.
function* rung(source: Source, target: Bytes, how: LinkMethod, way: DataWay, o: PlaceOptions): Steps<Made> {
  if (how === 'hardlink') {
    yield* call('link', source.path, target)
    // The name may have been swapped since the open: the link must be the checked inode.
    const now = yield* lstat(target)
    if (!sameFile(now, source.st)) {
      yield* call('unlink', target)
      throw systemError('EAGAIN', o.syscall, source.path, target, 'replaced while being copied')
    }
    return { method: 'hardlink', bytes: source.st.size, onOverlay: yield* onOverlayfs(splitPath(target)[0]) }
  }
  const made = yield* writeNew(source, target, how === 'clone' ? 'clone' : way, o.p, o.progress)
  let ours: fs.Stats | undefined
  try {
    const meta = metaOf(source.st, { preserve: o.p.preserve, fsync: o.p.fsync ?? false })
    const modeSet = (how === 'clone' || made.way !== 'own') && !made.setidDropped
    // Nothing more to do for a plain clone or copy: fs.copyFile gave it the source's mode.
    if (made.fd !== undefined || !modeSet || meta.owner || meta.times || meta.fsync) {
      ours = made.fd === undefined ? yield* lstat(target) : yield* fstat(made.fd)
      try {
        yield* setMeta(made.fd, target, source.st, meta, modeSet)
      } catch (err) {
        yield* unlinkOurs(target, undefined, ours)
        throw err
      }
    }
  } catch (err) {
    if (made.fd !== undefined) yield* closeQuietly(made.fd)
    throw err
  }
  if (made.fd !== undefined) {
    try {
      yield* close(made.fd)
    } catch (err) {
      // A failed close (a write-back error: NFS, a full thin volume) is a
      // failed copy: what it made goes, while the name is still ours.
      yield* unlinkOurs(target, undefined, ours)
      throw err
    }
  }
  return { method: how === 'clone' ? 'clone' : made.way === 'own' ? 'readwrite' : 'fs', bytes: made.bytes }
}

/**
 * Up the ladder onto `target`, a name that must not exist: the data, the
 * mode and what `preserve` asks. EEXIST goes to the caller (the name is
 * taken); on any failure nothing is left at `target`.
 */
export function* climb(source: Source, target: Bytes, destDir: fs.Stats | undefined, o: PlaceOptions, shown: Bytes = target): Steps<Made> {
  const key = `${source.st.dev}:${destDir?.dev ?? '?'}`
  const ownOnly = foreignSetid(source.st) || sharedDir(destDir)
  // The clone layer clones the opened descriptor (never a name), and the OS
  // drops setuid/setgid from the clone: another user's setid file may be
  // cloned through it. Into a directory others can write, still the own loop.
  const cloneOwnOnly = hasLayer ? sharedDir(destDir) : ownOnly
  // 'never': a real copy; an empty size (a /proc file) is read to its end.
  // A sparse source: the own loop keeps its holes (fs.copyFile would fill them).
  const sparse = o.p.sparse && source.st.blocks !== undefined && source.st.blocks * 512 < source.st.size
  const way: DataWay = ownOnly || o.p.reflink === 'never' || source.st.size === 0 || sparse ? 'own' : 'plain'
  let last: unknown
  for (const how of o.rungs) {
    // One file at a time asks a device pair a rung's question the first time.
    const asking = `${key}:${how}`
    if (trying.has(asking) && (yield* canWait())) {
      while (trying.has(asking) && !unavailable.get(key)?.has(how)) yield* sleep(1)
    }
    const answer = unavailable.get(key)?.get(how)
    if (answer) {
      last ??= systemError(answer, o.syscall, source.path, shown)
      continue
    }
    // A setuid/setgid source is never linked: a new name would carry the privilege.
    if (how === 'hardlink' && (source.st.mode & 0o6000) !== 0) {
      last = systemError('EPERM', o.syscall, source.path, shown, 'source is setuid or setgid (not linked)')
      continue
    }
    if (how === 'clone' && cloneOwnOnly) {
      // A clone here would be made by fs.copyFile by name: the own copy only.
      last = systemError('ENOTSUP', o.syscall, source.path, shown, "a clone into a directory others can write, or of another user's setuid file, needs the native addon (the portable engine copies those with its own loop)")
      continue
    }
    const first = how !== 'copy' && !seen.has(asking)
    if (first) trying.add(asking)
    try {
      const placed = yield* rung(source, target, how, way, o)
      if (first) seen.add(asking)
      return placed
    } catch (err) {
      const code = codeOf(err)
      if (how === 'copy' || code === 'EEXIST' || !code) throw err
      // EXDEV between two mounts of one filesystem (a bind mount: one device
      // number) is about those mounts, not the device pair: not remembered.
      const sameDevice = destDir !== undefined && destDir.dev === source.st.dev
      if (code === 'EXDEV' && sameDevice) {
        // This file goes on to the next rung.
      } else if (PAIR[how].has(code)) {
        const m = unavailable.get(key) ?? new Map<LinkMethod, string>()
        m.set(how, code)
        unavailable.set(key, m)
        seen.add(asking)
      } else if (!PASS[how].has(code)) throw err
      last = err
    } finally {
      if (first) trying.delete(asking)
    }
  }
  throw last ?? systemError('ENOTSUP', o.syscall, source.path, shown)
}

function* unlinkQuietly(name: Bytes): Steps<void> {
  try {
    yield* call('unlink', name)
  } catch {
    // Already gone.
  }
}

/**
 * Places `src` at `dest` (whose directory is `destDir`, stat'ed by the
 * caller once per directory). Nothing is left at `dest` or beside it when
 * it fails.
 */
export function* place(src: Bytes, dest: Bytes, destDir: fs.Stats | undefined, o: PlaceOptions): Steps<Placed> {
  const source = yield* openSource(src, o.noFollowSource, o.syscall, dest)
  try {
    if (o.sourceAt !== undefined) {
      const at = (yield* call('readlink', `/proc/self/fd/${source.fd}`, { encoding: 'buffer' })) as Buffer
      if (!at.equals(Buffer.from(o.sourceAt))) throw systemError('ESTALE', o.syscall, src, dest, 'replaced while being copied: not the file listed in the source tree')
    }
    let useTemp = o.atomic
    for (let round = 0; ; round++) {
      const target = useTemp ? tempBeside(dest) : dest
      let made: Made
      try {
        made = yield* climb(source, target, destDir, o, dest)
      } catch (err) {
        if (codeOf(err) !== 'EEXIST' || useTemp) throw asSystemError(err, o.syscall, src, dest)
        // The name is taken.
        const at = yield* lstatMaybe(dest)
        // A directory at a file's name is in the way, never a file kept.
        if (at?.isDirectory()) {
          throw systemError('EISDIR', o.syscall, src, dest, o.taken === 'keep' ? 'a directory is in the way' : 'cannot overwrite a directory with a non-directory')
        }
        // Taken, even by the source itself (a hard link of it): kept or EEXIST as for any file.
        if (o.taken === 'keep' && at) return { method: 'none', bytes: 0, existing: true }
        if (o.taken === 'fail' && at) throw systemError('EEXIST', o.syscall, src, dest, o.takenReason)
        if (at && sameFile(at, source.st)) return { method: 'none', bytes: 0 }
        if (o.taken !== 'replace' || round >= 2) throw systemError('EEXIST', o.syscall, src, dest)
        useTemp = Boolean(at)
        continue
      }
      if (useTemp) {
        try {
          if (o.taken === 'replace') yield* renameOver(target, dest)
          else {
            try {
              yield* call('link', target, dest)
            } catch (err) {
              if (codeOf(err) === 'EEXIST' && o.taken === 'keep') {
                if ((yield* lstatMaybe(dest))?.isDirectory()) throw systemError('EISDIR', o.syscall, src, dest, 'a directory is in the way')
                return { method: 'none', bytes: 0, existing: true }
              }
              if (codeOf(err) === 'EEXIST' && o.taken === 'fail') throw systemError('EEXIST', o.syscall, src, dest, o.takenReason)
              throw err
            } finally {
              yield* unlinkQuietly(target)
            }
          }
        } catch (err) {
          // A name only this call knows: ours to remove.
          yield* unlinkQuietly(target)
          throw asSystemError(err, o.syscall, src, dest)
        }
      }
      return made
    }
  } finally {
    yield* closeQuietly(source.fd)
  }
}
