// A C++ exception inside the native engine is an error, never success, a
// crash or a hang: in a range job (std::bad_alloc from an LD_PRELOAD shim:
// ENOMEM, sync and promise, nothing left behind) and in the tree walk
// (test/engine/copy_dir_test.cc: ENOMEM, its threads joined).
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { PORTABLE } from '../engines.mjs'
import { cowChildAsync, tmpScratch, needMounts, onFs } from '../helpers.mjs'

const KiB = 1024
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

// Native only: C++ exceptions exist only in the addon's jobs; the same promise
// on both engines (an error, nothing left behind) is 'copyRange out of space'
// in range-failures.test.mjs.
if (!PORTABLE) t.test('a C++ exception inside a range job becomes ENOMEM (sync and promise), nothing left behind', async (t) => {
  const dir = tmpScratch(t)
  const shimSrc = path.join(dir, 'throw-shim.cc')
  const shim = path.join(dir, 'throw-shim.so')
  // copy_file_range and the two range ioctls throw std::bad_alloc while
  // SHIM_THROW is set, as an allocation inside the job would.
  fs.writeFileSync(shimSrc, `
#include <linux/fs.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <new>
extern "C" ssize_t copy_file_range(int a, loff_t* b, int c, loff_t* d, size_t n, unsigned f) {
  if (getenv("SHIM_THROW")) throw std::bad_alloc();
  return syscall(SYS_copy_file_range, a, b, c, d, n, f);
}
extern "C" int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if ((req == FICLONERANGE || req == FIDEDUPERANGE) && getenv("SHIM_THROW")) throw std::bad_alloc();
  return syscall(SYS_ioctl, fd, req, arg);
}
`)
  execFileSync('g++', ['-shared', '-fPIC', '-O1', '-o', shim, shimSrc])
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, randomBytes(64 * KiB))
  const cases = [
    ['copyRangeSync', 'c.copyRangeSync(S, N)', 'copy_file_range'],
    ['copyRange', 'await c.copyRange(S, N)', 'copy_file_range'],
    ['cloneRangeSync', 'c.cloneRangeSync(S, N)', 'ioctl_ficlonerange'],
    ['cloneRange', 'await c.cloneRange(S, N)', 'ioctl_ficlonerange'],
    ['dedupeRangeSync', 'c.dedupeRangeSync(S, {}, [{ path: S2 }])', 'ioctl_fideduperange'],
    ['dedupeRange', 'await c.dedupeRange(S, {}, [{ path: S2 }])', 'ioctl_fideduperange'],
  ]
  fs.copyFileSync(src, path.join(dir, 'src2'))
  const runs = await Promise.all(cases.map(([name, call]) => cowChildAsync(`
    const S = ${JSON.stringify(src)}, S2 = ${JSON.stringify(path.join(dir, 'src2'))}, N = ${JSON.stringify(path.join(dir, `new-${name}`))};
    (async () => { let r; try { r = ${call}; console.log(JSON.stringify({ ok: true, r: typeof r === 'bigint' ? String(r) : r })) }
      catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.errno, syscall: e.syscall, message: e.message })) } })()`,
  { env: { LD_PRELOAD: shim, SHIM_THROW: '1' } })))
  cases.forEach(([name, , syscall], i) => {
    const r = runs[i]
    t.equal(r.signal, null, `${name}: no crash (${r.err.split('\n')[0] || 'no stderr'})`)
    t.equal(r.status, 0, `${name}: exit 0`)
    const got = JSON.parse(r.out || '{}')
    t.match(got, { code: 'ENOMEM', errno: -12, syscall }, `${name}: ENOMEM, never success (${r.out})`)
  })
  t.same(fs.readdirSync(dir).sort(), ['src', 'src2', 'throw-shim.cc', 'throw-shim.so'], 'no destination left behind')
})

// A copy thread's exception ends the call while the walker is handing a
// held batch of directories over (btrfs makes 256 before their files go):
// the queue is dropped under the walker's push, and the chunk it was
// pushing must still be let go, not read after it was moved away.
if (!PORTABLE) onFs(t, 'btrfs', 'a copy thread\'s exception while the walker hands a batch over: ENOMEM, no crash', async (t, dir) => {
  const shimSrc = path.join(dir, 'throw-shim.cc')
  const shim = path.join(dir, 'throw-shim.so')
  fs.writeFileSync(shimSrc, `
#include <linux/fs.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <new>
extern "C" int ioctl(int fd, unsigned long req, ...) {
  va_list ap;
  va_start(ap, req);
  void* arg = va_arg(ap, void*);
  va_end(ap);
  if ((req == FICLONERANGE || req == FICLONE) && getenv("SHIM_THROW")) throw std::bad_alloc();
  return syscall(SYS_ioctl, fd, req, arg);
}
`)
  execFileSync('g++', ['-shared', '-fPIC', '-O1', '-o', shim, shimSrc])
  const src = path.join(dir, 'src')
  for (let d = 0; d < 300; d++) {
    fs.mkdirSync(path.join(src, `d${d}`), { recursive: true })
    for (let f = 0; f < 20; f++) fs.writeFileSync(path.join(src, `d${d}`, `f${f}`), 'x')
  }
  // Under a low descriptor limit the walker has no room to copy beside
  // the copy threads: it waits on the full queue, where the drop finds it.
  for (const nofile of [64, 1024]) {
    for (let run = 0; run < 3; run++) {
      const dest = path.join(dir, `dest-${nofile}-${run}`)
      const code = `require(${JSON.stringify(root)}).copyDir(${JSON.stringify(src)}, ${JSON.stringify(dest)}, { concurrency: 2 })
        .then((r) => console.log(JSON.stringify({ ok: true, files: r.files })), (e) => console.log(JSON.stringify({ code: e.code })))`
      const r = spawnSync('prlimit', [`--nofile=${nofile}`, process.execPath, '-e', code], {
        encoding: 'utf8', timeout: 60000, env: { ...process.env, LD_PRELOAD: shim, SHIM_THROW: '1' },
      })
      t.equal(r.signal, null, `nofile ${nofile}, run ${run}: no crash (${r.stderr.split('\n')[0] || 'no stderr'})`)
      t.match(JSON.parse(r.stdout.trim().split('\n').pop() || '{}'), { code: 'ENOMEM' }, `nofile ${nofile}, run ${run}: ENOMEM (${r.stdout.trim()})`)
    }
  }
})

// The tree walk's C++ test (test/engine/copy_dir_test.cc), built here: a
// throwing walk ends the call with ENOMEM and joins its threads (a hang is
// killed after 20 s).
t.test('the engine turns an exception in the walk into ENOMEM, joins its threads (C++)', (t) => {
  const bin = path.join(tmpScratch(t), 'copy_dir_test')
  const engine = path.join(root, 'src-native/engine')
  const sources = fs.readdirSync(engine).filter((f) => f.endsWith('.cc')).map((f) => path.join(engine, f))
  execFileSync('g++', ['-std=c++17', '-O1', '-Wall', '-Wextra', '-Werror', '-pthread', '-o', bin,
    path.join(root, 'test/engine/copy_dir_test.cc'), ...sources])
  const { dir } = { dir: needMounts(t, 'xfs')?.[0] }
  if (!dir) return t.end()
  const scratch = fs.mkdtempSync(path.join(dir, 'tw-'))
  t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }))
  const res = spawnSync(bin, [scratch], { encoding: 'utf8', timeout: 20000 })
  t.equal(res.signal, null, 'no hang (killed after 20 s) and no crash')
  t.match(res.stdout, /^\d+ checks, 0 failed$/m, res.stdout + res.stderr)
  t.end()
})
