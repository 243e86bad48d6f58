// copyFiles and copyDir on Windows without the addon, read back with fs.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { describe, test } from 'node:test'
import { ROOTS, assertSystemError, cowcopy, leftovers, plant, scratch, skip, tree } from './helpers.mjs'

const { copyFiles, copyDir } = cowcopy

const TREE = {
  'README.md': '# top\r\n',
  'lib': null,
  'lib/index.js': 'module.exports = 1\n',
  'lib/deep': null,
  'lib/deep/er': null,
  'lib/deep/er/file.json': '{"a":1}',
  'empty': null,
  'with space': null,
  'with space/x.txt': 'x',
}

for (const root of ROOTS) {
  describe(`copyFiles and copyDir in ${root}`, { skip }, () => {
    test('copyFiles: several pairs, one with a missing source', async (t) => {
      const dir = scratch(t, root)
      plant(dir, { 'src/a': 'A', 'src/b': 'BB', 'out': null })
      fs.writeFileSync(path.join(dir, 'out', 'b'), 'old content of b')
      const j = (...p) => path.join(dir, ...p)
      const r = await copyFiles([
        [j('src', 'a'), j('out', 'a')],
        [j('src', 'b'), j('out', 'b')],
        [j('src', 'missing'), j('out', 'c')],
      ])
      assert.equal(r.files, 2)
      assert.equal(r.bytes, 3)
      assert.equal(r.errors.length, 1)
      const [e] = r.errors
      assert.equal(e.src, j('src', 'missing'))
      assert.equal(e.dest, j('out', 'c'))
      assertSystemError(assert, e.error, ['ENOENT'])
      assert.equal(e.error.errno, -4058)
      assert.deepEqual(tree(j('out')), { a: 'A', b: 'BB' }, 'no destination for the failed pair')
      assert.deepEqual(leftovers(j('out')), [])
    })

    test('copyDir: a nested tree', async (t) => {
      const dir = scratch(t, root)
      const src = path.join(dir, 'src')
      plant(src, TREE)
      const r = await copyDir(src, path.join(dir, 'dest'))
      assert.deepEqual(r.errors, [])
      assert.equal(r.files, 4)
      assert.equal(r.bytes, 7 + 19 + 7 + 1)
      assert.deepEqual(tree(path.join(dir, 'dest')), tree(src))
    })

    test('copyDir: merges into an existing destination, overwriting files', async (t) => {
      const dir = scratch(t, root)
      const src = path.join(dir, 'src')
      const dest = path.join(dir, 'dest')
      plant(src, TREE)
      plant(dest, { 'README.md': 'old', 'mine.txt': 'kept' })
      const r = await copyDir(src, dest)
      assert.deepEqual(r.errors, [])
      assert.deepEqual(tree(dest), { ...tree(src), 'mine.txt': 'kept' })
      assert.deepEqual(leftovers(dest), [])
    })

    // Windows paths are case-insensitive and take either slash: the same
    // directory spelt differently is still inside the source.
    for (const [label, spell] of [
      ['as given', (p) => p],
      ['in another case with forward slashes', (p) => p.toUpperCase().replaceAll('\\', '/')],
    ]) {
      test(`copyDir: a destination inside the source is refused, ${label}`, async (t) => {
        const dir = scratch(t, root)
        const src = path.join(dir, 'src')
        plant(src, { 'f.txt': 'f' })
        const err = await copyDir(src, spell(path.join(src, 'inner'))).then(
          () => assert.fail('copied a directory into itself'),
          (e) => e,
        )
        assertSystemError(assert, err, ['EINVAL'])
        assert.deepEqual(fs.readdirSync(src), ['f.txt'], 'nothing created')
      })
    }
  })
}
