// Paths are bytes: a string path whose multi-byte character straddles the
// end of the addon's stack buffer is not cut there; non-UTF-8 Buffer paths
// go through copyDir and copyFiles byte for byte (the filter, the results
// and the errors give the exact bytes back); a NUL put into a path after
// validation is refused by the addon, never truncated into another name.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { copyDir, copyFile, copyFileSync, copyFiles } from 'cowcopy'
import { onFs } from '../helpers.mjs'
import { createRequire } from 'node:module'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const dist = path.join(root, 'dist', 'index.js')

const require = createRequire(import.meta.url)
const cow = require(dist)

const B = (...parts) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))))
const join = (...parts) => B(...parts.flatMap((p, i) => (i ? ['/', p] : [p])))

// A string path longer than read_path's stack buffer, with a multi-byte
// character straddling its end, must not be cut at the character boundary.

/** A path whose `char` starts at byte `at` (deep directories, names <= 200 bytes). */
function longPath(base, at, char) {
  let p = base
  let i = 0
  while (at - Buffer.byteLength(p) - 1 > 200) {
    p = path.join(p, `${i++}`.padEnd(200, 'd'))
  }
  const pad = at - Buffer.byteLength(p) - 1
  fs.mkdirSync(p, { recursive: true })
  return { file: path.join(p, 'a'.repeat(pad) + char + 'tail'), prefix: path.join(p, 'a'.repeat(pad)) }
}

onFs(t, 'ext4', 'a long path with a multi-byte character at the stack buffer end is not cut', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'the payload')
  let n = 0
  for (const char of ['€', '😀']) {
    for (let at = 1016; at <= 1026; at++) {
      for (const how of ['copyFileSync', 'copyFile', 'copyFiles']) {
        const { file, prefix } = longPath(path.join(dir, `t${n++}`), at, char)
        t.equal(Buffer.byteLength(file.slice(0, file.indexOf(char))), at)
        if (how === 'copyFileSync') copyFileSync(src, file)
        else if (how === 'copyFile') await copyFile(src, file)
        else t.same((await copyFiles([[src, file]])).errors, [])
        t.equal(fs.readFileSync(file, 'utf8'), 'the payload', `${how}, ${char} at ${at}: the named file has it`)
        t.notOk(fs.existsSync(prefix), `${how}, ${char} at ${at}: no file named by the prefix`)
        // The same path as a source.
        const back = path.join(dir, `back${n}`)
        copyFileSync(file, back)
        t.equal(fs.readFileSync(back, 'utf8'), 'the payload')
      }
    }
  }
})

