// Model-based fuzzing of cowcopy with fast-check. A run builds a small world on a real filesystem
// (sources under src/, destinations under dst/, both with a deep directory
// chain so paths reach the 1024-byte native path buffer), then applies a
// random sequence of operations. The model holds dst/ as a tree of Buffers:
// after every operation the real tree must equal it (bytes, existence, types,
// modes, link targets), and src/ must equal its snapshot (sources never
// change). Names are bytes: multi-byte characters at every path-buffer
// boundary, 255-byte names, names of 234-255 bytes with `atomic`, paths over
// 4096 bytes, non-UTF-8 bytes through Buffer paths.
//
// A discrepancy that is a known, open defect is looked up in KNOWN_DEFECTS
// (keyed by the defect's number): it is reported as a finding and the model
// resyncs from disk, instead of failing the run. Set COWCOPY_FUZZ_STRICT=1
// to fail on those too. Remove an entry when its defect is fixed.
import * as fs from 'node:fs'
import * as path from 'node:path'
import fc from 'fast-check'
import {
  copyFile, copyFileSync, reflink, reflinkSync, cloneRange, cloneRangeSync, copyRange, copyRangeSync,
  dedupeRange, copyFiles, copyDir, probeSync,
} from 'cowcopy'

/** Known open defects the fuzzer still meets; a check that hits one records it instead of failing. */
export const KNOWN_DEFECTS = {}

/**
 * Discrepancies the fuzzer found that are not filed as defects yet (gated
 * like the entries above until they are filed and fixed).
 */
export const UNFILED_DEFECTS = {}
Object.assign(KNOWN_DEFECTS, UNFILED_DEFECTS)

const STRICT = process.env.COWCOPY_FUZZ_STRICT === '1'
const MAX_DEEP = 240

// ---------------------------------------------------------------- names

const PLAIN = ['a', 'b', 'é', 'x y', '名前', '😀', '.h', 'a\nb']
const WIDE = { 2: 'é', 3: '€', 4: '😀' }
const RAW = [[0xff], [0x80, 0x61], [0xc3], [0x61, 0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xed, 0xa0, 0x80]]

/**
 * A name spec, realized per world (boundary names depend on the scratch
 * directory's length): plain, 255 bytes, 234-256 bytes, raw non-UTF-8 bytes,
 * or a name in the deep directory whose multi-byte character starts at byte
 * `at` of the absolute path (1018-1026 straddles the 1024-byte buffer), with
 * `cut` its prefix without that character (the name a truncation would hit).
 */
export const nameArb = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('plain'), i: fc.nat(PLAIN.length - 1) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('len'), len: fc.constantFrom(234, 240, 250, 254, 255, 256), w: fc.constantFrom(1, 2, 3, 4) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('raw'), i: fc.nat(RAW.length - 1) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant('edge'),
      at: fc.integer({ min: 1018, max: 1026 }),
      w: fc.constantFrom(2, 3, 4),
      tail: fc.nat(3),
      cut: fc.boolean(),
    }),
  },
)

/** { where: 'top' | 'deep', name: Buffer } for a spec in a world. */
function realizeName(world, spec) {
  switch (spec.k) {
    case 'plain':
      return { where: 'top', name: Buffer.from(PLAIN[spec.i]) }
    case 'raw':
      return { where: 'top', name: Buffer.concat([Buffer.from('r'), Buffer.from(RAW[spec.i])]) }
    case 'len': {
      const ch = Buffer.from(spec.w === 1 ? 'L' : WIDE[spec.w])
      const parts = []
      let n = 0
      while (n + ch.length <= spec.len) parts.push(ch), (n += ch.length)
      parts.push(Buffer.alloc(spec.len - n, 'l'))
      return { where: 'top', name: Buffer.concat(parts) }
    }
    case 'edge': {
      // world.deepLen: bytes of "<deep dir>/" in the absolute path.
      const pad = Math.max(1, spec.at - world.deepLen)
      const base = Buffer.alloc(pad, 'n')
      if (spec.cut) return { where: 'deep', name: base }
      return { where: 'deep', name: Buffer.concat([base, Buffer.from(WIDE[spec.w]), Buffer.alloc(spec.tail, 'z')]) }
    }
  }
  throw new Error(`bad name spec ${JSON.stringify(spec)}`)
}

