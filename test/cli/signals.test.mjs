// The command interrupted: SIGINT, SIGTERM and SIGHUP remove the partial
// file of a new copy and exit with 128 + the signal number, and the message
// says what was left (a new file removed; an existing one overwritten in
// place and incomplete; with --atomic, left as it was).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { interruptOnceOpen, makeFile, onFs } from '../helpers.mjs'

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.js')

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

  // A new file: removed.
  execFileSync('sync', ['-f', dir])
  fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
  r = await interrupt(['--reflink=never', big, path.join(dir, 'new')], big)
  t.equal(r.code, 130)
  t.match(r.stderr, /interrupted: the copy in progress was removed/)
  t.notOk(fs.existsSync(path.join(dir, 'new')))
  t.same(fs.readdirSync(dir).sort(), ['big', 'existing', 'kept'], 'no temporary left')
})

// SIGTERM and SIGHUP are handled like SIGINT: the partial file the
// command created is removed; the exit status is 128 + the signal number.
onFs(t, 'ext4', 'the command on SIGTERM / SIGHUP removes its partial file', async (t, dir) => {
  const big = path.join(dir, 'big')
  makeFile(big, 1 << 30)
  for (const [sig, code] of [['SIGTERM', 143], ['SIGHUP', 129], ['SIGINT', 130]]) {
    const out = path.join(dir, `out-${sig}`)
    const r = await interruptOnceOpen([cli, '--reflink=never', big, out], big, sig)
    t.equal(r.code, code, `${sig}: exit ${code} (${r.stderr})`)
    t.match(r.stderr, /interrupted: the copy in progress was removed/)
    t.notOk(fs.existsSync(out), `${sig}: no partial file`)
  }
  t.same(fs.readdirSync(dir), ['big'])
})
