// The world of one run and its model: src/ and dst/ (with the deep chain) on a
// real filesystem, dst/ modelled as a tree of Buffers, and the checks after an
// operation (verify: the real tree against the model; fail: known defects
// recorded, anything else a Discrepancy).
import * as fs from 'node:fs'
import * as path from 'node:path'
import { realizeName, isUtf8, show, join, bytesOf, writeContent } from './arbitraries.mjs'
import { KNOWN_DEFECTS, STRICT } from './known-defects.mjs'

const MAX_DEEP = 240

/** A real directory read into model nodes. */
export function readNode(p) {
  const st = fs.lstatSync(p)
  if (st.isSymbolicLink()) return { t: 'l', target: fs.readlinkSync(p, { encoding: 'buffer' }) }
  if (st.isDirectory()) {
    const kids = new Map()
    for (const n of fs.readdirSync(p, { encoding: 'buffer' })) kids.set(n.toString('hex'), readNode(join(p, n)))
    return { t: 'd', mode: st.mode & 0o7777, kids }
  }
  if (st.isFile()) return { t: 'f', data: fs.readFileSync(p), mode: st.mode & 0o7777, mtimeMs: st.mtimeMs }
  return { t: 'o' }
}

function clone(node) {
  if (node.t !== 'd') return { ...node }
  return { t: 'd', mode: node.mode, kids: new Map([...node.kids].map(([k, v]) => [k, clone(v)])) }
}

/** Differences between a model node and a real one, as readable lines. */
function diffNodes(want, got, rel, out, { mtime = false } = {}) {
  const where = rel.length ? rel.map((r) => (r.length > 40 ? `${show(r.subarray(0, 8))}...(${r.length} bytes)...${show(r.subarray(-12))}` : show(r))).join('/') : '.'
  if (!want && !got) return out
  if (!want) return out.push({ rel, what: `${where}: exists (${got.t}) but the model has nothing` }), out
  if (!got) return out.push({ rel, what: `${where}: missing (model: ${want.t})` }), out
  if (want.t !== got.t) return out.push({ rel, what: `${where}: type ${got.t}, model ${want.t}` }), out
  if (want.t !== 'l' && want.mode !== got.mode) {
    out.push({ rel, what: `${where}: mode ${got.mode.toString(8)}, model ${want.mode.toString(8)}`, mode: true })
  }
  if (want.t === 'f' && !want.data.equals(got.data)) {
    let i = 0
    while (i < want.data.length && i < got.data.length && want.data[i] === got.data[i]) i++
    out.push({ rel, what: `${where}: bytes differ (size ${got.data.length}, model ${want.data.length}, first difference at ${i})`, data: true })
  }
  if (want.t === 'f' && mtime && want.mtimeMs !== got.mtimeMs) out.push({ rel, what: `${where}: mtime changed` })
  if (want.t === 'l' && !want.target.equals(got.target)) out.push({ rel, what: `${where}: link target ${show(got.target)}, model ${show(want.target)}` })
  if (want.t === 'd') {
    const keys = new Set([...want.kids.keys(), ...got.kids.keys()])
    for (const k of keys) diffNodes(want.kids.get(k), got.kids.get(k), [...rel, Buffer.from(k, 'hex')], out, { mtime })
  }
  return out
}

class Discrepancy extends Error {}

/** One world: a run directory on a filesystem, the model of dst/, the source snapshot. */
class World {
  constructor(runDir, info, spec, log) {
    this.root = runDir
    this.info = info
    this.log = log
    this.spec = spec
    this.findings = []
    this.umask = process.umask()
    fs.mkdirSync(path.join(runDir, 'src'))
    fs.mkdirSync(path.join(runDir, 'dst'))
    fs.mkdirSync(path.join(runDir, 'src', 'trees'))
    // The deep chain: src/<D...> and dst/<D...> of the same length, so the
    // absolute path of a name in it starts at deepLen bytes.
    const comps = []
    let len = Buffer.byteLength(path.join(runDir, 'dst')) + 1
    const target = 1018 - 120
    while (len < target) {
      const n = Math.min(200, target - len)
      if (n < 8) break
      comps.push('D'.repeat(n))
      len += n + 1
    }
    this.deepRel = comps.join('/')
    this.deepLen = len
    for (const side of ['src', 'dst']) fs.mkdirSync(path.join(runDir, side, this.deepRel), { recursive: true })
    this.srcDir = { top: Buffer.from(path.join(runDir, 'src')), deep: Buffer.from(path.join(runDir, 'src', this.deepRel)) }
    this.dstDir = { top: Buffer.from(path.join(runDir, 'dst')), deep: Buffer.from(path.join(runDir, 'dst', this.deepRel)) }
    this.sources = []
    for (const s of spec.sources) {
      const r = realizeName(this, s.name)
      const p = join(this.srcDir[r.where], r.name)
      if (r.name.length > 255 || this.sources.some((x) => x.path.equals(p))) continue
      writeContent(p, s.c)
      this.sources.push({ path: p, rel: r, spec: s })
    }
    if (this.sources.length === 0) {
      const p = join(this.srcDir.top, 'fallback-source')
      const s = { name: { k: 'plain', i: 0 }, c: { size: 100, seed: 1, holes: false, mode: 0o644 } }
      writeContent(p, s.c)
      this.sources.push({ path: p, rel: { where: 'top', name: Buffer.from('fallback-source') }, spec: s })
    }
    this.dests = spec.dests.map((d) => {
      const r = realizeName(this, d)
      return { path: join(this.dstDir[r.where], r.name), rel: r }
    })
    this.treeCount = 0
    this.snapshot()
    this.model = readNode(Buffer.from(path.join(runDir, 'dst')))
  }

