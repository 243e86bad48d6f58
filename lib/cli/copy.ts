// Copying the operands: what cp does with each kind of source (a file, a
// directory, a symlink it must not follow) under cp's options, over the
// public API: copyFile for one file, copyDir for a tree.
import * as fs from 'node:fs'
import * as os from 'node:os'
import { copyDir, copyFile, native, type BatchResult, type CopyOptions, type CopyResult, type PreserveOptions } from '../index'
import { human as humanBytes, ProgressBar } from '../progress-bar'
import type { Flags } from './args'
import { describe, errorJson, fail, json, jsonPath, out, q, UsageError } from './output'
import { basename, dirname, isAbsolute, join, text, type P } from './paths'
import { makeParents, setParentTimes } from './parents'

// What an interruption leaves behind, for the copy in progress: said only
// when it is true (an in-place overwrite cannot be undone).
interface Ctx {
  f: Flags
  signal: AbortSignal
  bar: ProgressBar | null
  interrupted: { message: string }
  umask: number
}

const code = (err: unknown) => (err as NodeJS.ErrnoException)?.code

function lstat(p: P): fs.Stats | null {
  try {
    return fs.lstatSync(p)
  } catch {
    return null
  }
}

/** The API's preserve option for cp's --preserve list. */
export function apiPreserve(f: Flags): PreserveOptions | false {
  const p = f.preserve
  if (!p.has('timestamps') && !p.has('ownership') && !p.has('xattr') && !p.has('acl')) return false
  // ACLs are the system.posix_acl_* xattrs; the API copies xattrs all or
  // none. Without the addon there are no xattr calls: the ACLs that ride
  // with -p / --preserve=mode are not kept (as cp on a filesystem without
  // ACLs); --preserve=xattr asked by name fails there (ENOSYS).
  return { timestamps: p.has('timestamps'), ownership: p.has('ownership'), xattrs: p.has('xattr') || (p.has('acl') && native) }
}

function failed(ctx: Ctx, src: P, dest: P, msg: string, err: unknown): false {
  fail(msg)
  if (ctx.f.json) json({ src: jsonPath(src), dest: jsonPath(dest), error: errorJson(err) })
  return false
}

function skipped(ctx: Ctx, src: P, dest: P, why: string): void {
  if (ctx.f.json) json({ src: jsonPath(src), dest: jsonPath(dest), skipped: why })
  else if (ctx.f.verbose) out(`skipped ${q(dest)} (${why})`)
}

/** Replace-by-name for -l/-s/-P: make it, and with -f / --remove-destination, unlink an existing one and make it again. */
function place(make: () => void, dest: P, ctx: Ctx, existing: fs.Stats | null): void {
  try {
    make()
  } catch (err) {
    if (code(err) !== 'EEXIST' || !existing || existing.isDirectory() || !(ctx.f.force || ctx.f.removeDestination)) throw err
    fs.unlinkSync(dest)
    make()
  }
}

// A symlink operand that is not followed (-r, -P, -d, -a): the link itself.
function copyLinkItself(src: P, dest: P, ctx: Ctx): boolean {
  const existing = lstat(dest)
  if (existing && ctx.f.noClobber) {
    skipped(ctx, src, dest, 'exists')
    return true
  }
  if (existing?.isDirectory()) return failed(ctx, src, dest, `cannot overwrite directory ${q(dest)} with non-directory`, Object.assign(new Error('EISDIR'), { code: 'EISDIR' }))
  try {
    if (ctx.f.link === 'hard') {
      place(() => fs.linkSync(src, dest), dest, ctx, existing)
    } else {
      const target = fs.readlinkSync(src, { encoding: 'buffer' })
      // cp replaces an existing non-directory with the link; through a
      // temporary name, so a failure keeps what was there.
      const tmp = join(dirname(dest), `.${text(basename(dest)).slice(0, 200)}.cowcopy-${process.pid}`)
      fs.symlinkSync(target, tmp)
      try {
        fs.renameSync(tmp, dest)
      } catch (err) {
        fs.rmSync(tmp, { force: true })
        throw err
      }
      const st = fs.lstatSync(src)
      if (ctx.f.preserve.has('ownership')) {
        try {
          fs.lchownSync(dest, st.uid, st.gid)
        } catch {
          // as cp -p: ownership that cannot be kept is not an error
        }
      }
      if (ctx.f.preserve.has('timestamps')) fs.lutimesSync(dest, st.atime, st.mtime)
    }
  } catch (err) {
    const what = ctx.f.link === 'hard' ? `cannot create hard link ${q(dest)} to ${q(src)}` : `cannot create symbolic link ${q(dest)}`
    return failed(ctx, src, dest, `${what}: ${describe(err)}`, err)
  }
  if (ctx.f.json) json({ src: jsonPath(src), dest: jsonPath(dest), method: ctx.f.link === 'hard' ? 'hardlink' : 'symlink', bytes: 0 })
  else if (ctx.f.verbose) out(`${q(src)} -> ${q(dest)}`)
  return true
}

