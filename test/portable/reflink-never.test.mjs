// The portable engine (COWCOPY_NATIVE=0) keeps the README's promise for
// reflink: 'never': "a real copy of the bytes with extents of its own". On
// btrfs and XFS, where copy_file_range (and so fs.copyFile) shares extents,
// no extent of the copy may be shared. copyFileSync, copyFile, copyFiles,
// and copyDir / importFiles with link ['copy'].
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { extents, makeFile, noneShared, onFs } from '../helpers.mjs'
import { DIST_MJS } from './child.mjs'

process.env.COWCOPY_NATIVE = '0'
const c = await import(DIST_MJS)

t.test('setup', async (t) => {
  t.equal(c.native, false, 'the package runs without its addon here (COWCOPY_NATIVE=0)')
})

const CALLS = {
  copyFileSync: (src, dest) => c.copyFileSync(src, dest, { reflink: 'never' }),
  copyFile: (src, dest) => c.copyFile(src, dest, { reflink: 'never' }),
  'copyFile atomic': (src, dest) => c.copyFile(src, dest, { reflink: 'never', atomic: true }),
  'copyFileSync over an existing file': (src, dest) => {
    fs.writeFileSync(dest, 'old content\n')
    return c.copyFileSync(src, dest, { reflink: 'never' })
  },
  copyFiles: async (src, dest) => {
    const r = await c.copyFiles([[src, dest]], { reflink: 'never' })
    if (r.errors.length) throw r.errors[0].error
  },
  "copyFiles link ['copy']": async (src, dest) => {
    const r = await c.copyFiles([[src, dest]], { reflink: 'never', link: ['copy'] })
    if (r.errors.length) throw r.errors[0].error
  },
  copyDir: async (src, dest) => {
    const tree = `${dest}.tree-src`
    fs.mkdirSync(tree)
    fs.linkSync(src, path.join(tree, 'f'))
    const r = await c.copyDir(tree, `${dest}.tree`, { reflink: 'never' })
    if (r.errors.length) throw r.errors[0].error
    fs.renameSync(path.join(`${dest}.tree`, 'f'), dest)
  },
  "importFiles link ['copy']": async (src, dest) => {
    const r = await c.importFiles(`${dest}.imp`, [['f', src]], { reflink: 'never', link: ['copy'] })
    if (r.errors.length) throw r.errors[0].error
    fs.renameSync(path.join(`${dest}.imp`, 'f'), dest)
  },
}

for (const fsName of ['btrfs', 'xfs']) {
  onFs(t, fsName, "reflink: 'never' makes a copy with extents of its own (portable engine)", async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 1 << 20) // random, fsync'ed: settled extents a clone would share
    const data = fs.readFileSync(src)
    for (const [name, call] of Object.entries(CALLS)) {
      await t.test(name, async (t) => {
        const dest = path.join(dir, name.replace(/\W+/g, '-'))
        let error
        try {
          await call(src, dest)
        } catch (err) {
          error = err
        }
        t.notOk(error, `the copy succeeds (${error?.message})`)
        if (error) return
        t.ok(fs.readFileSync(dest).equals(data), 'dest holds the source bytes')
        t.ok(extents(dest).length > 0, 'dest has extents (FIEMAP after a sync)')
        t.ok(noneShared(dest), 'no extent of dest is shared (FIEMAP)')
      })
    }
  })
}
