// A promise copy with onProgress and/or an AbortSignal: the worker thread
// publishes [cancel, done, total] in a shared BigInt64Array; the main thread
// polls it every 100 ms for onProgress and raises the cancel flag on abort.
import { AbortError } from './errors'
import type { NativeBinding } from './native'
import { toFlags, type ParsedCopy } from './validate'
import type { CopyResult } from './copy-file'

const POLL_MS = 100

// One 'abort' listener per signal however many calls share it: a listener
// per call passes EventTarget's limit of 10 (MaxListenersExceededWarning)
// when many copies run at once under one signal. Removed with the last call.
const aborters = new WeakMap<AbortSignal, { run: Set<() => void>; listener: () => void }>()

/** Runs `fn` when `signal` aborts; returns the function that unsubscribes it (call it when the call settles). */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return () => {}
  let entry = aborters.get(signal)
  if (!entry) {
    const run = new Set<() => void>()
    const listener = () => {
      aborters.delete(signal)
      for (const f of run) f()
    }
    entry = { run, listener }
    aborters.set(signal, entry)
    signal.addEventListener('abort', listener, { once: true })
  }
  const e = entry
  const token = () => fn()
  e.run.add(token)
  return () => {
    if (!e.run.delete(token) || e.run.size > 0 || aborters.get(signal) !== e) return
    aborters.delete(signal)
    signal.removeEventListener('abort', e.listener)
  }
}

/**
 * An error thrown by onProgress once the copy is complete and kept: the
 * promise cannot say "failed" for a file that is in place, and the error must
 * not vanish. It is thrown again outside the promise, as Node does with an
 * error thrown from a callback or an event listener ('uncaughtException').
 */
export function rethrowLater(err: unknown): void {
  process.nextTick(() => {
    throw err
  })
}

export function watchCopy(
  binding: NativeBinding,
  src: string | Buffer,
  dest: string | Buffer,
  p: ParsedCopy,
): Promise<CopyResult> {
  const control = new BigInt64Array(3)
  const cancel = () => Atomics.store(control, 0, 1n)
  let lastDone = -1
  let lastTotal = -1
  let callbackFailed = false
  let callbackError: unknown

  // Monotonic: a value is reported only when it moved forward.
  const report = (done: number, total: number) => {
    if (!p.onProgress || done <= lastDone) return
    lastDone = done
    lastTotal = Math.max(total, done) // /proc files: size 0, content after all
    p.onProgress({ bytesCopied: done, totalBytes: lastTotal })
  }
  const poll = () => {
    try {
      report(Number(control[1]), Number(control[2]))
    } catch (err) {
      // A throwing callback stops the copy; the promise rejects with its error.
      if (!callbackFailed) {
        callbackFailed = true
        callbackError = err
        cancel()
      }
    }
  }
  // The signal first (its addEventListener may throw), then the copy (its
  // arguments may be refused), and only then a timer: nothing runs on for a
  // call that never started.
  const unsubscribe = onAbort(p.signal, cancel)
  let started: Promise<CopyResult>
  try {
    started = binding.copyFile(src, dest, toFlags(p), control)
  } catch (err) {
    unsubscribe()
    throw err
  }
  const timer = p.onProgress ? setInterval(poll, POLL_MS) : undefined
  timer?.unref()
  const cleanup = () => {
    if (timer) clearInterval(timer)
    unsubscribe()
  }

  return started.then(
    (r) => {
      cleanup()
      // The copy is complete and kept: the promise resolves. A callback that
      // threw after the copy's last look at the cancel flag, or throws now on
      // its final call, cannot undo it; its error is thrown again outside.
      if (callbackFailed) {
        rethrowLater(callbackError)
        return r
      }
      // The last call always says bytesCopied === totalBytes (a clone: the only call).
      if (p.onProgress && !(lastDone === r.bytes && lastTotal === r.bytes)) {
        lastDone = r.bytes
        lastTotal = r.bytes
        try {
          p.onProgress({ bytesCopied: r.bytes, totalBytes: r.bytes })
        } catch (err) {
          rethrowLater(err)
        }
      }
      return r
    },
    (err: NodeJS.ErrnoException) => {
      cleanup()
      if (callbackFailed) throw callbackError
      if (err.code === 'ECANCELED' && p.signal?.aborted) {
        throw new AbortError(undefined, { cause: p.signal.reason })
      }
      throw err
    },
  )
}