// -s: a symbolic link to the source instead of a copy. A relative source is
// relative to the link's directory, so cp allows it only there (the cwd).
function symlinkTo(src: P, dest: P, ctx: Ctx, existing: fs.Stats | null): boolean {
  if (!isAbsolute(src) && text(dirname(dest)) !== '.') {
    return failed(ctx, src, dest, `${q(dest)}: can make relative symbolic links only in current directory`, Object.assign(new Error('relative symlink outside the current directory'), { code: 'EINVAL' }))
  }
  try {
    place(() => fs.symlinkSync(src, dest), dest, ctx, existing)
  } catch (err) {
    return failed(ctx, src, dest, `cannot create symbolic link ${q(dest)}: ${describe(err)}`, err)
  }
  if (ctx.f.json) json({ src: jsonPath(src), dest: jsonPath(dest), method: 'symlink', bytes: 0 })
  else if (ctx.f.verbose) out(`${q(src)} -> ${q(dest)}`)
  return true
}

// cp -rs: the directories made, every other entry a symlink to the source.
function symlinkTree(src: P, dest: P, ctx: Ctx): boolean {
  if (!isAbsolute(src)) {
    return failed(ctx, src, dest, `${q(dest)}: can make relative symbolic links only in current directory`, Object.assign(new Error('-s with -r needs an absolute source'), { code: 'EINVAL' }))
  }
  let ok = true
  const walk = (s: P, d: P): void => {
    if (!lstat(d)?.isDirectory()) fs.mkdirSync(d, { mode: fs.statSync(s).mode & 0o7777 })
    for (const name of fs.readdirSync(s, { encoding: 'buffer' })) {
      const cs = join(s, name)
      const cd = join(d, name)
      if (lstat(cs)?.isDirectory()) walk(cs, cd)
      else ok = symlinkTo(cs, cd, ctx, lstat(cd)) && ok
    }
  }
  try {
    walk(src, dest)
  } catch (err) {
    return failed(ctx, src, dest, `cannot copy ${q(src)} to ${q(dest)}: ${describe(err)}`, err)
  }
  return ok
}

// Without --preserve=mode, cp gives a new file the source's mode less the
// umask and leaves an existing file's mode as it was; the API keeps the
// source's mode exactly, so the command sets it back.
function cpMode(dest: P, before: fs.Stats | null, ctx: Ctx): void {
  if (ctx.f.preserve.has('mode')) return
  const now = fs.statSync(dest)
  const want = before && before.isFile() ? before.mode & 0o7777 : now.mode & 0o7777 & ~ctx.umask
  if ((now.mode & 0o7777) !== want) fs.chmodSync(dest, want)
}

