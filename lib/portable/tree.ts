// copyDir on the portable engine: a depth-first walk that makes each
// destination directory private (0700) and gives it the source's mode only
// when the whole call is done, recreates symlinks, skips and lists what is
// neither file, directory nor symlink, and hands files to a bounded number of
// copies in flight. Source files are opened with O_NOFOLLOW and proved
// regular files; new names are created exclusively, never through a link.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { direntType } from '../dirent-type'
import { asSystemError, isExactUtf8, systemError } from '../errors'
import type { BatchResult } from '../batch'
import type { TreeRequest } from '../engine'
import { Batch, Limit, Slots, pool } from './batch'
import { euid, isWindows, joinPath, renameOver, sameFile, tempBeside } from './file'
import { runAsync, type Bytes } from './ops'
import { cloneWhole } from './tree-clone'

const CYCLE = 'symbolic link to an ancestor directory (a cycle), not followed'

const TYPE_NAMES: Record<number, string> = { 1: 'fifo', 12: 'socket', 2: 'character device', 6: 'block device' }

const REPLACED = 'replaced while being copied'
const NOT_MADE = `${REPLACED}: not the directory this call made`
// Windows has neither O_DIRECTORY nor O_NOFOLLOW: there directories are stat'ed by name.
const DIR_OPEN = fs.constants.O_RDONLY | (fs.constants.O_DIRECTORY ?? 0)
const NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0
// On Linux a directory opened once is listed through /proc/self/fd/N: the
// one opened, not whatever its name leads to a moment later.
const procFd = process.platform === 'linux' && fs.existsSync('/proc/self/fd')

// A directory opened (never through a symlink with noFollow) and fstat'ed;
// with `empty`, listed too: a directory this call just made has no entries.
async function openDir(dir: Bytes, noFollow: boolean, empty: boolean): Promise<{ st: fs.Stats; entries?: number }> {
  if (isWindows) return { st: await (noFollow ? fs.promises.lstat(dir) : fs.promises.stat(dir)) }
  const fh = await fs.promises.open(dir, DIR_OPEN | (noFollow ? NOFOLLOW : 0))
  try {
    const st = await fh.stat()
    if (!empty) return { st }
    const names = await fs.promises.readdir(procFd ? `/proc/self/fd/${fh.fd}` : dir)
    return { st, entries: names.length }
  } finally {
    await fh.close()
  }
}

interface Made {
  dest: Bytes
  /** The source directory: its mode (and owner, times) go to the copy. */
  st: fs.Stats
  /** The directory as this call made it. */
  ours: fs.Stats
  depth: number
  /** It existed: only its times are set (preserve.timestamps). */
  merged?: boolean
}

class TreeCopy {
  readonly batch: Batch
  private readonly slots: Slots
  /** Directories this call made, parents first: their final mode is set at the end. */
  private readonly made: Made[] = []
  /** dev:ino of every destination directory: a link leading into the copy is a cycle too. */
  private readonly madeIds = new Set<string>()
  /** The source's real path (Linux, without dereference): see readDir. */
  private srcReal: Buffer | undefined
  /** dev:ino of the directories this call made (not merged into). */
  private readonly createdIds = new Set<string>()

  constructor(private readonly r: TreeRequest, control: BigInt64Array | undefined) {
    this.batch = new Batch(r.p, control, 'copydir')
    this.slots = new Slots(this.batch.inFlight())
  }

  /** Directories being listed at once. */
  private readonly listing = new Limit(4)

  async run(): Promise<BatchResult> {
    if (await cloneWhole(this.r, this.batch)) return this.batch.finish()
    try {
      const root = await fs.promises.stat(this.r.src)
      // Linux: what the walk opens by name is checked against where it
      // should be (not with dereference, which leaves the tree on purpose).
      if (procFd && !this.r.tree.dereference) this.srcReal = await fs.promises.realpath(this.r.src, { encoding: 'buffer' })
      await this.dir(this.r.src, this.r.dest, this.r.p.buffers ? Buffer.alloc(0) : '', [root], root)
      await this.slots.drain()
    } finally {
      await this.slots.drain()
      await this.finishDirs()
    }
    this.batch.result.threads = this.batch.inFlight()
    return this.batch.finish()
  }

