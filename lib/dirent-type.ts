// A file type as the DT_* number of getdents64, which copyDir's filter
// entries (DirEntry) read, from a listing's Dirent or a Stats.
import type * as fs from 'node:fs'

export function direntType(e: fs.Dirent | fs.Stats): number {
  if (e.isFile()) return 8
  if (e.isDirectory()) return 4
  if (e.isSymbolicLink()) return 10
  if (e.isFIFO()) return 1
  if (e.isSocket()) return 12
  if (e.isCharacterDevice()) return 2
  if (e.isBlockDevice()) return 6
  return 0
}
