// The runners of the single-file operations: copyFile / reflink (sync, async,
// aborted), prep (a destination name made a file, directory or symlink),
// cloneRange / copyRange, dedupeRange. Each predicts the outcome, updates the
// model and verifies the world.
import * as fs from 'node:fs'
import {
  copyFile, copyFileSync, reflink, reflinkSync, cloneRange, cloneRangeSync, copyRange, copyRangeSync,
  dedupeRange,
} from 'cowcopy'
import { writeContent } from './arbitraries.mjs'
import { nodeStyle, isAbort, withAbort, settle, cutByItem1, normOpts } from './call-outcomes.mjs'

async function runCopyFile(w, op) {
  const s = w.srcFile(op.src)
  const d = w.dests[op.dest % w.dests.length]
  const o = op.op === 'reflink' ? { reflink: 'always', overwrite: true, atomic: op.atomic, preserve: false } : normOpts(op.opts)
  const src = w.arg(s.path, op.str)
  const dest = w.arg(d.path, op.str)
  const edge = cutByItem1(s.path, op.str) || cutByItem1(d.path, op.str)
  const abort = op.op === 'copyFile' && !op.sync ? op.abort : null
  let res
  if (op.op === 'reflink') {
    const opts = op.atomic ? { atomic: true } : {}
    res = await settle(async () => (op.sync ? reflinkSync(src, dest, opts) : reflink(src, dest, opts)))
  } else if (op.sync) {
    res = await settle(async () => copyFileSync(src, dest, op.opts))
  } else {
    const opts = typeof op.opts === 'number' ? op.opts : { ...op.opts }
    res = await settle(() => withAbort(abort, (signal) => copyFile(src, dest, typeof opts === 'number' ? (signal ? { ...normOpts(opts), signal } : opts) : { ...opts, signal })))
  }
  if (!res.ok && !nodeStyle(res.err) && !isAbort(res.err)) w.fail(op, `not a Node-style error: ${res.err?.stack ?? res.err}`)

  // What should happen.
  const at = w.locate(d.path)
  const target = o.atomic ? { ...at, path: d.path } : w.resolve(d.path)
  const before = at.node
  const sameFile = s.dst && (s.path.equals(d.path) || (target.node && target.node === w.resolve(s.path).node))
  let want // 'new' | {code} | 'none'
  if (!s.exists) want = { code: s.node?.t === 'd' ? 'EISDIR' : 'ENOENT', loose: true }
  else if (sameFile) want = !o.overwrite ? { code: 'EEXIST', orNone: o.atomic } : 'none'
  else if (before?.t === 'd') want = { code: 'EISDIR', loose: true }
  else if (before && !o.overwrite) want = { code: 'EEXIST' }
  else if (!o.atomic && target.loop) want = { code: 'ELOOP', alt: ['EEXIST'] }
  else if (!o.atomic && before?.t === 'l' && target.outside && before.target[0] !== 0x2f) want = { code: 'EEXIST' } // dangling (relative targets never exist here)
  else if (!o.atomic && before?.t === 'l' && !target.node) want = { code: 'EEXIST', alt: ['ENAMETOOLONG'] }
  else if (!o.atomic && target.node?.t === 'd') want = { code: 'EISDIR', loose: true }
  else if (o.reflink === 'always' && !w.info.clone) want = { code: 'ENOTSUP', alt: ['EXDEV', 'EOPNOTSUPP', 'EINVAL'] }
  else want = 'new'
  const nameLen = d.rel.name.length
  if (nameLen > 255 && s.exists) want = { code: 'ENAMETOOLONG' }

  const tag = edge ? 1 : o.atomic && before?.t === 'l' ? 12 : null
  if (!res.ok && isAbort(res.err)) {
    if (abort === null) w.fail(op, 'AbortError without a signal')
    if (want === 'new') {
      // Created: must be gone. Existing without atomic: anything (README: truncated and partly written).
      if (!before) return w.verify(op, () => tag)
      if (!o.atomic && abort !== 'before') return w.resync()
      return w.verify(op, () => tag)
    }
    return w.verify(op, () => tag)
  }
  if (want === 'new') {
    if (!res.ok) {
      if (o.atomic && nameLen >= 234 && res.err.code === 'ENAMETOOLONG') w.fail(op, `atomic copy to a ${nameLen}-byte name failed: ${res.err.message}`, 12)
      w.fail(op, `expected success, got ${res.err.message}`, tag)
    }
    if (op.op === 'copyFile' && res.value.bytes !== s.data.length) w.fail(op, `bytes ${res.value.bytes}, source has ${s.data.length}`, tag)
    if (o.reflink === 'always' && op.op === 'copyFile' && res.value.method !== 'clone') w.fail(op, `reflink 'always' gave method ${res.value.method}`)
    if (o.reflink === 'never' && ['clone', 'copy_file_range'].includes(res.value.method)) w.fail(op, `reflink 'never' gave method ${res.value.method}`)
    const node = { t: 'f', data: Buffer.from(s.data), mode: s.mode }
    if (o.atomic || !target.node) {
      if (!at.parent) w.fail(op, 'model: no parent')
      at.parent.kids.set(at.key, node)
    } else {
      target.parent.kids.set(target.key, node)
    }
  } else if (want === 'none') {
    if (!res.ok) w.fail(op, `same file: expected method 'none', got ${res.err.message}`, o.atomic ? 12 : null)
    if (op.op === 'copyFile' && res.value.method !== 'none') w.fail(op, `same file: method ${res.value.method}`, tag)
  } else {
    if (res.ok) {
      if (want.orNone && (op.op !== 'copyFile' || res.value.method === 'none')) {
        w.fail(op, `atomic + overwrite:false onto the same file answered 'none', expected EEXIST`, 12)
      }
      w.fail(op, `expected ${want.code}, the copy succeeded (${JSON.stringify(res.value)})`, tag)
    }
    const codes = [want.code, ...(want.alt ?? [])]
    if (!want.loose && !codes.includes(res.err.code)) w.fail(op, `expected ${codes.join('/')}, got ${res.err.message}`, tag)
  }
  w.verify(op, () => tag)
}

