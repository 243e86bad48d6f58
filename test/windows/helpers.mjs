// Shared by test/windows/*.test.mjs: the package as `require('cowcopy')` gives
// it, scratch directories with Windows paths, Node's own Windows errnos,
// small trees written and read back.
// These tests run under a Windows Node (test/fixtures/wine.sh); elsewhere
// they skip, so tap's `test/**/*.test.mjs` can include them harmlessly.
import * as fs from 'node:fs'
import { createRequire } from 'node:module'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as util from 'node:util'

const require = createRequire(import.meta.url)
export const cowcopy = require('../../dist/index.js')

export const skip = process.platform === 'win32' ? false : 'Windows only: run by test/fixtures/wine.sh'

/** Node's errno for an error name on this platform (-4075 for EEXIST on Windows). */
export function errnoOf(code) {
  for (const [errno, [name]] of util.getSystemErrorMap()) if (name === code) return errno
  throw new Error(`no errno named ${code}`)
}

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

/**
 * Where scratch directories go, each a Windows path with a drive letter and
 * backslashes: os.tmpdir() (C:\users\...\Temp under wine) and, on the repo's
 * own drive, its \tmp when that exists (Z:\tmp under wine, where Z: is the
 * Linux root), so both an NTFS-looking profile path and a Z: path are met.
 */
export const ROOTS = [os.tmpdir()]
const driveTmp = path.join(path.parse(repo).root, 'tmp')
if (process.platform === 'win32' && path.parse(driveTmp).root !== path.parse(os.tmpdir()).root && fs.existsSync(driveTmp)) {
  ROOTS.push(driveTmp)
}

// wine.sh tags its run's directories, to remove what a killed test left.
const PREFIX = `cowcopy-win-${process.env.COWCOPY_WIN_RUN ? `${process.env.COWCOPY_WIN_RUN}-` : ''}`

/** A fresh directory under `root`, removed when the test ends. */
export function scratch(t, root = ROOTS[0]) {
  const dir = fs.mkdtempSync(path.join(root, PREFIX))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** Names cowcopy's temporary files would have (`.name.cowcopy-XXXX`) left in `dir`. */
export function leftovers(dir) {
  return fs.readdirSync(dir).filter((n) => n.startsWith('.') && n.includes('cowcopy'))
}

/** A named system error as fs gives it: a string code E..., a negative errno that maps back. */
export function assertSystemError(assert, err, codes) {
  assert.ok(err instanceof Error, `an Error: ${err}`)
  assert.ok(codes.includes(err.code), `code ${err.code} is one of ${codes} (${err.message})`)
  assert.ok(Number.isInteger(err.errno) && err.errno < 0, `negative errno: ${err.errno}`)
  assert.equal(util.getSystemErrorName(err.errno), err.code, `errno ${err.errno} names the code`)
}

/** Every file under `dir` as { 'relative/path': content }, directories as null. */
export function tree(dir, rel = '') {
  const out = {}
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name
    if (e.isDirectory()) Object.assign(out, { [r]: null }, tree(dir, r))
    else out[r] = fs.readFileSync(path.join(dir, r), 'utf8')
  }
  return out
}

/** Writes { 'a/b.txt': 'content', 'empty': null } under `dir`. */
export function plant(dir, spec) {
  for (const [rel, content] of Object.entries(spec)) {
    const p = path.join(dir, ...rel.split('/'))
    if (content === null) fs.mkdirSync(p, { recursive: true })
    else {
      fs.mkdirSync(path.dirname(p), { recursive: true })
      fs.writeFileSync(p, content)
    }
  }
}
