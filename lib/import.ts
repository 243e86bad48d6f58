// importFiles: place a package (a map of relative path -> store file) under
// one directory in one native call. The relative paths are checked here,
// before anything is created; the directories, the ladder and the marker are
// the engine's (src-native/engine/import_files.cc).
import * as fs from 'node:fs'
import { engine } from './engine'
import { invalidArgType, invalidArgValue } from './errors'
import { abortedBeforeStart, supervise, type BatchResult, type BatchResultBuffer } from './batch'
import { IMPORT_OPTIONS, parseBatch, type BatchOptions } from './batch-options'
import type { BufferInstance } from './global-types'
import { toPath, type PathLike } from './validate'

export interface ImportOptions extends BatchOptions {
  /**
   * Replace a file already at an entry's path (atomically: a temporary file
   * in its directory renamed over it). Default **false** here: a name already
   * taken is kept as it is and counted in `existing`, as a package manager
   * re-importing into a partly filled directory expects.
   */
  overwrite?: boolean
  /**
   * The relative path of one entry (e.g. `'package.json'`) placed last,
   * atomically (complete under its name or absent), and only when every other
   * entry is in place: its presence says the import finished. When an entry
   * failed, the marker is not placed and is listed in `errors` (ECANCELED).
   */
  marker?: string
  /**
   * Build the whole tree under a hidden sibling name (`.<name>.cowcopy-XXXX`)
   * and rename it to `destDir` at the end: a failed or aborted import leaves
   * nothing (the promise rejects with the first error). `destDir` must not
   * exist yet (EEXIST otherwise). Stops at the first failed entry.
   */
  stage?: boolean
}

export interface ImportResult extends BatchResult {
  /** Entries whose path was already taken and kept (overwrite: false). */
  existing: number
}

export interface ImportResultBuffer extends BatchResultBuffer {
  existing: number
}

/** Entries: a Map of relative path -> source, or any iterable of [relPath, src] pairs. */
export type ImportEntries =
  | ReadonlyMap<string, PathLike>
  | Iterable<readonly [string | BufferInstance, PathLike]>
  | { readonly [relPath: string]: PathLike }

const SLASH = 0x2f
const DOT = 0x2e
const RELPATH_RULE = 'must be a relative path without "..", "." or empty segments'
// Windows reads a backslash as a separator and "C:" as a drive: either
// could lead out of destDir, so a relPath there may hold neither.
const WINDOWS_RULE = 'must not hold "\\" or ":" on Windows (a separator and a drive there)'
const windows = process.platform === 'win32'

const ASCII = /^[\x01-\x7f]*$/

// relPath as a key of its bytes (latin1: one char per byte, so a string and
// a Buffer of the same bytes collide), or a TypeError naming the entry.
function relKey(rel: unknown, i: number): string {
  if (windows && (typeof rel === 'string' || Buffer.isBuffer(rel)) && (rel.includes('\\') || rel.includes(':'))) {
    throw invalidArgValue(`entries[${i}][0]`, rel, WINDOWS_RULE)
  }
  if (typeof rel === 'string' && ASCII.test(rel)) {
    // The common case, without a Buffer: ASCII is its own latin1 key.
    if (!validSegments(rel)) throw invalidArgValue(`entries[${i}][0]`, rel, RELPATH_RULE)
    return rel
  }
  return relBytes(rel, i).toString('latin1')
}

function validSegments(rel: string): boolean {
  if (rel.length === 0 || rel.charCodeAt(0) === SLASH) return false
  let start = 0
  for (;;) {
    let end = rel.indexOf('/', start)
    if (end === -1) end = rel.length
    const len = end - start
    if (len === 0 || (len === 1 && rel.charCodeAt(start) === DOT) ||
        (len === 2 && rel.charCodeAt(start) === DOT && rel.charCodeAt(start + 1) === DOT)) return false
    if (end === rel.length) return true
    start = end + 1
  }
}

