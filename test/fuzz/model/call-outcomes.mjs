// How the runners make a call and read its outcome: settle (a result or an
// error), withAbort (an AbortSignal fired at a chosen moment), the error shapes
// (nodeStyle, isAbort), item 1's cut paths, copyFile's options in one form.
import { isUtf8 } from './arbitraries.mjs'

function nodeStyle(err) {
  return err && typeof err.code === 'string' && typeof err.errno === 'number' && err.errno < 0 &&
    typeof err.syscall === 'string' && err.message.startsWith(`${err.code}:`)
}

function isAbort(err) {
  return err?.name === 'AbortError' && err.code === 'ABORT_ERR'
}

async function withAbort(kind, start) {
  if (kind === null) return start(undefined)
  const ac = new AbortController()
  if (kind === 'before') ac.abort()
  const p = start(ac.signal)
  if (kind === 'now') ac.abort()
  else if (kind === 'tick') queueMicrotask(() => ac.abort())
  else if (typeof kind === 'number') setTimeout(() => ac.abort(), kind)
  try {
    return await p
  } finally {
    ac.abort()
  }
}

async function settle(fn) {
  try {
    return { ok: true, value: await fn() }
  } catch (err) {
    return { ok: false, err }
  }
}

/**
 * True when `p`, passed as a string, is one item 1 cuts: napi_get_value_string_utf8
 * into the 1024-byte stack buffer stops before a character that does not fit,
 * so a path longer than 1023 bytes with a character across byte 1023 came back
 * shorter than 1023 bytes and was taken as complete.
 */
function cutByItem1(p, str) {
  return str && isUtf8(p) && p.length > 1023 && (p[1023] & 0xc0) === 0x80
}

function normOpts(opts) {
  if (typeof opts === 'number') {
    return {
      reflink: opts & 4 ? 'always' : 'auto',
      overwrite: !(opts & 1),
      atomic: false,
      preserve: false,
    }
  }
  return { reflink: opts.reflink ?? 'auto', overwrite: opts.overwrite ?? true, atomic: !!opts.atomic, preserve: opts.preserve ?? false }
}

export { nodeStyle, isAbort, withAbort, settle, cutByItem1, normOpts }
