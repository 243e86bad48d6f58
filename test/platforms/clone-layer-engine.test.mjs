// The portable engine over the per-OS clone layer (macOS clonefile), run
// here with the layer's own logic linked against its Linux shim
// (test/fixtures/clone-layer.sh): copyDir clones a whole tree in one layer
// call where the result is the one the per-file walk makes, and walks per
// file otherwise; reflink and probe clone through the layer. Proved on real
// btrfs and ext4 by extents, listings and the layer's own counters.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { diffTrees, fsDir, listFiles, makeFile, makeTree, unsharedFiles } from '../helpers.mjs'
import { how, ROOT, runChild } from '../portable/child.mjs'

const shim = (() => {
  try {
    return execFileSync('bash', [path.join(ROOT, 'test/fixtures/clone-layer.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').pop()
  } catch (err) {
    return { error: `the shim build failed: ${err.stderr || err.message}` }
  }
})()

// A child on the portable engine with the shim layer loaded; `c.cloneLayer`
// must say so, and `layer` is the binding itself (its counters).
function inLayer(code, args) {
  const prelude = `
const { createRequire } = await import('node:module');
const layer = createRequire(import.meta.url)(${JSON.stringify(path.join(typeof shim === 'string' ? shim : '', 'build/Release/cowcopy.node'))});
if (c.cloneLayer !== 'linux-shim' || c.native) throw new Error('not on the layer: ' + c.cloneLayer + ' ' + c.native + ' ' + (c.nativeLoadError && c.nativeLoadError.message));
`
  return runChild(prelude + code, { native: true, args, env: { COWCOPY_PREBUILD: shim }, timeout: 60000 })
}

const COPY_DIR = `
const before = layer.counters();
const r = await c.copyDir(args[0], args[1], JSON.parse(args[2] || '{}'));
const after = layer.counters();
report({ r: { files: r.files, bytes: r.bytes, dirs: r.dirs, symlinks: r.symlinks, methods: r.methods, errors: r.errors.map((e) => [e.src, e.error.code]), skipped: r.skipped },
  trees: after.treeClones - before.treeClones, files: after.fileClones - before.fileClones });
`

const counts = (r) => ({ files: r.files, bytes: r.bytes, dirs: r.dirs, symlinks: r.symlinks })

t.test('the shim layer builds', async (tt) => {
  tt.type(shim, 'string', shim.error)
})

function onMount(tt, name) {
  const { dir, reason } = fsDir(name)
  if (!dir) {
    if (process.env.CI) tt.fail(`CI needs the ${name} mount: ${reason}`)
    else tt.skip(reason)
    return null
  }
  if (typeof shim !== 'string') {
    tt.fail(shim.error)
    return null
  }
  const scratch = fs.mkdtempSync(path.join(dir, 'cc-layer-'))
  tt.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }))
  return scratch
}

t.test('btrfs: a tree with files, links, modes is cloned whole, as the per-file walk would copy it', async (tt) => {
  const s = onMount(tt, 'btrfs')
  if (!s) return
  const src = path.join(s, 'src')
  makeTree(src, { packages: 8, filesPerPackage: 12 })
  fs.chmodSync(path.join(src, 'bin'), 0o750)
  const whole = await inLayer(COPY_DIR, [src, path.join(s, 'whole')])
  tt.equal(whole.status, 0, how(whole))
  // The per-file walk for comparison: a filter makes a tree ineligible.
  const filtered = await inLayer(COPY_DIR.replace('JSON.parse(args[2] || \'{}\')', '{ filter: () => true }'), [src, path.join(s, 'filtered')])
  tt.equal(filtered.status, 0, how(filtered))
  tt.equal(whole.result.trees, 1, 'one whole-tree clone')
  tt.equal(whole.result.files, 0, 'no per-file clones')
  tt.equal(filtered.result.trees, 0, 'a filter walks per file')
  tt.ok(filtered.result.files > 0, 'and clones each file through the layer')
  tt.same(counts(whole.result.r), counts(filtered.result.r), 'the same counts as the per-file walk')
  tt.equal(whole.result.r.methods.clone, whole.result.r.files, 'every file counted as a clone')
  tt.same(whole.result.r.errors, [])
  tt.same(diffTrees(src, path.join(s, 'whole')), [], 'types, modes, link targets and bytes as the source')
  tt.same(diffTrees(path.join(s, 'filtered'), path.join(s, 'whole')), [], 'and as the per-file copy')
  tt.same(unsharedFiles(listFiles(path.join(s, 'whole'))), [], 'every file shares its extents')
  tt.same(fs.readdirSync(s).sort(), ['filtered', 'src', 'whole'], 'nothing left beside the destinations')
})