const isUtf8 = (b) => Buffer.from(b.toString('utf8')).equals(b)
const show = (b) => (isUtf8(b) ? JSON.stringify(b.toString()) : `<hex ${b.toString('hex')}>`)
const showPath = (b) => (b.length > 120 ? `${show(b.subarray(0, 40))}...(${b.length} bytes)...${show(b.subarray(-60))}` : show(b))

// ---------------------------------------------------------------- contents

const SIZES = [0, 1, 100, 4095, 4096, 4097, 8192, 12411, 65536, 200000, 1 << 20]

export const contentArb = fc.record({
  size: fc.constantFrom(...SIZES),
  seed: fc.nat(255),
  holes: fc.boolean(),
  mode: fc.constantFrom(0o644, 0o600, 0o755, 0o640, 0o700, 0o444),
})

function bytesOf(c) {
  const b = Buffer.alloc(c.size)
  let x = (c.seed * 2654435761 + 1) >>> 0
  const from = c.holes ? Math.floor(c.size / 2 / 4096) * 4096 : 0
  for (let i = from; i < c.size; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}

/** Writes the content (with a real hole in front when `holes`), sets its mode. */
function writeContent(file, c) {
  const data = bytesOf(c)
  const fd = fs.openSync(file, 'w', 0o600)
  try {
    const from = c.holes ? Math.floor(c.size / 2 / 4096) * 4096 : 0
    fs.ftruncateSync(fd, c.size)
    if (c.size > from) fs.writeSync(fd, data, from, c.size - from, from)
  } finally {
    fs.closeSync(fd)
  }
  fs.chmodSync(file, c.mode)
  return data
}

// ---------------------------------------------------------------- trees

const TREE_NAMES = ['a', 'b', 'é', 'd', '名', Buffer.from([0x74, 0xff])]
const LINK_TARGETS = ['a', '../a', 'missing', 'd/a', '/nonexistent/x', 'é']

export const treeArb = fc.letrec((tie) => ({
  dir: fc.record({
    t: fc.constant('d'),
    mode: fc.constantFrom(0o755, 0o700, 0o750, 0o777),
    kids: fc.uniqueArray(fc.record({ n: fc.nat(TREE_NAMES.length - 1), node: tie('node') }), {
      maxLength: 4,
      selector: (e) => e.n,
    }),
  }),
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.record({ t: fc.constant('f'), c: contentArb }),
    fc.record({ t: fc.constant('l'), to: fc.nat(LINK_TARGETS.length - 1) }),
    tie('dir'),
  ),
})).dir

const treeName = (n) => (typeof TREE_NAMES[n] === 'string' ? Buffer.from(TREE_NAMES[n]) : TREE_NAMES[n])

function writeTree(dir, spec) {
  fs.mkdirSync(dir)
  for (const { n, node } of spec.kids) {
    const p = join(dir, treeName(n))
    if (node.t === 'f') writeContent(p, node.c)
    else if (node.t === 'l') fs.symlinkSync(LINK_TARGETS[node.to], p)
    else writeTree(p, node)
  }
  fs.chmodSync(dir, spec.mode)
}

// ---------------------------------------------------------------- operations

