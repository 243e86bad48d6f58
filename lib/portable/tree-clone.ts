// copyDir in one clone call where the clone layer can make one (macOS:
// clonefileat of a directory hierarchy, what makes a package's copy one
// system call). Only when the result is what the per-file walk would make:
// a new destination, no filter, links kept as they are, nothing asked that
// a clone does not give (owners, times, a file list, a ladder that does not
// start with a clone). The layer walks the source first and declines a tree
// with anything a clone would copy differently (a FIFO, a mount point, a
// setuid file of the caller's); any answer but a clone sends the call on to
// the per-file walk, which then reports per file as always.
import * as fs from 'node:fs'
import type { TreeRequest } from '../engine'
import type { Batch } from './batch'
import { cloneTree, hasLayer } from './layer'
import { rungsOf } from './place'

function eligible(r: TreeRequest): boolean {
  const { p } = r
  return hasLayer && !r.filter && r.linkBase === undefined && !r.tree.dereference && p.reflink !== 'never' &&
    rungsOf(p.link, p.reflink)[0] === 'clone' && !p.preserve.ownership && !p.preserve.timestamps && !p.listFiles
}

/** true when the whole tree was cloned and `batch.result` says so; false: walk it per file. */
export async function cloneWhole(r: TreeRequest, batch: Batch): Promise<boolean> {
  if (!eligible(r) || batch.cancelled()) return false
  // The root itself, not a symlink to one (the layer never follows it), and
  // a destination that does not exist yet (else the walk merges into it).
  const root = await fs.promises.lstat(r.src).catch(() => undefined)
  if (!root?.isDirectory()) return false
  const at = await fs.promises.lstat(r.dest).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : undefined))
  if (at !== null) return false
  const answer = await cloneTree(r.src, r.dest)
  if (!answer || answer.errno !== 0 || answer.ineligible !== undefined) return false
  const res = batch.result
  res.files = answer.files
  res.bytes = answer.bytes
  res.dirs = answer.dirs
  res.symlinks = answer.symlinks
  res.methods.clone = answer.files
  res.threads = batch.inFlight()
  batch.progressed()
  return true
}
