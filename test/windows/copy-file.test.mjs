// copyFile / copyFileSync on Windows, where there is no prebuild: the portable
// engine, with paths as a Windows user writes them. Errors are compared with
// what Node's own fs gives for the same call on the same machine.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { describe, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ROOTS, assertSystemError, cowcopy, errnoOf, leftovers, scratch, skip } from './helpers.mjs'

const { copyFile, copyFileSync, constants } = cowcopy
const METHODS = ['clone', 'copy_file_range', 'sendfile', 'readwrite', 'none', 'fs']
const apis = { sync: async (...a) => copyFileSync(...a), promise: (...a) => copyFile(...a) }

/** The error `fn` throws or rejects with. */
async function caught(fn) {
  try {
    await fn()
  } catch (err) {
    return err
  }
  assert.fail('expected an error')
}

/** The fields fs.copyFile's errors have, for comparing one with another. */
const fields = (e) => ({ code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, dest: e.dest, message: e.message })

describe('the package without its addon', { skip }, () => {
  test('native is false and says why', async () => {
    assert.equal(cowcopy.native, false)
    // No win32 prebuild ships; in a Linux checkout with a build from source
    // (.ci/run makes one) the loader finds that Linux binary and it fails to load.
    const code = cowcopy.nativeLoadError?.code
    assert.ok(code === 'COWCOPY_NO_PREBUILD' || code === 'COWCOPY_LOAD_FAILED', code)
    if (code === 'COWCOPY_NO_PREBUILD') assert.match(cowcopy.nativeLoadError.message, /win32/)
  })

  test('the ESM entry exports the same functions', async () => {
    const esm = await import('../../dist/index.mjs')
    for (const name of ['copyFile', 'copyFileSync', 'copyFiles', 'copyDir', 'importFiles', 'copyRange', 'probe']) {
      assert.equal(esm[name], cowcopy[name], name)
    }
  })
})