const copyOptsArb = fc.oneof(
  fc.integer({ min: 0, max: 7 }), // COPYFILE_EXCL | COPYFILE_FICLONE | COPYFILE_FICLONE_FORCE
  fc.record(
    {
      reflink: fc.constantFrom('auto', 'always', 'never'),
      overwrite: fc.boolean(),
      atomic: fc.boolean(),
      sparse: fc.boolean(),
      preserve: fc.oneof(fc.boolean(), fc.record({ timestamps: fc.boolean(), mode: fc.constant(true) }, { requiredKeys: [] })),
    },
    { requiredKeys: [] },
  ),
)
const abortArb = fc.constantFrom(null, null, null, 'before', 'now', 'tick', 1, 3)
const fileRef = fc.record({ pool: fc.constantFrom('src', 'src', 'dst'), i: fc.nat(7) })

export const opArb = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('copyFile'), src: fileRef, dest: fc.nat(7), opts: copyOptsArb, sync: fc.boolean(), str: fc.boolean(), abort: abortArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('reflink'), src: fileRef, dest: fc.nat(7), atomic: fc.boolean(), sync: fc.boolean(), str: fc.boolean() }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('prep'),
      dest: fc.nat(7),
      kind: fc.oneof(
        fc.record({ k: fc.constant('file'), c: contentArb }),
        fc.record({ k: fc.constantFrom('dir', 'rm', 'dangling') }),
        fc.record({ k: fc.constant('link'), to: fc.nat(7) }),
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constantFrom('cloneRange', 'copyRange'),
      src: fileRef,
      dest: fc.nat(7),
      so: fc.nat(4), soD: fc.constantFrom(0, 0, 0, 1, 511),
      do: fc.nat(4), doD: fc.constantFrom(0, 0, 0, 1, 100),
      len: fc.nat(3), lenD: fc.constantFrom(0, 0, 0, 1, 123, -1),
      sync: fc.boolean(),
      str: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('dedupe'), src: fileRef, off: fc.nat(2), len: fc.nat(3),
      targets: fc.array(fc.record({ dest: fc.nat(7), off: fc.nat(2) }), { minLength: 1, maxLength: 3 }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('copyDir'), tree: treeArb, dest: fc.nat(7), str: fc.boolean(), abort: abortArb,
      opts: fc.record({ reflink: fc.constantFrom('auto', 'never'), overwrite: fc.boolean(), concurrency: fc.constantFrom(1, 2, 3) }, { requiredKeys: [] }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('copyFiles'), pairs: fc.array(fc.tuple(fc.nat(7), fc.nat(7)), { minLength: 1, maxLength: 5 }), str: fc.boolean(), abort: abortArb,
      opts: fc.record({ reflink: fc.constantFrom('auto', 'always', 'never'), overwrite: fc.boolean(), concurrency: fc.constantFrom(1, 2) }, { requiredKeys: [] }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('tooLong'), api: fc.constantFrom('copyFile', 'copyFileSync', 'cloneRange', 'copyRange', 'copyDir', 'copyFiles'), side: fc.constantFrom('src', 'dest') }) },
)

export const caseArb = fc.record({
  sources: fc.array(fc.record({ name: nameArb, c: contentArb }), { minLength: 1, maxLength: 4 }),
  dests: fc.array(nameArb, { minLength: 2, maxLength: 6 }),
  ops: fc.array(opArb, { minLength: 1, maxLength: 12 }),
})

// ---------------------------------------------------------------- the world

function join(dir, name) {
  return Buffer.concat([Buffer.isBuffer(dir) ? dir : Buffer.from(dir), Buffer.from('/'), Buffer.isBuffer(name) ? name : Buffer.from(name)])
}

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

// ---------------------------------------------------------------- running

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

