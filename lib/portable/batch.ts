// What the portable copyFiles, copyDir and importFiles share: the result
// being built, the control words the facade polls (cancel, bytes, files), and
// a bounded number of files in flight on the libuv pool.
import { isExactUtf8, systemError, type SystemError } from '../errors'
import type { BatchResult } from '../batch'
import type { ParsedBatch } from '../batch-options'
import type { AbortSignalInstance } from '../global-types'
import { splitPath as splitDir } from './file'
import { place, rungsOf, type PlaceOptions, type Placed } from './place'
import { runAsync, type Bytes, type Steps } from './ops'
import type * as fs from 'node:fs'

/** Files in flight when the caller did not say: enough to keep libuv's 4 threads busy. */
const DEFAULT_IN_FLIGHT = 16

export type Row = BatchResult['errors'][number]

export class Batch {
  readonly result: BatchResult & { existing?: number }
  /** Stops the work: the control's cancel word (an abort, a throwing onProgress). */
  readonly stop: AbortSignalInstance
  private stopped = false
  /** The walk stops without cancelling: errorOnExist met an existing name. */
  halted = false

  constructor(readonly p: ParsedBatch, private readonly control: BigInt64Array | undefined, readonly syscall: string) {
    this.result = {
      files: 0, bytes: 0, dirs: 0, symlinks: 0, threads: 0,
      methods: { clone: 0, hardlink: 0, copy_file_range: 0, sendfile: 0, readwrite: 0, none: 0, fs: 0 },
      overlayLinks: 0, errors: [], skipped: [],
    }
    if (p.listFiles) this.result.copied = []
    const batch = this
    // Looked at by every step between file-system calls, as a signal is.
    this.stop = {
      get aborted() {
        return batch.cancelled()
      },
      reason: undefined,
    } as unknown as AbortSignalInstance
  }

  /** Stops everything; finish() then says ECANCELED (a throwing filter). */
  cancel(): void {
    this.stopped = true
  }

  cancelled(): boolean {
    return this.stopped || (this.control !== undefined && this.control[0] !== 0n) || Boolean(this.p.signal?.aborted)
  }

  /** No more new work: stopOnError after a failure, or cancelled. */
  done(): boolean {
    return this.halted || this.cancelled() || (this.p.stopOnError && this.result.errors.length > 0)
  }

  /** A path for the result: Buffers when the caller gave Buffers, or when a name is not UTF-8. */
  out(x: Bytes): string {
    if (this.p.buffers) return (Buffer.isBuffer(x) ? x : Buffer.from(x)) as unknown as string
    return (Buffer.isBuffer(x) && isExactUtf8(x) ? x.toString('utf8') : x) as string
  }

  placed(src: Bytes, dest: Bytes, r: Placed): void {
    if (r.existing) {
      this.result.existing = (this.result.existing ?? 0) + 1
      return
    }
    this.result.files++
    this.result.bytes += r.bytes
    this.result.methods[r.method]++
    if (r.onOverlay) this.result.overlayLinks++
    if (this.p.listFiles) this.result.copied!.push({ src: this.out(src), dest: this.out(dest), method: r.method, bytes: r.bytes })
    this.progressed()
  }

  /** The control words (onProgress reads them) follow the result. */
  progressed(): void {
    if (this.control) {
      this.control[1] = BigInt(this.result.bytes)
      this.control[2] = BigInt(this.result.files)
    }
  }

  failed(src: Bytes, dest: Bytes, error: unknown): void {
    if (this.cancelled() && (error as Error)?.name === 'AbortError') return
    this.result.errors.push({ src: this.out(src), dest: this.out(dest), error: error as SystemError })
  }

  skipped(path: Bytes, type: string): void {
    this.result.skipped.push({ path: this.out(path), type })
  }

  /** The ladder options for one file of this batch. */
  placeOptions(taken: PlaceOptions['taken'], extra: Partial<PlaceOptions> = {}): PlaceOptions {
    return {
      p: { reflink: this.p.reflink, sparse: this.p.sparse, preserve: this.p.preserve, signal: this.stop },
      rungs: rungsOf(this.p.link, this.p.reflink),
      noFollowSource: false,
      taken,
      atomic: false,
      syscall: 'copyfile',
      ...extra,
    }
  }

