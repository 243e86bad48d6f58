// copyRange, cloneRange and probe on Windows without the addon: byte ranges
// at offsets, read back with fs; a clone cannot be done and must say so with
// a named error that Windows' errno table maps back to its code.
import assert from 'node:assert/strict'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { describe, test } from 'node:test'
import { ROOTS, assertSystemError, cowcopy, scratch, skip } from './helpers.mjs'

const { copyRange, copyRangeSync, cloneRange, cloneRangeSync, probe, probeSync } = cowcopy

/** 256 KiB + 3 bytes whose every byte says where it is. */
const SRC = Buffer.from(Array.from({ length: (256 << 10) + 3 }, (_, i) => (i * 7 + (i >> 8)) & 0xff))

for (const root of ROOTS) {
  describe(`ranges in ${root}`, { skip }, () => {
    for (const [api, copy] of Object.entries({ sync: async (...a) => copyRangeSync(...a), promise: copyRange })) {
      test(`${api} copyRange: into a new file at an offset`, async (t) => {
        const dir = scratch(t, root)
        const src = path.join(dir, 'src.bin')
        const dest = path.join(dir, 'dest.bin')
        fs.writeFileSync(src, SRC)
        const n = await copy(src, dest, { srcOffset: 1000, destOffset: 10, length: 70_000 })
        assert.equal(n, 70_000)
        const got = fs.readFileSync(dest)
        assert.equal(got.length, 70_010)
        assert.ok(got.subarray(0, 10).equals(Buffer.alloc(10)), 'a hole of zeros before destOffset')
        assert.ok(got.subarray(10).equals(SRC.subarray(1000, 71_000)), 'the range, byte for byte')
      })

      test(`${api} copyRange: in place inside an existing file, to the source's end`, async (t) => {
        const dir = scratch(t, root)
        const src = path.join(dir, 'src.bin')
        const dest = path.join(dir, 'dest.bin')
        fs.writeFileSync(src, SRC)
        fs.writeFileSync(dest, Buffer.alloc(300_000, 0xee))
        const n = await copy(src, dest, { srcOffset: SRC.length - 5, destOffset: 4 })
        assert.equal(n, 5, 'length 0: up to the end of the source')
        const got = fs.readFileSync(dest)
        assert.equal(got.length, 300_000, 'not truncated')
        assert.ok(got.subarray(4, 9).equals(SRC.subarray(-5)))
        assert.ok(got.subarray(0, 4).equals(Buffer.alloc(4, 0xee)) && got.subarray(9).equals(Buffer.alloc(300_000 - 9, 0xee)))
      })

      test(`${api} copyRange: a missing source is ENOENT and creates nothing`, async (t) => {
        const dir = scratch(t, root)
        const err = await copy(path.join(dir, 'missing'), path.join(dir, 'dest'), { length: 1 }).then(
          () => assert.fail('copied from nothing'),
          (e) => e,
        )
        assertSystemError(assert, err, ['ENOENT'])
        assert.deepEqual(fs.readdirSync(dir), [])
      })
    }

    test('copyRange: from and to open FileHandles, which stay open', async (t) => {
      const dir = scratch(t, root)
      fs.writeFileSync(path.join(dir, 'src.bin'), SRC)
      const src = await fs.promises.open(path.join(dir, 'src.bin'), 'r')
      const dest = await fs.promises.open(path.join(dir, 'dest.bin'), 'w+')
      try {
        assert.equal(await copyRange(src, dest, { srcOffset: 3, length: 100 }), 100)
        const { bytesRead } = await dest.read(Buffer.alloc(1), 0, 1, 0)
        assert.equal(bytesRead, 1, 'the handle is still usable')
      } finally {
        await src.close()
        await dest.close()
      }
      assert.ok(fs.readFileSync(path.join(dir, 'dest.bin')).equals(SRC.subarray(3, 103)))
    })

    for (const [api, clone] of Object.entries({ sync: async (...a) => cloneRangeSync(...a), promise: cloneRange })) {
      test(`${api} cloneRange: refused with a named error, nothing left behind`, async (t) => {
        const dir = scratch(t, root)
        const src = path.join(dir, 'src.bin')
        fs.writeFileSync(src, SRC)
        const err = await clone(src, path.join(dir, 'dest.bin'), { length: 4096 }).then(
          () => assert.fail('cloned on Windows without the addon'),
          (e) => e,
        )
        assertSystemError(assert, err, ['ENOSYS', 'ENOTSUP'])
        assert.equal(typeof err.syscall, 'string')
        assert.deepEqual(fs.readdirSync(dir), ['src.bin'], 'no destination created')
      })
    }

    for (const [api, run] of Object.entries({ sync: async (d) => probeSync(d), promise: probe })) {
      test(`${api} probe: what this filesystem can do`, async (t) => {
        const dir = scratch(t, root)
        const r = await run(dir)
        t.diagnostic(JSON.stringify(r))
        assert.equal(typeof r.fsType, 'string')
        assert.ok(r.fsType.length > 0)
        for (const k of ['clone', 'dedupe', 'copyFileRange']) assert.equal(typeof r[k], 'boolean', k)
        assert.deepEqual(fs.readdirSync(dir), [], 'probe leaves nothing')
      })
    }
  })
}
