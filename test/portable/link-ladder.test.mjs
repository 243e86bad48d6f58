// The portable engine (COWCOPY_NATIVE=0) honours the `link` ladder as the
// native engine does: link ['clone'] is a clone or that file's error (never
// a byte copy), link ['hardlink'] gives the destination the source's inode,
// and `methods` counts what placed each file. copyFiles, importFiles and
// copyDir.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { allShared, makeFile, onFs } from '../helpers.mjs'
import { DIST_MJS, how, ls, runChild } from './child.mjs'

process.env.COWCOPY_NATIVE = '0'
const c = await import(DIST_MJS)

const pick = (e) => e && { code: e.code, errno: e.errno, syscall: e.syscall }
// The methods that placed files (the counts that are not 0): extra keys at 0 do not matter.
const counted = (m) => Object.fromEntries(Object.entries(m ?? {}).filter(([, n]) => n !== 0))

t.test('setup', async (t) => {
  t.equal(c.native, false, 'the package runs without its addon here (COWCOPY_NATIVE=0)')
})

/** What the native engine answers for copyFiles [[src, dest]] with link ['clone'] (a child: this process has no addon). */
async function nativeCloneError(src, dest) {
  const r = await runChild(`const r = await c.copyFiles([[args[0], args[1]]], { link: ['clone'] });
    report({ files: r.files, errors: r.errors.map((x) => errInfo(x.error)) })`, { native: true, args: [src, dest] })
  return r
}

onFs(t, 'ext4', "link ['clone'] where clones are impossible: the pair fails as with the native engine, nothing left", async (t, dir) => {
  const src = path.join(dir, 'src')
  makeFile(src, 256 << 10)
  const ref = await nativeCloneError(src, path.join(dir, 'native-dest'))
  t.equal(ref.result?.errors?.length, 1, `native: the pair fails (reference; ${how(ref)})`)
  const want = pick(ref.result?.errors?.[0])
  t.same(ls(dir), ['src'], 'native left nothing (reference)')

  const dest = path.join(dir, 'dest')
  const r = await c.copyFiles([[src, dest]], { link: ['clone'] })
  t.equal(r.files, 0, 'copyFiles: no file placed')
  t.equal(r.errors.length, 1, 'copyFiles: the pair is listed in errors')
  t.same(pick(r.errors[0]?.error), want, "copyFiles: the native engine's error (code, errno, syscall)")
  t.same(counted(r.methods), {}, 'copyFiles: no method counted')
  t.same(ls(dir), ['src'], 'copyFiles: no destination and no temporary file left')

  const imp = path.join(dir, 'imp')
  const ri = await c.importFiles(imp, [['a/f', src]], { link: ['clone'] }).catch((e) => ({ rejected: e }))
  t.notOk(ri.rejected, `importFiles resolves with the row (${ri.rejected?.message})`)
  t.equal(ri.errors?.length, 1, 'importFiles: the entry is listed in errors')
  t.same(pick(ri.errors?.[0]?.error), want, "importFiles: the native engine's error")
  t.notOk(fs.existsSync(path.join(imp, 'a', 'f')), 'importFiles: no file placed')
})

for (const fsName of ['btrfs', 'xfs']) {
  onFs(t, fsName, "link ['clone'] clones: the destination shares every extent, methods.clone counts it", async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 1 << 20)
    const data = fs.readFileSync(src)

    const dest = path.join(dir, 'dest')
    const r = await c.copyFiles([[src, dest]], { link: ['clone'] })
    t.same(r.errors.map((e) => e.error.message), [], 'copyFiles: no error')
    t.equal(r.files, 1, 'copyFiles: one file')
    t.same(counted(r.methods), { clone: 1 }, 'copyFiles: methods.clone === 1')
    t.ok(fs.readFileSync(dest).equals(data), 'copyFiles: same bytes')
    t.ok(allShared(dest), 'copyFiles: every extent of dest is shared (FIEMAP)')

    const imp = path.join(dir, 'imp')
    const ri = await c.importFiles(imp, [['a/f', src]], { link: ['clone'] }).catch((e) => ({ rejected: e }))
    t.notOk(ri.rejected, `importFiles resolves (${ri.rejected?.message})`)
    t.same(counted(ri.methods), { clone: 1 }, 'importFiles: methods.clone === 1')
    const placed = path.join(imp, 'a', 'f')
    t.ok(fs.existsSync(placed) && allShared(placed), 'importFiles: the placed file shares every extent')

    const tree = path.join(dir, 'tree')
    fs.mkdirSync(tree)
    makeFile(path.join(tree, 'f'), 1 << 20)
    const rd = await c.copyDir(tree, path.join(dir, 'tree-copy'), { link: ['clone'] }).catch((e) => ({ rejected: e }))
    t.notOk(rd.rejected, `copyDir resolves (${rd.rejected?.message})`)
    t.same(counted(rd.methods), { clone: 1 }, 'copyDir: methods.clone === 1')
  })
}

for (const fsName of ['ext4', 'btrfs', 'xfs', 'tmpfs']) {
  onFs(t, fsName, "link ['hardlink'] makes the destination the source's inode, methods.hardlink counts it", async (t, dir) => {
    const src = path.join(dir, 'src')
    makeFile(src, 64 << 10, 0o640)
    const st = fs.statSync(src)
    const same = (p) => {
      const s = fs.statSync(p, { throwIfNoEntry: false })
      return s !== undefined && s.ino === st.ino && s.dev === st.dev
    }

    const dest = path.join(dir, 'dest')
    const r = await c.copyFiles([[src, dest]], { link: ['hardlink'] })
    t.same(r.errors.map((e) => e.error.message), [], 'copyFiles: no error')
    t.equal(r.files, 1, 'copyFiles: one file')
    t.same(counted(r.methods), { hardlink: 1 }, 'copyFiles: methods.hardlink === 1')
    t.ok(same(dest), 'copyFiles: dest has the source inode (same dev and ino)')

    const imp = path.join(dir, 'imp')
    const ri = await c.importFiles(imp, [['a/f', src]], { link: ['hardlink'] }).catch((e) => ({ rejected: e }))
    t.notOk(ri.rejected, `importFiles resolves (${ri.rejected?.message})`)
    t.same(counted(ri.methods), { hardlink: 1 }, 'importFiles: methods.hardlink === 1')
    t.ok(same(path.join(imp, 'a', 'f')), 'importFiles: the placed file has the source inode')

    const tree = path.join(dir, 'tree')
    fs.mkdirSync(tree)
    fs.linkSync(src, path.join(tree, 'f'))
    const rd = await c.copyDir(tree, path.join(dir, 'tree-copy'), { link: ['hardlink'] }).catch((e) => ({ rejected: e }))
    t.notOk(rd.rejected, `copyDir resolves (${rd.rejected?.message})`)
    t.same(counted(rd.methods), { hardlink: 1 }, 'copyDir: methods.hardlink === 1')
    t.ok(same(path.join(dir, 'tree-copy', 'f')), 'copyDir: the copy has the source inode')
  })
}
