// importFiles on Windows without the addon. relPaths use forward slashes, as
// the API says; every path on disk is a Windows one.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { describe, test } from 'node:test'
import { ROOTS, assertSystemError, cowcopy, leftovers, plant, scratch, skip, tree } from './helpers.mjs'

const { importFiles } = cowcopy

for (const root of ROOTS) {
  describe(`importFiles in ${root}`, { skip }, () => {
    test('a Map of relPaths with a marker', async (t) => {
      const dir = scratch(t, root)
      plant(dir, { 'store/1': '{"name":"left-pad"}', 'store/2': 'exports.pad = 1', 'store/3': '#!/usr/bin/env node' })
      const s = (n) => path.join(dir, 'store', n)
      fs.mkdirSync(path.join(dir, 'node_modules'))
      const dest = path.join(dir, 'node_modules', 'left-pad')
      const r = await importFiles(dest, new Map([
        ['package.json', s('1')],
        ['lib/index.js', s('2')],
        ['bin/deep/cli.js', s('3')],
      ]), { marker: 'package.json' })
      assert.deepEqual(r.errors, [])
      assert.equal(r.files, 3)
      assert.equal(r.existing, 0)
      assert.deepEqual(tree(dest), {
        'package.json': '{"name":"left-pad"}',
        'lib': null,
        'lib/index.js': 'exports.pad = 1',
        'bin': null,
        'bin/deep': null,
        'bin/deep/cli.js': '#!/usr/bin/env node',
      })
      // A second import keeps what is there: the marker says it is complete.
      const again = await importFiles(dest, new Map([['package.json', s('1')], ['lib/index.js', s('2')]]), { marker: 'package.json' })
      assert.equal(again.existing, 2)
    })

    test('missing parents of destDir are made, as the addon makes them', async (t) => {
      const dir = scratch(t, root)
      plant(dir, { 'store/1': 'one' })
      const dest = path.join(dir, 'node_modules', '.pnpm', 'a@1.0.0', 'node_modules', 'a')
      const r = await importFiles(dest, new Map([['index.js', path.join(dir, 'store', '1')]]))
      assert.deepEqual(r.errors, [])
      assert.equal(fs.readFileSync(path.join(dest, 'index.js'), 'utf8'), 'one')
    })

    test('stage builds beside destDir and renames it into place', async (t) => {
      const dir = scratch(t, root)
      plant(dir, { 'store/a': 'AAA', 'store/b': 'B' })
      const dest = path.join(dir, 'dist')
      const r = await importFiles(dest, [['a.js', path.join(dir, 'store', 'a')], ['sub/b.js', path.join(dir, 'store', 'b')]], { stage: true })
      assert.deepEqual(r.errors, [])
      assert.equal(r.files, 2)
      assert.deepEqual(tree(dest), { 'a.js': 'AAA', 'sub': null, 'sub/b.js': 'B' })
      assert.deepEqual(leftovers(dir), [], 'no staging directory left')
      const err = await importFiles(dest, [['c.js', path.join(dir, 'store', 'a')]], { stage: true }).then(
        () => assert.fail('staged over an existing destDir'),
        (e) => e,
      )
      assertSystemError(assert, err, ['EEXIST'])
    })

    // On Windows a backslash or a drive letter in a relPath is a way out of
    // destDir: they must be refused like '..', before anything is created.
    const BAD = {
      'a parent through a backslash': () => '..\\outside.txt',
      'a parent deeper down': () => 'a\\..\\..\\outside.txt',
      'an absolute path with backslashes': (dir) => path.join(dir, 'outside.txt'),
      'an absolute path with forward slashes': (dir) => path.join(dir, 'outside.txt').replaceAll('\\', '/'),
    }
    for (const [label, bad] of Object.entries(BAD)) {
      test(`a relPath that is ${label} is refused`, async (t) => {
        const dir = scratch(t, root)
        plant(dir, { 'store/x': 'x' })
        const dest = path.join(dir, 'dest')
        const err = await importFiles(dest, new Map([[bad(dir), path.join(dir, 'store', 'x')]])).then(
          () => assert.fail('imported outside destDir'),
          (e) => e,
        )
        assert.equal(err.code, 'ERR_INVALID_ARG_VALUE', err.message)
        assert.equal(fs.existsSync(dest), false, 'nothing created')
        assert.equal(fs.existsSync(path.join(dir, 'outside.txt')), false)
      })
    }
  })
}
