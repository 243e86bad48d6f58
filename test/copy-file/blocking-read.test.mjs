// A regular file whose read() blocks (/proc/kmsg: S_IFREG, size 0, a read
// waits until the kernel logs something): copyFile, copyFileSync, copyRange
// and copyRangeSync fail at once with EAGAIN and say why, never hang a
// thread, and leave nothing. Native engine (the portable one's EAGAIN comes
// from libuv, worded as libuv words it).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { cowChild } from '../helpers.mjs'

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

t.test('a regular file whose read blocks (/proc/kmsg): prompt EAGAIN, nothing left', { skip: !isRoot && 'needs root' }, async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-kmsg-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  spawnSync('dd', ['if=/proc/kmsg', 'iflag=nonblock', 'of=/dev/null'], { stdio: 'ignore' })
  const r = cowChild(t, `
    const out = (x) => console.log(JSON.stringify(x))
    const d = ${JSON.stringify(dir)}
    const seen = (e) => ({ name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, message: e.message })
    ;(async () => {
      for (const [name, f] of [
        ['copyFile', () => cow.copyFile('/proc/kmsg', d + '/a', { signal: new AbortController().signal })],
        ['copyFileSync', async () => cow.copyFileSync('/proc/kmsg', d + '/b')],
        ['copyRange', () => cow.copyRange('/proc/kmsg', d + '/c')],
        ['copyRangeSync', async () => cow.copyRangeSync('/proc/kmsg', d + '/e')],
      ]) {
        try { out({ name, resolved: await f() }) } catch (e) { out({ name, error: seen(e) }) }
      }
      process.exit(0)
    })()
  `)
  const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
  t.equal(lines.length, 4, r.stderr)
  for (const l of lines) {
    t.equal(l.error?.code, 'EAGAIN', `${l.name}: EAGAIN`)
    t.equal(l.error?.errno, -11, `${l.name}: errno`)
    t.match(l.error?.message, /would block: not a regular disk file/, `${l.name}: says why`)
  }
  t.same(fs.readdirSync(dir), [], 'nothing created is left')
})
