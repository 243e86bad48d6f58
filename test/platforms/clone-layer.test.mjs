// The macOS clone layer's addon, built here with its Linux shim
// (test/fixtures/clone-layer.sh), called directly: argument checks, the
// promise forms answering as the sync ones do, its counters, descriptors.
// Then its C++ test (test/engine/clone_layer_test.cc) on btrfs and ext4.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import { createRequire } from 'node:module'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { allShared, fsDir, onFs, openFds } from '../helpers.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const require = createRequire(import.meta.url)
const { errno: E } = os.constants

const built = execFileSync('bash', [path.join(root, 'test/fixtures/clone-layer.sh')], { encoding: 'utf8' }).trim()
const layer = require(path.join(built, 'build/Release/cowcopy.node'))

t.test('exports', async (t) => {
  t.same(Object.keys(layer).sort(), ['cloneFile', 'cloneFileSync', 'cloneTree', 'cloneTreeSync', 'counters', 'kind', 'os', 'sourceHash'])
  t.equal(layer.kind, 'clone-layer')
  t.equal(layer.os, 'linux-shim')
  t.equal(layer.sourceHash, require(path.join(root, 'src-native/source-hash.js')).sourceHash())
  t.same(Object.keys(layer.counters()).sort(), ['fileClones', 'treeClones'])
})

t.test('lib/native.ts loads the fixture as the clone layer through COWCOPY_PREBUILD', { skip: !fs.existsSync(path.join(root, 'dist/native.js')) && 'dist/ not built' }, async (t) => {
  const r = spawnSync(process.execPath, ['-e', 'const n = require("./dist/native.js"); console.log(JSON.stringify([n.nativeStatus.file, n.cloneLayer && n.cloneLayer.kind, n.native]))'], {
    cwd: root,
    env: { ...process.env, COWCOPY_PREBUILD: built },
    encoding: 'utf8',
  })
  t.same(JSON.parse(r.stdout), [path.join(built, 'build/Release/cowcopy.node'), 'clone-layer', null], r.stderr)
})

t.test('bad arguments throw before anything is touched', async (t) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-layer-'))
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }))
  const fd = fs.openSync(makeSrc(d), 'r')
  t.teardown(() => fs.closeSync(fd))
  const code = (code, name = 'TypeError') => ({ name, code })
  for (const f of [layer.cloneFileSync, layer.cloneFile]) {
    t.throws(() => f('3', path.join(d, 'x')), code('ERR_INVALID_ARG_TYPE'))
    t.throws(() => f(undefined, path.join(d, 'x')), code('ERR_INVALID_ARG_TYPE'))
    t.throws(() => f(-1, path.join(d, 'x')), code('ERR_OUT_OF_RANGE', 'RangeError'))
    t.throws(() => f(1.5, path.join(d, 'x')), code('ERR_OUT_OF_RANGE', 'RangeError'))
    t.throws(() => f(fd, 7), code('ERR_INVALID_ARG_TYPE'))
    t.throws(() => f(fd), code('ERR_INVALID_ARG_TYPE'))
    t.throws(() => f(fd, path.join(d, 'a\0b')), code('ERR_INVALID_ARG_VALUE'))
    t.throws(() => f(fd, Buffer.from(path.join(d, 'a\0b'))), code('ERR_INVALID_ARG_VALUE'))
  }
  for (const f of [layer.cloneTreeSync, layer.cloneTree]) {
    t.throws(() => f(1, path.join(d, 'x')), code('ERR_INVALID_ARG_TYPE'))
    t.throws(() => f(d, null), code('ERR_INVALID_ARG_TYPE'))
    t.throws(() => f(d + '\0', path.join(d, 'x')), code('ERR_INVALID_ARG_VALUE'))
    t.throws(() => f(d, Buffer.from(path.join(d, 'x\0'))), code('ERR_INVALID_ARG_VALUE'))
  }
  t.same(fs.readdirSync(d).sort(), ['src'], 'nothing made')
})

function makeSrc(d) {
  const src = path.join(d, 'src')
  fs.writeFileSync(src, 'data')
  return src
}