// relPath as bytes, or a TypeError naming the entry.
function relBytes(rel: unknown, i: number): Buffer {
  const name = `entries[${i}][0]`
  if (typeof rel !== 'string' && !Buffer.isBuffer(rel)) throw invalidArgType(name, 'of type string or an instance of Buffer', rel)
  const b = typeof rel === 'string' ? Buffer.from(rel) : rel
  if (b.length === 0 || b[0] === SLASH || b.includes(0)) throw invalidArgValue(name, rel, RELPATH_RULE)
  let start = 0
  for (;;) {
    let end = b.indexOf(SLASH, start)
    if (end === -1) end = b.length
    const len = end - start
    if (len === 0 || (len === 1 && b[start] === DOT) || (len === 2 && b[start] === DOT && b[start + 1] === DOT)) {
      throw invalidArgValue(name, rel, RELPATH_RULE)
    }
    if (end === b.length) return b
    start = end + 1
  }
}

interface Parsed {
  rels: (string | Buffer)[]
  srcs: (string | Buffer)[]
  /** The relPaths as latin1 keys, each checked against the rules: keysOf. */
  keys?: string[]
  /** Whether a path is a Buffer (the results give Buffers). */
  buffers: boolean
  /** Every directory the entries need, as latin1 keys, parents first (entryDirs). */
  dirs?: string[]
  /** First entry index under each directory key (entryDirs). */
  firstUnder?: Map<string, number>
}

// Each entry's types and relPath rules, in one pass over the entries (an
// iterator may be read only once). The duplicates and the files that are
// also another entry's directory are the engine's to find (the native one
// sorts the entries off the event loop, before it touches anything: here,
// 21 000 entries cost the event loop 30 ms) or entryDirs'.
//
// With `defer`, entries that are plain strings (no NUL) are only collected:
// their relPaths are checked by keysOf when something needs them (a marker,
// an existing destDir, an error, a signal or onProgress), else by the native
// engine, which checks every relPath against the same rules before it
// touches anything and says which one failed (lib/ names it as keysOf
// would). From the first entry that is not plain, the ones before it are
// checked and every later one is checked as it comes. Whatever goes wrong
// while they are read, an entry at fault before it is said first.
function parseEntries(entries: unknown, defer: boolean): Parsed {
  if (entries === null || typeof entries !== 'object') {
    throw invalidArgType('entries', 'a Map, an iterable of [relPath, src] pairs or a plain object', entries)
  }
  // A plain object: { relPath: src } (a package manager's file index as JSON).
  if (!(Symbol.iterator in entries)) {
    const proto = Object.getPrototypeOf(entries)
    if (proto !== Object.prototype && proto !== null) {
      throw invalidArgType('entries', 'a Map, an iterable of [relPath, src] pairs or a plain object', entries)
    }
    entries = Object.entries(entries)
  }
  const out: Parsed = { rels: [], srcs: [], keys: defer ? undefined : [], buffers: false }
  let i = 0
  let unchecked: string | undefined  // this entry's relPath, read and not yet checked
  try {
    for (const pair of entries as Iterable<unknown>) {
      if (!Array.isArray(pair) || pair.length !== 2) throw invalidArgType(`entries[${i}]`, 'a [relPath, src] pair', pair)
      const rel: unknown = pair[0]
      let src: unknown
      let srcRead = false
      if (out.keys === undefined) {
        if (typeof rel === 'string' && !rel.includes('\u0000')) {
          unchecked = rel
          src = pair[1]
          srcRead = true
          unchecked = undefined
          if (typeof src === 'string' && !src.includes('\u0000')) {
            out.rels.push(rel)
            out.srcs.push(src)
            i++
            continue
          }
        }
        keysOf(out)
      }
      out.keys!.push(relKey(rel, i))
      const path = toPath(srcRead ? src : pair[1], `entries[${i}][1]`)
      out.rels.push(rel as string | Buffer)
      out.srcs.push(path)
      if (typeof rel !== 'string' || typeof path !== 'string') out.buffers = true
      i++
    }
  } catch (err) {
    if (out.keys === undefined) {
      keysOf(out)
      if (unchecked !== undefined) relKey(unchecked, i)
    }
    throw err
  }
  return out
}

