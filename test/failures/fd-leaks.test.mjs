// Every path through the engine, success and failure, sync and promise,
// closes what it opened: /proc/self/fd is the same before and after.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFile, copyFileSync, reflinkSync } from 'cowcopy'
import { fsDir, openFds, tmpScratch } from '../helpers.mjs'

t.test('no descriptor leaks on any outcome', async (t) => {
  const d = tmpScratch(t)
  const src = path.join(d, 'src')
  fs.writeFileSync(src, 'x'.repeat(100000))
  fs.mkdirSync(path.join(d, 'dir'))
  execFileSync('mkfifo', [path.join(d, 'fifo')])
  fs.symlinkSync('nowhere', path.join(d, 'dangling'))
  const cow = fsDir('btrfs').dir

  const calls = [
    () => copyFileSync(src, path.join(d, 'ok')),
    () => copyFileSync(src, path.join(d, 'ok'), { reflink: 'never' }),
    () => copyFileSync(src, src),
    () => copyFileSync(path.join(d, 'missing'), path.join(d, 'x')),
    () => copyFileSync(src, path.join(d, 'ok'), { overwrite: false }),
    () => copyFileSync(path.join(d, 'dir'), path.join(d, 'x')),
    () => copyFileSync(src, path.join(d, 'dir')),
    () => copyFileSync(path.join(d, 'fifo'), path.join(d, 'x')),
    () => copyFileSync(src, path.join(d, 'fifo')),
    () => copyFileSync(src, path.join(d, 'dangling')),
    () => reflinkSync(src, path.join(d, 'x')),
    () => copyFileSync('/proc/self/status', path.join(d, 'status')),
    ...(cow ? [() => copyFileSync(src, path.join(cow, `fd-${process.pid}`), { reflink: 'always' })] : []),
  ]
  const before = openFds()
  for (let round = 0; round < 20; round++) {
    for (const call of calls) {
      try {
        call()
      } catch {}
    }
    await Promise.allSettled([
      copyFile(src, path.join(d, `p${round}`)),
      copyFile(path.join(d, 'missing'), path.join(d, 'x')),
      copyFile(path.join(d, 'fifo'), path.join(d, 'x')),
      copyFile(src, path.join(d, 'dir')),
      copyFile(src, path.join(d, 'x'), { reflink: 'always' }),
    ])
  }
  if (cow) fs.rmSync(path.join(cow, `fd-${process.pid}`), { force: true })
  t.same(openFds(), before, '/proc/self/fd unchanged')
  t.notOk(fs.existsSync(path.join(d, 'x')), 'no destination left by any failed call')
})
