// Errors: system errors field by field equal to what fs.copyFileSync gives for
// the same call; bad arguments rejected with Node's classes and codes before
// any file is touched.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { pathToFileURL } from 'node:url'
import { copyFile, copyFileSync, reflinkSync, constants } from 'cowcopy'
import { needMounts, onFs, tmpScratch } from '../helpers.mjs'

const FIELDS = ['name', 'message', 'code', 'errno', 'syscall', 'path', 'dest']
const pick = (e) => Object.fromEntries(FIELDS.map((k) => [k, e?.[k]]))

function nodeError(fn) {
  try {
    fn()
  } catch (e) {
    return e
  }
  throw new Error('fs.copyFileSync did not fail')
}

// Each case: a name, (dir) => [src, dest, mode], and whether the destination
// exists before the call (so the test can check it is still there after).
const cases = [
  ['source missing', (d) => [path.join(d, 'nope'), path.join(d, 'out'), 0]],
  ['destination directory missing', (d) => [path.join(d, 'file'), path.join(d, 'no/such/dir'), 0]],
  ['COPYFILE_EXCL on an existing destination', (d) => [path.join(d, 'file'), path.join(d, 'other'), constants.COPYFILE_EXCL]],
  ['COPYFILE_EXCL onto itself', (d) => [path.join(d, 'file'), path.join(d, 'file'), constants.COPYFILE_EXCL]],
  ['source is a directory', (d) => [path.join(d, 'dir'), path.join(d, 'out'), 0]],
  ['destination is a directory', (d) => [path.join(d, 'file'), path.join(d, 'dir'), 0]],
  ['source path through a file', (d) => [path.join(d, 'file/x'), path.join(d, 'out'), 0]],
  ['relative paths', (d) => [path.relative(process.cwd(), path.join(d, 'nope')), 'relative-out', 0]],
]

function fixture(t) {
  const d = tmpScratch(t)
  fs.writeFileSync(path.join(d, 'file'), 'data')
  fs.writeFileSync(path.join(d, 'other'), 'keep me')
  fs.mkdirSync(path.join(d, 'dir'))
  return d
}

for (const [title, make] of cases) {
  t.test(`same error as fs.copyFileSync: ${title}`, async (t) => {
    const d = fixture(t)
    const [src, dest, mode] = make(d)
    const before = fs.readdirSync(d).sort()
    const expected = pick(nodeError(() => fs.copyFileSync(src, dest, mode)))
    t.same(fs.readdirSync(d).sort(), before, 'fs.copyFileSync left the directory as it was')

    let err = nodeError(() => copyFileSync(src, dest, mode))
    t.same(pick(err), expected, 'copyFileSync: same fields')
    t.ok(err instanceof Error)
    err = await copyFile(src, dest, mode).then(() => null, (e) => e)
    t.same(pick(err), expected, 'copyFile: same fields')
    t.same(fs.readdirSync(d).sort(), before, 'nothing created, nothing removed')
    t.equal(fs.readFileSync(path.join(d, 'other'), 'utf8'), 'keep me', 'existing file untouched')
  })
}

t.test('Buffer and file: URL paths give the same errors as fs', async (t) => {
  const d = fixture(t)
  const src = path.join(d, 'nope')
  const dest = path.join(d, 'out')
  for (const [s, de] of [[Buffer.from(src), Buffer.from(dest)], [pathToFileURL(src), pathToFileURL(dest)]]) {
    const expected = pick(nodeError(() => fs.copyFileSync(s, de)))
    t.same(pick(nodeError(() => copyFileSync(s, de))), expected)
  }
})

onFs(t, 'ext4', 'COPYFILE_FICLONE_FORCE where clones are impossible: same error as fs', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  fs.writeFileSync(src, 'x'.repeat(10000))
  const expected = pick(nodeError(() => fs.copyFileSync(src, dest, constants.COPYFILE_FICLONE_FORCE)))
  t.same(pick(nodeError(() => copyFileSync(src, dest, constants.COPYFILE_FICLONE_FORCE))), expected)
  t.same(pick(nodeError(() => reflinkSync(src, dest))), expected, 'reflinkSync too')
  t.notOk(fs.existsSync(dest))
})