// Every relPath as its key, each checked against the rules (a TypeError or
// ERR_INVALID_ARG_VALUE naming the first entry at fault); made once.
function keysOf(parsed: Parsed): string[] {
  if (!parsed.keys) parsed.keys = parsed.rels.map((rel, i) => relKey(rel, i))
  return parsed.keys
}

// Every directory the entries need (parents first, each once), after the
// checks the engine makes too: no relPath twice, no file that is also the
// directory of another entry (ERR_INVALID_ARG_VALUE naming the entry).
function entryDirs(parsed: Parsed): string[] {
  if (parsed.dirs) return parsed.dirs
  const seen = new Map<string, number>()
  const dirs: string[] = []
  const firstUnder = new Map<string, number>()
  let lastDir: string | undefined
  const keys = keysOf(parsed)
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]
    if (seen.has(key)) throw badEntry(parsed, i, 'twice')
    seen.set(key, i)
    // Its directory and every one above it, each once (entries of one
    // directory usually come together: the last one seen is skipped first).
    const last = key.lastIndexOf('/')
    if (last === -1) continue
    const parent = key.slice(0, last)
    if (parent !== lastDir && !firstUnder.has(parent)) {
      for (let slash = key.indexOf('/'); slash !== -1; slash = key.indexOf('/', slash + 1)) {
        const dir = slash === last ? parent : key.slice(0, slash)
        if (!firstUnder.has(dir)) {
          firstUnder.set(dir, i)
          dirs.push(dir)
        }
      }
    }
    lastDir = parent
  }
  for (const dir of dirs) {
    const j = seen.get(dir)
    if (j !== undefined) throw badEntry(parsed, j, 'fileAndDir')
  }
  dirs.sort((a, b) => a.length - b.length)
  parsed.dirs = dirs
  parsed.firstUnder = firstUnder
  return dirs
}

const ENTRY_PROBLEMS: Record<string, string> = {
  relPath: RELPATH_RULE,
  twice: 'is listed twice',
  fileAndDir: 'is a file and also the directory of another entry',
}

function badEntry(parsed: Parsed, i: number, problem: string): Error {
  return invalidArgValue(`entries[${i}][0]`, parsed.rels[i], ENTRY_PROBLEMS[problem])
}

// In a destination that exists already, no entry may lead through a
// symlink (it could point anywhere: the tar path-traversal class). The engine
// never follows one (O_NOFOLLOW: that entry fails); this says so before
// anything is created. One lstat per directory the entries need.
async function checkNoSymlinks(destDir: string | Buffer, parsed: Parsed): Promise<void> {
  const root = Buffer.isBuffer(destDir) ? destDir : Buffer.from(destDir)
  if (!keysOf(parsed).some((k) => k.includes('/'))) return
  try {
    await fs.promises.lstat(root)
  } catch {
    return // a new destDir: nothing in it yet
  }
  entryDirs(parsed)
  // Parents come first: a directory under a missing one is missing too (one
  // look at its parent, not a scan of everything missing so far).
  const missing = new Set<string>()
  for (const dir of parsed.dirs!) {
    const slash = dir.lastIndexOf('/')
    if (slash > 0 && missing.has(dir.slice(0, slash))) {
      missing.add(dir)
      continue
    }
    const full = Buffer.concat([root, Buffer.from('/'), Buffer.from(dir, 'latin1')])
    let st: fs.Stats
    try {
      st = await fs.promises.lstat(full)
    } catch {
      missing.add(dir)
      continue
    }
    if (st.isSymbolicLink()) {
      const j = parsed.firstUnder!.get(dir)!
      throw invalidArgValue(`entries[${j}][0]`, parsed.rels[j],
        `leads through a symbolic link in the destination (${Buffer.from(dir, 'latin1').toString()})`)
    }
  }
}

