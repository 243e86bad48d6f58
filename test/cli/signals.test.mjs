// Issue 12 (20), the command: C1 control characters in printed names, and
// what Ctrl-C says it left behind (true for a new file, an in-place
// overwrite of an existing one, and --atomic).
import t from 'tap'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { interruptOnceOpen, makeFile, onFs } from './helpers.mjs'

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js')
const run = (args) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' })

onFs(t, 'ext4', 'C1 control characters in names are escaped (CSI cannot drive the terminal)', async (t, dir) => {
  const name = 'a\u009b31mred\u0085b'
  const src = path.join(dir, name)
  fs.writeFileSync(src, 'x')
  const r = run(['-v', src, path.join(dir, 'copy')])
  t.equal(r.status, 0, r.stderr)
  t.notMatch(r.stdout, /[\u0080-\u009f]/, 'no raw C1 character printed')
  t.match(r.stdout, `'${path.join(dir, 'a\\u009b31mred\\u0085b')}'`)
  const e = run([path.join(dir, 'missing\u009bx'), path.join(dir, 'c2')])
  t.equal(e.status, 1)
  t.notMatch(e.stderr, /[\u0080-\u009f]/)
  t.match(e.stderr, /missing\\u009bx/)
  // C0 and DEL as before.
  const n = run(['-v', src, path.join(dir, 'new\nline\x7f')])
  t.match(n.stdout, /new\\x0aline\\x7f/)
})

const interrupt = (args, source) => interruptOnceOpen([cli, ...args], source)

onFs(t, 'ext4', 'Ctrl-C: the message says what happened to the destination', async (t, dir) => {
  const big = path.join(dir, 'big')
  makeFile(big, 1 << 30)
  const old = Buffer.alloc(1 << 20, 0x61)
  const prepare = (name) => {
    fs.writeFileSync(path.join(dir, name), old)
    execFileSync('sync', ['-f', dir])
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
  }

  // An existing file overwritten in place: it was truncated, not removed.
  prepare('existing')
  let r = await interrupt(['--reflink=never', big, path.join(dir, 'existing')], big)
  t.equal(r.code, 130)
  t.notMatch(r.stderr, /removed/, 'does not claim the copy was removed')
  t.match(r.stderr, `interrupted: '${path.join(dir, 'existing')}' was being overwritten in place and is incomplete: its old content is lost`)
  t.ok(fs.existsSync(path.join(dir, 'existing')), 'the destination is still there')
  t.notOk(fs.readFileSync(path.join(dir, 'existing')).equals(old), 'and its old content is gone, as the message says')

  // --atomic: left as it was.
  prepare('kept')
  r = await interrupt(['--atomic', '--reflink=never', big, path.join(dir, 'kept')], big)
  t.equal(r.code, 130)
  t.match(r.stderr, `interrupted: '${path.join(dir, 'kept')}' was left as it was`)
  t.ok(fs.readFileSync(path.join(dir, 'kept')).equals(old), 'unchanged')

  // A new file: removed (the old wording, still true here).
  execFileSync('sync', ['-f', dir])
  fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
  r = await interrupt(['--reflink=never', big, path.join(dir, 'new')], big)
  t.equal(r.code, 130)
  t.match(r.stderr, /interrupted: the copy in progress was removed/)
  t.notOk(fs.existsSync(path.join(dir, 'new')))
  t.same(fs.readdirSync(dir).sort(), ['big', 'existing', 'kept'], 'no temporary left')
})