t.test('cross-filesystem reflink is EXDEV', async (t) => {
  const dirs = needMounts(t, 'btrfs', 'xfs')
  if (!dirs) return
  const src = path.join(dirs[0], `xdev-${process.pid}`)
  const dest = path.join(dirs[1], `xdev-${process.pid}`)
  fs.writeFileSync(src, 'x'.repeat(100000))
  t.teardown(() => fs.rmSync(src, { force: true }))
  const err = nodeError(() => copyFileSync(src, dest, { reflink: 'always' }))
  t.match(pick(err), { code: 'EXDEV', errno: -18, syscall: 'copyfile', path: src, dest })
  t.equal(err.message, `EXDEV: cross-device link not permitted, copyfile '${src}' -> '${dest}'`)
  t.notOk(fs.existsSync(dest), 'nothing left on the other filesystem')
})

t.test('bad arguments throw before any file is touched', async (t) => {
  const d = fixture(t)
  const src = path.join(d, 'file')
  const dest = path.join(d, 'new')
  const bad = [
    [[1, dest], TypeError, 'ERR_INVALID_ARG_TYPE', 'The "src" argument must be of type string or an instance of Buffer or URL. Received type number (1)'],
    [[src, null], TypeError, 'ERR_INVALID_ARG_TYPE', 'The "dest" argument must be of type string or an instance of Buffer or URL. Received null'],
    [[src, undefined], TypeError, 'ERR_INVALID_ARG_TYPE', /Received undefined$/],
    [[{}, dest], TypeError, 'ERR_INVALID_ARG_TYPE', /Received an instance of Object$/],
    [['a\u0000b', dest], TypeError, 'ERR_INVALID_ARG_VALUE', "The argument 'src' must be a string, Uint8Array, or URL without null bytes. Received 'a\\x00b'"],
    [[src, Buffer.from('x\u0000')], TypeError, 'ERR_INVALID_ARG_VALUE', /^The argument 'dest' must be a string, Uint8Array, or URL without null bytes/],
    [[src, new URL('http://example.com/x')], TypeError, 'ERR_INVALID_URL_SCHEME', /must be of scheme file/],
    [[src, dest, 1.5], RangeError, 'ERR_OUT_OF_RANGE', 'The value of "mode" is out of range. It must be an integer. Received 1.5'],
    [[src, dest, 8], RangeError, 'ERR_OUT_OF_RANGE', 'The value of "mode" is out of range. It must be >= 0 && <= 7. Received 8'],
    [[src, dest, -1], RangeError, 'ERR_OUT_OF_RANGE', /It must be >= 0 && <= 7. Received -1$/],
    [[src, dest, NaN], RangeError, 'ERR_OUT_OF_RANGE', /It must be an integer. Received NaN$/],
    [[src, dest, '1'], TypeError, 'ERR_INVALID_ARG_TYPE', /^The "mode" argument must be of type number or an instance of Object. Received type string/],
    [[src, dest, { reflink: 'sometimes' }], TypeError, 'ERR_INVALID_ARG_VALUE', "The property 'options.reflink' must be one of: 'auto', 'always', 'never'. Received 'sometimes'"],
    [[src, dest, { reflink: true }], TypeError, 'ERR_INVALID_ARG_VALUE', /options.reflink/],
    [[src, dest, { overwrite: 'no' }], TypeError, 'ERR_INVALID_ARG_TYPE', `The "options.overwrite" property must be of type boolean. Received type string ('no')`],
    [[src, dest, { atomic: 1 }], TypeError, 'ERR_INVALID_ARG_TYPE', 'The "options.atomic" property must be of type boolean. Received type number (1)'],
    [[src, dest, { sparse: 'yes' }], TypeError, 'ERR_INVALID_ARG_TYPE', /"options.sparse" property must be of type boolean/],
    [[src, dest, { fsync: null }], TypeError, 'ERR_INVALID_ARG_TYPE', /"options.fsync" property must be of type boolean/],
    [[src, dest, { preserve: 'all' }], TypeError, 'ERR_INVALID_ARG_TYPE', /"options.preserve" property must be of type boolean or object/],
    [[src, dest, { preserve: { mode: false } }], TypeError, 'ERR_INVALID_ARG_VALUE', "The property 'options.preserve.mode' cannot be false: the mode is always kept. Received false"],
    [[src, dest, { preserve: { xattrs: 'yes' } }], TypeError, 'ERR_INVALID_ARG_TYPE', /"options.preserve.xattrs" property must be of type boolean/],
  ]
  for (const [args, Class, code, message] of bad) {
    const label = `${code}: ${JSON.stringify(args.map(String))}`
    const e = nodeError(() => copyFileSync(...args))
    t.ok(e instanceof Class, `${label}: a ${Class.name}`)
    t.equal(e.code, code, `${label}: code`)
    if (typeof message === 'string') t.equal(e.message, message, `${label}: message`)
    else t.match(e.message, message, `${label}: message`)
    const p = await copyFile(...args).then(() => null, (x) => x)
    t.ok(p instanceof Class && p.code === code, `${label}: copyFile rejects the same way`)
  }
  t.same(fs.readdirSync(d).sort(), ['dir', 'file', 'other'], 'no file created')
})

