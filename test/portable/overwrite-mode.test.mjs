// The portable engine (COWCOPY_NATIVE=0): overwriting an existing private
// destination (0600, secret bytes) with a 0644 source never makes the old
// data readable at a wider mode, not even for a moment.
//
// Proved deterministically, not by racing a reader: the copy runs under
// strace, and the syscalls that touch the destination are replayed against
// a model of the OLD inode (its mode, its length, how much of it from offset
// 0 already holds new bytes). A chmod/fchmod that widens the old inode
// (any bit its old mode did not have) while any old byte is still in it is
// the failure. Every correct strategy passes: truncate (ftruncate to 0,
// O_TRUNC) before the mode, a temporary file renamed over the name (the old
// inode's mode never changes), unlink and create, FICLONE over it.
import t from 'tap'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { onFs } from '../helpers.mjs'
import { splitArgs } from '../strace-args.cjs'
import { have, how, runChild } from './child.mjs'

const TRACE = [
  'openat', 'open', 'creat', 'close', 'fchmod', 'fchmodat', 'fchmodat2', 'chmod', 'ftruncate', 'truncate',
  'rename', 'renameat', 'renameat2', 'unlink', 'unlinkat', 'write', 'pwrite64', 'writev', 'pwritev', 'pwritev2',
  'copy_file_range', 'sendfile', 'ioctl',
]

function unquote(a) {
  const m = /^"((?:[^"\\]|\\.)*)"/.exec(a)
  if (!m) return undefined
  return m[1].replace(/\\x([0-9a-f]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16))).replace(/\\(.)/g, '$1')
}

