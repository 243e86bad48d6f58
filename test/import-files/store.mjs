// The importFiles tests' store: a package's files under content-addressed
// names, a check that each entry was placed, and the engine's entry point
// past lib/'s checks.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { native } from '../../dist/native.js'
import { parseBatch } from '../../dist/batch-options.js'
import { portableImportFiles } from '../../dist/portable/import.js'
import { PORTABLE } from '../engines.mjs'

// The engine itself, past lib/'s checks (as after a race, or a caller that
// skipped them): the native binding, or the portable engine's entry point.
export function engineImport(dest, rels, srcs) {
  if (native) return native.importFiles(dest, rels, srcs, 0, 0, undefined, -1, false)
  const dirs = [...new Set(rels.flatMap((r) => r.split('/').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('/'))))]
  const p = parseBatch({})
  p.overwrite = false
  return portableImportFiles({ destDir: dest, rels, srcs, dirs: dirs.sort((a, b) => a.length - b.length), keys: rels, p, marker: -1, stage: false }, undefined)
}

// A store of n files (content-addressed names) and a package's entries map.
export function makeStore(dir, n = 60) {
  const store = path.join(dir, 'store', 'files')
  fs.mkdirSync(store, { recursive: true })
  const entries = new Map()
  for (let i = 0; i < n; i++) {
    const file = path.join(store, `${String(i).padStart(2, '0')}-${(i * 2654435761 >>> 0).toString(16)}`)
    fs.writeFileSync(file, `module ${i}\n`.repeat(50 + i * 40))
    fs.chmodSync(file, i % 4 === 0 ? 0o755 : 0o644)
    const rel = i === 0 ? 'package.json' : `${i % 3 ? 'lib/' : ''}${i % 5 ? `sub${i % 4}/` : ''}file${i}.js`
    entries.set(rel, file)
  }
  return entries
}

export function checkPlaced(t, dest, entries) {
  for (const [rel, src] of entries) {
    const d = path.join(dest, rel)
    t.ok(fs.readFileSync(d).equals(fs.readFileSync(src)), `${rel}: same bytes`)
    t.equal(fs.statSync(d).mode & 0o7777, fs.statSync(src).mode & 0o7777, `${rel}: the source's mode`)
  }
}

export const BYTES = PORTABLE ? 'fs' : 'copy_file_range'
export const COPY_METHOD = { btrfs: 'clone', xfs: 'clone', ext4: BYTES, tmpfs: BYTES }