// A name a call does not take is refused before anything is touched, named,
// with the closest one it takes: a typo never silently weakens a copy.
t.test('unknown option names are refused by every call', async (t) => {
  const c = await import('cowcopy')
  const d = fixture(t)
  const src = path.join(d, 'file')
  const out = (n) => path.join(d, `out-${n}`)
  const cases = [
    ['copyFileSync', () => c.copyFileSync(src, out(1), { overwirte: false }), /^The property 'options.overwirte' is not an option of copyFile \(did you mean 'overwrite'\?\)\. Received false$/],
    ['copyFile', () => c.copyFile(src, out(2), { Reflink: 'never' }), /'options.Reflink' is not an option of copyFile \(did you mean 'reflink'\?\)/],
    ['copyFile preserve', () => c.copyFile(src, out(3), { preserve: { timestamp: true } }), /'options.preserve.timestamp' is not an option of preserve \(did you mean 'timestamps'\?\)/],
    ["copyFile fs.cp's preserveTimestamps", () => c.copyFile(src, out(4), { preserveTimestamps: true }), /here: preserve: \{ timestamps: true \}/],
    ['reflinkSync sparse', () => c.reflinkSync(src, out(5), { sparse: false }), /'options.sparse' is not an option of reflink/],
    ['copyFiles marker', () => c.copyFiles([[src, out(6)]], { marker: 'x' }), /'options.marker' is not an option of copyFiles/],
    ['copyFiles filter', () => c.copyFiles([[src, out(7)]], { filter: () => true }), /'options.filter' is not an option of copyFiles/],
    ["copyDir fs.cp's mode", () => c.copyDir(path.join(d, 'dir'), out(8), { mode: 2 }), /'options.mode' is not an option of copyDir \(fs.cp's numeric mode; here: reflink: 'always'/],
    ['copyDir recursive false', () => c.copyDir(path.join(d, 'dir'), out(9), { recursive: false }), /'options.recursive' cannot be false/],
    ['importFiles stopOnErorr', () => c.importFiles(out(10), [['a', src]], { stopOnErorr: true }), /'options.stopOnErorr' is not an option of importFiles \(did you mean 'stopOnError'\?\)/],
    ['copyRangeSync offset', () => c.copyRangeSync(src, out(11), { offset: 1 }), /'range.offset' is not an option of cloneRange and copyRange/],
    ['dedupeRangeSync target', () => c.dedupeRangeSync(src, { length: 1 }, [{ file: src }]), /'targets\[0\].file' is not an option of dedupeRange/],
  ]
  for (const [name, call, message] of cases) {
    let e
    try {
      await call()
    } catch (err) {
      e = err
    }
    t.equal(e?.code, 'ERR_INVALID_ARG_VALUE', `${name}: ERR_INVALID_ARG_VALUE`)
    t.match(e?.message, message, `${name}: names it`)
  }
  t.same(fs.readdirSync(d).sort(), ['dir', 'file', 'other'], 'nothing created')
  // fs.cp's recursive: true is what a tree copy is anyway.
  const r = await c.copyDir(path.join(d, 'dir'), out(12), { recursive: true })
  t.same(r.errors, [])
})
