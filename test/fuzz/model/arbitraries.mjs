// The fast-check arbitraries of the fuzzer, and what turns their values into
// bytes on disk: names (bytes; realized per world), file contents, source
// trees for copyDir, and the operations and whole cases a run applies.
import * as fs from 'node:fs'
import fc from 'fast-check'

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

function join(dir, name) {
  return Buffer.concat([Buffer.isBuffer(dir) ? dir : Buffer.from(dir), Buffer.from('/'), Buffer.isBuffer(name) ? name : Buffer.from(name)])
}


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

export { realizeName, isUtf8, show, showPath, join, bytesOf, writeContent, LINK_TARGETS, treeName, writeTree }
