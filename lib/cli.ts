#!/usr/bin/env node
// The `cowcopy` command: cp-like copies (clone first, say which method ran),
// plus `cowcopy probe [DIR]` and `cowcopy dedupe FILE...`. Arguments through
// util.parseArgs; exit 0 on success, 1 when any file failed, 2 on usage errors.
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { parseArgs } from 'node:util'
import { copyDir, copyFile, dedupeRange, probe, type BatchResult, type CopyOptions, type CopyResult } from './index'
import { human as humanBytes, ProgressBar } from './progress-bar'

const USAGE = `Usage: cowcopy [OPTION]... SOURCE DEST
  or:  cowcopy [OPTION]... SOURCE... DIRECTORY
  or:  cowcopy -r [OPTION]... SOURCE_DIR DEST
  or:  cowcopy probe [--json] [DIR]
  or:  cowcopy dedupe [--json] FILE FILE...

Copy SOURCE to DEST, or SOURCEs into DIRECTORY, cloning (copy-on-write)
where the filesystem can and saying which method did the work.

  -r, -R, --recursive   copy directories recursively
      --reflink[=WHEN]  auto (default): clone if possible, else copy;
                        always (also --reflink alone): clone or fail;
                        never: a real copy of the bytes
  -n, --no-clobber      do not overwrite an existing file
  -p, --preserve        keep mode, ownership and timestamps
      --atomic          write to a temporary file, rename it into place
      --sparse=WHEN     auto/always: keep holes (default); never: write every byte
  -v, --verbose         one line per file with the method (and a total per tree)
      --json            JSON lines: one object per source, or the probe/dedupe result
      --progress        a progress bar on a terminal (nothing when not a TTY)
  -h, --help            this help
      --version         the version

  probe [DIR]           what DIR's filesystem can do (default: .)
  dedupe FILE FILE...   share identical data of the other FILEs with the first

Exit status: 0 if all went well, 1 if any file failed, 2 on a usage error.`

class UsageError extends Error {}

// cp's wording of an errno: "No such file or directory".
function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  const m = /^[A-Z0-9_]+: (.*?), [a-z_]+ '/.exec(e?.message ?? '')
  const text = m ? m[1] : (e?.message ?? String(err))
  return text.charAt(0).toUpperCase() + text.slice(1)
}

// A path as printed: in single quotes, control characters (a newline in a
// file name) escaped so one file stays one line and a name cannot drive the
// terminal: C0, DEL and C1 (U+0080-U+009F: a lone CSI, U+009B, starts an
// escape sequence on many terminals). Bytes that are not UTF-8 (a Buffer
// path from copyDir) are shown as \xNN, never as U+FFFD.
function q(p: string | Buffer): string {
  let text: string
  if (typeof p === 'string') text = p
  else if (Buffer.from(p.toString('utf8')).equals(p)) text = p.toString('utf8')
  else text = [...p].map((b) => (b < 0x80 ? String.fromCharCode(b) : `\\x${b.toString(16)}`)).join('')
  return `'${text.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => {
    const n = c.charCodeAt(0)
    return n < 0x80 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`
  })}'`
}

function fail(msg: string): void {
  process.stderr.write(`cowcopy: ${msg}\n`)
}


interface Flags {
  recursive: boolean
  reflink: 'auto' | 'always' | 'never'
  noClobber: boolean
  preserve: boolean
  atomic: boolean
  sparse: boolean
  verbose: boolean
  json: boolean
  progress: boolean
}

function parse(argv: string[]): { flags: Flags; positionals: string[]; help: boolean; version: boolean } {
  // --reflink alone means 'always', as in cp; parseArgs needs a value.
  const args = argv.map((a) => (a === '--reflink' ? '--reflink=always' : a))
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        recursive: { type: 'boolean', short: 'r' },
        R: { type: 'boolean', short: 'R' },
        reflink: { type: 'string' },
        'no-clobber': { type: 'boolean', short: 'n' },
        preserve: { type: 'boolean', short: 'p' },
        atomic: { type: 'boolean' },
        sparse: { type: 'string' },
        verbose: { type: 'boolean', short: 'v' },
        json: { type: 'boolean' },
        progress: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
      },
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const v = parsed.values
  const reflink = v.reflink ?? 'auto'
  if (reflink !== 'auto' && reflink !== 'always' && reflink !== 'never') {
    throw new UsageError(`invalid argument ${q(reflink)} for '--reflink' (valid: auto, always, never)`)
  }
  const sparse = v.sparse ?? 'auto'
  if (sparse !== 'auto' && sparse !== 'always' && sparse !== 'never') {
    throw new UsageError(`invalid argument ${q(sparse)} for '--sparse' (valid: auto, always, never)`)
  }
  return {
    flags: {
      recursive: Boolean(v.recursive || v.R),
      reflink,
      noClobber: Boolean(v['no-clobber']),
      preserve: Boolean(v.preserve),
      atomic: Boolean(v.atomic),
      sparse: sparse !== 'never',
      verbose: Boolean(v.verbose),
      json: Boolean(v.json),
      progress: Boolean(v.progress),
    },
    positionals: parsed.positionals,
    help: Boolean(v.help),
    version: Boolean(v.version),
  }
}

