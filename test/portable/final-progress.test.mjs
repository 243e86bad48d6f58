// A batch whose onProgress throws on its FINAL call (files === the number of
// files: every file is copied and in place) resolves with the full result,
// and the callback's error is thrown again asynchronously, as an
// 'uncaughtException', as copyFile does (lib/progress.ts rethrowLater): the
// work took effect, so the promise must not say it failed (a retry would
// then fail with EEXIST). copyFiles, copyDir, importFiles; the native engine
// and the portable one (COWCOPY_NATIVE=0). Each call in its own child.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { onFs } from '../helpers.mjs'
import { how, runChild } from './child.mjs'

const N = 5
const BOOM = 'onProgress throws on its final call (test)'

// args: [srcDir, destRoot]; the sources are srcDir/f0..f4 (f1, f3 in srcDir/sub).
const CALLS = {
  copyFiles: `(op) => c.copyFiles(files.map((f, i) => [f, args[1] + '/x' + i]), { onProgress: op })`,
  copyDir: `(op) => c.copyDir(args[0], args[1] + '/tree', { onProgress: op })`,
  importFiles: `(op) => c.importFiles(args[1] + '/imp', files.map((f, i) => ['d/x' + i, f]), { onProgress: op })`,
}

function childCode(call) {
  return `
const files = ${JSON.stringify([...Array(N).keys()])}.map((i) => args[0] + (i % 2 ? '/sub/f' : '/f') + i);
const uncaught = [];
const unhandled = [];
process.on('uncaughtException', (e) => uncaught.push(String(e?.message ?? e)));
process.on('unhandledRejection', (e) => unhandled.push(String(e?.message ?? e)));
let finalCalls = 0;
const op = (p) => {
  if (p.files === ${N}) {
    finalCalls++;
    throw new Error(${JSON.stringify(BOOM)});
  }
};
const r = await (${call})(op).then(
  (res) => ({ settled: 'resolved', files: res.files, errors: res.errors.map((x) => errInfo(x.error)) }),
  (e) => ({ settled: 'rejected', error: errInfo(e) }),
);
// The rethrow is asynchronous: let it land before the report.
await new Promise((resolve) => setImmediate(resolve));
await new Promise((resolve) => setTimeout(resolve, 50));
report({ ...r, uncaught, unhandled, finalCalls });
`
}

for (const native of [true, false]) {
  const engine = native ? 'native engine' : 'portable engine (COWCOPY_NATIVE=0)'
  onFs(t, 'ext4', `a throwing final onProgress does not fail a complete batch; its error is rethrown as uncaught: ${engine}`, async (t, dir) => {
    const src = path.join(dir, 'src')
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
    for (let i = 0; i < N; i++) fs.writeFileSync(path.join(src, i % 2 ? 'sub' : '', `f${i}`), `file ${i}\n`)
    for (const [name, call] of Object.entries(CALLS)) {
      await t.test(name, async (t) => {
        const out = path.join(dir, `out-${name}`)
        fs.mkdirSync(out)
        const r = await runChild(childCode(call), { native, args: [src, out], timeout: 20000 })
        t.ok(r.result, `the child reports (${how(r)})`)
        const res = r.result ?? {}
        t.equal(res.settled, 'resolved', `the promise resolves (got: ${res.error?.message ?? res.settled})`)
        t.equal(res.files, N, `with every file counted (${N})`)
        t.same(res.errors, [], 'and no error rows')
        t.same(res.uncaught, [BOOM], "the callback's error surfaces once, as an uncaught exception")
        t.same(res.unhandled, [], 'no unhandled rejection')
        t.equal(res.finalCalls, 1, 'the final call was made once')
        // The work is in place either way.
        const placed = name === 'copyFiles'
          ? [...Array(N).keys()].map((i) => path.join(out, `x${i}`))
          : name === 'copyDir'
            ? [...Array(N).keys()].map((i) => path.join(out, 'tree', i % 2 ? 'sub' : '', `f${i}`))
            : [...Array(N).keys()].map((i) => path.join(out, 'imp', 'd', `x${i}`))
        t.same(placed.filter((p) => !fs.existsSync(p)).map((p) => path.relative(out, p)), [], 'every file is in place')
      })
    }
  })
}