const fdOf = (a) => {
  const m = /^(-?\d+)(?:<(.*)>)?$/.exec(a ?? '')
  return m ? { fd: Number(m[1]), path: m[2] } : undefined
}
const num = (a) => {
  const m = /^\[?(-?\d+)/.exec(a ?? '')
  return m ? Number(m[1]) : undefined
}

// strace -f lines, with "<unfinished ...>" / "<... x resumed>" joined; each
// call placed where it returned. -> [{ pid, name, args: string[], ret: number }]
function parseTrace(text) {
  const pending = new Map()
  const calls = []
  for (const raw of text.split('\n')) {
    let line = raw
    let m = /^(\d+)\s+(\w+)\((.*) <unfinished \.\.\.>$/.exec(line)
    if (m) {
      pending.set(m[1], { name: m[2], head: m[3] })
      continue
    }
    m = /^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$/.exec(line)
    if (m) {
      const p = pending.get(m[1])
      pending.delete(m[1])
      if (!p) continue
      line = `${m[1]} ${p.name}(${p.head}${m[3]}`
    }
    m = /^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+|\?)/.exec(line)
    if (!m) continue
    calls.push({ pid: m[1], name: m[2], args: splitArgs(m[3]), ret: m[4] === '?' ? NaN : Number(m[4]) })
  }
  return calls
}

/**
 * Replays the calls against the old inode at `dest`: returns { touched,
 * violations, replaced }. `oldMode`/`oldSize`: what the destination was.
 */
function replay(calls, dest, oldMode, oldSize, srcSize) {
  const resolve = (dirArg, p) => {
    if (p === undefined) return undefined
    if (p.startsWith('/')) return path.normalize(p)
    const dir = fdOf(dirArg)?.path
    return dir ? path.join(dir, p) : p
  }
  let nameIsOld = true
  const oldFds = new Map() // fd -> { pos }
  let len = oldSize
  let covered = 0 // bytes from offset 0 that hold new data
  let touched = 0
  const violations = []
  const holdsOld = () => covered < len
  const truncate = (n) => {
    len = n
    covered = Math.min(covered, n)
  }
  const write = (off, n) => {
    if (!(n > 0)) return
    if (off <= covered) covered = Math.max(covered, off + n)
    len = Math.max(len, off + n)
  }
  const chmod = (mode, call) => {
    touched++
    const wider = mode & 0o7777 & ~oldMode
    if (wider && holdsOld()) {
      violations.push(`${call.name}(${call.args.join(', ')}) made the existing destination ${mode.toString(8).padStart(4, '0')} ` +
        `(it was ${oldMode.toString(8).padStart(4, '0')}) while ${len - covered} of its ${len} bytes were still the old data`)
    }
  }
  const oldFd = (a) => {
    const f = fdOf(a)
    return f && oldFds.has(f.fd) ? f.fd : undefined
  }
  const byName = (p) => {
    if (p === dest) return nameIsOld
    const m = /^\/proc\/(?:self|\d+)\/fd\/(\d+)$/.exec(p ?? '')
    return m ? oldFds.has(Number(m[1])) : false
  }
  for (const call of calls) {
    const a = call.args
    if (Number.isNaN(call.ret) || call.ret < 0) continue
    switch (call.name) {
      case 'openat':
      case 'open':
      case 'creat': {
        const [dirArg, pArg, flagArg] = call.name === 'openat' ? a : [undefined, a[0], a[1]]
        const p = resolve(dirArg, unquote(pArg))
        oldFds.delete(call.ret)
        if (p === dest && nameIsOld && !/O_EXCL/.test(flagArg ?? '')) {
          touched++
          oldFds.set(call.ret, { pos: 0 })
          if (call.name === 'creat' || /O_TRUNC/.test(flagArg ?? '')) truncate(0)
        }
        break
      }
      case 'close':
        oldFds.delete(fdOf(a[0])?.fd)
        break
      case 'fchmod':
        if (oldFd(a[0]) !== undefined) chmod(parseInt(a[1], 8), call)
        break
      case 'chmod':
        if (byName(resolve(undefined, unquote(a[0])))) chmod(parseInt(a[1], 8), call)
        break
      case 'fchmodat':
      case 'fchmodat2': {
        const p = unquote(a[1])
        if (p === '' && oldFd(a[0]) !== undefined) chmod(parseInt(a[2], 8), call)
        else if (byName(resolve(a[0], p))) chmod(parseInt(a[2], 8), call)
        break
      }
      case 'ftruncate':
        if (oldFd(a[0]) !== undefined) { touched++; truncate(num(a[1])) }
        break
      case 'truncate':
        if (byName(resolve(undefined, unquote(a[0])))) { touched++; truncate(num(a[1])) }
        break
      case 'write':
      case 'writev':
      case 'sendfile': { // sendfile(out, in, ...): out's position advances as a write's
        const fd = oldFd(a[0])
        if (fd !== undefined) {
          const st = oldFds.get(fd)
          write(st.pos, call.ret)
          st.pos += call.ret
        }
        break
      }
      case 'pwrite64':
      case 'pwritev':
      case 'pwritev2': {
        const fd = oldFd(a[0])
        if (fd !== undefined) write(num(a[3]), call.ret)
        break
      }
      case 'copy_file_range': {
        const fd = oldFd(a[2])
        if (fd !== undefined) {
          const st = oldFds.get(fd)
          const off = a[3] === 'NULL' ? st.pos : num(a[3])
          write(off, call.ret)
          if (a[3] === 'NULL') st.pos += call.ret
        }
        break
      }
      case 'ioctl':
        // A whole-file clone over the old inode: every byte is the source's now.
        if (oldFd(a[0]) !== undefined && /\bFICLONE\b|BTRFS_IOC_CLONE\b/.test(a[1])) {
          len = srcSize
          covered = srcSize
        }
        break
      case 'rename':
      case 'renameat':
      case 'renameat2': {
        const to = call.name === 'rename' ? resolve(undefined, unquote(a[1])) : resolve(a[2], unquote(a[3]))
        if (to === dest && nameIsOld && !/RENAME_EXCHANGE/.test(a[4] ?? '')) {
          // The name is a new inode; the old one is out of reach.
          touched++
          nameIsOld = false
        }
        break
      }
      case 'unlink':
      case 'unlinkat': {
        const p = call.name === 'unlink' ? resolve(undefined, unquote(a[0])) : resolve(a[0], unquote(a[1]))
        if (p === dest && nameIsOld) {
          touched++
          nameIsOld = false
        }
        break
      }
    }
  }
  return { touched, violations, replaced: !nameIsOld }
}

const CALLS = {
  copyFileSync: 'c.copyFileSync(args[0], args[1])',
  copyFile: 'await c.copyFile(args[0], args[1])',
  'copyFileSync reflink never': "c.copyFileSync(args[0], args[1], { reflink: 'never' })",
  'copyFile reflink never': "await c.copyFile(args[0], args[1], { reflink: 'never' })",
  'copyFile preserve timestamps': 'await c.copyFile(args[0], args[1], { preserve: { timestamps: true } })',
  copyFiles: 'const r = await c.copyFiles([[args[0], args[1]]]); if (r.errors.length) throw r.errors[0].error',
}

/** Runs `call` under strace onto a fresh 0600 secret at `dest`; returns the child's end and the replay. */
async function traced(dir, name, call, native = false) {
  const src = path.join(dir, `${name}.src`)
  const dest = path.join(dir, `${name}.secret`)
  const srcData = Buffer.from('public data, 0644\n')
  fs.writeFileSync(src, srcData)
  fs.chmodSync(src, 0o644)
  const secret = randomBytes(64 << 10)
  fs.writeFileSync(dest, secret, { mode: 0o600 })
  fs.chmodSync(dest, 0o600)
  const trace = path.join(dir, `${name}.strace`)
  const r = await runChild(`${call}; report('done')`, {
    args: [src, dest],
    wrap: ['strace', '-f', '-y', '-qq', '-e', 'signal=none', '-e', `trace=${TRACE.map((x) => `?${x}`).join(',')}`, '-o', trace],
    timeout: 60000,
    native,
  })
  const text = fs.existsSync(trace) ? fs.readFileSync(trace, 'utf8') : ''
  fs.rmSync(trace, { force: true })
  return { r, src, dest, srcData, replay: replay(parseTrace(text), dest, 0o600, secret.length, srcData.length) }
}

const haveStrace = have('strace') && await new Promise((resolve) => {
  const c = spawn('strace', ['-f', '-qq', '-e', 'trace=none', 'true'], { stdio: 'ignore' })
  c.on('error', () => resolve(false))
  c.on('close', (code) => resolve(code === 0))
})

t.test('the model itself: it rejects mode-then-truncate and accepts the correct orders', async (t) => {
  // Replays strace lines onto /x/dest, which held 100 bytes at 0600, for a 5-byte source.
  const model = (...lines) => replay(parseTrace(lines.join('\n')), '/x/dest', 0o600, 100, 5)
  const bad = model(
    '1 openat(AT_FDCWD</w>, "/x/dest", O_WRONLY|O_NOCTTY|O_NONBLOCK|O_CLOEXEC) = 18</x/dest>',
    '1 fchmod(18</x/dest>, 0644) = 0',
    '1 ftruncate(18</x/dest>, 0) = 0',
  )
  t.equal(bad.violations.length, 1, 'fchmod 0644 then ftruncate: a violation')
  const split = model(
    '1 openat(AT_FDCWD</w>, "/x/dest", O_WRONLY|O_CLOEXEC) = 18</x/dest>',
    '2 fchmod(18</x/dest>, 0644 <unfinished ...>',
    '1 ftruncate(18</x/dest>, 0) = 0',
    '2 <... fchmod resumed>) = 0',
  )
  t.equal(split.violations.length, 0, 'the order is where calls return')
  const good = model(
    '1 openat(AT_FDCWD</w>, "/x/dest", O_WRONLY|O_CLOEXEC) = 18</x/dest>',
    '1 ftruncate(18</x/dest>, 0) = 0',
    '1 fchmod(18</x/dest>, 0644) = 0',
    '1 pwrite64(18</x/dest>, "abcde", 5, 0) = 5',
  )
  t.same(good.violations, [], 'ftruncate then fchmod: fine')
  const overwriteThenCut = model(
    '1 openat(AT_FDCWD</w>, "/x/dest", O_WRONLY|O_CLOEXEC) = 18</x/dest>',
    '1 pwrite64(18</x/dest>, "abcde", 5, 0) = 5',
    '1 fchmod(18</x/dest>, 0644) = 0',
    '1 ftruncate(18</x/dest>, 5) = 0',
  )
  t.equal(overwriteThenCut.violations.length, 1, 'widened while the old tail is still there')
  const renamed = model(
    '1 openat(AT_FDCWD</w>, "/x/.dest.cowcopy-1", O_WRONLY|O_CREAT|O_EXCL, 0600) = 18</x/.dest.cowcopy-1>',
    '1 fchmod(18</x/.dest.cowcopy-1>, 0644) = 0',
    '1 rename("/x/.dest.cowcopy-1", "/x/dest") = 0',
    '1 fchmod(18</x/dest>, 0644) = 0',
  )
  t.same(renamed.violations, [], 'temporary + rename: the old inode never changes mode')
  t.ok(renamed.replaced, 'the rename onto the name is seen')
  const trunc = model(
    '1 openat(AT_FDCWD</w>, "/x/dest", O_WRONLY|O_TRUNC|O_CLOEXEC) = 18</x/dest>',
    '1 fchmod(18</x/dest>, 0644) = 0',
  )
  t.same(trunc.violations, [], 'O_TRUNC then fchmod: fine')
  const narrowFirst = model(
    '1 openat(AT_FDCWD</w>, "/x/dest", O_WRONLY|O_CLOEXEC) = 18</x/dest>',
    '1 fchmod(18</x/dest>, 0600) = 0',
    '1 ftruncate(18</x/dest>, 0) = 0',
    '1 fchmod(18</x/dest>, 0644) = 0',
  )
  t.same(narrowFirst.violations, [], 'a mode no wider than the old one first: fine')
})

for (const fsName of ['ext4', 'btrfs']) {
  onFs(t, fsName, 'overwriting never makes the old data readable at a wider mode (portable engine)', async (t, dir) => {
    if (!haveStrace) return t.skip('strace is not usable here')
    for (const [name, call] of Object.entries(CALLS)) {
      await t.test(name, async (t) => {
        const { r, dest, srcData, replay: rep } = await traced(dir, name.replace(/\W+/g, '-'), call)
        t.same(r.result, 'done', `the copy succeeds (${how(r)})`)
        t.ok(rep.touched > 0, 'the trace shows the calls on the destination')
        t.equal(rep.violations[0], undefined, 'no chmod widened the existing destination while it held old data')
        t.ok(fs.readFileSync(dest).equals(srcData), 'dest holds the source bytes')
        t.equal(fs.statSync(dest).mode & 0o7777, 0o644, 'dest has the source mode in the end')
      })
    }
  })
}

// A control for the model: the native engine's in-place overwrite (and its
// clone on btrfs) passes the very same check.
onFs(t, 'ext4', 'the native engine passes the same check (the replay accepts a correct overwrite)', async (t, dir) => {
  if (!haveStrace) return t.skip('strace is not usable here')
  for (const name of ['copyFileSync', 'copyFile']) {
    const { r, replay: rep } = await traced(dir, `native-${name}`, CALLS[name], true)
    t.same(r.result, 'done', `${name}: the copy succeeds (${how(r)})`)
    t.ok(rep.touched > 0, `${name}: the trace shows the calls on the destination`)
    t.equal(rep.violations[0], undefined, `${name}: no widening seen`)
  }
})
