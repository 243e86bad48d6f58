// copyFile / copyFileSync / reflink / reflinkSync on each real filesystem,
// sync and promise, each reflink mode. Clones are proved by FIEMAP, not by the
// method the library reports.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyFile, copyFileSync, reflink, reflinkSync, constants } from 'cowcopy'
import { COW_FS, FS_NAMES, allShared, extents, makeFile, noneShared, onFs, sameBytes } from '../helpers.mjs'
import { COPY_METHODS } from '../engines.mjs'

const SIZE = (1 << 20) + 12345 // not block-aligned: the tail must come along too

const apis = {
  sync: (s, d, o) => copyFileSync(s, d, o),
  promise: (s, d, o) => copyFile(s, d, o),
}

for (const fsName of FS_NAMES) {
  const cow = COW_FS.includes(fsName)
  for (const [api, copy] of Object.entries(apis)) {
    onFs(t, fsName, `${api} reflink 'auto'`, async (t, dir) => {
      const src = path.join(dir, 'src')
      const dest = path.join(dir, 'dest')
      makeFile(src, SIZE, 0o755)
      const r = await copy(src, dest)
      t.ok(sameBytes(src, dest), 'bytes equal')
      t.equal(r.bytes, SIZE, 'bytes reported')
      t.equal(fs.statSync(dest).mode & 0o7777, 0o755, 'mode with the exec bit kept')
      if (cow) {
        t.equal(r.method, 'clone')
        t.ok(allShared(dest), 'every extent of the copy is shared')
      } else {
        t.not(r.method, 'clone')
        t.ok(COPY_METHODS.includes(r.method), `real copy method (${r.method})`)
        if (fsName !== 'tmpfs') t.ok(noneShared(dest), 'no shared extents')
      }
    })

    onFs(t, fsName, `${api} reflink 'always'`, async (t, dir) => {
      const src = path.join(dir, 'src')
      const dest = path.join(dir, 'dest')
      makeFile(src, SIZE, 0o640)
      if (cow) {
        const r = await copy(src, dest, { reflink: 'always' })
        t.same(r, { method: 'clone', bytes: SIZE })
        t.ok(allShared(dest), 'every extent shared')
        t.ok(sameBytes(src, dest), 'bytes equal')
        t.equal(fs.statSync(dest).mode & 0o7777, 0o640, 'mode kept')
      } else {
        await t.rejects(async () => copy(src, dest, { reflink: 'always' }), {
          code: 'ENOTSUP', errno: -95, syscall: 'copyfile', path: src, dest,
        })
        t.notOk(fs.existsSync(dest), 'no destination left behind')
        t.same(fs.readdirSync(dir), ['src'], 'directory holds only the source')
      }
    })

    onFs(t, fsName, `${api} reflink 'never'`, async (t, dir) => {
      const src = path.join(dir, 'src')
      const dest = path.join(dir, 'dest')
      makeFile(src, SIZE, 0o600)
      const r = await copy(src, dest, { reflink: 'never' })
      t.ok(['sendfile', 'readwrite'].includes(r.method), `a byte copy (${r.method}), never clone or copy_file_range`)
      t.equal(r.bytes, SIZE)
      t.ok(sameBytes(src, dest), 'bytes equal')
      if (fsName !== 'tmpfs') {
        t.ok(extents(dest).length > 0, 'destination has extents of its own')
        t.ok(noneShared(dest), 'no extent shared, even on a CoW filesystem')
      }
    })
  }

  onFs(t, fsName, 'reflink() and reflinkSync()', async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, SIZE)
    for (const [name, fn] of [['reflink', reflink], ['reflinkSync', reflinkSync]]) {
      const dest = path.join(dir, name)
      if (cow) {
        t.equal(await fn(src, dest), undefined, `${name} resolves to nothing`)
        t.ok(allShared(dest), `${name}: extents shared`)
        t.ok(sameBytes(src, dest), `${name}: bytes equal`)
      } else {
        await t.rejects(async () => fn(src, dest), { code: 'ENOTSUP', syscall: 'copyfile' })
        t.notOk(fs.existsSync(dest), `${name}: nothing left behind`)
      }
    }
    await t.rejects(async () => reflink(src, path.join(dir, 'x'), { reflink: 'never' }), { code: 'ERR_INVALID_ARG_VALUE' })
  })

  onFs(t, fsName, 'numeric fs.copyFile modes', async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, SIZE)
    const r1 = copyFileSync(src, path.join(dir, 'd1'), constants.COPYFILE_FICLONE)
    t.equal(r1.method === 'clone', cow, 'COPYFILE_FICLONE clones where it can')
    if (cow) {
      t.equal(copyFileSync(src, path.join(dir, 'd2'), constants.COPYFILE_FICLONE_FORCE).method, 'clone')
    } else {
      t.throws(() => copyFileSync(src, path.join(dir, 'd2'), constants.COPYFILE_FICLONE_FORCE), { code: 'ENOTSUP' })
      t.notOk(fs.existsSync(path.join(dir, 'd2')))
    }
    t.throws(() => copyFileSync(src, path.join(dir, 'd1'), constants.COPYFILE_EXCL), { code: 'EEXIST' })
    t.ok(sameBytes(src, path.join(dir, 'd1')), 'EXCL left the existing destination alone')
  })

  onFs(t, fsName, 'empty file', async (t, dir) => {
    const src = path.join(dir, 'empty')
    fs.writeFileSync(src, '')
    for (const mode of ['auto', 'never']) {
      const dest = path.join(dir, `dest-${mode}`)
      const r = await copyFile(src, dest, { reflink: mode })
      t.equal(r.bytes, 0)
      t.equal(fs.statSync(dest).size, 0, `${mode}: empty destination`)
    }
  })

  onFs(t, fsName, 'overwrite a larger destination truncates it', async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 100_000)
    for (const mode of ['auto', 'always', 'never']) {
      if (mode === 'always' && !cow) continue
      const dest = path.join(dir, `dest-${mode}`)
      makeFile(dest, 3_000_000, 0o600)
      const r = copyFileSync(src, dest, { reflink: mode })
      t.equal(fs.statSync(dest).size, 100_000, `${mode}: size is the source's`)
      t.ok(sameBytes(src, dest), `${mode}: bytes equal (${r.method})`)
      t.equal(fs.statSync(dest).mode & 0o777, 0o644, `${mode}: mode is the source's`)
    }
  })

  if (!cow) {
    onFs(t, fsName, "a failed 'always' leaves an existing destination intact", async (t, dir) => {
      const src = path.join(dir, 'src')
      const dest = path.join(dir, 'dest')
      makeFile(src, 10_000)
      fs.writeFileSync(dest, 'precious')
      t.throws(() => copyFileSync(src, dest, { reflink: 'always' }), { code: 'ENOTSUP' })
      t.equal(fs.readFileSync(dest, 'utf8'), 'precious', 'content unchanged')
    })
  }
}