  /** Places one file, recording the outcome (never throws). */
  async file(src: Bytes, dest: Bytes, destDir: fs.Stats | undefined, o: PlaceOptions): Promise<Placed | undefined> {
    try {
      const r = await runAsync(place(src, dest, destDir, o))
      this.placed(src, dest, r)
      return r
    } catch (err) {
      this.failed(src, dest, err)
      return undefined
    }
  }

  /** The end: ECANCELED when stopped (the facade makes it an AbortError or the callback's error). */
  finish(): BatchResult {
    if (this.cancelled()) {
      // What was done before the stop goes with the error (the facade hands it on).
      throw Object.assign(systemError('ECANCELED', this.syscall, undefined, undefined, 'cancelled'), { result: this.result })
    }
    return this.result
  }

  /** How many files may be in flight at once. */
  inFlight(): number {
    return this.p.concurrency || DEFAULT_IN_FLIGHT
  }
}

/** Runs `work(i)` for i in [0, n), at most `limit` at once, until `stop()` says so. */
export async function pool(n: number, limit: number, stop: () => boolean, work: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0
  const worker = async () => {
    while (next < n && !stop()) await work(next++)
  }
  const workers = Math.max(1, Math.min(limit, n))
  await Promise.all(Array.from({ length: workers }, worker))
  return workers
}

/** At most `n` of some work at once; `use` waits for a turn, runs, and gives the turn on. */
export class Limit {
  private waiting: (() => void)[] = []

  constructor(private free: number) {}

  async use<T>(work: () => Promise<T>): Promise<T> {
    if (this.free === 0) await new Promise<void>((resolve) => this.waiting.push(resolve))
    else this.free--
    try {
      return await work()
    } finally {
      const next = this.waiting.shift()
      if (next) next()
      else this.free++
    }
  }
}

/** A limiter for work that arrives while a walk goes on: `run` waits for a free slot. */
export class Slots {
  private free: number
  private waiting: (() => void)[] = []
  private pending = new Set<Promise<unknown>>()

  constructor(limit: number) {
    this.free = limit
  }

  /** Starts `work` once a slot is free (awaiting this waits for that, not for the work). */
  async run(work: () => Promise<unknown>): Promise<void> {
    if (this.free === 0) await new Promise<void>((resolve) => this.waiting.push(resolve))
    this.free--
    const task: Promise<unknown> = work().finally(() => {
      this.pending.delete(task)
      this.free++
      this.waiting.shift()?.()
    })
    this.pending.add(task)
  }

  /** Waits for everything started so far. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending)
  }
}

export async function portableCopyFiles(srcs: Bytes[], dests: Bytes[], p: ParsedBatch, control: BigInt64Array | undefined): Promise<BatchResult> {
  const batch = new Batch(p, control, 'copyfiles')
  const dirs = new Map<string, Promise<fs.Stats | undefined>>()
  const o = batch.placeOptions('replace', { taken: p.overwrite ? 'replace' : 'fail' })
  batch.result.threads = batch.inFlight()
  await pool(srcs.length, batch.inFlight(), () => batch.done(), async (i) => {
    const dir = dirStat(dirs, dests[i])
    await batch.file(srcs[i], dests[i], await dir, o)
  })
  return batch.finish()
}

// The destination's directory, stat'ed once per batch: its device keys the
// ladder's memory, its owner and mode say whether others can write there.
function dirStat(cache: Map<string, Promise<fs.Stats | undefined>>, dest: Bytes): Promise<fs.Stats | undefined> {
  const [dir] = splitDir(dest)
  const key = typeof dir === 'string' ? dir : dir.toString('latin1')
  let hit = cache.get(key)
  if (!hit) {
    hit = runAsync(statSteps(dir))
    cache.set(key, hit)
  }
  return hit
}

function* statSteps(dir: Bytes): Steps<fs.Stats | undefined> {
  try {
    return (yield ['stat', dir]) as fs.Stats
  } catch {
    return undefined
  }
}