for (const root of ROOTS) {
  describe(`copyFile in ${root}`, { skip }, () => {
    for (const [api, copy] of Object.entries(apis)) {
      test(`${api}: a new file, by drive-letter path with backslashes`, async (t) => {
        const dir = scratch(t, root)
        assert.match(dir, /^[A-Za-z]:\\/, 'a drive-letter path')
        const src = path.join(dir, 'source file.txt')
        const dest = path.join(dir, 'sub', 'copy.txt')
        fs.mkdirSync(path.dirname(dest))
        fs.writeFileSync(src, 'hello from windows\r\n')
        const r = await copy(src, dest)
        assert.ok(METHODS.includes(r.method), `method ${r.method}`)
        assert.equal(r.bytes, 20)
        assert.equal(fs.readFileSync(dest, 'utf8'), 'hello from windows\r\n')
      })

      test(`${api}: overwrites a longer existing file`, async (t) => {
        const dir = scratch(t, root)
        const src = path.join(dir, 'a.txt')
        const dest = path.join(dir, 'b.txt')
        fs.writeFileSync(src, 'short')
        fs.writeFileSync(dest, 'a much longer old content')
        const r = await copy(src, dest)
        assert.equal(r.bytes, 5)
        assert.equal(fs.readFileSync(dest, 'utf8'), 'short', 'no tail of the old content')
        assert.deepEqual(leftovers(dir), [])
      })

      test(`${api}: forward slashes and a file: URL work too`, async (t) => {
        const dir = scratch(t, root)
        fs.writeFileSync(path.join(dir, 'a'), 'xyz')
        await copy(dir.replaceAll('\\', '/') + '/a', pathToFileURL(path.join(dir, 'b')))
        assert.equal(fs.readFileSync(path.join(dir, 'b'), 'utf8'), 'xyz')
      })

      test(`${api}: COPYFILE_EXCL onto an existing file is fs's EEXIST`, async (t) => {
        const dir = scratch(t, root)
        const src = path.join(dir, 'a')
        const dest = path.join(dir, 'b')
        fs.writeFileSync(src, 'new')
        fs.writeFileSync(dest, 'old')
        const expected = await caught(() => fs.copyFileSync(src, dest, fs.constants.COPYFILE_EXCL))
        for (const mode of [constants.COPYFILE_EXCL, { overwrite: false }, { overwrite: false, atomic: true }]) {
          const err = await caught(() => copy(src, dest, mode))
          assert.equal(err.code, 'EEXIST')
          assert.equal(err.errno, errnoOf('EEXIST'))
          assert.equal(err.errno, -4075, 'libuv\'s UV_EEXIST on Windows')
          if (typeof mode === 'number') assert.deepEqual(fields(err), fields(expected))
          assert.equal(fs.readFileSync(dest, 'utf8'), 'old', 'destination untouched')
        }
        assert.deepEqual(leftovers(dir), [])
      })

      test(`${api}: a missing source is fs's ENOENT`, async (t) => {
        const dir = scratch(t, root)
        const src = path.join(dir, 'missing')
        const dest = path.join(dir, 'out')
        const expected = await caught(() => fs.copyFileSync(src, dest))
        const err = await caught(() => copy(src, dest))
        assert.equal(err.code, 'ENOENT')
        assert.equal(err.errno, -4058, 'libuv\'s UV_ENOENT on Windows')
        assert.deepEqual(fields(err), fields(expected))
        assert.equal(fs.existsSync(dest), false)
      })

      // No clone call Node can make here (libuv's COPYFILE_FICLONE_FORCE is
      // ENOSYS on Windows): 'always' fails as fs does, and leaves nothing.
      test(`${api}: reflink 'always' is fs's error for COPYFILE_FICLONE_FORCE, nothing left`, async (t) => {
        const dir = scratch(t, root)
        const src = path.join(dir, 'src.txt')
        const dest = path.join(dir, 'out.txt')
        fs.writeFileSync(src, 'data')
        const expected = await caught(() => fs.copyFileSync(src, path.join(dir, 'fs-out.txt'), constants.COPYFILE_FICLONE_FORCE))
        const err = await caught(() => copy(src, dest, { reflink: 'always' }))
        assertSystemError(assert, err, ['ENOSYS', 'ENOTSUP'])
        assert.equal(err.code, expected.code, `the same code as fs (${expected.code})`)
        assert.equal(fs.existsSync(dest), false)
        assert.deepEqual(leftovers(dir), [])
      })

      test(`${api}: atomic, new and over an existing file`, async (t) => {
        const dir = scratch(t, root)
        const src = path.join(dir, 'a')
        const dest = path.join(dir, 'b')
        fs.writeFileSync(src, Buffer.alloc(100_000, 7))
        let r = await copy(src, dest, { atomic: true })
        assert.equal(r.bytes, 100_000)
        fs.writeFileSync(src, 'second')
        r = await copy(src, dest, { atomic: true })
        assert.equal(r.bytes, 6)
        assert.equal(fs.readFileSync(dest, 'utf8'), 'second')
        assert.deepEqual(leftovers(dir), [])
      })

      // Windows refuses to rename over (and sometimes to truncate) a file that
      // is open, depending on the share mode; whichever happens, the answer
      // must be a named error or a finished copy, and nothing may be left over.
      for (const atomic of [false, true]) {
        test(`${api}: atomic ${atomic} onto a destination open for reading`, async (t) => {
          const dir = scratch(t, root)
          const src = path.join(dir, 'a')
          const dest = path.join(dir, 'b')
          fs.writeFileSync(src, 'new content')
          fs.writeFileSync(dest, 'old')
          const fd = fs.openSync(dest, 'r')
          let outcome
          try {
            const r = await copy(src, dest, { atomic })
            outcome = `copied (${r.method})`
            assert.equal(fs.readFileSync(dest, 'utf8'), 'new content')
          } catch (err) {
            outcome = `${err.code} from ${err.syscall}: ${err.message}`
            assertSystemError(assert, err, ['EPERM', 'EBUSY', 'EACCES'])
            if (atomic) assert.equal(fs.readFileSync(dest, 'utf8'), 'old', 'atomic: the old file intact')
          } finally {
            fs.closeSync(fd)
          }
          t.diagnostic(outcome)
          assert.equal(fs.readFileSync(src, 'utf8'), 'new content', 'source unchanged')
          assert.deepEqual(leftovers(dir), [])
        })
      }
    }
  })
}
