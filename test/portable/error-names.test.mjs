// Every system error cowcopy makes carries a `code` and an `errno` that
// agree with the platform's own table, as Node's fs errors do:
// util.getSystemErrorName(err.errno) === err.code, and the message starts
// with the code. Errors built by the JavaScript layer (copyDir's checks, the
// portable engine's own refusals, "needs the native addon") and errors the
// kernel or fs gave, sync and promise, thrown or listed in a batch's errors.
// Where the README names the code, that code too. Both engines; each in a
// child node (a copy that hangs, such as a FIFO source today, is killed).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { getSystemErrorName } from 'node:util'
import { onFs } from '../helpers.mjs'
import { how, runChild } from './child.mjs'

// [label, expected code or null (consistency only: e.g. calls that may
// still need the addon, whose ENOSYS is as good an answer here), expression]: the
// expression (args[0] is the scratch directory, `d(name)` a path in it)
// throws, rejects, or resolves with a batch whose first error row counts.
const CASES = [
  ['copyDir into itself', 'EINVAL', "c.copyDir(d('a'), d('a/sub'))"],
  ['copyDir onto a file', 'ENOTDIR', "c.copyDir(d('a'), d('file'))"],
  ['copyDir of a file onto a directory', 'EISDIR', "c.copyDir(d('file'), d('a'))"],
  ['copyDir of a file onto itself', 'EINVAL', "c.copyDir(d('file'), d('file'))"],
  ['copyDir of a missing source', null, "c.copyDir(d('missing'), d('out-missing'))"],
  ['copyFileSync of a missing source', 'ENOENT', "c.copyFileSync(d('missing'), d('out'))"],
  ['copyFile of a missing source', 'ENOENT', "c.copyFile(d('missing'), d('out'))"],
  ['copyFileSync onto a FIFO', 'EINVAL', "c.copyFileSync(d('file'), d('fifo'))"],
  ['copyFileSync onto a directory', null, "c.copyFileSync(d('file'), d('a'))"],
  ['copyFile onto an existing file, overwrite: false', 'EEXIST', "c.copyFile(d('file'), d('exists'), { overwrite: false })"],
  ['copyFileSync COPYFILE_EXCL', 'EEXIST', "c.copyFileSync(d('file'), d('exists'), c.constants.COPYFILE_EXCL)"],
  ["reflinkSync on ext4", 'ENOTSUP', "c.reflinkSync(d('file'), d('out-reflink'))"],
  ["copyFile reflink: 'always' on ext4", 'ENOTSUP', "c.copyFile(d('file'), d('out-always'), { reflink: 'always' })"],
  ['copyFileSync preserving xattrs', null, "c.copyFileSync(d('file'), d('out-xattrs'), { preserve: { xattrs: true } })"],
  ['copyFiles row: a missing source', 'ENOENT', "c.copyFiles([[d('missing'), d('out-batch')]])"],
  ["copyFiles row: link ['clone'] on ext4", 'ENOTSUP', "c.copyFiles([[d('file'), d('out-clone')]], { link: ['clone'] })"],
  ['importFiles row: a missing source', null, "c.importFiles(d('imp'), [['f', d('missing')]])"],
  ['importFiles, stage: true onto an existing directory', null, "c.importFiles(d('a'), [['f', d('file')]], { stage: true })"],
  ['cloneRange on ext4', null, "c.cloneRange(d('file'), d('exists'))"],
  ['cloneRangeSync on ext4', null, "c.cloneRangeSync(d('file'), d('exists'))"],
  ['dedupeRange', null, "c.dedupeRange(d('file'), { offset: 0, length: 4096 }, [{ path: d('exists') }])"],
  ['dedupeRangeSync', null, "c.dedupeRangeSync(d('file'), { offset: 0, length: 4096 }, [{ path: d('exists') }])"],
  ['copyRange into a missing directory', null, "c.copyRange(d('file'), d('missing/x'))"],
  ['copyRangeSync of a missing source', null, "c.copyRangeSync(d('missing'), d('exists'))"],
  ['probe of a missing directory', null, "c.probe(d('missing'))"],
  ['probeSync of a missing directory', null, "c.probeSync(d('missing'))"],
]

const collect = (cases) => `
const d = (p) => args[0] + '/' + p;
const out = [];
const cases = [${cases.map(([label, , expr]) => `[${JSON.stringify(label)}, () => ${expr}]`).join(',\n')}];
for (const [label, f] of cases) {
  try {
    const v = await f();
    const row = v && Array.isArray(v.errors) ? v.errors[0] : undefined;
    out.push({ label, err: row ? errInfo(row.error) : null, row: Boolean(row) });
  } catch (e) {
    out.push({ label, err: errInfo(e) });
  }
}
report(out);
`

function setup(dir) {
  fs.mkdirSync(path.join(dir, 'a'))
  fs.writeFileSync(path.join(dir, 'a', 'inner'), 'inner\n')
  fs.writeFileSync(path.join(dir, 'file'), Buffer.alloc(8192, 1))
  fs.writeFileSync(path.join(dir, 'exists'), Buffer.alloc(8192, 2))
  execFileSync('mkfifo', [path.join(dir, 'fifo')])
}

function check(t, label, expected, err) {
  t.test(label, async (t) => {
    if (!err) {
      if (expected) t.fail(`expected ${expected}, but the call succeeded`)
      else t.pass('no error (nothing to check)')
      return
    }
    t.type(err.errno, 'number', `errno is a number (${err.message})`)
    if (typeof err.errno === 'number') {
      t.equal(getSystemErrorName(err.errno), err.code, `util.getSystemErrorName(${err.errno}) === code (${err.code})`)
    }
    t.ok(String(err.message).startsWith(`${err.code}: `), `the message starts with the code: ${err.message}`)
    t.type(err.syscall, 'string', 'syscall is named')
    if (expected) t.equal(err.code, expected, `code ${expected}`)
  })
}

for (const native of [true, false]) {
  const engine = native ? 'native engine' : 'portable engine (COWCOPY_NATIVE=0)'
  onFs(t, 'ext4', `every system error has a code and an errno from the platform's table: ${engine}`, async (t, dir) => {
    setup(dir)
    const r = await runChild(collect(CASES), { native, args: [dir], timeout: 30000 })
    t.ok(Array.isArray(r.result), `the child reports every case (${how(r)})`)
    const got = new Map((r.result ?? []).map((x) => [x.label, x.err]))
    for (const [label, expected] of CASES) check(t, label, expected, got.get(label))
  })

  onFs(t, 'ext4', `a FIFO source: EINVAL with the platform's number, sync and promise: ${engine}`, async (t, dir) => {
    setup(dir)
    const fifoCases = [
      ['copyFileSync of a FIFO', 'EINVAL', "c.copyFileSync(d('fifo'), d('out-fifo'))"],
      ['copyFile of a FIFO', 'EINVAL', "c.copyFile(d('fifo'), d('out-fifo'))"],
      ['copyFiles row: a FIFO source', 'EINVAL', "c.copyFiles([[d('fifo'), d('out-fifo')]])"],
    ]
    // One child per call: a call that hangs must not hide the others.
    const runs = await Promise.all(fifoCases.map((x) => runChild(collect([x]), { native, args: [dir], timeout: 10000 })))
    fifoCases.forEach(([label, expected], i) => {
      const r = runs[i]
      t.notOk(r.timedOut, `${label}: the call returns (${how(r)})`)
      check(t, label, expected, r.result?.[0]?.err ?? (r.timedOut ? { message: 'no answer: the call hung' } : null))
    })
  })
}
