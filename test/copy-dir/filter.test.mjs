// copyDir's filter: an async filter (or one returning a promise or a
// thenable) is refused with ERR_INVALID_RETURN_VALUE, as fs.cpSync does; a
// filter that throws while the work queue is full rejects the call, with no
// hang and no descriptor leak; the native binding's early returns release
// the filter's thread-safe function (the process exits).
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { copyDir } from 'cowcopy'
import { PORTABLE } from '../engines.mjs'
import { nodeChild, onFs, openFds } from '../helpers.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const DIST = path.join(root, 'dist', 'index.js')
const NATIVE = path.join(root, 'dist', 'native.js')

// An async filter would read as true and copy everything: it is refused with
// ERR_INVALID_RETURN_VALUE, as fs.cpSync does (CopyDirOptions.filter says
// why it is not awaited).
onFs(t, 'ext4', 'an async filter is refused (ERR_INVALID_RETURN_VALUE): Promise.resolve(false) copies nothing', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
  for (const f of ['keep.txt', 'skip.txt', 'sub/keep.txt', 'sub/skip.txt']) fs.writeFileSync(path.join(src, f), f)
  for (const [name, filter] of [
    ['async function', async (rel) => !rel.endsWith('skip.txt')],
    ['Promise.resolve(false) for one entry', (rel) => (rel === 'skip.txt' ? Promise.resolve(false) : true)],
    ['a thenable', (rel) => (rel === 'skip.txt' ? { then: (ok) => ok(false) } : true)],
  ]) {
    const dest = path.join(dir, `dest-${name.replace(/\W+/g, '-')}`)
    const err = await copyDir(src, dest, { filter }).then(() => null, (e) => e)
    t.ok(err instanceof TypeError, `${name}: a TypeError`)
    t.equal(err?.code, 'ERR_INVALID_RETURN_VALUE', name)
    t.match(err?.message, /^Expected boolean to be returned from the "filter" function but got /, name)
    t.notOk(fs.existsSync(path.join(dest, 'skip.txt')), `${name}: the entry it left out is not copied`)
    t.notOk(fs.existsSync(path.join(dest, 'sub')), `${name}: the walk stopped`)
  }
  // A synchronous filter still works, on the same tree.
  const r = await copyDir(src, path.join(dir, 'sync'), { filter: (rel) => !rel.endsWith('skip.txt') })
  t.equal(r.files, 2)
  t.same(fs.readdirSync(path.join(dir, 'sync', 'sub')), ['keep.txt'])
})

// The filter's thread-safe function is released on the binding's early
// returns: one left behind keeps the event loop alive, and the process never
// exits.

// Native only: the addon's binding called directly (its thread-safe function);
// the portable filter is a plain callback, refused or obeyed above on both engines.
if (!PORTABLE) onFs(t, 'ext4', 'copyDir native early returns release the filter (the process exits)', async (t, dir) => {
  fs.mkdirSync(path.join(dir, 'src'))
  for (const bad of ['flags', 'control']) {
    const r = nodeChild(
      `const { native } = require(process.argv[1]); const [bad, src, dest] = process.argv.slice(2);
      try {
        if (bad === 'flags') native.copyDir(src, dest, 'not flags', 0, undefined, () => [])
        else native.copyDir(src, dest, 0, 0, new Float64Array(3), () => [])
        console.log('no throw')
      } catch (e) { console.log(e.constructor.name + ': ' + e.message) }`,
      [NATIVE, bad, path.join(dir, 'src'), path.join(dir, 'dest')],
      { timeout: 5000 },
    )
    t.equal(r.signal, null, `${bad}: exits by itself (no leaked thread-safe function)`)
    t.match(r.stdout, /^TypeError: cowcopy native: bad/, bad)
  }
})

onFs(t, 'xfs', 'a throwing filter with the queue full: the call rejects, no hang, no fd leak', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  for (let d = 0; d < 30; d++) {
    fs.mkdirSync(path.join(src, `d${d}`), { recursive: true })
    for (let i = 0; i < 80; i++) fs.writeFileSync(path.join(src, `d${d}`, `f${i}`), 'x')
  }
  const fds = openFds()
  let calls = 0
  const boom = new Error('filter failed')
  await t.rejects(copyDir(src, dest, {
    concurrency: 2,
    filter: () => {
      if (++calls > 20 * 80) throw boom
      return true
    },
  }), boom)
  t.same(openFds(), fds, 'no descriptor leaked')
})
