// The portable engine (COWCOPY_NATIVE=0): a source that is not a regular
// file (a FIFO, a character device such as /dev/zero) is refused at once
// with the native engine's error (EINVAL, "source is a FIFO, not a regular
// file"), sync and promise, copyFile and copyFiles; nothing is created at
// the destination and an existing destination is left as it was.
//
// Every call runs in a child node killed after CHILD_MS: a call that waits
// for a FIFO's writer, or reads /dev/zero without end, fails the test
// instead of hanging tap. The children run under a 64 MiB file-size limit,
// so an endless /dev/zero copy ends in EFBIG rather than filling the disk.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { onFs } from '../helpers.mjs'
import { have, how, ls, runChild } from './child.mjs'

const CHILD_MS = 10000
const LIMIT = have('prlimit') ? ['prlimit', `--fsize=${64 << 20}`] : []

// [name, code]: the code runs with args [src, dest] and reports
// { ok, err, files, errors } (errors: the rows of a batch).
const CASES = [
  ['copyFileSync', `try { c.copyFileSync(args[0], args[1]); report({ ok: true }) } catch (e) { report({ ok: false, err: errInfo(e) }) }`],
  ['copyFile', `await c.copyFile(args[0], args[1]).then(() => report({ ok: true }), (e) => report({ ok: false, err: errInfo(e) }))`],
  ['copyFileSync atomic', `try { c.copyFileSync(args[0], args[1], { atomic: true }); report({ ok: true }) } catch (e) { report({ ok: false, err: errInfo(e) }) }`],
  ['copyFiles', `await c.copyFiles([[args[0], args[1]]]).then(
    (r) => report({ ok: true, files: r.files, errors: r.errors.map((x) => ({ src: String(x.src), dest: String(x.dest), err: errInfo(x.error) })) }),
    (e) => report({ ok: false, err: errInfo(e) }))`],
]

function runAll(list, native) {
  return Promise.all(list.map(({ code, src, dest }) =>
    runChild(code, { native, args: [src, dest], timeout: CHILD_MS, wrap: native ? [] : LIMIT })))
}

/** The checks for one source kind: every case under both engines, the portable one held to the native one's answer. */
async function refused(t, dir, kind, src, { existing = false } = {}) {
  const list = CASES.map(([name, code]) => ({ name, code, src, dest: path.join(dir, `${kind}-${name.replace(/\W+/g, '-')}`) }))
  const before = new Map()
  if (existing) {
    for (const { dest } of list) {
      fs.writeFileSync(dest, `existing ${path.basename(dest)}\n`, { mode: 0o640 })
      before.set(dest, fs.readFileSync(dest))
    }
  }
  const listing = ls(dir)
  const native = await runAll(list, true)
  t.same(ls(dir), listing, 'the native engine created nothing (the reference answer)')
  const portable = await runAll(list, false)
  list.forEach(({ name, dest }, i) => {
    const n = native[i]
    const p = portable[i]
    t.test(name, async (t) => {
      t.ok(n.result, `native answered (${how(n)})`)
      const want = name === 'copyFiles' ? n.result?.errors?.[0]?.err : n.result?.err
      t.equal(want?.code, 'EINVAL', 'native: EINVAL (reference)')
      t.notOk(p.timedOut, `portable: the call returns, it does not wait or read without end (${how(p)})`)
      if (name === 'copyFiles') {
        t.equal(p.result?.ok, true, `portable: the batch resolves (${how(p)})`)
        t.equal(p.result?.files, 0, 'portable: no file copied')
        t.equal(p.result?.errors?.length, 1, 'portable: the pair is listed in errors')
        t.same(p.result?.errors?.[0]?.err, want, "portable: the row's error is the native engine's (code, errno, syscall, paths, message)")
      } else {
        t.equal(p.result?.ok, false, `portable: the call fails (${how(p)})`)
        t.same(p.result?.err, want, "portable: the error is the native engine's (code, errno, syscall, paths, message)")
      }
      if (existing) t.ok(fs.readFileSync(dest).equals(before.get(dest)), 'the existing destination is left as it was')
    })
  })
  t.same(ls(dir), listing, 'portable: nothing created at any destination, no temporary file left')
}

onFs(t, 'ext4', 'a FIFO source is refused at once with EINVAL, nothing created (portable engine)', async (t, dir) => {
  const fifo = path.join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  await refused(t, dir, 'fifo', fifo)
})

onFs(t, 'ext4', '/dev/zero as source is refused at once with EINVAL, nothing created (portable engine)', async (t, dir) => {
  await refused(t, dir, 'zero', '/dev/zero')
})

onFs(t, 'ext4', 'a FIFO or /dev/zero onto an existing file is refused, the file kept as it was (portable engine)', async (t, dir) => {
  const fifo = path.join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  await t.test('FIFO', (t) => refused(t, dir, 'fifo-over', fifo, { existing: true }))
  await t.test('/dev/zero', (t) => refused(t, dir, 'zero-over', '/dev/zero', { existing: true }))
})