onFs(t, 'btrfs', 'clones, sync and promise alike', async (t, d) => {
  const src = path.join(d, 'src')
  fs.writeFileSync(src, Buffer.alloc(1 << 20, 7))
  fs.chmodSync(src, 0o4750)
  const fd = fs.openSync(src, 'r')
  t.teardown(() => fs.closeSync(fd))
  const before = layer.counters()

  t.equal(layer.cloneFileSync(fd, path.join(d, 'a')), 0)
  t.equal(await layer.cloneFile(fd, path.join(d, 'b')), 0)
  for (const name of ['a', 'b']) {
    const p = path.join(d, name)
    t.ok(fs.readFileSync(p).equals(fs.readFileSync(src)), `${name}: same bytes`)
    t.ok(allShared(p), `${name}: extents shared`)
    t.equal(fs.statSync(p).mode & 0o7777, 0o750, `${name}: setuid off`)
  }
  t.equal(layer.cloneFileSync(fd, path.join(d, 'a')), E.EEXIST)
  t.equal(await layer.cloneFile(fd, path.join(d, 'a')), E.EEXIST)
  t.equal(await layer.cloneFile(fd, path.join(d, 'none', 'x')), E.ENOENT)

  // A name that is not UTF-8 arrives byte for byte.
  const odd = Buffer.concat([Buffer.from(d + '/'), Buffer.from([0x6e, 0xff, 0xfe])])
  t.equal(layer.cloneFileSync(fd, odd), 0)
  t.ok(fs.readdirSync(d, { encoding: 'buffer' }).some((n) => n.equals(Buffer.from([0x6e, 0xff, 0xfe]))), 'the raw name')

  const tree = path.join(d, 'tree')
  fs.mkdirSync(path.join(tree, 'sub'), { recursive: true })
  fs.writeFileSync(path.join(tree, 'x'), 'xx')
  fs.writeFileSync(path.join(tree, 'sub', 'y'), 'yyy')
  fs.symlinkSync('../nowhere', path.join(tree, 'sub', 'l'))
  const expected = { errno: 0, ineligible: undefined, files: 2, dirs: 2, symlinks: 1, bytes: 5 }
  t.same(layer.cloneTreeSync(tree, path.join(d, 't1')), expected)
  t.same(await layer.cloneTree(Buffer.from(tree), path.join(d, 't2')), expected)
  t.equal(fs.readlinkSync(path.join(d, 't2', 'sub', 'l')), '../nowhere')
  const exists = { errno: E.EEXIST, ineligible: undefined, files: 0, dirs: 0, symlinks: 0, bytes: 0 }
  t.same(layer.cloneTreeSync(tree, path.join(d, 't1')), exists)
  t.same(await layer.cloneTree(tree, path.join(d, 't1')), exists)

  execFileSync('mkfifo', [path.join(tree, 'sub', 'fifo')])
  const sync = layer.cloneTreeSync(tree, path.join(d, 't3'))
  t.match(sync, { errno: 0, ineligible: /FIFO: sub\/fifo/, files: 0 })
  t.same(await layer.cloneTree(tree, path.join(d, 't3')), sync)
  t.notOk(fs.existsSync(path.join(d, 't3')), 'ineligible: nothing made')
  t.same(fs.readdirSync(d).filter((n) => n.includes('.cowcopy-')), [], 'no holder left')

  const after = layer.counters()
  t.same(after, { fileClones: before.fileClones + 3, treeClones: before.treeClones + 2 }, 'only successes count')
})

onFs(t, 'ext4', 'a volume that cannot clone: ENOTSUP, nothing left', async (t, d) => {
  const src = path.join(d, 'src')
  fs.writeFileSync(src, 'data')
  const fd = fs.openSync(src, 'r')
  t.teardown(() => fs.closeSync(fd))
  t.equal(layer.cloneFileSync(fd, path.join(d, 'a')), E.ENOTSUP)
  t.equal(await layer.cloneFile(fd, path.join(d, 'a')), E.ENOTSUP)
  fs.mkdirSync(path.join(d, 'tree'))
  fs.writeFileSync(path.join(d, 'tree', 'f'), 'f')
  t.match(await layer.cloneTree(path.join(d, 'tree'), path.join(d, 't')), { errno: E.ENOTSUP, ineligible: undefined })
  t.same(fs.readdirSync(d).sort(), ['src', 'tree'])
})

onFs(t, 'btrfs', 'no descriptor leaks on any outcome', async (t, d) => {
  const src = path.join(d, 'src')
  fs.writeFileSync(src, 'data')
  fs.mkdirSync(path.join(d, 'tree'))
  fs.writeFileSync(path.join(d, 'tree', 'f'), 'f')
  const fd = fs.openSync(src, 'r')
  t.teardown(() => fs.closeSync(fd))
  const ext4 = fsDir('ext4').dir
  await layer.cloneFile(fd, path.join(d, 'warm-up')) // the thread pool's own descriptors come first
  const before = openFds()
  for (let i = 0; i < 10; i++) {
    layer.cloneFileSync(fd, path.join(d, `f${i}`))
    layer.cloneFileSync(fd, path.join(d, `f${i}`))
    await layer.cloneFile(fd, path.join(d, `g${i}`))
    await layer.cloneFile(fd, path.join(d, 'missing', 'x'))
    layer.cloneTreeSync(path.join(d, 'tree'), path.join(d, `t${i}`))
    await layer.cloneTree(path.join(d, 'tree'), path.join(d, `t${i}`))
    await layer.cloneTree(path.join(d, 'missing'), path.join(d, 'x'))
    if (ext4) await layer.cloneTree(path.join(d, 'tree'), path.join(ext4, `cowcopy-layer-${process.pid}`))
  }
  t.same(openFds(), before)
})

onFs(t, 'btrfs', 'the C++ test of the layer (test/engine/clone_layer_test.cc)', async (t, d) => {
  if (!fsDir('ext4').dir) return t.skip('needs the ext4 mount too')
  const bin = path.join(path.dirname(built), 'clone_layer_test')
  execFileSync('g++', ['-std=c++17', '-O1', '-Wall', '-Wextra', '-Werror', '-D_FILE_OFFSET_BITS=64', '-DCOWCOPY_SHIM_HOOKS', '-o', bin,
    path.join(root, 'test/engine/clone_layer_test.cc'),
    path.join(root, 'src-native/clone-layer/layer.cc'),
    path.join(root, 'src-native/clone-layer/os_clone_linux_shim.cc')])
  const r = spawnSync(bin, [d], { encoding: 'utf8' })
  t.equal(r.status, 0, r.stdout + r.stderr)
  t.match(r.stdout, / 0 failures/)
})