function applyPrep(w, op) {
  const d = w.dests[op.dest % w.dests.length]
  if (d.rel.name.length > 255) return
  fs.rmSync(d.path, { recursive: true, force: true })
  const k = op.kind.k
  if (k === 'file') writeContent(d.path, op.kind.c)
  else if (k === 'dir') fs.mkdirSync(d.path, { mode: 0o750 }), fs.chmodSync(d.path, 0o750)
  else if (k === 'dangling') fs.symlinkSync('no-such-file', d.path)
  else if (k === 'link') {
    const to = w.dests[op.kind.to % w.dests.length]
    try {
      if (!to.path.equals(d.path)) fs.symlinkSync(to.path, d.path)
    } catch (err) {
      if (err.code !== 'ENAMETOOLONG') throw err // XFS: link targets up to 1024 bytes
    }
  }
  w.resync()
}

async function runRange(w, op) {
  const s = w.srcFile(op.src)
  const d = w.dests[op.dest % w.dests.length]
  const bs = w.info.blockSize
  const so = op.so * bs + op.soD
  const dOff = op.do * bs + op.doD
  const length = Math.max(0, op.len * bs + op.lenD)
  if (!s.exists || d.rel.name.length > 255) return
  const at = w.locate(d.path)
  const target = w.resolve(d.path)
  if (at.node && at.node.t !== 'f' && !(at.node.t === 'l' && target.node?.t === 'f')) return
  if (target.node && target.node === w.resolve(s.path).node) return // one file: overlap rules, not modelled
  if (s.path.equals(d.path)) return
  const edge = cutByItem1(s.path, op.str) || cutByItem1(d.path, op.str)
  const src = w.arg(s.path, op.str)
  const dest = w.arg(d.path, op.str)
  const range = { srcOffset: so, destOffset: dOff, length }
  const clone = op.op === 'cloneRange'
  const res = await settle(async () =>
    clone ? (op.sync ? cloneRangeSync(src, dest, range) : cloneRange(src, dest, range)) : op.sync ? copyRangeSync(src, dest, range) : copyRange(src, dest, range),
  )
  if (!res.ok && !nodeStyle(res.err)) w.fail(op, `not a Node-style error: ${res.err?.stack ?? res.err}`)
  const size = s.data.length
  const len = length === 0 ? Math.max(0, size - so) : length
  const old = target.node ? target.node.data : Buffer.alloc(0)
  const write = (n) => {
    const out = Buffer.alloc(Math.max(old.length, n > 0 ? dOff + n : old.length))
    old.copy(out)
    s.data.copy(out, dOff, so, so + n)
    return out
  }
  const tag = edge ? 1 : null
  // The accepted outcomes: each { err?: codes, data?: Buffer } (data undefined: unchanged).
  let outcomes
  if (clone) {
    if (!w.info.clone) outcomes = [{ err: ['ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EINVAL'] }]
    // Nothing to clone (to the end, from the end): the kernel returns before
    // any alignment check (generic_remap_checks), so success is allowed too.
    else if (length === 0 && len === 0) outcomes = [{ err: ['EINVAL'] }, { data: old, empty: true }]
    else if (so % bs || dOff % bs) outcomes = [{ err: ['EINVAL'] }]
    else if (length !== 0 && so + length > size) outcomes = [{ err: ['EINVAL'] }]
    else if (len === 0) outcomes = [{ err: ['EINVAL'] }, { data: old, empty: true }]
    else if (len % bs && so + len !== size) outcomes = [{ err: ['EINVAL'] }]
    else if (len % bs && dOff + len < old.length) outcomes = [{ err: ['EINVAL'] }, { data: write(len) }]
    else outcomes = [{ data: write(len) }]
  } else {
    const n = Math.max(0, Math.min(len, size - so))
    outcomes = [{ data: n > 0 ? write(n) : old, n }]
  }
  const match = outcomes.find((o) => (res.ok ? !o.err : o.err?.includes(res.err.code)))
  if (!match) {
    w.fail(op, `${res.ok ? 'succeeded' : res.err.message}; expected ${outcomes.map((o) => (o.err ? o.err.join('/') : 'success')).join(' or ')} (size ${size}, srcOffset ${so}, destOffset ${dOff}, length ${length}, dest size ${old.length})`, tag)
  }
  if (res.ok && !clone && res.value !== match.n) w.fail(op, `copyRange returned ${res.value}, expected ${match.n}`, tag)
  if (res.ok) {
    const mode = 0o666 & ~w.umask
    if (target.node) target.parent.kids.set(target.key, { ...target.node, data: match.data })
    else at.parent.kids.set(at.key, { t: 'f', data: match.data, mode })
  } else if (!at.node) {
    // Failed: a destination the call created must not stay (item 15).
    if (fs.existsSync(d.path)) w.fail(op, `failed (${res.err.code}) and left the destination it created`, 15)
  }
  w.verify(op, () => tag)
}