  snapshot() {
    this.srcSnap = readNode(Buffer.from(path.join(this.root, 'src')))
  }

  /** The model node of a dst path (Buffer), its parent and key. */
  locate(p) {
    const rel = p.subarray(this.dstDir.top.length + 1)
    const parts = []
    let start = 0
    for (let i = 0; i <= rel.length; i++) {
      if (i === rel.length || rel[i] === 0x2f) parts.push(rel.subarray(start, i)), (start = i + 1)
    }
    let dir = this.model
    for (const part of parts.slice(0, -1)) {
      dir = dir?.kids?.get(part.toString('hex'))
    }
    const key = parts[parts.length - 1].toString('hex')
    return { parent: dir, key, node: dir?.kids?.get(key) }
  }

  /** Follows a symlink at a dst path inside the model (one level, as the tests make them). */
  resolve(p) {
    for (let hops = 0; hops < 8; hops++) {
      const at = this.locate(p)
      if (at.node?.t !== 'l') return { ...at, path: p, via: hops > 0 }
      const target = at.node.target
      // Links the tests make are absolute into dst/, or relative and dangling.
      if (target[0] !== 0x2f || !target.subarray(0, this.dstDir.top.length).equals(this.dstDir.top)) {
        return { parent: null, key: null, node: undefined, path: target, outside: true }
      }
      p = target
    }
    return { parent: null, key: null, node: undefined, path: p, outside: true, loop: true }
  }

  srcFile(ref) {
    if (ref.pool === 'src' || this.dests.length === 0) {
      const s = this.sources[ref.i % this.sources.length]
      return { path: s.path, data: bytesOf(s.spec.c), mode: s.spec.c.mode, rel: s.rel, exists: true }
    }
    const d = this.dests[ref.i % this.dests.length]
    const r = this.resolve(d.path)
    if (r.node?.t === 'f') return { path: d.path, data: r.node.data, mode: r.node.mode, rel: d.rel, exists: true, dst: true }
    return { path: d.path, rel: d.rel, exists: false, dst: true, node: r.node }
  }

  arg(p, str) {
    return str && isUtf8(p) ? p.toString() : p
  }

  /** A discrepancy: known items are recorded and the model resyncs; anything else fails the run. */
  fail(op, what, item) {
    if (item && KNOWN_DEFECTS[item] && !STRICT) {
      this.findings.push({ item, op: op.op, what })
      this.resync()
      throw new Known()
    }
    if (what.length > 3000) what = `${what.slice(0, 1500)} ... ${what.slice(-1500)}`
    throw new Discrepancy(`${op.op}: ${what}${item ? ` [known defect ${item}]` : ''}`)
  }

  resync() {
    this.model = readNode(Buffer.from(path.join(this.root, 'dst')))
  }

  /** dst/ must equal the model, src/ its snapshot. `classify(diff)` names a known item for a diff. */
  verify(op, classify = () => null) {
    const src = diffNodes(this.srcSnap, readNode(Buffer.from(path.join(this.root, 'src'))), [], [], { mtime: true })
    if (src.length) this.fail(op, `a source changed: ${src.map((d) => d.what).join('; ')}`)
    const got = readNode(Buffer.from(path.join(this.root, 'dst')))
    const diffs = diffNodes(this.model, got, [], [])
    if (diffs.length === 0) return
    const items = diffs.map(classify)
    const lines = diffs.map((d) => d.what).join('; ')
    if (items.every((i) => i && KNOWN_DEFECTS[i])) this.fail(op, lines, items[0])
    this.fail(op, lines)
  }
}

class Known extends Error {}

export { clone, Discrepancy, World, Known }
