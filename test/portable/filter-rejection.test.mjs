// A copyDir filter must be synchronous; one that returns a Promise (an async
// function) makes copyDir reject with ERR_INVALID_RETURN_VALUE, as fs.cpSync
// does. When that promise itself rejects, its rejection is handled: the
// process sees no unhandled rejection and goes on (exit code 0). Both
// engines: the native addon, and the portable engine (COWCOPY_NATIVE=0).
// Each case runs in its own child node (an unhandled rejection ends the
// process with a non-zero code; the child is killed if it hangs).
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { onFs } from '../helpers.mjs'
import { how, runChild } from './child.mjs'

const BOOM = 'the filter promise rejects (test)'

// args: [src, dest]; reports { settled, code, message } once copyDir settles.
// [name, filter source, whether the root itself gets the Promise]
const FILTERS = [
  ['an async filter that throws (asked about the root)', `async () => { throw new Error(${JSON.stringify(BOOM)}) }`, true],
  ['a filter returning a rejected promise for an entry below the root',
    `(rel) => rel === '' ? true : Promise.reject(new Error(${JSON.stringify(BOOM)}))`, false],
  ['an async filter that resolves true', 'async () => true', true],
]

function childCode(filter) {
  return `
const filter = ${filter};
const r = await c.copyDir(args[0], args[1], { filter }).then(
  (res) => ({ settled: 'resolved', files: res.files }),
  (e) => ({ settled: 'rejected', code: e.code, name: e.name, message: e.message }),
);
// Let any rejection left unhandled surface before the report (the default
// mode throws it as an uncaught error and the process exits non-zero).
await new Promise((resolve) => setImmediate(resolve));
await new Promise((resolve) => setTimeout(resolve, 50));
report(r);
`
}

for (const native of [true, false]) {
  const engine = native ? 'native engine' : 'portable engine (COWCOPY_NATIVE=0)'
  onFs(t, 'ext4', `an async copyDir filter rejects the copy with ERR_INVALID_RETURN_VALUE and leaves no unhandled rejection: ${engine}`, async (t, dir) => {
    const src = path.join(dir, 'src')
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
    fs.writeFileSync(path.join(src, 'a'), 'a\n')
    fs.writeFileSync(path.join(src, 'sub', 'b'), 'b\n')
    let i = 0
    for (const [name, filter, atRoot] of FILTERS) {
      await t.test(name, async (t) => {
        const dest = path.join(dir, `dest-${i++}`)
        const r = await runChild(childCode(filter), { native, args: [src, dest], timeout: 20000 })
        t.equal(r.status, 0, `the process exits 0 (${how(r)})`)
        t.notMatch(r.stderr, /unhandled|ERR_UNHANDLED_REJECTION/i, 'no unhandled rejection reported')
        t.notMatch(r.stderr, BOOM, "the filter's own error is never thrown at the process")
        t.equal(r.result?.settled, 'rejected', 'copyDir rejects')
        t.equal(r.result?.code, 'ERR_INVALID_RETURN_VALUE', `with ERR_INVALID_RETURN_VALUE (got ${r.result?.code}: ${r.result?.message})`)
        if (atRoot) t.notOk(fs.existsSync(dest), 'the root was refused: nothing created')
      })
    }
  })
}