async function runTooLong(w, op) {
  // Over PATH_MAX (4096): ENAMETOOLONG, Node-style, nothing created.
  const long = Buffer.from(path.join(w.root, 'dst') + '/' + './'.repeat(2100) + 'long')
  const srcOk = op.api === 'copyDir' ? path.join(w.root, 'src', 'trees') : w.sources[0].path
  const pick = (l, okDest) => (op.side === 'src' ? [l, okDest] : [srcOk, l])
  const res = await settle(async () => {
    switch (op.api) {
      case 'copyFile': return copyFile(...pick(long.toString(), join(w.dstDir.top, 'ok-long')))
      case 'copyFileSync': return copyFileSync(...pick(long.toString(), join(w.dstDir.top, 'ok-long')))
      case 'cloneRange': return cloneRange(...pick(long.toString(), join(w.dstDir.top, 'ok-long')))
      case 'copyRange': return copyRange(...pick(long.toString(), join(w.dstDir.top, 'ok-long')))
      case 'copyDir': return copyDir(...pick(long.toString(), join(w.dstDir.top, 'ok-long')))
      case 'copyFiles': return copyFiles([pick(long.toString(), join(w.dstDir.top, 'ok-long'))])
    }
  })
  const code = res.ok ? (res.value?.errors?.[0]?.error?.code ?? 'success') : res.err.code
  // With the long path as src, the short dest must not exist either way (src missing/too long).
  if (code !== 'ENAMETOOLONG') w.fail(op, `a ${long.length}-byte path: expected ENAMETOOLONG, got ${res.ok ? JSON.stringify(code) : res.err.message}`)
  if (!res.ok && !nodeStyle(res.err)) w.fail(op, `not a Node-style error: ${res.err}`)
  if (fs.existsSync(join(w.dstDir.top, 'ok-long'))) {
    w.fail(op, 'left a destination behind', op.api === 'cloneRange' || op.api === 'copyRange' ? 15 : null)
  }
  w.verify(op)
}

async function runOp(w, op) {
  switch (op.op) {
    case 'copyFile':
    case 'reflink':
      return runCopyFile(w, op)
    case 'prep':
      return applyPrep(w, op)
    case 'cloneRange':
    case 'copyRange':
      return runRange(w, op)
    case 'dedupe':
      return runDedupe(w, op)
    case 'copyDir':
      return runCopyDir(w, op)
    case 'copyFiles':
      return runCopyFiles(w, op)
    case 'tooLong':
      return runTooLong(w, op)
  }
}

/** What the filesystem at `dir` can do (clone, dedupe, block size). */
export function fsInfo(dir) {
  const p = probeSync(dir)
  return { clone: p.clone, dedupe: p.dedupe, blockSize: p.blockSize, fsType: p.fsType }
}

/**
 * Runs the property on one filesystem directory. Returns fast-check's run
 * details plus `findings` (known defects met, by defect number) and `report`
 * (the failure text with seed and shrunk case, or null).
 */
export async function fuzzDir(dir, { runs, seed, log = () => {}, timeout = 0 }) {
  const info = fsInfo(dir)
  const findings = new Map()
  let n = 0
  const prop = fc.asyncProperty(caseArb, async (spec) => {
    const runDir = fs.mkdtempSync(path.join(dir, `f${n++}-`))
    try {
      const w = new World(runDir, info, spec, log)
      for (const op of spec.ops) {
        try {
          await runOp(w, op)
        } catch (err) {
          if (!(err instanceof Known)) throw err
        }
      }
      for (const f of w.findings) {
        const key = `${f.item}: ${f.op}: ${f.what.slice(0, 300)}`
        if (!findings.has(f.item)) findings.set(f.item, { count: 0, example: key, seed, spec })
        findings.get(f.item).count++
      }
    } finally {
      fs.rmSync(runDir, { recursive: true, force: true })
    }
  })
  const params = { numRuns: runs, seed, verbose: 0 }
  if (timeout) params.interruptAfterTimeLimit = timeout
  const details = await fc.check(prop, params)
  let report = null
  if (details.failed) {
    const e = details.errorInstance
    report = `${fc.defaultReportMessage(details)}\nReplay: COWCOPY_FUZZ_SEED=${details.seed} (fast-check path ${JSON.stringify(details.counterexamplePath)})\n` +
      `Error: ${e instanceof Discrepancy ? e.message : e?.stack ?? e}`
  }
  return { details, report, findings, info }
}

export { Discrepancy }
