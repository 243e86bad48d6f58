// copyDir from a tree another user can change: an entry swapped after its
// directory was listed and before it is opened -- for a symlink to a
// secret, a FIFO, another regular file, another directory -- is never
// copied from outside the tree (ELOOP, or "replaced while being copied";
// the portable engine, with no inode in Node's listing, copies what is at
// the name by then, at its own mode, never wider). The swaps happen in the
// filter, which the walk calls after listing a directory and before copying
// anything in it: deterministic races (random ones: race-*.test.mjs).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyDir } from 'cowcopy'
import { onFs } from '../helpers.mjs'
import { PORTABLE } from '../engines.mjs'

const write = (file, data, mode = 0o644) => {
  fs.writeFileSync(file, data, { mode })
  fs.chmodSync(file, mode)
}
const modeOf = (p) => fs.lstatSync(p).mode & 0o7777
const errorFor = (r, name) => r.errors.find((e) => path.basename(e.src) === name)

for (const concurrency of [1, 2]) {
  onFs(t, 'xfs', `a listed file swapped for a symlink to a secret is not copied (concurrency ${concurrency})`, async (t, dir) => {
    const src = path.join(dir, 'src')
    const dest = path.join(dir, 'dest')
    const secret = path.join(dir, 'secret')
    fs.mkdirSync(src)
    write(secret, 'TOP SECRET', 0o600)
    write(path.join(src, 'a'), 'public a')
    write(path.join(src, 'b'), 'public b')
    const r = await copyDir(src, dest, {
      concurrency,
      filter: (rel) => {
        if (rel === 'a') {
          fs.unlinkSync(path.join(src, 'a'))
          fs.symlinkSync(secret, path.join(src, 'a'))
        }
        return true
      },
    })
    t.notOk(fs.existsSync(path.join(dest, 'a')) && fs.readFileSync(path.join(dest, 'a'), 'utf8') === 'TOP SECRET',
      'the secret was not copied')
    t.notOk(fs.existsSync(path.join(dest, 'a')), 'nothing created at its name')
    const e = errorFor(r, 'a')
    t.ok(e, 'an error entry names the file')
    t.equal(e?.error.code, 'ELOOP', 'ELOOP: the leaf is a symlink, not followed')
    t.equal(fs.readFileSync(path.join(dest, 'b'), 'utf8'), 'public b', 'the other file copied')
    t.equal(r.files, 1)
  })
}

onFs(t, 'xfs', 'a listed file swapped for a FIFO: no hang, an error entry, nothing created', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(src)
  write(path.join(src, 'a'), 'public a')
  const r = await copyDir(src, dest, {
    concurrency: 1,
    filter: (rel) => {
      if (rel === 'a') {
        // Made before a is gone: an unlink first let XFS give the FIFO a's
        // inode number, which the native listing check cannot tell apart.
        execFileSync('mkfifo', [path.join(src, 'a.fifo')])
        fs.renameSync(path.join(src, 'a.fifo'), path.join(src, 'a'))
      }
      return true
    },
  })
  t.notOk(fs.existsSync(path.join(dest, 'a')), 'nothing created')
  const e = errorFor(r, 'a')
  t.ok(e, 'an error entry names the file')
  if (PORTABLE) {
    // No inode in Node's listing to compare with (engines.mjs DIFFERENCES.listedInode):
    // refused as any FIFO is, by the fstat of the descriptor opened O_NONBLOCK.
    t.equal(e?.error.code, 'EINVAL')
    t.match(e?.error.message, /source is a FIFO, not a regular file/)
  } else t.match(e?.error.message, /replaced while being copied/)
})

onFs(t, 'xfs', 'a listed file swapped for another regular file (inode mismatch) is skipped', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(src)
  write(path.join(src, 'a'), 'public a')
  const other = path.join(dir, 'other')
  write(other, 'NOT FROM THE LISTING', 0o600)
  const r = await copyDir(src, dest, {
    concurrency: 2,
    filter: (rel) => {
      if (rel === 'a') fs.renameSync(other, path.join(src, 'a'))
      return true
    },
  })
  if (PORTABLE) {
    // Node's listing has no inode (engines.mjs DIFFERENCES.listedInode): the
    // regular file found at the name when it is opened is copied, with its own mode.
    t.same(r.errors, [])
    t.equal(fs.readFileSync(path.join(dest, 'a'), 'utf8'), 'NOT FROM THE LISTING', 'what was at the name, a file of the tree by then')
    t.equal(modeOf(path.join(dest, 'a')), 0o600, 'at its own mode, no wider')
    return
  }
  t.notOk(fs.existsSync(path.join(dest, 'a')), 'the other file was not copied')
  const e = errorFor(r, 'a')
  t.ok(e, 'an error entry names the file')
  t.match(e?.error.message, /replaced while being copied/)
  t.equal(e?.error.errno, -116, 'ESTALE (open_path.h kReplacedErr)')
})

onFs(t, 'xfs', 'a listed directory swapped for another directory is skipped', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
  write(path.join(src, 'sub', 'f'), 'public')
  const outside = path.join(dir, 'outside')
  fs.mkdirSync(outside)
  write(path.join(outside, 'secret'), 'TOP SECRET', 0o600)
  const r = await copyDir(src, dest, {
    filter: (rel) => {
      if (rel === 'sub') {
        fs.renameSync(path.join(src, 'sub'), path.join(dir, 'sub.old'))
        fs.renameSync(outside, path.join(src, 'sub'))
      }
      return true
    },
  })
  if (PORTABLE) {
    // Node's listing has no inode (engines.mjs DIFFERENCES.listedInode): the
    // directory at the name when the walk reaches it is copied, never the one moved away.
    t.same(r.errors, [])
    t.same(fs.readdirSync(path.join(dest, 'sub')), ['secret'], 'what was at the name, a directory of the tree by then')
    t.equal(modeOf(path.join(dest, 'sub', 'secret')), 0o600, 'its file at its own mode, no wider')
    return
  }
  t.notOk(fs.existsSync(path.join(dest, 'sub')), 'the directory that was not listed is not copied')
  const e = errorFor(r, 'sub')
  t.ok(e, 'an error entry names the directory')
  t.match(e?.error.message, /replaced while being copied/)
})