  // A name as the caller sees it: a string unless the caller gave Buffers or it is not UTF-8.
  private name(b: Buffer): Bytes {
    return !this.r.p.buffers && isExactUtf8(b) ? b.toString('utf8') : b
  }

  private taken(err: unknown, src: Bytes, dest: Bytes): void {
    this.batch.failed(src, dest, err)
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && this.r.tree.errorOnExist && !this.r.p.overwrite) this.batch.halted = true
  }

  // The destination directory: made private, or an existing real directory
  // merged into. One this call made is proved to be its own before anything
  // goes in: opened without following a symlink, owned by this process,
  // private (0700) and, unless its parent is one this call made too, empty.
  // Someone who can write the parent could swap another directory in
  // between the mkdir and that proof: such a one is neither filled nor
  // given the source's mode, and stays (ESTALE, as the native engine).
  private async makeDir(src: Bytes, dest: Bytes, st: fs.Stats, depth: number, parentMade: boolean): Promise<fs.Stats | undefined> {
    const fail = (err: unknown, syscall: string): undefined => {
      // destDir itself: the whole call fails.
      if (depth === 1) throw asSystemError(err, 'copydir', src, dest)
      this.batch.failed(src, dest, asSystemError(err, syscall, src, dest))
      return undefined
    }
    let made = true
    try {
      await fs.promises.mkdir(dest, { mode: 0o700 })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return fail(err, 'mkdir')
      made = false
    }
    if (made) {
      let here: fs.Stats
      try {
        const { st: now, entries } = await openDir(dest, true, !parentMade)
        const mine = euid() === -1 || (now.isDirectory() && now.uid === euid() && (now.mode & 0o077) === 0 && !entries)
        if (!mine) return fail(systemError('ESTALE', depth === 1 ? 'copydir' : 'mkdir', src, dest, NOT_MADE), 'mkdir')
        here = now
      } catch (err) {
        // Unproved: the directory this call made goes again (rmdir: only while empty).
        if (!(err as Error).message?.includes(REPLACED)) await this.unmake(dest)
        return fail(err, 'mkdir')
      }
      this.made.push({ dest, st, ours: here, depth })
      this.batch.result.dirs++
      this.madeIds.add(`${here.dev}:${here.ino}`)
      this.createdIds.add(`${here.dev}:${here.ino}`)
      return here
    }
    // destDir may be a symlink to a directory, as a path the caller gave:
    // followed, as the native engine follows it. Below it, never.
    let at: fs.Stats | undefined
    if (depth === 1) {
      try {
        at = (await openDir(dest, false, false)).st
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') throw systemError('ENOTDIR', 'copydir', src, dest, 'destination is not a directory')
        throw asSystemError(err, 'copydir', src, dest)
      }
    } else at = await fs.promises.lstat(dest).catch(() => undefined)
    if (!at) {
      this.batch.failed(src, dest, systemError('ENOENT', 'mkdir', src, dest))
      return undefined
    }
    this.madeIds.add(`${at.dev}:${at.ino}`)
    if (!at.isDirectory()) {
      if (depth === 1) throw systemError('ENOTDIR', 'copydir', src, dest, 'destination is not a directory')
      const reason = at.isSymbolicLink() ? 'a symbolic link is in the way' : 'a file is in the way'
      this.batch.failed(src, dest, systemError(at.isSymbolicLink() ? 'ENOTDIR' : 'EEXIST', 'mkdir', src, dest, reason))
      return undefined
    }
    this.batch.result.dirs++
    // An existing directory keeps its mode and owner; its times follow the
    // source's with preserve.timestamps, as cp -p does.
    if (this.r.p.preserve.timestamps) this.made.push({ dest, st, ours: at, depth, merged: true })
    return at
  }

  // A directory this call made whose proof failed: removed while it is
  // still a private, empty directory of this process's (rmdir refuses one
  // with entries).
  private async unmake(dest: Bytes): Promise<void> {
    const now = await fs.promises.lstat(dest).catch(() => undefined)
    if (now?.isDirectory() && (euid() === -1 || (now.uid === euid() && (now.mode & 0o077) === 0))) {
      await fs.promises.rmdir(dest).catch(() => {})
    }
  }

  // A directory and, once it is listed, its subdirectories side by side: a
  // few listings at once keep the copies fed while directories are made.
  private async dir(src: Bytes, dest: Bytes, rel: Bytes, chain: fs.Stats[], st: fs.Stats, parentMade = false): Promise<void> {
    if (this.batch.done()) return
    const [subdirs, made] = await this.listing.use(() => this.list(src, dest, rel, chain, st, parentMade))
    await Promise.all(subdirs.map(([s, d, childRel, childSt]) => this.dir(s, d, childRel, [...chain, childSt], childSt, made)))
  }

  // Makes the directory, lists it, hands its files to the copies and
  // recreates its links; returns its subdirectories and whether this call
  // made the directory.
  private async list(src: Bytes, dest: Bytes, rel: Bytes, chain: fs.Stats[], st: fs.Stats, parentMade: boolean): Promise<[[Bytes, Bytes, Bytes, fs.Stats][], boolean]> {
    if (this.batch.done()) return [[], false]
    const here = await this.makeDir(src, dest, st, chain.length, parentMade)
    if (!here) return [[], false]
    const made = this.createdIds.has(`${here.dev}:${here.ino}`)
    let entries: fs.Dirent[]
    try {
      entries = await this.readDir(src, rel, st)
    } catch (err) {
      if (chain.length === 1) {
        // The source root cannot be listed: the call fails as a whole, as
        // the native engine's (which opens it before making anything), and
        // the destination root it made goes.
        if (made) await this.unmake(dest)
        throw asSystemError(err, 'copydir', src, dest)
      }
      this.batch.failed(src, dest, asSystemError(err, 'scandir', src, dest))
      return [[], made]
    }
    const names = entries.map((e) => this.name(e.name as unknown as Buffer))
    let keep: boolean[] | undefined
    if (this.r.filter && names.length > 0) {
      const rels = names.map((n) => (rel.length === 0 ? n : joinPath(rel, '/', n)))
      keep = this.r.filter(rels, entries.map(direntType))
      if (keep.length !== rels.length) {
        this.batch.cancel() // the filter threw: the facade rejects with its error
        return [[], made]
      }
    }
    const subdirs: Promise<[Bytes, Bytes, Bytes, fs.Stats] | undefined>[] = []
    for (let i = 0; i < entries.length && !this.batch.done(); i++) {
      if (keep && !keep[i]) continue
      const e = entries[i]
      const s = joinPath(src, '/', names[i])
      const d = joinPath(dest, '/', names[i])
      const childRel = rel.length === 0 ? names[i] : joinPath(rel, '/', names[i])
      if (e.isDirectory()) {
        subdirs.push(fs.promises.lstat(s).then(
          (childSt) => (childSt.isDirectory() ? [s, d, childRel, childSt] : undefined),
          (err) => {
            this.batch.failed(s, d, asSystemError(err, 'lstat', s, d))
            return undefined
          },
        ))
      } else if (e.isFile()) await this.file(s, d, here, false, childRel)
      else if (e.isSymbolicLink()) {
        if (this.r.tree.dereference) {
          const to = await this.follow(s, d, chain)
          if (to?.isDirectory()) subdirs.push(Promise.resolve([s, d, childRel, to]))
          else if (to?.isFile()) await this.file(s, d, here, true, childRel)
        } else await this.link(s, d, childRel)
      } else this.batch.skipped(s, TYPE_NAMES[direntType(e)] ?? 'unknown')
    }
    return [(await Promise.all(subdirs)).filter((x): x is [Bytes, Bytes, Bytes, fs.Stats] => x !== undefined), made]
  }

  private async file(src: Bytes, dest: Bytes, destDir: fs.Stats, followed: boolean, rel: Bytes): Promise<void> {
    // The file must be where the listing put it: a directory above it
    // swapped for a symlink since (by someone who can write the source)
    // would otherwise have it read from outside the tree.
    const sourceAt = this.srcReal && !followed ? this.realOf(rel) : undefined
    const o = this.batch.placeOptions(this.r.p.overwrite ? 'replace' : 'fail', { noFollowSource: !followed, sourceAt })
    await this.slots.run(async () => {
      const r = await this.batch.file(src, dest, destDir, o)
      if (!r) {
        const last = this.batch.result.errors[this.batch.result.errors.length - 1]
        if ((last?.error as NodeJS.ErrnoException | undefined)?.code === 'EEXIST' && this.r.tree.errorOnExist && !this.r.p.overwrite) {
          this.batch.halted = true
        }
      }
    })
  }

  // A source directory's entries. On Linux (without dereference) through a
  // descriptor: opened without following a symlink below the root, proved
  // to be the directory the walk decided to copy (its real path and the
  // inode its lstat saw), and listed through /proc/self/fd: a directory
  // swapped for a symlink to another one is never listed.
  private async readDir(src: Bytes, rel: Bytes, st: fs.Stats): Promise<fs.Dirent[]> {
    const options = { withFileTypes: true, encoding: 'buffer' } as const
    if (!this.srcReal) return (await fs.promises.readdir(src, options)) as unknown as fs.Dirent[]
    const fh = await fs.promises.open(src, DIR_OPEN | (rel.length === 0 ? 0 : NOFOLLOW))
    try {
      const at = `/proc/self/fd/${fh.fd}`
      const real = await fs.promises.readlink(at, { encoding: 'buffer' })
      const want = Buffer.from(this.realOf(rel))
      if (!real.equals(want) || !sameFile(await fh.stat(), st)) throw systemError('ESTALE', 'scandir', src, undefined, REPLACED)
      return (await fs.promises.readdir(at, options)) as unknown as fs.Dirent[]
    } finally {
      await fh.close()
    }
  }

  // Where an entry of the source is, by its real path ('/' as the source: no double slash).
  private realOf(rel: Bytes): Bytes {
    const root = this.srcReal!
    if (rel.length === 0) return root
    return joinPath(root.length === 1 ? '' : root, '/', rel)
  }

  // dereference: what a symlink leads to, or undefined after listing why not.
  private async follow(src: Bytes, dest: Bytes, chain: fs.Stats[]): Promise<fs.Stats | undefined> {
    let to: fs.Stats
    try {
      to = await fs.promises.stat(src)
    } catch (err) {
      this.batch.failed(src, dest, asSystemError(err, 'copyfile', src, dest))
      return undefined
    }
    if (to.isDirectory() && (chain.some((a) => a.dev === to.dev && a.ino === to.ino) || this.madeIds.has(`${to.dev}:${to.ino}`))) {
      this.batch.failed(src, dest, systemError('ELOOP', 'copyfile', src, dest, CYCLE))
      return undefined
    }
    if (!to.isDirectory() && !to.isFile()) {
      this.batch.skipped(src, TYPE_NAMES[direntType(to)] ?? 'unknown')
      return undefined
    }
    return to
  }

  // A symlink recreated: its target verbatim, or (verbatimSymlinks: false)
  // a relative one resolved against the source link's directory, as fs.cp does.
  // With preserve, its owner and times are set before it counts: a new one
  // that cannot get them is removed again, and one replacing an existing link
  // gets them under its temporary name, so the old link stays on failure.
  private async link(src: Bytes, dest: Bytes, rel: Bytes): Promise<void> {
    try {
      let target = (await fs.promises.readlink(src, { encoding: 'buffer' })) as Buffer
      if (this.r.linkBase !== undefined && target[0] !== 0x2f && !path.isAbsolute(target.toString('latin1'))) {
        const at = Buffer.from(joinPath(this.r.linkBase, '/', rel)).toString('latin1')
        target = Buffer.from(path.resolve(path.dirname(at), target.toString('latin1')), 'latin1')
      }
      const value = isExactUtf8(target) ? target.toString('utf8') : target
      const { preserve } = this.r.p
      const meta = preserve.ownership || preserve.timestamps ? await fs.promises.lstat(src) : undefined
      let name = dest
      try {
        await fs.promises.symlink(value, dest)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !this.r.p.overwrite) throw err
        const at = await fs.promises.lstat(dest)
        if (at.isDirectory()) throw systemError('EISDIR', 'symlink', src, dest, 'cannot overwrite a directory with a symbolic link')
        // Replaced by a new link under a name only this call knows, then a rename.
        name = tempBeside(dest)
        await fs.promises.symlink(value, name)
      }
      await this.linkMeta(name, meta)
      if (name !== dest) {
        try {
          await runRename(name, dest)
        } catch (e) {
          await fs.promises.unlink(name).catch(() => {})
          throw e
        }
      }
      this.batch.result.symlinks++
    } catch (err) {
      this.taken(asSystemError(err, 'copyfile', src, dest), src, dest)
    }
  }

  // preserve: a recreated symlink's owner and times, as the source link's
  // (lchown, lutimes: never through the link). An owner not permitted is
  // dropped, as for files. Node has no descriptor of a symlink: the name is
  // first proved to be a symlink this process made (someone who can write
  // the directory could have put a hard link to their file there), and on
  // failure the link is removed while the name still is that link.
  private async linkMeta(name: Bytes, st: fs.Stats | undefined): Promise<void> {
    if (!st) return
    const ours = await fs.promises.lstat(name)
    if (!ours.isSymbolicLink() || (euid() !== -1 && ours.uid !== euid())) {
      throw systemError('ESTALE', 'symlink', name, undefined, REPLACED)
    }
    try {
      if (this.r.p.preserve.ownership) {
        await fs.promises.lchown(name, st.uid, st.gid).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EPERM') throw err
        })
      }
      if (this.r.p.preserve.timestamps) await fs.promises.lutimes(name, st.atimeMs / 1000, st.mtimeMs / 1000)
    } catch (err) {
      const now = await fs.promises.lstat(name).catch(() => undefined)
      if (now && sameFile(now, ours)) await fs.promises.unlink(name).catch(() => {})
      throw err
    }
  }

  // Deepest first: each made directory gets the source's mode (and, as asked,
  // owner and times) once everything inside it is done.
  private async finishDirs(): Promise<void> {
    // A level at a time, deepest first, the directories of a level side by side.
    const levels = new Map<number, Made[]>()
    for (const m of this.made) levels.set(m.depth, [...(levels.get(m.depth) ?? []), m])
    for (const depth of [...levels.keys()].sort((x, y) => y - x)) {
      const level = levels.get(depth)!
      await pool(level.length, this.batch.inFlight(), () => false, (i) => this.finishDir(level[i]))
    }
  }

  private async finishDir({ dest, st, ours, merged }: Made): Promise<void> {
    const { preserve } = this.r.p
    try {
      if (isWindows) {
        if (!merged) await fs.promises.chmod(dest, st.mode & 0o7777)
        if (preserve.timestamps) await fs.promises.utimes(dest, st.atimeMs / 1000, st.mtimeMs / 1000)
        return
      }
      // Through a descriptor of the directory this call made, never by a
      // name someone may have swapped for a symlink meanwhile.
      const fh = await fs.promises.open(dest, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY | fs.constants.O_NOFOLLOW)
      try {
        const now = await fh.stat()
        if (now.dev !== ours.dev || now.ino !== ours.ino) {
          throw systemError('EPERM', 'chmod', dest, undefined, 'replaced while being copied: not the directory this call made')
        }
        if (!merged) {
          if (preserve.ownership) await fh.chown(st.uid, st.gid).catch(() => {})
          await fh.chmod(st.mode & 0o7777)
        }
        if (preserve.timestamps) await fh.utimes(st.atimeMs / 1000, st.mtimeMs / 1000)
      } finally {
        await fh.close()
      }
    } catch (err) {
      this.batch.failed(dest, dest, asSystemError(err, 'chmod', dest))
    }
  }
}

function runRename(from: Bytes, to: Bytes): Promise<void> {
  return runAsync(renameOver(from, to))
}

export function portableCopyDir(r: TreeRequest, control: BigInt64Array | undefined): Promise<BatchResult> {
  return new TreeCopy(r, control).run()
}