async function copyNonDir(src: P, dest: P, st: fs.Stats, ctx: Ctx): Promise<boolean> {
  const f = ctx.f
  let existing = lstat(dest)
  if (existing?.isDirectory()) {
    return failed(ctx, src, dest, `cannot overwrite directory ${q(dest)} with non-directory`, Object.assign(new Error('EISDIR: illegal operation on a directory'), { code: 'EISDIR' }))
  }
  if (existing && f.noClobber) {
    skipped(ctx, src, dest, 'exists')
    return true
  }
  let destErr: string | undefined
  const destSt = existing ? (() => { try { return fs.statSync(dest) } catch (err) { destErr = code(err); return null } })() : null
  if (existing && f.update && destSt && destSt.mtimeMs >= st.mtimeMs) {
    skipped(ctx, src, dest, 'not newer')
    return true
  }
  if (destSt && destSt.dev === st.dev && destSt.ino === st.ino && f.link !== 'symbolic' && !(f.link === 'hard' && !f.force)) {
    return failed(ctx, src, dest, `${q(src)} and ${q(dest)} are the same file`, Object.assign(new Error('same file'), { code: 'EINVAL' }))
  }
  if (f.link === 'symbolic') return symlinkTo(src, dest, ctx, existing)
  if (f.link === 'hard') {
    try {
      // link(2) does not follow a symlink; cp -l (without -P) links what it points to.
      const target = lstat(src)?.isSymbolicLink() ? fs.realpathSync(src, { encoding: 'buffer' }) : src
      place(() => fs.linkSync(target, dest), dest, ctx, existing)
    } catch (err) {
      return failed(ctx, src, dest, `cannot create hard link ${q(dest)} to ${q(src)}: ${describe(err)}`, err)
    }
    if (f.json) json({ src: jsonPath(src), dest: jsonPath(dest), method: 'hardlink', bytes: st.size })
    else if (f.verbose) out(`${q(src)} -> ${q(dest)} (hardlink)`)
    return true
  }
  // -f removes a symlink loop at the name (cp since 8.30); a dangling
  // symlink is refused even then ("not writing through dangling symlink").
  if (existing && (f.removeDestination || (f.force && destErr === 'ELOOP'))) {
    try {
      fs.unlinkSync(dest)
      existing = null
    } catch (err) {
      return failed(ctx, src, dest, `cannot remove ${q(dest)}: ${describe(err)}`, err)
    }
  }
  if (!st.isFile()) {
    const kind = st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : 'a device'
    return failed(ctx, src, dest, `cannot copy ${q(src)}: it is ${kind}, not a regular file (not supported: --copy-contents)`, Object.assign(new Error(`source is ${kind}`), { code: 'EINVAL' }))
  }
  ctx.bar?.start(text(src), st.size)
  const opts: CopyOptions = {
    reflink: f.reflink,
    overwrite: true,
    sparse: f.sparse !== 'never',
    atomic: f.atomic,
    preserve: apiPreserve(f),
    signal: ctx.signal,
    onProgress: ctx.bar ? (p) => ctx.bar!.update(p.bytesCopied, p.totalBytes) : undefined,
  }
  ctx.interrupted.message = !existing
    ? `the copy in progress was removed (${q(dest)} was not created)`
    : f.atomic
      ? `${q(dest)} was left as it was`
      : `${q(dest)} was being overwritten in place and is incomplete: its old content is lost (--atomic replaces a file only once the copy is complete)`
  let r: CopyResult
  try {
    try {
      r = await copyFile(src, dest, opts)
    } catch (err) {
      // -f: an existing destination that cannot be opened is removed, and the copy tried again.
      if (!f.force || !existing || (err as Error).name === 'AbortError' || !['EACCES', 'EPERM', 'ETXTBSY', 'EROFS'].includes(code(err) ?? '')) throw err
      fs.unlinkSync(dest)
      existing = null
      r = await copyFile(src, dest, opts)
    }
    cpMode(dest, existing && !f.atomic ? existing : null, ctx)
  } catch (err) {
    ctx.bar?.done()
    if ((err as Error).name === 'AbortError') throw err
    if (code(err) === 'EEXIST' && lstat(dest)?.isSymbolicLink() && !fs.existsSync(dest)) {
      return failed(ctx, src, dest, `not writing through dangling symlink ${q(dest)}`, err)
    }
    return failed(ctx, src, dest, `cannot copy ${q(src)} to ${q(dest)}: ${describe(err)}`, err)
  }
  ctx.bar?.done()
  if (f.json) json({ src: jsonPath(src), dest: jsonPath(dest), method: r.method, bytes: r.bytes })
  else if (f.verbose) out(`${q(src)} -> ${q(dest)} (${r.method}, ${humanBytes(r.bytes)})`)
  return true
}