t.test('btrfs: a tree the layer declines (a FIFO, an own setuid file) or a destination that exists goes per file', async (tt) => {
  const s = onMount(tt, 'btrfs')
  if (!s) return
  const src = path.join(s, 'src')
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
  makeFile(path.join(src, 'sub', 'a'), 70000)
  makeFile(path.join(src, 'b'), 5000)
  fs.writeFileSync(path.join(src, 'tool'), 'x'.repeat(9000))
  fs.chmodSync(path.join(src, 'tool'), 0o4755)
  const setuid = await inLayer(COPY_DIR, [src, path.join(s, 'setuid')])
  tt.equal(setuid.status, 0, how(setuid))
  tt.equal(setuid.result.trees, 0, 'an own setuid file: not cloned whole (a clone drops the bit)')
  tt.equal(setuid.result.files, 3, 'each file cloned through the layer')
  tt.equal(fs.statSync(path.join(s, 'setuid', 'tool')).mode & 0o7777, 0o4755, 'setuid kept for its owner, as the per-file rule says')
  tt.same(unsharedFiles(listFiles(path.join(s, 'setuid'))), [])

  // Another user's setuid file: cloned (the clone is of the opened file and
  // the OS drops the bit), with the bit gone as the per-file rule says.
  fs.chownSync(path.join(src, 'tool'), 1234, 1234)
  fs.chmodSync(path.join(src, 'tool'), 0o4755)
  const foreign = await inLayer(COPY_DIR.replace('JSON.parse(args[2] || \'{}\')', '{ filter: () => true }'), [src, path.join(s, 'foreign')])
  tt.equal(foreign.status, 0, how(foreign))
  tt.same(foreign.result.r.methods.clone, 3, "another user's setuid file is cloned too")
  tt.equal(fs.statSync(path.join(s, 'foreign', 'tool')).mode & 0o7777, 0o755, 'without its setuid bit')
  fs.chownSync(path.join(src, 'tool'), 0, 0)
  fs.chmodSync(path.join(src, 'tool'), 0o755)
  execFileSync('mkfifo', [path.join(src, 'sub', 'pipe')])
  const fifo = await inLayer(COPY_DIR, [src, path.join(s, 'fifo')])
  tt.equal(fifo.status, 0, how(fifo))
  tt.equal(fifo.result.trees, 0, 'a FIFO: not cloned whole')
  tt.same(fifo.result.r.skipped.map((x) => path.basename(x.path)), ['pipe'], 'skipped and listed, as always')
  tt.equal(fifo.result.r.methods.clone, 3)
  fs.rmSync(path.join(src, 'sub', 'pipe'))

  fs.mkdirSync(path.join(s, 'merge'))
  fs.writeFileSync(path.join(s, 'merge', 'mine'), 'keep')
  const merge = await inLayer(COPY_DIR, [src, path.join(s, 'merge')])
  tt.equal(merge.status, 0, how(merge))
  tt.equal(merge.result.trees, 0, 'an existing destination is merged into per file')
  tt.equal(fs.readFileSync(path.join(s, 'merge', 'mine'), 'utf8'), 'keep')
  tt.equal(merge.result.r.files, 3)
  tt.same(fs.readdirSync(s).sort(), ['fifo', 'foreign', 'merge', 'setuid', 'src'], 'nothing left beside the destinations')
})