function out(line: string): void {
  process.stdout.write(line + '\n')
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory()
  } catch {
    return false
  }
}

// What an interruption leaves behind, for the copy in progress: said only
// when it is true (an in-place overwrite cannot be undone).
interface Interrupted {
  message: string
}

async function copyOne(src: string, dest: string, f: Flags, signal: AbortSignal, bar: ProgressBar | null, state: Interrupted): Promise<boolean> {
  let st: fs.Stats
  try {
    st = fs.statSync(src)
  } catch (err) {
    fail(`cannot stat ${q(src)}: ${describe(err)}`)
    if (f.json) out(JSON.stringify({ src, dest, error: { code: (err as NodeJS.ErrnoException).code, message: (err as Error).message } }))
    return false
  }
  try {
    if (st.isDirectory()) {
      if (!f.recursive) {
        fail(`-r not specified; omitting directory ${q(src)}`)
        return false
      }
      bar?.start(src, 0)
      state.message = `the copy into ${q(dest)} is incomplete: files finished before the interruption are in place, ` +
        'files in progress were removed (one replacing an existing file may be left incomplete)'
      const r: BatchResult = await copyDir(src, dest, {
        reflink: f.reflink,
        overwrite: !f.noClobber,
        sparse: f.sparse,
        preserve: f.preserve ? { timestamps: true, ownership: true } : false,
        signal,
        listFiles: f.verbose,
        onProgress: bar ? (p) => bar.update(p.bytes, 0, p.files) : undefined,
      })
      bar?.done()
      // -n: existing files are skipped, not failures (cp -n).
      const errors = f.noClobber ? r.errors.filter((e) => (e.error as NodeJS.ErrnoException).code !== 'EEXIST') : r.errors
      for (const e of errors) fail(`cannot copy ${q(e.src)} to ${q(e.dest)}: ${describe(e.error)}`)
      for (const s of r.skipped) fail(`skipping ${q(s.path)}: not a regular file, directory or symlink (${s.type})`)
      const methods = Object.entries(r.methods).filter(([, n]) => n > 0).map(([m, n]) => `${m} ${n}`).join(', ')
      if (f.json) out(JSON.stringify({ src, dest, files: r.files, bytes: r.bytes, dirs: r.dirs, symlinks: r.symlinks, methods: r.methods, errors: errors.length, skipped: r.skipped.length }))
      else if (f.verbose) {
        for (const c of r.copied ?? []) out(`${q(c.src)} -> ${q(c.dest)} (${c.method}, ${humanBytes(c.bytes)})`)
        out(`${q(src)} -> ${q(dest)} (${r.files} files${methods ? `: ${methods}` : ''}; ${r.dirs} dirs, ${r.symlinks} symlinks, ${humanBytes(r.bytes)})`)
      }
      return errors.length === 0
    }
    bar?.start(src, st.size)
    const opts: CopyOptions = {
      reflink: f.reflink,
      overwrite: !f.noClobber,
      sparse: f.sparse,
      atomic: f.atomic,
      preserve: f.preserve ? { timestamps: true, ownership: true } : false,
      signal,
      onProgress: bar ? (p) => bar.update(p.bytesCopied, p.totalBytes) : undefined,
    }
    let existed = false
    try {
      existed = fs.statSync(dest).isFile()
    } catch {
      existed = false
    }
    state.message = !existed
      ? `the copy in progress was removed (${q(dest)} was not created)`
      : f.atomic || f.noClobber
        ? `${q(dest)} was left as it was`
        : `${q(dest)} was being overwritten in place and is incomplete: its old content is lost (--atomic replaces a file only once the copy is complete)`
    let r: CopyResult
    try {
      r = await copyFile(src, dest, opts)
    } catch (err) {
      if (f.noClobber && (err as NodeJS.ErrnoException).code === 'EEXIST') {
        bar?.done()
        if (f.verbose) out(`skipped ${q(dest)} (exists)`)
        return true
      }
      throw err
    }
    bar?.done()
    if (f.json) out(JSON.stringify({ src, dest, method: r.method, bytes: r.bytes }))
    else if (f.verbose) out(`${q(src)} -> ${q(dest)} (${r.method}, ${humanBytes(r.bytes)})`)
    return true
  } catch (err) {
    bar?.done()
    if ((err as Error).name === 'AbortError') throw err
    fail(`cannot copy ${q(src)} to ${q(dest)}: ${describe(err)}`)
    if (f.json) out(JSON.stringify({ src, dest, error: { code: (err as NodeJS.ErrnoException).code, message: (err as Error).message } }))
    return false
  }
}

