// importFiles on the portable engine: every directory the entries need is
// made once (parents first, a level at a time), then the files are placed by
// the ladder, a bounded number at once; the marker last and atomically, only
// when every other entry is in place; `stage` builds under a hidden sibling
// that is renamed to destDir at the end, and removed on failure only while
// the name is still the directory this call made.
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import { asSystemError, isExactUtf8, systemError } from '../errors'
import type { ImportRequest } from '../engine'
import type { ImportResult } from '../import'
import { Batch, pool } from './batch'
import { joinPath, renameOver, sameFile, shortName, splitPath } from './file'
import type { PlaceOptions } from './place'
import { runAsync, type Bytes } from './ops'

const MARKER_NOT_PLACED = 'marker not placed: another entry failed'
const LINK_IN_WAY = 'a symbolic link is in the way'
const TAKEN = 'the name was taken during the import (another entry the filesystem folds into it, or another user)'
const STAGE_EXISTS = 'destination exists (stage: true builds a new directory and renames it there)'

function pathUnder(root: Bytes, rel: Bytes): Bytes {
  return joinPath(root, '/', rel)
}

// A directory key (latin1 of its bytes) back to a path part.
function keyPath(key: string, asBuffer: boolean): Bytes {
  const b = Buffer.from(key, 'latin1')
  return !asBuffer && isExactUtf8(b) ? b.toString('utf8') : b
}

class Import {
  readonly batch: Batch
  private readonly dirErrors = new Map<string, Error>()
  // The directories (keys, '' for the root) this call made: a name taken in
  // one was taken during the call, never an existing entry to keep.
  private readonly made = new Set<string>()

  constructor(private readonly r: ImportRequest, control: BigInt64Array | undefined) {
    this.batch = new Batch(r.p, control, 'importfiles')
    this.batch.result.existing = 0
  }

  async run(): Promise<ImportResult> {
    const { r } = this
    // Checked again here, as the native engine does: this engine may be
    // reached by a caller that skipped lib/'s checks.
    for (const key of r.keys) {
      if (key.length === 0 || key[0] === '/' || key.split('/').some((part) => part === '' || part === '.' || part === '..')) {
        throw systemError('EINVAL', 'importfiles', r.destDir, undefined, `relative path ${JSON.stringify(key)} leaves the destination`)
      }
    }
    let root = r.destDir
    let staged: fs.Stats | undefined
    if (r.stage) {
      if (await fs.promises.lstat(r.destDir).then(() => true, () => false)) {
        throw systemError('EEXIST', 'importfiles', r.destDir, undefined, STAGE_EXISTS)
      }
      const [dir, name] = splitPath(r.destDir)
      root = joinPath(dir, '/.', shortName(name, 200), `.cowcopy-${randomBytes(6).toString('hex')}`)
      await fs.promises.mkdir(root).catch((err) => {
        throw asSystemError(err, 'mkdir', root)
      })
      staged = await fs.promises.lstat(root)
      await fs.promises.chmod(root, 0o700)
    }
    try {
      const existed = !r.stage && (await this.makeRoot(root))
      if (!existed) this.made.add('')
      await this.makeDirs(root)
      const taken = await this.takenRule(root, existed)
      await this.place(root, taken)
      if (staged) {
        await this.publish(root, staged)
        this.retell(root)
      }
      return this.batch.finish() as ImportResult
    } catch (err) {
      if (staged) await this.discard(root, staged)
      throw err
    } finally {
      if (staged && this.batch.result.errors.length > 0) await this.discard(root, staged)
    }
  }

  // A staged import's errors name the files where the caller will look for
  // them, under destDir, not under the hidden name that is gone by then.
  private retell(root: Bytes): void {
    const hidden = Buffer.from(root).toString()
    const shown = Buffer.from(this.r.destDir).toString()
    const swap = <T>(v: T): T => (typeof v === 'string' ? (v.split(hidden).join(shown) as T) : v)
    for (const row of this.batch.result.errors) {
      row.dest = swap(row.dest)
      const e = row.error as Error & { path?: unknown; dest?: unknown }
      e.message = swap(e.message)
      e.path = swap(e.path)
      e.dest = swap(e.dest)
    }
  }

  // destDir itself: made, or an existing directory (never a symlink) used.
  private async makeRoot(root: Bytes): Promise<boolean> {
    try {
      await fs.promises.mkdir(root)
      return false
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      // Its missing parents too, as mkdir -p.
      if (code === 'ENOENT') {
        await fs.promises.mkdir(root, { recursive: true }).catch((e) => {
          throw asSystemError(e, 'mkdir', root)
        })
        return false
      }
      if (code !== 'EEXIST') throw asSystemError(err, 'mkdir', root)
    }
    const at = await fs.promises.lstat(root)
    if (!at.isDirectory()) throw systemError('ENOTDIR', 'importfiles', root, undefined, at.isSymbolicLink() ? LINK_IN_WAY : undefined)
    return true
  }

