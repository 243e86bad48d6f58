// copyFile over an existing destination that refuses the clone (a btrfs
// NODATACOW file, or any file in a NODATACOW directory) or is longer than the
// source: reflink 'always' fails and leaves it as it was (or, where the clone
// can be made, clones over the longer file); 'auto' copies the bytes.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFile, copyFileSync, constants } from 'cowcopy'
import { PORTABLE } from '../engines.mjs'
import { makeFile, onFs, sameBytes } from '../helpers.mjs'
import { names } from './shim.mjs'

// A btrfs NODATACOW file of `size` random bytes (chattr +C takes only while it is empty).
function makeNocowFile(file, size) {
  fs.writeFileSync(file, '')
  execFileSync('chattr', ['+C', file])
  makeFile(file, size)
}

// reflink 'always' over a destination the clone refuses: left as it was.
for (const [label, copy] of [
  ["reflink 'always'", (s, d) => copyFileSync(s, d, { reflink: 'always' })],
  ['COPYFILE_FICLONE_FORCE', (s, d) => copyFileSync(s, d, constants.COPYFILE_FICLONE_FORCE)],
  ["promise reflink 'always'", (s, d) => copyFile(s, d, { reflink: 'always' })],
]) {
  onFs(t, 'btrfs', `${label} over a NODATACOW destination leaves it intact`, async (t, dir) => {
    const src = path.join(dir, 'src')
    const dest = path.join(dir, 'dest')
    makeFile(src, 5000)
    makeNocowFile(dest, 10000)
    const before = fs.readFileSync(dest)
    if (PORTABLE) {
      // DIFFERENCES.existingDestination: the clone goes to a new file beside
      // it (not NOCOW), renamed over the old one.
      const ino = fs.statSync(dest).ino
      t.equal((await copy(src, dest)).method, 'clone')
      t.ok(sameBytes(src, dest), 'the destination is the clone')
      t.not(fs.statSync(dest).ino, ino, 'a new inode')
    } else {
      await t.rejects(async () => copy(src, dest), { code: 'EINVAL' })
      t.same(fs.readFileSync(dest), before, 'destination unchanged, size and bytes')
    }
    // In a NOCOW directory every new file is NOCOW too: the clone is refused
    // on both engines (the portable one's temporary file included), and the
    // destination is left as it was, with nothing beside it.
    const nocow = path.join(dir, 'nocow')
    fs.mkdirSync(nocow)
    execFileSync('chattr', ['+C', nocow])
    const inNocow = path.join(nocow, 'dest')
    makeFile(inNocow, 10000)
    const old = fs.readFileSync(inNocow)
    await t.rejects(async () => copy(src, inNocow), { code: 'EINVAL' })
    t.same(fs.readFileSync(inNocow), old, 'in a NOCOW directory: destination unchanged, size and bytes')
    t.same(names(nocow), ['dest'], 'no temporary left')
  })
}

for (const fsName of ['btrfs', 'xfs']) {
  onFs(t, fsName, "reflink 'always' over a longer destination still clones (partial last block)", async (t, dir) => {
    const src = path.join(dir, 'src')
    const dest = path.join(dir, 'dest')
    makeFile(src, 3 * 4096 + 100)
    makeFile(dest, 10 * 4096 + 7)
    const r = copyFileSync(src, dest, { reflink: 'always' })
    t.equal(r.method, 'clone')
    t.ok(sameBytes(src, dest), 'exact copy')
  })
}

onFs(t, 'btrfs', "reflink 'auto' over a NODATACOW destination copies the bytes", async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  makeFile(src, 5000)
  makeNocowFile(dest, 10000)
  const ino = fs.statSync(dest).ino
  const r = copyFileSync(src, dest)
  if (PORTABLE) {
    // DIFFERENCES.existingDestination: a new file (not NOCOW) replaces it, so the clone works.
    t.equal(r.method, 'clone')
    t.not(fs.statSync(dest).ino, ino, 'a new inode')
  } else t.not(r.method, 'clone')
  t.ok(sameBytes(src, dest), 'exact copy')
})