async function copyTree(src: P, dest: P, ctx: Ctx): Promise<boolean> {
  const f = ctx.f
  if (f.link === 'symbolic') return symlinkTree(src, dest, ctx)
  const existing = lstat(dest)
  if (existing && !existing.isDirectory() && !(existing.isSymbolicLink() && fs.statSync(dest, { throwIfNoEntry: false })?.isDirectory())) {
    return failed(ctx, src, dest, `cannot overwrite non-directory ${q(dest)} with directory ${q(src)}`, Object.assign(new Error('ENOTDIR: not a directory'), { code: 'ENOTDIR' }))
  }
  ctx.bar?.start(text(src), 0)
  ctx.interrupted.message = `the copy into ${q(dest)} is incomplete: files finished before the interruption are in place, ` +
    'files in progress were removed (one replacing an existing file may be left incomplete)'
  // -u: a file whose destination is as new or newer is left out.
  const newer = (relPath: string | Buffer, entry: { isDirectory(): boolean }): boolean => {
    if (entry.isDirectory() || relPath.length === 0) return true
    const d = lstat(join(dest, relPath))
    const s = lstat(join(src, relPath))
    return !d || !s || s.mtimeMs > d.mtimeMs
  }
  let r: BatchResult
  try {
    r = await copyDir(src, dest, {
      reflink: f.reflink,
      overwrite: !f.noClobber,
      sparse: f.sparse !== 'never',
      preserve: apiPreserve(f),
      dereference: f.dereference === 'always',
      verbatimSymlinks: f.dereference !== 'always',
      ...(f.link === 'hard' ? { link: ['hardlink' as const] } : {}),
      ...(f.update ? { filter: newer } : {}),
      signal: ctx.signal,
      listFiles: f.verbose,
      onProgress: ctx.bar ? (p) => ctx.bar!.update(p.bytes, 0, p.files) : undefined,
    })
  } catch (err) {
    ctx.bar?.done()
    if ((err as Error).name === 'AbortError') throw err
    const m = code(err) === 'EINVAL' && /into itself|subdirectory/i.test((err as Error).message)
      ? `cannot copy a directory, ${q(src)}, into itself, ${q(dest)}`
      : `cannot copy ${q(src)} to ${q(dest)}: ${describe(err)}`
    return failed(ctx, src, dest, m, err)
  }
  ctx.bar?.done()
  // -n: existing files are skipped, not failures (cp -n).
  const errors = f.noClobber ? r.errors.filter((e) => code(e.error) !== 'EEXIST') : r.errors
  for (const e of errors) fail(`cannot copy ${q(e.src)} to ${q(e.dest)}: ${describe(e.error)}`)
  for (const s of r.skipped) fail(`skipping ${q(s.path)}: not a regular file, directory or symlink (${s.type})`)
  if (f.json) {
    json({
      src: jsonPath(src), dest: jsonPath(dest), files: r.files, bytes: r.bytes, dirs: r.dirs, symlinks: r.symlinks, methods: r.methods,
      errors: errors.map((e) => ({ path: jsonPath(e.src), dest: jsonPath(e.dest), ...errorJson(e.error) })),
      skipped: r.skipped.map((s) => ({ path: jsonPath(s.path), type: s.type })),
    })
  } else if (f.verbose) {
    const methods = Object.entries(r.methods).filter(([, n]) => n > 0).map(([m, n]) => `${m} ${n}`).join(', ')
    for (const c of r.copied ?? []) out(`${q(c.src)} -> ${q(c.dest)} (${c.method}, ${humanBytes(c.bytes)})`)
    out(`${q(src)} -> ${q(dest)} (${r.files} files${methods ? `: ${methods}` : ''}; ${r.dirs} dirs, ${r.symlinks} symlinks, ${humanBytes(r.bytes)})`)
  }
  return errors.length === 0
}