/**
 * Places every entry (relative path -> source file) under `destDir` in one
 * native call: `destDir` and the parents of every entry are created (each
 * once, relative to its parent's descriptor), each file by the `link` ladder
 * (default clone, else copy), on a pool of native threads. Every relative
 * path is checked before anything is created: not absolute, no `..`, `.` or
 * empty segments, no NUL, not twice, never through a symlink in the
 * destination (ERR_INVALID_ARG_VALUE naming the entry).
 *
 * Existing files are kept and counted in `existing` unless `overwrite`;
 * `marker` is placed last; `stage` builds in a hidden sibling and renames.
 */
export function importFiles(destDir: string | URL, entries: ImportEntries, options?: ImportOptions): Promise<ImportResult>
export function importFiles(destDir: PathLike, entries: ImportEntries, options?: ImportOptions): Promise<ImportResult | ImportResultBuffer>
export function importFiles(destDir: PathLike, entries: ImportEntries, options?: ImportOptions): Promise<ImportResult | ImportResultBuffer> {
  let d: string | Buffer, parsed: Parsed | undefined, p: ReturnType<typeof parseBatch>
  let marker = -1
  let stage = false
  try {
    d = toPath(destDir, 'destDir')
    parsed = parseEntries(entries, !windows && engine.name === 'native')
    p = parseBatch(options, 'importFiles', IMPORT_OPTIONS)
    // A signal or onProgress could act before the engine has checked the
    // entries: then they are checked here, first.
    if (p.signal !== undefined || p.batchProgress !== undefined) keysOf(parsed)
    const o = (options ?? {}) as ImportOptions
    if (o.overwrite === undefined) p.overwrite = false
    if (o.marker !== undefined) {
      if (typeof o.marker !== 'string' && !Buffer.isBuffer(o.marker)) {
        throw invalidArgType('options.marker', 'of type string or an instance of Buffer', o.marker)
      }
      // An ASCII string is its own key: found among the relPaths as given
      // (a relPath that is not a string or not ASCII has another key).
      marker = typeof o.marker === 'string' && ASCII.test(o.marker) ? parsed.rels.indexOf(o.marker) : -1
      if (marker === -1) {
        const key = (Buffer.isBuffer(o.marker) ? o.marker : Buffer.from(o.marker)).toString('latin1')
        marker = keysOf(parsed).indexOf(key)
      }
      if (marker === -1) throw invalidArgValue('options.marker', o.marker, "must be one of the entries' relative paths")
    }
    if (o.stage !== undefined) {
      if (typeof o.stage !== 'boolean') throw invalidArgType('options.stage', 'of type boolean', o.stage)
      stage = o.stage
    }
    p.buffers = Buffer.isBuffer(d) || parsed.buffers
    // The portable engine takes the directories from here (and the checks with them).
    if (engine.name !== 'native') entryDirs(parsed)
  } catch (err) {
    // An entry at fault is said before a bad option, as the arguments come.
    if (parsed !== undefined && parsed.keys === undefined) {
      try {
        keysOf(parsed)
      } catch (entryErr) {
        return Promise.reject(entryErr)
      }
    }
    return Promise.reject(err)
  }
  if (p.signal?.aborted) return Promise.reject(abortedBeforeStart(p, !stage))
  const check = stage ? Promise.resolve() : checkNoSymlinks(d, parsed)
  return check.then(() =>
    supervise(
      p,
      (control) =>
        engine.importFiles({ destDir: d, rels: parsed.rels, srcs: parsed.srcs, dirs: parsed.dirs ?? [], keys: parsed.keys ?? [], p, marker, stage }, control)
          .catch((err: { entryIndex?: number; entryProblem?: string }) => {
            throw typeof err?.entryIndex === 'number' && err.entryProblem ? badEntry(parsed, err.entryIndex, err.entryProblem) : err
          }),
      () => undefined,
      !stage,
    ).then((r) => {
      // Staged: nothing is in place; the first failure is the answer.
      if (stage && r.errors.length > 0) throw r.errors[0].error
      return r as ImportResult
    }),
  )
}
