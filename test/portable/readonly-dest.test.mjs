// An existing destination its owner made read-only (0444) is refused by
// copyFile with EACCES on both engines, as fs.copyFileSync refuses it (the
// native engine and libuv open it for writing). The portable engine replaces
// a destination by a rename, which needs only its directory: it checks the
// file's write permission first. Run as uid 65534 (root may write anything);
// the file keeps its bytes and mode, and nothing else appears. atomic is a
// replacement by design (the old file is never opened), on both engines.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { onFs } from '../helpers.mjs'
import { NOBODY, runChild } from './child.mjs'

const CASES = {
  copyFileSync: 'c.copyFileSync(args[0], args[1])',
  copyFile: 'await c.copyFile(args[0], args[1])',
  "copyFile reflink 'never'": "await c.copyFile(args[0], args[1], { reflink: 'never' })",
  'fs.copyFileSync (reference)': "(await import('node:fs')).copyFileSync(args[0], args[1])",
}

onFs(t, 'ext4', 'a read-only destination is refused with EACCES, as fs.copyFile refuses it, on both engines', async (t, dir) => {
  if (process.getuid() !== 0) return t.skip('needs root (to run the copy as another user)')
  fs.chownSync(dir, NOBODY, NOBODY)
  fs.chmodSync(dir, 0o755)
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'new bytes')
  fs.chownSync(src, NOBODY, NOBODY)
  for (const native of [true, false]) {
    for (const [name, call] of Object.entries(CASES)) {
      const dest = path.join(dir, `dest-${native}-${name.replace(/\W+/g, '-')}`)
      fs.writeFileSync(dest, 'old bytes')
      fs.chownSync(dest, NOBODY, NOBODY)
      fs.chmodSync(dest, 0o444)
      const r = await runChild(`try { ${call}; report({ ok: true }) } catch (e) { report({ ok: false, code: e.code, syscall: e.syscall }) }`, { native, uid: NOBODY, args: [src, dest] })
      const label = `${native ? 'native' : 'portable'}: ${name}`
      t.same(r.result, { ok: false, code: 'EACCES', syscall: 'copyfile' }, `${label}: EACCES (${r.stderr.trim()})`)
      t.equal(fs.readFileSync(dest, 'utf8'), 'old bytes', `${label}: the file keeps its bytes`)
      t.equal(fs.statSync(dest).mode & 0o777, 0o444, `${label}: and its mode`)
    }
  }
  t.same(fs.readdirSync(dir).filter((n) => n.startsWith('.')), [], 'no temporary file left')
})