async function copyOperand(src: P, dest: P, ctx: Ctx): Promise<boolean> {
  const f = ctx.f
  let st: fs.Stats
  try {
    st = f.dereference === 'never' ? fs.lstatSync(src) : fs.statSync(src)
  } catch (err) {
    return failed(ctx, src, dest, `cannot stat ${q(src)}: ${describe(err)}`, err)
  }
  if (st.isDirectory() && !f.recursive) {
    fail(`-r not specified; omitting directory ${q(src)}`)
    if (f.json) json({ src: jsonPath(src), dest: jsonPath(dest), skipped: 'directory', error: { code: 'EISDIR', message: '-r not specified; omitting directory' } })
    return false
  }
  if (st.isSymbolicLink()) return copyLinkItself(src, dest, ctx)
  if (st.isDirectory()) return copyTree(src, dest, ctx)
  return copyNonDir(src, dest, st, ctx)
}

function isDir(p: P): boolean {
  try {
    return fs.statSync(p).isDirectory()
  } catch {
    return false
  }
}

// "a/b/" -> "b": the name a source gets in a target directory.
function lastName(src: P): P {
  const t = text(src).replace(/\/+$/, '')
  return t === '' ? src : basename(src)
}

export async function runCopy(f: Flags, operands: P[]): Promise<number> {
  let target: P
  let sources: P[]
  if (f.targetDir !== null) {
    if (operands.length === 0) throw new UsageError('missing file operand')
    target = f.targetDir
    sources = operands
    if (!isDir(target)) {
      fail(`target directory ${q(target)}: ${fs.existsSync(target) ? 'Not a directory' : 'No such file or directory'}`)
      return 1
    }
  } else {
    if (operands.length === 0) throw new UsageError('missing file operand')
    if (operands.length === 1) throw new UsageError(`missing destination file operand after ${q(operands[0])}`)
    if (f.noTargetDir && operands.length > 2) throw new UsageError(`extra operand ${q(operands[2])}`)
    target = operands[operands.length - 1]
    sources = operands.slice(0, -1)
  }
  const intoDir = f.targetDir !== null || (!f.noTargetDir && isDir(target))
  if (f.parents && !intoDir) throw new UsageError(`with --parents, the destination must be a directory`)
  if (!intoDir && sources.length > 1) {
    fail(`target ${q(target)} is not a directory`)
    return 1
  }
  const ac = new AbortController()
  const interrupted = { message: 'nothing was copied' }
  // Ctrl-C, kill (SIGTERM) and a closed terminal (SIGHUP) alike: stop, remove
  // what is half done, say so, exit 128 + the signal's number as a shell does.
  let signalled = 0
  const stops = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
  const onStop = (sig: NodeJS.Signals) => {
    if (!signalled) signalled = 128 + os.constants.signals[sig]
    ac.abort()
  }
  for (const sig of stops) process.on(sig, onStop)
  const bar = f.progress && process.stdout.isTTY ? new ProgressBar(process.stdout) : null
  const umask = process.umask()
  const ctx: Ctx = { f, signal: ac.signal, bar, interrupted, umask }
  let ok = true
  try {
    for (const src of sources) {
      let dest = intoDir ? join(target, f.parents ? src : lastName(src)) : target
      if (f.parents) {
        const made = makeParents(src, target, f, umask)
        if (!made.ok) {
          ok = false
          continue
        }
        dest = join(target, src)
        ok = (await copyOperand(src, dest, ctx)) && ok
        setParentTimes(made.dirs, f)
      } else {
        ok = (await copyOperand(src, dest, ctx)) && ok
      }
      // Finished (or failed) before it saw the interruption: nothing half done.
      interrupted.message = 'the copies done before it are complete'
    }
  } catch (err) {
    if ((err as Error).name !== 'AbortError') throw err
  } finally {
    for (const sig of stops) process.off(sig, onStop)
  }
  if (signalled) {
    fail(`interrupted: ${interrupted.message}`)
    return signalled
  }
  return ok ? 0 : 1
}
