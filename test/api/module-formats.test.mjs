// The package as users load it: ESM import and CJS require resolve through
// package.json "exports" to one module instance with the same named exports;
// and with the addon switched off the same API runs on fs.copyFile.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import * as esm from 'cowcopy'
import { tmpScratch } from '../helpers.mjs'

const require = createRequire(import.meta.url)

t.test('ESM and CJS expose the same functions', async (t) => {
  const cjs = require('cowcopy')
  const names = Object.keys(esm).filter((k) => k !== 'default').sort()
  t.same(names, Object.keys(cjs).sort(), 'same export names')
  for (const name of names) t.equal(esm[name], cjs[name], `${name} is the same object`)
  for (const name of ['copyFile', 'copyFileSync', 'reflink', 'reflinkSync', 'constants']) {
    t.ok(names.includes(name), `exports ${name}`)
  }
  t.same({ ...esm.constants }, {
    COPYFILE_EXCL: fs.constants.COPYFILE_EXCL,
    COPYFILE_FICLONE: fs.constants.COPYFILE_FICLONE,
    COPYFILE_FICLONE_FORCE: fs.constants.COPYFILE_FICLONE_FORCE,
  })
})

t.test('COWCOPY_NATIVE=0: the same API on the portable engine, the method it knows', async (t) => {
  const d = tmpScratch(t)
  const src = path.join(d, 'src')
  fs.writeFileSync(src, 'hello fallback')
  fs.chmodSync(src, 0o755)
  const script = `
    const { copyFileSync, copyFile } = require('cowcopy')
    const out = { sync: copyFileSync(process.argv[1], process.argv[2]) }
    try { copyFileSync(process.argv[1] + '-missing', process.argv[2]) } catch (e) { out.error = { code: e.code, syscall: e.syscall, message: e.message } }
    copyFile(process.argv[1], process.argv[2] + '2', { reflink: 'never' }).then((r) => {
      out.promise = r
      console.log(JSON.stringify(out))
    })`
  const out = JSON.parse(execFileSync(process.execPath, ['-e', script, src, path.join(d, 'dest')], {
    env: { ...process.env, COWCOPY_NATIVE: '0' },
    encoding: 'utf8',
  }))
  t.same(out.sync, { method: 'fs', bytes: 14 })
  t.same(out.promise, { method: 'readwrite', bytes: 14 }, "reflink: 'never': its own read/write loop")
  t.equal(fs.readFileSync(path.join(d, 'dest'), 'utf8'), 'hello fallback')
  t.equal(fs.statSync(path.join(d, 'dest')).mode & 0o777, 0o755)
  t.match(out.error, { code: 'ENOENT', syscall: 'copyfile', message: /^ENOENT: no such file or directory, copyfile/ })
})
