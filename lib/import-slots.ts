// How many importFiles calls run natively at once. A package manager calls
// importFiles once per package, hundreds at a time; each small one runs on
// a libuv worker thread (4 by default), and four imports creating files at
// once on a 2-core machine were slower than two: a real store's 596
// packages took 1307 ms with 4 in flight and 1051 with 2 on btrfs, 766 and
// 675 on XFS (median of 5, bench/store.js's job). The rest wait here, in
// the order they were called; an abort while waiting rejects at once.
import * as os from 'node:os'
import { AbortError } from './errors'
import { onAbort } from './progress'

const SLOTS = Math.max(2, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length)
let running = 0
const waiting: (() => void)[] = []

/** Resolves when this call may run (call release() once after it has). */
export function acquire(signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(new AbortError(undefined, { cause: signal.reason }))
  if (running < SLOTS) {
    running++
    return Promise.resolve()
  }
  return new Promise((resolve, reject) => {
    const go = (): void => {
      unsubscribe()
      running++
      resolve()
    }
    const unsubscribe = onAbort(signal, () => {
      const i = waiting.indexOf(go)
      if (i !== -1) waiting.splice(i, 1)
      reject(new AbortError(undefined, { cause: signal!.reason }))
    })
    waiting.push(go)
  })
}

export function release(): void {
  running--
  const next = waiting.shift()
  if (next) next()
}

/** For tests: calls running and waiting now. */
export function slotState(): { slots: number, running: number, waiting: number } {
  return { slots: SLOTS, running, waiting: waiting.length }
}
