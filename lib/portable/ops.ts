// One implementation for the sync and the promise API: the portable engine's
// steps are generators that yield file-system calls by name; runSync makes
// each one with fs.*Sync on the calling thread, runAsync with fs's callback
// API on the libuv pool. A failed call is thrown back into the generator at
// the yield, so try/finally and cleanup read as in straight-line code.
import * as fs from 'node:fs'
import { layerCalls } from './layer'

export type Bytes = string | Buffer
/** A call by fs's name and its arguments ('sleep' is the engine's own). */
export type Call = [name: string, ...args: unknown[]]
export type Steps<T> = Generator<Call, T, unknown>

const sleeper = new Int32Array(new SharedArrayBuffer(4))
// realpath(3) itself: fs.realpath's JavaScript walk decodes names that are
// not UTF-8 even when asked for a Buffer.
const table: Record<string, (...args: unknown[]) => unknown> = {
  ...(fs as unknown as Record<string, (...args: unknown[]) => unknown>),
  realpathNative: fs.realpath.native as (...args: unknown[]) => unknown,
  realpathNativeSync: fs.realpathSync.native as (...args: unknown[]) => unknown,
  // cloneFile(fd, dest, srcPath): the per-OS clone layer, where one loaded.
  ...layerCalls,
}

export function runSync<T>(steps: Steps<T>): T {
  let next = steps.next()
  while (!next.done) {
    const [name, ...args] = next.value
    let value: unknown
    let failed = false
    try {
      if (name === 'sleep') value = Atomics.wait(sleeper, 0, 0, args[0] as number)
      else if (name === 'canWait') value = false
      else value = table[`${name}Sync`](...args)
    } catch (err) {
      failed = true
      value = err
    }
    next = failed ? steps.throw(value) : steps.next(value)
  }
  return next.value
}

function callAsync(name: string, args: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (name === 'sleep') {
      setTimeout(resolve, args[0] as number)
      return
    }
    if (name === 'canWait') {
      resolve(true)
      return
    }
    table[name](...args, (err: Error | null, value: unknown) => (err ? reject(err) : resolve(value)))
  })
}

export async function runAsync<T>(steps: Steps<T>): Promise<T> {
  let next = steps.next()
  while (!next.done) {
    const [name, ...args] = next.value
    let value: unknown
    let failed = false
    try {
      value = await callAsync(name, args)
    } catch (err) {
      failed = true
      value = err
    }
    next = failed ? steps.throw(value) : steps.next(value)
  }
  return next.value
}

// Typed steps: `const fd = yield* open(path, flags)`.
export function* open(p: Bytes, flags: number, mode?: number): Steps<number> {
  return (yield mode === undefined ? ['open', p, flags] : ['open', p, flags, mode]) as number
}
export function* close(fd: number): Steps<void> {
  yield ['close', fd]
}
export function* fstat(fd: number): Steps<fs.Stats> {
  return (yield ['fstat', fd]) as fs.Stats
}
export function* lstat(p: Bytes): Steps<fs.Stats> {
  return (yield ['lstat', p]) as fs.Stats
}
export function* stat(p: Bytes): Steps<fs.Stats> {
  return (yield ['stat', p]) as fs.Stats
}
/** lstat, or undefined when nothing is at the name. */
export function* lstatMaybe(p: Bytes): Steps<fs.Stats | undefined> {
  try {
    return yield* lstat(p)
  } catch (err) {
    if (codeOf(err) === 'ENOENT' || codeOf(err) === 'ENOTDIR') return undefined
    throw err
  }
}
export function* read(fd: number, buf: Buffer, off: number, len: number, pos: number): Steps<number> {
  return (yield ['read', fd, buf, off, len, pos]) as number
}
export function* write(fd: number, buf: Buffer, off: number, len: number, pos: number): Steps<number> {
  return (yield ['write', fd, buf, off, len, pos]) as number
}
export function* call(name: string, ...args: unknown[]): Steps<unknown> {
  return yield [name, ...args]
}
export function* sleep(ms: number): Steps<void> {
  yield ['sleep', ms]
}
/**
 * Whether waiting for other work of this process can end: true on the
 * event loop (runAsync); false on the calling thread (runSync), where the
 * work waited for could never run.
 */
export function* canWait(): Steps<boolean> {
  return (yield ['canWait']) as boolean
}

export function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code
}

/** A close that never replaces the error being reported. */
export function* closeQuietly(fd: number): Steps<void> {
  try {
    yield* close(fd)
  } catch {
    // The descriptor is gone either way.
  }
}
