// The runners of the many-file operations: copyDir (a random tree merged into
// a destination, modelled by mergeTree) and copyFiles (a batch of pairs),
// aborted or not; an aborted call leaves every path old or new.
import * as path from 'node:path'
import { copyFiles, copyDir } from 'cowcopy'
import { isUtf8, show, showPath, join, bytesOf, LINK_TARGETS, treeName, writeTree } from './arbitraries.mjs'
import { readNode, clone } from './world.mjs'
import { nodeStyle, isAbort, withAbort, settle, cutByItem1 } from './call-outcomes.mjs'

/** The model of copyDir merging `spec` into `destNode` (null: created). Returns the expected error count. */
function mergeTree(spec, parent, key, opts, outside, known) {
  let errors = 0
  let dst = parent.kids.get(key)
  if (!dst) {
    dst = { t: 'd', mode: spec.mode, kids: new Map() }
    parent.kids.set(key, dst)
  } else if (dst.t !== 'd') {
    return 1
  }
  for (const { n, node } of spec.kids) {
    const k = treeName(n).toString('hex')
    const there = dst.kids.get(k)
    if (node.t === 'd') {
      errors += mergeTree(node, dst, k, opts, outside, known)
    } else if (node.t === 'f') {
      const f = { t: 'f', data: bytesOf(node.c), mode: node.c.mode }
      if (!there) dst.kids.set(k, f)
      else if (there.t === 'd' || !opts.overwrite) errors++
      else if (there.t === 'l') known.leafLinks.push({ dir: dst, key: k, f }), dst.kids.set(k, f)
      else dst.kids.set(k, f)
    } else {
      const l = { t: 'l', target: Buffer.from(LINK_TARGETS[node.to]) }
      if (!there) dst.kids.set(k, l)
      else if (there.t === 'd' || !opts.overwrite) errors++
      else dst.kids.set(k, l)
    }
  }
  return errors
}

async function runCopyDir(w, op) {
  const d = w.dests[op.dest % w.dests.length]
  if (d.rel.name.length > 255) return
  const srcRoot = join(Buffer.from(path.join(w.root, 'src', 'trees')), Buffer.concat([Buffer.from(`t${w.treeCount++}-`), d.rel.name.subarray(0, 40)]))
  writeTree(srcRoot, op.tree)
  w.snapshot()
  const at = w.locate(d.path)
  const target = w.resolve(d.path)
  const before = target.node ?? at.node
  const abort = op.abort
  const opts = { ...op.opts }
  const res = await settle(() => withAbort(abort, (signal) => copyDir(w.arg(srcRoot, op.str), w.arg(d.path, op.str), signal ? { ...opts, signal } : opts)))
  const nonUtf8 = !isUtf8(srcRoot) || !isUtf8(d.path)
  const tag = cutByItem1(d.path, op.str) || cutByItem1(srcRoot, op.str) ? 1 : null
  if (!res.ok && !nodeStyle(res.err) && !isAbort(res.err)) w.fail(op, `not a Node-style error: ${res.err?.stack ?? res.err}`)
  if (!res.ok && !isAbort(res.err) && nonUtf8 && (!before || before.t === 'd')) w.fail(op, `non-UTF-8 path: ${res.err.message}`, 14)
  if (before && before.t !== 'd') {
    if (res.ok) w.fail(op, 'copyDir onto a non-directory succeeded', tag)
    return w.verify(op, () => tag)
  }
  const oldModel = clone(w.model)
  const known = { leafLinks: [] }
  const parent = target.node ? target.parent : at.parent
  const key = target.node ? target.key : at.key
  const errors = mergeTree(op.tree, parent, key, op.opts.overwrite === false ? { overwrite: false } : { overwrite: true }, null, known)
  if (!res.ok) {
    if (!isAbort(res.err)) w.fail(op, `copyDir failed: ${res.err.message}`, tag)
    // Aborted: every path holds its old or its new state (dirs may stay 0700 or take the new mode).
    const got = readNode(Buffer.from(path.join(w.root, 'dst')))
    const bad = []
    const check = (oldN, newN, gotN, rel) => {
      if (!gotN) {
        if (oldN) bad.push(`${rel}: removed`)
        return
      }
      const eq = (m) => m && m.t === gotN.t && (m.t === 'd' || (m.t === 'f' ? m.data.equals(gotN.data) && m.mode === gotN.mode : m.target.equals(gotN.target)))
      if (!eq(oldN) && !eq(newN)) bad.push(`${rel}: neither old nor new (${gotN.t}${gotN.t === 'f' ? `, ${gotN.data.length} bytes` : ''})${oldN?.t === 'f' ? ' [existing file]' : ''}`)
      if (gotN.t === 'd') {
        for (const [k, v] of gotN.kids) check(oldN?.t === 'd' ? oldN.kids.get(k) : undefined, newN?.t === 'd' ? newN.kids.get(k) : undefined, v, `${rel}/${show(Buffer.from(k, 'hex'))}`)
      }
    }
    check(oldModel, w.model, got, '')
    w.model = got
    if (bad.length && tag) w.fail(op, `aborted copyDir: ${bad.join('; ')}`, tag)
    const existing = bad.filter((b) => b.endsWith('[existing file]'))
    if (bad.length && existing.length === bad.length) w.fail(op, `aborted copyDir: ${bad.join('; ')}`, 3)
    if (bad.length) w.fail(op, `aborted copyDir: ${bad.join('; ')}`)
    return
  }
  const r = res.value
  if (!Array.isArray(r.errors)) w.fail(op, 'no errors array')
  for (const e of r.errors) if (!nodeStyle(e.error)) w.fail(op, `error entry not Node-style: ${e.error}`)
  if ((r.errors.length > 0) !== (errors > 0)) {
    w.fail(op, `expected ${errors} conflicts, errors: ${r.errors.map((e) => e.error.message).join('; ') || 'none'}`, tag ?? (known.leafLinks.length ? 8 : null))
  }
  // Pre-existing directories keep their mode (item 10): mergeTree leaves it.
  w.verify(op, (diff) => {
    let old = oldModel
    for (const part of diff.rel) old = old?.kids?.get(part.toString('hex'))
    if (diff.mode && !diff.data && old?.t === 'd') return 10 // an existing directory chmod-ed
    if (known.leafLinks.length) return 8
    return tag
  })
}

