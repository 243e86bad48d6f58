// OpenZFS 2.2+ answers copy_file_range with EAGAIN while block cloning cannot
// proceed. libuv, under fs.copyFile, passes that on as
// the copy's failure; the portable engine copies such a file with its own
// read/write loop instead, and says so (method 'readwrite'). The answer is
// injected into libuv's own copy_file_range by the fault shim
// (test/fault/shim.c, COWCOPY_FAULT_ANY_CALLER=1), on ext4 (no clone first).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { needMounts } from '../helpers.mjs'
import { ROOT, runChild } from './child.mjs'

const dirs = needMounts(t, 'ext4')
if (dirs) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-zfs-'))
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))
  const shim = path.join(tmp, 'shim.so')
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', shim, path.join(ROOT, 'test/fault/shim.c'), '-ldl', '-lpthread'])
  const dir = fs.mkdtempSync(path.join(dirs[0], 'zfs-eagain-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const data = Buffer.alloc(3 << 20)
  for (let i = 0; i < data.length; i += 4096) data.writeUInt32LE(i * 2654435761 >>> 0, i)
  fs.writeFileSync(path.join(dir, 'src'), data)
  const env = { LD_PRELOAD: shim, COWCOPY_FAULT: 'copy_file_range:1+:EAGAIN', COWCOPY_FAULT_ANY_CALLER: '1' }

  t.test('premise: fs.copyFile fails with EAGAIN under the injected answer', async (t) => {
    const r = await runChild(
      `const fs = await import('node:fs')\ntry { fs.copyFileSync(args[0], args[1]); report('copied') } catch (e) { report(e.code) }`,
      { args: [path.join(dir, 'src'), path.join(dir, 'premise')], env },
    )
    t.equal(r.result, 'EAGAIN', r.stderr)
  })

  const calls = {
    copyFileSync: `report(c.copyFileSync(args[0], args[1]))`,
    copyFile: `report(await c.copyFile(args[0], args[1]))`,
    copyFiles: `const r = await c.copyFiles([[args[0], args[1]]]); report({ errors: r.errors.map((e) => e.error.code), methods: r.methods })`,
    'importFiles (copy rung)': `const r = await c.importFiles(args[1] + '.pkg', [['f', args[0]]], { link: ['copy'] }); fs.renameSync(args[1] + '.pkg/f', args[1]); report({ errors: r.errors.map((e) => e.error.code), methods: r.methods })`,
  }
  for (const [name, code] of Object.entries(calls)) {
    t.test(`${name}: the own loop copies, and the result says readwrite`, async (t) => {
      const dest = path.join(dir, name.replace(/\W+/g, '-'))
      const r = await runChild(`const fs = await import('node:fs')\n${code}`, { args: [path.join(dir, 'src'), dest], env })
      t.equal(r.status, 0, r.stderr)
      if (r.result.method !== undefined) t.equal(r.result.method, 'readwrite')
      else {
        t.same(r.result.errors, [])
        t.equal(r.result.methods.readwrite, 1)
      }
      t.ok(fs.readFileSync(dest).equals(data), 'an exact copy')
      t.same(fs.readdirSync(dir).filter((n) => n.includes('.cowcopy-')), [], 'no temporary file left')
    })
  }

  t.test("reflink 'always' still fails: a clone or nothing", async (t) => {
    const r = await runChild(`try { c.copyFileSync(args[0], args[1], { reflink: 'always' }); report('copied') } catch (e) { report(e.code) }`, {
      args: [path.join(dir, 'src'), path.join(dir, 'always')],
      env,
    })
    t.not(r.result, 'copied')
    t.notOk(fs.existsSync(path.join(dir, 'always')), 'nothing left')
  })
}