t.test('ext4: the tree clone fails (ENOTSUP) and the per-file walk copies; reflink always fails per file', async (tt) => {
  const s = onMount(tt, 'ext4')
  if (!s) return
  const src = path.join(s, 'src')
  makeTree(src, { packages: 3, filesPerPackage: 5 })
  const r = await inLayer(COPY_DIR, [src, path.join(s, 'dest')])
  tt.equal(r.status, 0, how(r))
  tt.equal(r.result.trees, 0)
  tt.equal(r.result.files, 0, 'no clone here')
  tt.same(r.result.r.errors, [])
  tt.equal(r.result.r.methods.clone, 0)
  tt.same(diffTrees(src, path.join(s, 'dest')), [], 'copied, as the source')
  tt.same(fs.readdirSync(s).sort(), ['dest', 'src'], 'the failed clone left nothing beside the destination')
  const always = await inLayer(COPY_DIR, [src, path.join(s, 'always'), JSON.stringify({ reflink: 'always' })])
  tt.equal(always.status, 0, how(always))
  tt.ok(always.result.r.errors.length > 0 && always.result.r.errors.every(([, code]) => code === 'ENOTSUP'), 'each file: ENOTSUP')
  tt.equal(always.result.r.files, 0)
})

t.test('reflink and probe clone through the layer', async (tt) => {
  const b = onMount(tt, 'btrfs')
  const e = b && onMount(tt, 'ext4')
  if (!b || !e) return
  makeFile(path.join(b, 'a'), 300000)
  fs.chmodSync(path.join(b, 'a'), 0o640)
  makeFile(path.join(e, 'a'), 3000)
  const r = await inLayer(`
const before = layer.counters().fileClones;
const one = await c.reflink(args[0] + '/a', args[0] + '/b');
const two = c.copyFileSync(args[0] + '/a', args[0] + '/c', { reflink: 'always' });
let err; try { await c.reflink(args[1] + '/a', args[1] + '/b') } catch (x) { err = errInfo(x) }
const probeB = (await c.probe(args[0])).clone;
const probeE = c.probeSync(args[1]).clone;
report({ one: one ?? null, two, err, clones: layer.counters().fileClones - before, probeB, probeE });
`, [b, e])
  tt.equal(r.status, 0, how(r))
  tt.equal(r.result.one, null, 'reflink resolves with nothing')
  tt.same(r.result.two, { method: 'clone', bytes: 300000 })
  tt.equal(r.result.clones, 2 + 1, 'two clones and the probe\'s')
  tt.same(unsharedFiles([path.join(b, 'b'), path.join(b, 'c')]), [], 'shared extents')
  tt.equal(fs.statSync(path.join(b, 'b')).mode & 0o7777, 0o640)
  tt.match(r.result.err, { code: 'ENOTSUP', syscall: 'copyfile' })
  tt.same(fs.readdirSync(e).sort(), ['a'], 'the failed clone left nothing')
  tt.equal(r.result.probeB, true)
  tt.equal(r.result.probeE, false)
})

// Many tree clones at once in a process short of descriptors (one per
// libuv worker): a clone or its walk that runs out of them must still leave
// no holder (and no partial tree in one) beside the destination: a layer
// that held one descriptor per level in both walks and in its cleanup would
// give up a cleanup started when the process had none left (timing-dependent:
// several rounds; test/engine/clone_layer_test.cc pins it down exactly).
t.test('btrfs: concurrent deep tree clones short of descriptors leave no holder', async (tt) => {
  const s = onMount(tt, 'btrfs')
  if (!s) return
  const src = path.join(s, 'deep')
  let p = src
  for (let i = 0; i < 30; i++) {
    p = path.join(p, `d${i}`)
    fs.mkdirSync(p, { recursive: true })
    fs.writeFileSync(path.join(p, 'f'), 'x')
  }
  const code = `
const c = require(${JSON.stringify(ROOT)});
const [src, parent, n] = process.argv.slice(1);
if (c.cloneLayer !== 'linux-shim') throw new Error('not on the layer');
Promise.allSettled(Array.from({ length: +n }, (_, i) => c.copyDir(src, parent + '/d' + i))).then(() => {});
`
  const left = []
  for (let round = 0; round < 12; round++) {
    const parent = path.join(s, `par${round}`)
    fs.mkdirSync(parent)
    const lim = round % 2 ? 128 : 90
    execFileSync('prlimit', [`--nofile=${lim}`, process.execPath, '-e', code, src, parent, String(lim / 8 | 0)], {
      env: { ...process.env, COWCOPY_PREBUILD: shim, COWCOPY_NATIVE: undefined },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 60000,
    })
    left.push(...fs.readdirSync(parent).filter((n) => n.includes('.cowcopy-')).map((n) => `${round}: ${n}`))
    fs.rmSync(parent, { recursive: true, force: true })
  }
  tt.same(left, [], 'no holder left beside any destination')
})
