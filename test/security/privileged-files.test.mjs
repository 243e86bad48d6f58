// Issue 12 item 9 for the batch APIs and the command: setuid/setgid survive
// only when ownership is kept or the copier owns the source (cp's rule),
// whichever way the file is copied. (copyFile's own test is in
// trust-copy-file.test.mjs, the fs fallback's in trust-js.test.mjs.)
import t from 'tap'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { onFs } from './helpers.mjs'
import { copyDir, copyFiles } from '../dist/index.js'

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js')

function setuidTool(dir, name, uid) {
  const f = path.join(dir, name)
  fs.writeFileSync(f, '#!/bin/sh\necho hi\n')
  fs.chownSync(f, uid, uid)
  fs.chmodSync(f, 0o6755)
  return f
}

const modeOf = (f) => fs.statSync(f).mode & 0o7777

for (const fsName of ['btrfs', 'ext4']) {
  onFs(t, fsName, "copyDir, copyFiles and the command drop setuid/setgid of another user's file", async (t, dir) => {
    if (process.getuid() !== 0) return t.skip('needs root')
    const src = path.join(dir, 'src')
    fs.mkdirSync(src)
    setuidTool(src, 'theirs', 65534)
    setuidTool(src, 'mine', 0)

    const tree = path.join(dir, 'tree')
    const r = await copyDir(src, tree)
    t.same(r.errors, [])
    t.equal(modeOf(path.join(tree, 'theirs')), 0o755, "copyDir: nobody's 6755 becomes root's 0755")
    t.equal(modeOf(path.join(tree, 'mine')), 0o6755, "copyDir: the copier's own file keeps them")

    const kept = path.join(dir, 'kept')
    await copyDir(src, kept, { preserve: { ownership: true } })
    t.equal(modeOf(path.join(kept, 'theirs')), 0o6755, 'copyDir with ownership kept: the bits stay')
    t.equal(fs.statSync(path.join(kept, 'theirs')).uid, 65534)

    const out = path.join(dir, 'out')
    fs.mkdirSync(out)
    fs.writeFileSync(path.join(out, 'existing'), 'old')
    await copyFiles([
      [path.join(src, 'theirs'), path.join(out, 'new')],
      [path.join(src, 'theirs'), path.join(out, 'existing')],
    ])
    t.equal(modeOf(path.join(out, 'new')), 0o755, 'copyFiles, new destination')
    t.equal(modeOf(path.join(out, 'existing')), 0o755, 'copyFiles, replacing an existing file')

    const c = spawnSync(process.execPath, [cli, path.join(src, 'theirs'), path.join(dir, 'cmd')], { encoding: 'utf8' })
    t.equal(c.status, 0, c.stderr)
    t.equal(modeOf(path.join(dir, 'cmd')), 0o755, 'the command')
    const p = spawnSync(process.execPath, [cli, '-p', path.join(src, 'theirs'), path.join(dir, 'cmd-p')], { encoding: 'utf8' })
    t.equal(p.status, 0, p.stderr)
    t.equal(modeOf(path.join(dir, 'cmd-p')), 0o6755, 'the command with -p (ownership kept)')
  })
}