// Non-UTF-8 Buffer paths: bytes end to end.
onFs(t, 'ext4', 'copyDir and copyFiles with non-UTF-8 Buffer paths: same bytes, exact paths back', async (t, dir) => {
  const d = Buffer.from(dir)
  const src = join(d, B('src', [0xff]))
  fs.mkdirSync(src)
  fs.writeFileSync(join(src, B('a', [0xff], '.txt')), 'A')
  fs.mkdirSync(join(src, B('sub', [0xfe])))
  fs.writeFileSync(join(src, B('sub', [0xfe]), B('x', [0xff, 0xc3])), 'X')
  fs.writeFileSync(join(src, B('skip', [0xff])), 'S')
  // mkfifo by exact bytes: printf makes the 0xff byte in the shell.
  spawnSync('sh', ['-c', `cd "$(printf '%s/src\\377' "$DIR")" && mkfifo "$(printf 'fifo\\377')"`], { env: { ...process.env, DIR: dir } })
  t.ok(fs.existsSync(join(src, B('fifo', [0xff]))), 'the fifo exists')
  const dest = join(d, B('dest', [0xff]))
  const seen = []
  const r = await copyDir(src, dest, {
    listFiles: true,
    filter: (rel, entry) => {
      seen.push([rel, entry.name, entry.parentPath])
      return !(Buffer.isBuffer(rel) && rel.equals(B('skip', [0xff])))
    },
  })
  t.same(r.errors, [])
  const names = (p) => fs.readdirSync(p, { encoding: 'buffer' }).map((b) => b.toString('hex')).sort()
  t.same(names(dest), names(src).filter((h) => h !== B('skip', [0xff]).toString('hex') && h !== B('fifo', [0xff]).toString('hex')))
  t.same(names(join(dest, B('sub', [0xfe]))), [B('x', [0xff, 0xc3]).toString('hex')])
  t.equal(fs.readFileSync(join(dest, B('sub', [0xfe]), B('x', [0xff, 0xc3])), 'utf8'), 'X')
  t.ok(seen.every(([rel, name, parent]) => Buffer.isBuffer(rel) && Buffer.isBuffer(name) && Buffer.isBuffer(parent)), 'the filter sees Buffers')
  t.ok(seen.some(([rel, name, parent]) => rel.equals(join(B('sub', [0xfe]), B('x', [0xff, 0xc3]))) && name.equals(B('x', [0xff, 0xc3])) && parent.equals(B('sub', [0xfe]))), 'exact relPath, name and parentPath')
  t.ok(r.copied.every((c) => Buffer.isBuffer(c.src) && Buffer.isBuffer(c.dest)))
  t.ok(r.copied.some((c) => c.src.equals(join(src, B('sub', [0xfe]), B('x', [0xff, 0xc3]))) && c.dest.equals(join(dest, B('sub', [0xfe]), B('x', [0xff, 0xc3])))), 'copied: exact paths')
  if (r.skipped.length) t.ok(r.skipped[0].path.equals(join(src, B('fifo', [0xff]))), 'skipped: the exact path')

  // An error row carries the exact paths: a directory where a file goes.
  const dest2 = join(d, B('dest2', [0xff]))
  fs.mkdirSync(join(dest2, B('a', [0xff], '.txt')), { recursive: true })
  const r2 = await copyDir(src, dest2)
  t.equal(r2.errors.length, 1)
  t.ok(r2.errors[0].src.equals(join(src, B('a', [0xff], '.txt'))), 'error src: exact bytes')
  t.ok(r2.errors[0].dest.equals(join(dest2, B('a', [0xff], '.txt'))), 'error dest: exact bytes')
  t.ok(Buffer.isBuffer(r2.errors[0].error.path) && r2.errors[0].error.path.equals(r2.errors[0].src), 'error.path: exact bytes')

  // Strings in, a name that is not UTF-8: given as a Buffer, never decoded lossily.
  const r3 = await copyDir(path.join(dir, 'src-plain-not-there'), path.join(dir, 'x')).catch((e) => e)
  t.equal(r3.code, 'ENOENT')
  const plain = path.join(dir, 'plain')
  fs.mkdirSync(plain)
  fs.writeFileSync(join(Buffer.from(plain), B('n', [0xff])), 'N')
  const r4 = await copyDir(plain, path.join(dir, 'plain-copy'), { listFiles: true })
  t.ok(Buffer.isBuffer(r4.copied[0].src) && r4.copied[0].src.equals(join(Buffer.from(plain), B('n', [0xff]))), 'a non-UTF-8 name comes back as a Buffer')

  // The into-itself check compares bytes: src\xff and src\xfe decode to the same string.
  const other = join(d, B('src', [0xfe]))
  const r5 = await copyDir(src, other)
  t.same(r5.errors, [], 'another directory whose name decodes alike is not "into itself"')
  const inside = await copyDir(src, join(src, B('inner', [0xff]))).catch((e) => e)
  t.equal(inside.code, 'EINVAL', 'into itself: refused')
  t.ok(Buffer.isBuffer(inside.path) && inside.path.equals(src), 'its error path is the exact bytes')

  // copyFiles with Buffer pairs.
  const f = await copyFiles([
    [join(src, B('a', [0xff], '.txt')), join(d, B('one', [0xff]))],
    [join(src, B('missing', [0xff])), join(d, B('two', [0xff]))],
  ], { listFiles: true })
  t.equal(fs.readFileSync(join(d, B('one', [0xff])), 'utf8'), 'A')
  t.equal(f.errors.length, 1)
  t.ok(f.errors[0].src.equals(join(src, B('missing', [0xff]))))
  t.ok(f.errors[0].dest.equals(join(d, B('two', [0xff]))))
  t.equal(f.errors[0].error.code, 'ENOENT')
  t.ok(f.errors[0].error.path.equals(join(src, B('missing', [0xff]))), 'error.path: exact bytes')
  t.ok(f.copied[0].src.equals(join(src, B('a', [0xff], '.txt'))))
  // Valid UTF-8 Buffers in: Buffers out (like fs.readdir with encoding 'buffer').
  const g = await copyFiles([[Buffer.from(path.join(dir, 'nope')), Buffer.from(path.join(dir, 'nope2'))]])
  t.ok(Buffer.isBuffer(g.errors[0].src))
  t.equal(g.errors[0].error.path, path.join(dir, 'nope'), 'error.path stays a string when it is exact as one (as fs does)')
})

// A NUL put into a Buffer path after the JavaScript check (an options
// getter) is refused by the addon, not truncated into another name.
onFs(t, 'tmpfs', 'a NUL in a path reaching the addon is refused, never truncated', async (t, dir) => {
  fs.writeFileSync(path.join(dir, 'src'), 'NEW')
  fs.writeFileSync(path.join(dir, 'victim'), 'PRECIOUS')
  const dest = Buffer.from(path.join(dir, 'victimXcopy'))
  const opts = { get overwrite() { dest[dest.length - 5] = 0; return true } }
  t.throws(() => cow.copyFileSync(path.join(dir, 'src'), dest, opts), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
  dest[dest.length - 5] = 0x58
  await t.rejects(cow.copyFile(path.join(dir, 'src'), dest, opts), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
  const src = Buffer.from(path.join(dir, 'srcXmore'))
  await t.rejects(cow.copyRange(src, path.join(dir, 'r'), { get length() { src[src.length - 5] = 0; return 1 } }), { code: 'ERR_INVALID_ARG_VALUE' })
  t.equal(fs.readFileSync(path.join(dir, 'victim'), 'utf8'), 'PRECIOUS')
  t.same(fs.readdirSync(dir).sort(), ['src', 'victim'])
})
