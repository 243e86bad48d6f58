// copyFile on the portable engine: the native contract as far as Node's fs
// can express it. The source is opened without blocking and proved a
// regular file; a new destination is created exclusively (never through a
// symlink) and gets its metadata through a descriptor; an existing one is
// replaced by a temporary file beside it and a rename, so its old bytes are
// never readable at another mode and a failed copy leaves it as it was.
import * as fs from 'node:fs'
import { AbortError, asSystemError, isExactUtf8, systemError } from '../errors'
import { onAbort, rethrowLater } from '../progress'
import type { CopyResult } from '../copy-file'
import type { ParsedCopy } from '../validate'
import {
  metaOf, mustNotAbort, notRegularReason, openSource, pump, renameOver, sameFile, setMeta, splitPath, syncDir, tempBeside,
  unlinkOurs, type Progress, type Source,
} from './file'
import { call, closeQuietly, codeOf, fstat, lstat, lstatMaybe, open, runAsync, runSync, type Bytes, type Steps } from './ops'
import { climb, rungsOf, type PlaceOptions, type PlacedMethod } from './place'

const C = fs.constants

function* statMaybe(p: Bytes): Steps<fs.Stats | undefined> {
  try {
    return (yield ['stat', p]) as fs.Stats
  } catch {
    return undefined
  }
}

// Where the copy goes, from what is at `dest`: [the final name (a symlink's
// target when writing through one), what is there now].
function* destination(src: Bytes, dest: Bytes, p: ParsedCopy): Steps<[Bytes, fs.Stats | undefined]> {
  let at = yield* lstatMaybe(dest)
  let final = dest
  // atomic: a symlink at dest is replaced by the rename, never followed.
  if (at?.isSymbolicLink() && p.atomic) {
    if (!p.overwrite) throw systemError('EEXIST', 'copyfile', src, dest)
    return [final, at]
  }
  if (at?.isSymbolicLink()) {
    if (!p.overwrite) throw systemError('EEXIST', 'copyfile', src, dest)
    try {
      // In bytes: a name that is not UTF-8 must not be decoded into another name.
      const real = (yield ['realpathNative', dest, { encoding: 'buffer' }]) as Buffer
      final = typeof dest === 'string' && isExactUtf8(real) ? real.toString('utf8') : real
      at = yield* lstat(final)
    } catch {
      // Like cp: never create a file at the far end of a dangling symlink.
      throw systemError('EEXIST', 'copyfile', src, dest, 'destination is a dangling symbolic link, not writing through it')
    }
  }
  if (at) {
    if (at.isDirectory()) throw systemError('EISDIR', 'copyfile', src, dest)
    if (!p.overwrite) throw systemError('EEXIST', 'copyfile', src, dest)
    if (!at.isFile()) throw systemError('EINVAL', 'copyfile', src, dest, notRegularReason(at, false))
  }
  return [final, at]
}

// An existing destination in a directory the caller cannot write (so no
// temporary file can go beside it), written in place: emptied first, kept
// at the narrower of its old and its new mode while the new bytes go in,
// given its final mode last. Never wider than either while it holds data.
function* inPlace(source: Source, final: Bytes, old: fs.Stats, p: ParsedCopy, progress?: Progress): Steps<number> {
  const fd = yield* open(final, C.O_WRONLY | (C.O_NOFOLLOW ?? 0) | (C.O_NONBLOCK ?? 0))
  try {
    const now = yield* fstat(fd)
    if (!sameFile(now, old)) throw systemError('EAGAIN', 'copyfile', source.path, final, 'the destination was replaced while being opened')
    yield* call('ftruncate', fd, 0)
    const meta = metaOf(source.st, p)
    try {
      yield* call('fchmod', fd, old.mode & meta.mode & 0o777)
    } catch (err) {
      if (codeOf(err) !== 'EPERM') throw err // not its owner: the mode is not ours to set
    }
    const bytes = yield* pump(source, fd, p, progress)
    try {
      yield* setMeta(fd, final, source.st, meta, false)
    } catch (err) {
      if (codeOf(err) !== 'EPERM') throw err
    }
    return bytes
  } finally {
    yield* closeQuietly(fd)
  }
}