async function runDedupe(w, op) {
  const s = w.srcFile(op.src)
  if (!s.exists) return
  const bs = w.info.blockSize
  const off = op.off * bs
  const length = op.len * bs
  const targets = []
  for (const t of op.targets) {
    const d = w.dests[t.dest % w.dests.length]
    const r = w.resolve(d.path)
    if (r.node?.t !== 'f' || d.path.equals(s.path) || targets.some((x) => x.node === r.node)) continue
    targets.push({ path: d.path, offset: t.off * bs, node: r.node })
  }
  if (targets.length === 0) return
  const res = await settle(() => dedupeRange(s.path, { offset: off, length }, targets.map(({ path: p, offset }) => ({ path: p, offset }))))
  if (!res.ok) {
    if (!nodeStyle(res.err)) w.fail(op, `not a Node-style error: ${res.err?.stack ?? res.err}`)
  } else {
    const len = length === 0 ? Math.max(0, s.data.length - off) : length
    res.value.forEach((r, i) => {
      const t = targets[i]
      const a = s.data.subarray(off, off + len)
      const b = t.node.data.subarray(t.offset, t.offset + len)
      if (r.status === 'same' && !a.subarray(0, Number(r.bytesDeduped)).equals(b.subarray(0, Number(r.bytesDeduped)))) {
        w.fail(op, `target ${i}: 'same' for ${r.bytesDeduped} bytes that differ (source ${s.data.length} bytes, offset ${off}, target ${t.node.data.length} bytes at ${t.offset})`, 'dedupe-tail')
      }
      if (r.status === 'error' && !nodeStyle(r.error)) w.fail(op, `target ${i}: not a Node-style error: ${r.error}`)
      const full = a.length === len && b.length === len && a.equals(b) && len > 0
      if (w.info.dedupe && full && (len % bs === 0) && r.status !== 'same') {
        w.fail(op, `target ${i}: identical aligned ${len} bytes answered ${r.status} ${r.error?.message ?? ''}`)
      }
    })
  }
  w.verify(op) // nothing changes
}

export { runCopyFile, applyPrep, runRange, runDedupe }
