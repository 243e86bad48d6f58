// The portable engine (COWCOPY_NATIVE=0) as an ordinary user: a source
// without owner-write (0444, 0555) copies as fs.copyFileSync copies it, into
// a directory the user owns: the call succeeds, the copy has the source's
// mode and bytes, and nothing else is left in the directory (no copy of a
// failed call, no hidden temporary file). Sync, promise, atomic (both) and
// copyFiles; on ext4 and tmpfs.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { onFs } from '../helpers.mjs'
import { how, ls, NOBODY, runChild } from './child.mjs'

// Each case copies args[0] to args[1]; it reports { ok } or { ok: false, err }.
const CASES = {
  copyFileSync: 'c.copyFileSync(args[0], args[1])',
  copyFile: 'await c.copyFile(args[0], args[1])',
  'copyFile atomic': 'await c.copyFile(args[0], args[1], { atomic: true })',
  'copyFileSync atomic': 'c.copyFileSync(args[0], args[1], { atomic: true })',
  'copyFile reflink never': "await c.copyFile(args[0], args[1], { reflink: 'never' })",
  copyFiles: 'const r = await c.copyFiles([[args[0], args[1]]]); if (r.errors.length) throw r.errors[0].error; if (r.files !== 1) throw new Error(`files: ${r.files}`)',
  // The reference: what Node itself does for the same user and files.
  'fs.copyFileSync (reference)': "(await import('node:fs')).copyFileSync(args[0], args[1])",
}

const asRoot = (t) => {
  if (process.getuid() !== 0) {
    t.skip('needs root (to run the copy as another user)')
    return false
  }
  return true
}

for (const fsName of ['ext4', 'tmpfs']) {
  onFs(t, fsName, 'a source without owner-write copies as fs.copyFileSync does, for an ordinary user (portable engine)', async (t, scratch) => {
    if (!asRoot(t)) return
    // The scratch directory belongs to the user: nothing here is a directory others can write.
    fs.chownSync(scratch, NOBODY, NOBODY)
    fs.chmodSync(scratch, 0o755)
    for (const mode of [0o444, 0o555]) {
      await t.test(`mode ${mode.toString(8)}`, async (t) => {
        const jobs = Object.entries(CASES).map(([name, code]) => {
          // One directory per case, owned by the user, so its listing says what the call left.
          const dir = path.join(scratch, `${mode.toString(8)}-${name.replace(/\W+/g, '-')}`)
          fs.mkdirSync(dir, { mode: 0o755 })
          fs.chownSync(dir, NOBODY, NOBODY)
          const src = path.join(dir, 'src')
          const data = Buffer.from(`read-only ${mode.toString(8)} source for ${name}\n`)
          fs.writeFileSync(src, data)
          fs.chownSync(src, NOBODY, NOBODY)
          fs.chmodSync(src, mode)
          const dest = path.join(dir, 'dest')
          const run = runChild(
            `try { ${code}; report({ ok: true }) } catch (e) { report({ ok: false, err: errInfo(e) }) }`,
            { uid: NOBODY, args: [src, dest], timeout: 20000 },
          )
          return { name, dir, src, dest, data, run }
        })
        for (const { name, dir, dest, data, run } of jobs) {
          const r = await run
          await t.test(name, async (t) => {
            t.same(r.result, { ok: true }, `the copy succeeds (${r.result?.err ? r.result.err.message : how(r)})`)
            t.same(ls(dir), ['dest', 'src'], 'the directory holds the source and the copy, nothing else')
            const st = fs.lstatSync(dest, { throwIfNoEntry: false })
            t.ok(st?.isFile(), 'dest is a regular file')
            if (!st?.isFile()) return
            t.equal((st.mode & 0o7777).toString(8), mode.toString(8), 'dest has the source mode')
            t.equal(st.uid, NOBODY, "dest is the user's")
            t.ok(fs.readFileSync(dest).equals(data), 'dest holds the source bytes')
          })
        }
      })
    }
  })
}
