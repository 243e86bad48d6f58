// A close() that fails (a write-back error) while another file takes the
// destination's name: copyFile reports EIO and removes the file it created
// only while the name is still its own. The failure comes from the shim in
// test/copy-file/shim.mjs.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFile } from 'cowcopy'
import { makeFile, onFs } from '../helpers.mjs'
import { spawnSync } from 'node:child_process'
import { PORTABLE } from '../engines.mjs'
import { copyUnderShim, names, shimEnv } from '../copy-file/shim.mjs'

onFs(t, 'xfs', 'a failed close removes the created file, never the one now at its name', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'closeme')
  makeFile(src, 10000)
  // A clone (the portable engine: by fs.copyFile), and a copy by read/write
  // (the portable engine: its own loop).
  for (const opts of [{}, { reflink: 'never' }]) {
    fs.rmSync(dest, { force: true })
    fs.writeFileSync(dest + '.other', 'someone else')
    const out = copyUnderShim(t, ['close_swap'], src, dest, opts)
    t.equal(out.error?.code, 'EIO', `${JSON.stringify(opts)}: the failed close is reported`)
    t.equal(fs.readFileSync(dest, 'utf8'), 'someone else', 'the other file survives')
    t.same(names(dir), ['closeme', 'src'], 'nothing else left')
  }
})

// importFiles into a directory it makes: another process of the same user
// may put a name there (it is 0777 less the umask, not 0700), so the name
// is not taken to be the file either. A clone and a byte copy (ext4).
for (const fsName of ['xfs', 'ext4']) {
  onFs(t, fsName, 'importFiles: a failed close in a directory the call made never removes the file now at its name', async (t, dir) => {
    if (PORTABLE) return t.skip('the native engine\'s close')
    const src = path.join(dir, 'src')
    makeFile(src, 10000)
    const dest = path.join(dir, 'dest')
    const code = `require(${JSON.stringify(path.resolve('dist/index.js'))}).importFiles(${JSON.stringify(dest)}, [['pkg/closeme', ${JSON.stringify(src)}]])
      .then((r) => console.log(JSON.stringify(r.errors.map((e) => e.error.code))))`
    const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', env: shimEnv(['close_swap']) })
    t.equal(r.status, 0, r.stderr)
    t.equal(r.stdout.trim(), '["EIO"]', 'the failed close is reported')
    t.equal(fs.readFileSync(path.join(dest, 'pkg/closeme'), 'utf8'), 'someone else', 'the other file survives')
    t.same(names(path.join(dest, 'pkg')), ['closeme'], 'nothing else left')
  })
}
