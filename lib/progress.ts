// A promise copy with onProgress and/or an AbortSignal: the worker thread
// publishes [cancel, done, total] in a shared BigInt64Array; the main thread
// polls it every 100 ms for onProgress and raises the cancel flag on abort.
import { AbortError } from './errors'
import type { NativeBinding } from './native'
import { toFlags, type ParsedCopy } from './validate'
import type { CopyResult } from './copy-file'

const POLL_MS = 100

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
  const timer = p.onProgress ? setInterval(poll, POLL_MS) : undefined
  timer?.unref()
  p.signal?.addEventListener('abort', cancel, { once: true })
  const cleanup = () => {
    if (timer) clearInterval(timer)
    p.signal?.removeEventListener('abort', cancel)
  }

  return binding.copyFile(src, dest, toFlags(p), control).then(
    (r) => {
      cleanup()
      // The last call always says bytesCopied === totalBytes (a clone: the only call).
      if (p.onProgress && !(lastDone === r.bytes && lastTotal === r.bytes)) {
        lastDone = r.bytes
        lastTotal = r.bytes
        p.onProgress({ bytesCopied: r.bytes, totalBytes: r.bytes })
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