async function runCopy(f: Flags, positionals: string[]): Promise<number> {
  if (positionals.length === 0) throw new UsageError('missing file operand')
  if (positionals.length === 1) throw new UsageError(`missing destination file operand after ${q(positionals[0])}`)
  const target = positionals[positionals.length - 1]
  const sources = positionals.slice(0, -1)
  const targetIsDir = isDir(target)
  if (sources.length > 1 && !targetIsDir) {
    fail(`target ${q(target)} is not a directory`)
    return 1
  }
  const ac = new AbortController()
  const state: Interrupted = { message: 'nothing was copied' }
  // Ctrl-C, kill (SIGTERM) and a closed terminal (SIGHUP) alike: stop, remove
  // what is half done, say so, exit 128 + the signal's number as a shell does.
  let interrupted = 0
  const stops = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  const onStop = (sig: NodeJS.Signals) => {
    if (!interrupted) interrupted = 128 + os.constants.signals[sig]
    ac.abort()
  }
  for (const sig of stops) process.on(sig, onStop)
  const bar = f.progress && process.stdout.isTTY ? new ProgressBar(process.stdout) : null
  let ok = true
  try {
    for (const src of sources) {
      const dest = targetIsDir ? path.join(target, path.basename(src.replace(/\/+$/, '') || src)) : target
      ok = (await copyOne(src, dest, f, ac.signal, bar, state)) && ok
      // Finished (or failed) before it saw the interruption: nothing half done.
      state.message = 'the copies done before it are complete'
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err
  } finally {
    for (const sig of stops) process.off(sig, onStop)
  }
  if (interrupted) {
    fail(`interrupted: ${state.message}`)
    return interrupted
  }
  return ok ? 0 : 1
}

async function runProbe(f: Flags, positionals: string[]): Promise<number> {
  if (positionals.length > 1) throw new UsageError(`probe takes one directory, not ${positionals.length}`)
  const dir = positionals[0] ?? '.'
  try {
    const p = await probe(dir)
    if (f.json) {
      out(JSON.stringify({ dir, ...p }))
    } else {
      const yes = (b: boolean) => (b ? 'yes' : 'no')
      out(`${path.resolve(dir)}`)
      out(`  filesystem       ${p.fsType}`)
      out(`  block size       ${p.blockSize}`)
      out(`  clone            ${yes(p.clone)}`)
      out(`  dedupe           ${yes(p.dedupe)}`)
      out(`  copy_file_range  ${yes(p.copyFileRange)}`)
    }
    return 0
  } catch (err) {
    fail(`cannot probe ${q(dir)}: ${describe(err)}`)
    return 1
  }
}

async function runDedupe(f: Flags, positionals: string[]): Promise<number> {
  if (positionals.length < 2) throw new UsageError('dedupe needs a FILE and at least one more FILE')
  const [src, ...targets] = positionals
  let srcSize: number
  try {
    srcSize = fs.statSync(src).size
  } catch (err) {
    fail(`cannot stat ${q(src)}: ${describe(err)}`)
    return 1
  }
  let ok = true
  let total = 0
  for (const t of targets) {
    let size: number
    try {
      size = fs.statSync(t).size
    } catch (err) {
      fail(`cannot stat ${q(t)}: ${describe(err)}`)
      ok = false
      continue
    }
    const length = Math.min(size, srcSize)
    try {
      const [r] = await dedupeRange(src, { offset: 0, length: length === srcSize ? 0 : length }, [{ path: t }])
      if (r.status === 'error') throw r.error
      const bytes = Number(r.bytesDeduped)
      total += bytes
      if (f.json) out(JSON.stringify({ src, target: t, status: r.status, bytesDeduped: bytes }))
      else if (r.status === 'same') out(`${q(t)}: ${humanBytes(bytes)} shared with ${q(src)}`)
      else out(`${q(t)}: differs from ${q(src)} (${humanBytes(bytes)} shared before the first difference)`)
    } catch (err) {
      fail(`cannot dedupe ${q(t)} with ${q(src)}: ${describe(err)}`)
      if (f.json) out(JSON.stringify({ src, target: t, status: 'error', error: { code: (err as NodeJS.ErrnoException).code, message: (err as Error).message } }))
      ok = false
    }
  }
  if (!f.json) out(`${humanBytes(total)} shared in all`)
  return ok ? 0 : 1
}

export async function main(argv: string[]): Promise<number> {
  try {
    const sub = argv[0] === 'probe' || argv[0] === 'dedupe' ? argv[0] : null
    const { flags, positionals, help, version } = parse(sub ? argv.slice(1) : argv)
    if (help) {
      out(USAGE)
      return 0
    }
    if (version) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      out(`cowcopy ${(require('../package.json') as { version: string }).version}`)
      return 0
    }
    if (sub === 'probe') return await runProbe(flags, positionals)
    if (sub === 'dedupe') return await runDedupe(flags, positionals)
    return await runCopy(flags, positionals)
  } catch (err) {
    if (err instanceof UsageError) {
      fail(err.message)
      process.stderr.write("Try 'cowcopy --help' for more information.\n")
      return 2
    }
    fail(String((err as Error)?.stack ?? err))
    return 1
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code
  })
}