  // Each directory once, a depth at a time (a level's directories at once).
  private async makeDirs(root: Bytes): Promise<void> {
    const levels = new Map<number, string[]>()
    for (const key of this.r.dirs) {
      const depth = key.split('/').length
      levels.set(depth, [...(levels.get(depth) ?? []), key])
    }
    for (const depth of [...levels.keys()].sort((a, b) => a - b)) {
      const keys = levels.get(depth)!
      await pool(keys.length, this.batch.inFlight(), () => this.batch.cancelled(), async (i) => {
        const key = keys[i]
        const parent = key.lastIndexOf('/') === -1 ? undefined : key.slice(0, key.lastIndexOf('/'))
        const above = parent === undefined ? undefined : this.dirErrors.get(parent)
        if (above) {
          this.dirErrors.set(key, above)
          return
        }
        const dir = pathUnder(root, keyPath(key, this.r.p.buffers))
        try {
          await fs.promises.mkdir(dir)
          this.made.add(key)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
            this.dirErrors.set(key, asSystemError(err, 'mkdir', dir) as Error)
            return
          }
          const at = await fs.promises.lstat(dir).catch(() => undefined)
          if (!at?.isDirectory()) {
            this.dirErrors.set(key, systemError('ENOTDIR', 'mkdir', dir, undefined, at?.isSymbolicLink() ? LINK_IN_WAY : 'a file is in the way'))
          }
        }
      })
    }
  }

  // What a taken name means: replaced (overwrite, or an existing destDir
  // whose marker is missing: an interrupted import), else kept; missing
  // entries under a present marker are placed atomically.
  private async takenRule(root: Bytes, existed: boolean): Promise<{ taken: PlaceOptions['taken']; atomic: boolean }> {
    const { r } = this
    if (r.p.overwrite) return { taken: 'replace', atomic: false }
    if (!existed || r.marker === -1) return { taken: 'keep', atomic: false }
    const at = await fs.promises.lstat(pathUnder(root, r.rels[r.marker])).catch(() => undefined)
    return at?.isFile() ? { taken: 'keep', atomic: true } : { taken: 'replace', atomic: false }
  }

  private async place(root: Bytes, rule: { taken: PlaceOptions['taken']; atomic: boolean }): Promise<void> {
    const { r, batch } = this
    const dirs = new Map<string, Promise<fs.Stats | undefined>>()
    const base = batch.placeOptions(rule.taken, { noFollowSource: true, atomic: rule.atomic })
    const one = async (i: number, o: PlaceOptions) => {
      const dest = pathUnder(root, r.rels[i])
      const key = r.keys[i]
      const parent = key.lastIndexOf('/') === -1 ? '' : key.slice(0, key.lastIndexOf('/'))
      const blocked = parent ? this.dirErrors.get(parent) : undefined
      if (blocked) {
        batch.failed(r.srcs[i], dest, blocked)
        return
      }
      let dir = dirs.get(parent)
      if (!dir) {
        dir = fs.promises.lstat(parent ? pathUnder(root, keyPath(parent, r.p.buffers)) : root).catch(() => undefined)
        dirs.set(parent, dir)
      }
      await batch.file(r.srcs[i], dest, await dir, this.made.has(parent) && o.taken === 'keep' ? { ...o, taken: 'fail', takenReason: TAKEN } : o)
    }
    const order = r.marker === -1 ? r.rels.map((_, i) => i) : r.rels.map((_, i) => i).filter((i) => i !== r.marker)
    const stopFirst = r.stage || r.p.stopOnError
    batch.result.threads = batch.inFlight()
    await pool(order.length, batch.inFlight(), () => batch.cancelled() || (stopFirst && batch.result.errors.length > 0), (k) => one(order[k], base))
    if (r.marker === -1 || batch.cancelled()) return
    const dest = pathUnder(root, r.rels[r.marker])
    if (batch.result.errors.length > 0) {
      batch.failed(r.srcs[r.marker], dest, systemError('ECANCELED', 'copyfile', r.srcs[r.marker], dest, MARKER_NOT_PLACED))
      return
    }
    // The marker: complete under its name or absent.
    await one(r.marker, { ...base, atomic: true })
  }

  // The staged tree under destDir's name: with the mode mkdir gave it, and
  // only if destDir still does not exist (a window Node's fs cannot close:
  // it has no rename that refuses to replace).
  private async publish(root: Bytes, staged: fs.Stats): Promise<void> {
    if (this.batch.result.errors.length > 0 || this.batch.cancelled()) return
    await fs.promises.chmod(root, staged.mode & 0o7777)
    if (await fs.promises.lstat(this.r.destDir).then(() => true, () => false)) {
      throw systemError('EEXIST', 'importfiles', this.r.destDir, undefined, STAGE_EXISTS)
    }
    await runAsync(renameOver(root, this.r.destDir))
  }

  // The staged tree removed, only while its name is still the directory
  // this call made: another user who renamed something in under that name
  // must not have it deleted.
  private async discard(root: Bytes, staged: fs.Stats): Promise<void> {
    const now = await fs.promises.lstat(root).catch(() => undefined)
    if (now && sameFile(now, staged)) await fs.promises.rm(root, { recursive: true, force: true }).catch(() => {})
  }
}

export function portableImportFiles(r: ImportRequest, control: BigInt64Array | undefined): Promise<ImportResult> {
  return new Import(r, control).run()
}