async function runCopyFiles(w, op) {
  const pairs = []
  const seen = new Set()
  for (const [si, di] of op.pairs) {
    const s = w.sources[si % w.sources.length]
    const d = w.dests[di % w.dests.length]
    const r = w.resolve(d.path)
    const id = r.node ?? (r.path ?? d.path).toString('hex')
    if (seen.has(id) || seen.has(d.path.toString('hex')) || d.rel.name.length > 255) continue
    seen.add(id)
    seen.add(d.path.toString('hex'))
    if (r.outside && w.locate(d.path).node?.t === 'l' && r.path[0] === 0x2f) continue
    pairs.push({ s, d, data: bytesOf(s.spec.c), mode: s.spec.c.mode })
  }
  if (pairs.length === 0) return
  const o = { reflink: op.opts.reflink ?? 'auto', overwrite: op.opts.overwrite ?? true }
  const abort = op.abort
  const res = await settle(() =>
    withAbort(abort, (signal) => copyFiles(pairs.map((p) => [w.arg(p.s.path, op.str), w.arg(p.d.path, op.str)]), signal ? { ...op.opts, signal } : { ...op.opts })),
  )
  const nonUtf8 = pairs.some((p) => !isUtf8(p.s.path) || !isUtf8(p.d.path))
  const edge = pairs.some((p) => cutByItem1(p.s.path, op.str) || cutByItem1(p.d.path, op.str))
  const tag = edge ? 1 : null
  if (!res.ok && !nodeStyle(res.err) && !isAbort(res.err)) w.fail(op, `not a Node-style error: ${res.err?.stack ?? res.err}`)
  if (!res.ok && !isAbort(res.err)) w.fail(op, `copyFiles rejected: ${res.err.message}`, nonUtf8 ? 14 : tag)
  const oldModel = clone(w.model)
  let expectErr = 0
  for (const p of pairs) {
    const at = w.locate(p.d.path)
    const t = w.resolve(p.d.path)
    const f = { t: 'f', data: Buffer.from(p.data), mode: p.mode }
    // Batches never open an existing destination: a file or symlink at the
    // name is replaced through a temporary file and renameat (README), so a
    // symlink, dangling or not, gives way to the file and its target is
    // never touched.
    if (at.node?.t === 'd') expectErr++
    else if (at.node && !o.overwrite) expectErr++
    else if (o.reflink === 'always' && !w.info.clone) expectErr++
    else at.parent.kids.set(at.key, f)
  }
  if (!res.ok) {
    // Aborted: each pair's destination is old or new (README: no half-written file).
    const got = readNode(Buffer.from(path.join(w.root, 'dst')))
    const bad = []
    let existingOnly = true
    for (const p of pairs) {
      const r = w.resolve(p.d.path)
      const rel = r.path.subarray(w.dstDir.top.length + 1)
      const parts = rel.toString('latin1').split('/').map((x) => Buffer.from(x, 'latin1'))
      let g = got, oN = oldModel
      for (const part of parts) g = g?.kids?.get(part.toString('hex')), (oN = oN?.kids?.get(part.toString('hex')))
      const nN = r.node
      const eq = (m) => (!m && !g) || (m && g && m.t === g.t && (m.t !== 'f' || (m.data.equals(g.data) && m.mode === g.mode)))
      if (!eq(oN) && !eq(nN)) {
        bad.push(`${showPath(p.d.path)}: neither old nor new`)
        if (!oN) existingOnly = false
      }
    }
    w.model = got
    if (bad.length) w.fail(op, `aborted copyFiles: ${bad.join('; ')}`, tag ?? (existingOnly ? 3 : null))
    return w.verify(op)
  }
  const r = res.value
  for (const e of r.errors) if (!nodeStyle(e.error)) w.fail(op, `error entry not Node-style: ${e.error}`)
  if (r.errors.length !== expectErr) {
    w.fail(op, `expected ${expectErr} failed pairs, got ${r.errors.length}: ${r.errors.map((e) => e.error.message).join('; ')}`, nonUtf8 ? 14 : tag)
  }
  if (r.files !== pairs.length - expectErr) w.fail(op, `files ${r.files}, expected ${pairs.length - expectErr}`, nonUtf8 ? 14 : tag)
  w.verify(op, () => (nonUtf8 ? 14 : tag))
}

export { runCopyDir, runCopyFiles }