/** The whole copy, for runSync or runAsync. `progress`: while bytes move (promise API). */
export function* copyFileSteps(src: Bytes, dest: Bytes, p: ParsedCopy, progress?: Progress): Steps<CopyResult> {
  // `preserve: true` keeps what this engine can; asking for xattrs by name is an error here.
  if (p.preserve.xattrs && !p.preserve.all) {
    throw systemError('ENOSYS', 'copyfile', src, dest, 'preserving extended attributes needs the native addon')
  }
  const source = yield* openSource(src, false, 'copyfile', dest)
  // copyFile's ladder: clone (the truth about it, remembered per device pair
  // like a batch's), else copy; 'always' only the clone, 'never' only a copy.
  const o: PlaceOptions = {
    p, rungs: rungsOf(undefined, p.reflink), noFollowSource: false, taken: 'fail', atomic: false, syscall: 'copyfile', progress,
  }
  try {
    const [final, at] = yield* destination(src, dest, p)
    if (at && sameFile(at, source.st)) return { method: 'none', bytes: 0 }
    // An existing file its owner made read-only is refused, as fs.copyFile
    // and the native engine refuse it (they open it for writing): replacing
    // it by a rename would need only its directory. atomic replaces by design.
    if (at?.isFile() && !p.atomic) {
      try {
        yield* call('access', final, C.W_OK)
      } catch (err) {
        throw asSystemError(err, 'copyfile', src, dest)
      }
    }
    // Always a name only this call knows, renamed (or linked) into place
    // once complete, a new destination too: when fs.copyFile fails, even
    // at its close(), libuv unlinks its destination by name, which by then
    // may be a file another process put there.
    const target = tempBeside(final)
    let made: { method: PlacedMethod; bytes: number }
    try {
      made = yield* climb(source, target, yield* statMaybe(splitPath(final)[0]), o, dest)
    } catch (err) {
      // A directory the caller cannot write: no temporary file beside the destination.
      if (at && !p.atomic && (codeOf(err) === 'EACCES' || codeOf(err) === 'EPERM') && p.reflink !== 'always') {
        try {
          return { method: 'readwrite', bytes: yield* inPlace(source, final, at, p, progress) }
        } catch (inner) {
          throw asSystemError(inner, 'copyfile', src, dest)
        }
      }
      throw asSystemError(err, 'copyfile', src, dest)
    }
    const ours = yield* lstat(target)
    try {
      mustNotAbort(p.signal)
      if (p.overwrite) yield* renameOver(target, final)
      else {
        yield* call('link', target, final)
        try {
          yield* call('unlink', target)
        } catch (err) {
          // The copy under two names is not a copy: the new one goes too.
          yield* unlinkOurs(final, undefined, ours)
          throw err
        }
      }
    } catch (err) {
      yield* unlinkOurs(target, undefined, ours)
      throw asSystemError(err, 'copyfile', src, dest)
    }
    if (p.fsync && p.atomic) {
      try {
        yield* syncDir(splitPath(final)[0])
      } catch {
        throw systemError('EIO', 'copyfile', src, dest, 'the copy is in place (destination replaced), but its directory could not be synced')
      }
    }
    return { method: made.method as CopyResult['method'], bytes: made.bytes }
  } finally {
    yield* closeQuietly(source.fd)
  }
}

export function portableCopyFileSync(src: Bytes, dest: Bytes, p: ParsedCopy): CopyResult {
  return runSync(copyFileSteps(src, dest, p))
}

/**
 * The promise copy. An abort is seen between steps and between 1 MiB chunks
 * of a copy made here; fs.copyFile itself cannot be stopped, so what it made
 * is removed once it returns and the promise rejects with an AbortError.
 */
export async function portableCopyFile(src: Bytes, dest: Bytes, p: ParsedCopy): Promise<CopyResult> {
  let last = Date.now()
  let said = -1
  let saidTotal = -1
  const progress: Progress | undefined = p.onProgress
    ? (done, total) => {
        const now = Date.now()
        if (now - last < 100 || done <= said) return
        last = now
        said = done
        saidTotal = Math.max(total, done)
        p.onProgress!({ bytesCopied: done, totalBytes: saidTotal })
      }
    : undefined
  let r: CopyResult
  // Listening as the native path does: a signal that cannot be listened to is refused.
  const unsubscribe = onAbort(p.signal, () => {})
  try {
    r = await runAsync(copyFileSteps(src, dest, p, progress))
  } catch (err) {
    if (p.signal?.aborted && !(err instanceof AbortError)) throw new AbortError(undefined, { cause: p.signal.reason })
    throw err
  } finally {
    unsubscribe()
  }
  // The last call says bytesCopied === totalBytes, once (unless the last
  // periodic call said just that). The copy is complete and kept: a throw
  // from it cannot undo it.
  if (!(said === r.bytes && saidTotal === r.bytes)) {
    try {
      p.onProgress?.({ bytesCopied: r.bytes, totalBytes: r.bytes })
    } catch (err) {
      rethrowLater(err)
    }
  }
  return r
}
