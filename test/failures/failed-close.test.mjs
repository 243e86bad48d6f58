// A close() that fails (a write-back error) while another file takes the
// destination's name: copyFile reports EIO and removes the file it created
// only while the name is still its own. The failure comes from the shim in
// test/copy-file/shim.mjs.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFile } from 'cowcopy'
import { makeFile, onFs } from '../helpers.mjs'
import { copyUnderShim, names } from '../copy-file/shim.mjs'

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
