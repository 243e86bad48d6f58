// cowcopy/fs against Node's own tests: test/node-fs/parallel holds
// test-fs-cp.mjs, test-fs-copyfile.js and test-fs-copyfile-respect-permissions.js
// from nodejs/node (see test/node-fs/README.md), the only change the import
// of fs from 'cowcopy/fs'. Each runs in a child node, in a work directory on
// each test filesystem (btrfs and XFS: COPYFILE_FICLONE_FORCE clones; ext4:
// it fails with ENOTSUP, the branch the tests accept), on the engine this
// process was started for (COWCOPY_NATIVE=0: the portable one). Then our own
// checks: clones are shared extents, ext4 refuses FICLONE_FORCE for cp and
// copyFile alike, cpSync is synchronous, and the errors match fs.promises.cp's.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { allShared, fsDir, noneShared } from '../helpers.mjs'
import { makeFixtures } from '../node-fs/make-fixtures.mjs'
import cowfs from 'cowcopy/fs'
import cowcopy from 'cowcopy'

const testDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const parallel = path.join(testDir, 'node-fs', 'parallel')
const FILES = ['test-fs-cp.mjs', 'test-fs-copyfile.js', 'test-fs-copyfile-respect-permissions.js']
const engine = cowcopy.native ? 'native' : 'portable'

/**
 * The cases of the vendored files that cannot pass on cowcopy/fs, each with
 * its reason and how its file fails (a pattern of the child's stderr): such
 * a file must fail in exactly that way, so a fixed deviation shows up as a
 * failure here too. None today: every case of the three files passes on both
 * engines. (cowcopy/fs's deviations from fs outside these tests are in the
 * README, "cowcopy/fs: a drop-in for fs.cp and fs.copyFile".)
 * @type {{ file: string, case: string, reason: string, stderr: RegExp }[]}
 */
const DEVIATIONS = []

// The filesystems to run on: the COW ones and ext4 where mounted, else the
// system's temporary directory.
const targets = ['btrfs', 'xfs', 'ext4'].map((name) => ({ name, dir: fsDir(name).dir })).filter((x) => x.dir)
if (targets.length === 0) targets.push({ name: 'tmpdir', dir: os.tmpdir() })

const isRoot = process.getuid?.() === 0
const NOBODY = 65534

function flagsOf(file) {
  const first = fs.readFileSync(path.join(parallel, file), 'utf8').split('\n', 1)[0]
  const m = first.match(/^\/\/ Flags: (.*)$/)
  return m ? m[1].trim().split(/\s+/) : []
}

function runNodeTest(file, root) {
  const asNobody = file.includes('respect-permissions') && isRoot
  const tmp = path.join(root, 'tmp', asNobody ? 'nobody' : '', file)
  const env = { ...process.env, NODE_TEST_DIR: tmp, NODE_TEST_FIXTURES: path.join(root, 'test', 'fixtures') }
  let cmd = process.execPath
  let args = [...flagsOf(file), path.join(parallel, file)]
  // The permission test skips itself as root (root writes a 0444 file):
  // as root it runs as nobody, in a directory nobody owns (its refresh
  // removes and makes the scratch directory).
  if (asNobody) {
    fs.mkdirSync(path.dirname(tmp), { recursive: true })
    fs.chownSync(path.dirname(tmp), NOBODY, NOBODY)
    args = [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', cmd, ...args]
    cmd = 'setpriv'
  }
  return spawnSync(cmd, args, { cwd: root, env, encoding: 'utf8', timeout: 240_000 })
}

// Node's files are not in the repository: code fetched from other projects
// is kept out of its commits, and CI reaches only the npm registry and apt.
// A developer fetches them as test/node-fs/README.md says; then they run
// here, and every other check below runs either way.
const HAVE_NODE_TESTS = FILES.every((f) => fs.existsSync(path.join(parallel, f)))
const NO_NODE_TESTS = "Node's own test files are not in test/node-fs/parallel (not in the repository: see test/node-fs/README.md)"

for (const { name, dir } of targets) {
  t.test(`${engine} engine, ${name}: Node's tests with fs from cowcopy/fs`, { skip: !HAVE_NODE_TESTS && NO_NODE_TESTS }, async (t) => {
    const root = fs.mkdtempSync(path.join(dir, 'node-fs-'))
    fs.chmodSync(root, 0o755)
    t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
    makeFixtures(root)
    for (const file of FILES) {
      if (!fs.existsSync(path.join(parallel, file))) {
        t.fail(`${file} is missing`)
        continue
      }
      const r = runNodeTest(file, root)
      const out = `${r.stdout}\n${r.stderr}`
      const deviation = DEVIATIONS.find((d) => d.file === file)
      if (deviation) {
        t.not(r.status, 0, `${file} fails as DEVIATIONS says: ${deviation.case} (${deviation.reason})`)
        t.match(r.stderr, deviation.stderr, `${file}: the documented failure`)
        continue
      }
      t.equal(r.status, 0, `${file} passes`, { output: out.slice(-4000), signal: r.signal })
      t.notMatch(r.stdout, /# Skipped/, `${file} ran, not skipped`)
    }
  })
}

// A file of 16 blocks or more, so its extents are worth comparing.
function bigFile(p) {
  fs.writeFileSync(p, Buffer.alloc(256 * 1024, 'cowcopy'))
}

const FORCE = fs.constants.COPYFILE_FICLONE_FORCE

for (const name of ['btrfs', 'xfs']) {
  const { dir, reason } = fsDir(name)
  t.test(`${engine} engine, ${name}: COPYFILE_FICLONE_FORCE and the default mode clone`, { skip: dir ? false : reason }, async (t) => {
    const root = fs.mkdtempSync(path.join(dir, 'node-fs-'))
    t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
    fs.mkdirSync(path.join(root, 'src', 'sub'), { recursive: true })
    bigFile(path.join(root, 'src', 'sub', 'f.bin'))
    const src = path.join(root, 'src', 'sub', 'f.bin')
    for (const mode of [FORCE, 0]) {
      cowfs.cpSync(path.join(root, 'src'), path.join(root, `cpSync-${mode}`), { recursive: true, mode })
      await cowfs.promises.cp(path.join(root, 'src'), path.join(root, `cp-${mode}`), { recursive: true, mode })
      await new Promise((resolve, reject) =>
        cowfs.cp(path.join(root, 'src'), path.join(root, `cb-${mode}`), { recursive: true, mode }, (e) => (e ? reject(e) : resolve())),
      )
      cowfs.copyFileSync(src, path.join(root, `copyFileSync-${mode}`), mode)
      await cowfs.promises.copyFile(src, path.join(root, `copyFile-${mode}`), mode)
      for (const d of [`cpSync-${mode}/sub/f.bin`, `cp-${mode}/sub/f.bin`, `cb-${mode}/sub/f.bin`, `copyFileSync-${mode}`, `copyFile-${mode}`]) {
        t.ok(allShared(path.join(root, d)), `${d}: every extent shared with the source`)
      }
    }
  })
}

t.test(`${engine} engine, ext4: COPYFILE_FICLONE_FORCE fails with ENOTSUP, never a byte copy`, { skip: fsDir('ext4').dir ? false : fsDir('ext4').reason }, async (t) => {
  const root = fs.mkdtempSync(path.join(fsDir('ext4').dir, 'node-fs-'))
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
  fs.mkdirSync(path.join(root, 'src'))
  const src = path.join(root, 'src', 'f.bin')
  bigFile(src)
  const shape = (dest) => ({ code: 'ENOTSUP', syscall: 'copyfile', path: src, dest })
  t.throws(() => cowfs.copyFileSync(src, path.join(root, 'a'), FORCE), shape(path.join(root, 'a')))
  await t.rejects(cowfs.promises.copyFile(src, path.join(root, 'b'), FORCE), shape(path.join(root, 'b')))
  const cbErr = await new Promise((resolve) => cowfs.copyFile(src, path.join(root, 'c'), FORCE, resolve))
  t.match(cbErr, shape(path.join(root, 'c')))
  t.throws(() => cowfs.cpSync(path.join(root, 'src'), path.join(root, 'd'), { recursive: true, mode: FORCE }), shape(path.join(root, 'd', 'f.bin')))
  await t.rejects(cowfs.promises.cp(path.join(root, 'src'), path.join(root, 'e'), { recursive: true, mode: FORCE }), shape(path.join(root, 'e', 'f.bin')))
  for (const d of ['a', 'b', 'c', 'd/f.bin', 'e/f.bin']) t.notOk(fs.existsSync(path.join(root, d)), `${d}: nothing left behind`)
  // Without FORCE the copy is made, with extents of its own.
  cowfs.cpSync(path.join(root, 'src'), path.join(root, 'f'), { recursive: true })
  t.ok(noneShared(path.join(root, 'f', 'f.bin')), 'a plain cp copies on ext4')
})

t.test(`${engine} engine: cpSync runs on the calling thread, start to end`, async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'node-fs-'))
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
  for (let i = 0; i < 50; i++) {
    fs.mkdirSync(path.join(root, 'src', `d${i % 5}`), { recursive: true })
    fs.writeFileSync(path.join(root, 'src', `d${i % 5}`, `f${i}`), `file ${i}`)
  }
  let ticked = false
  setImmediate(() => {
    ticked = true
  })
  const before = process.getActiveResourcesInfo().length
  cowfs.cpSync(path.join(root, 'src'), path.join(root, 'dest'), { recursive: true })
  t.notOk(ticked, 'no event-loop turn during cpSync')
  t.equal(process.getActiveResourcesInfo().length, before, 'no pending work left behind')
  for (let i = 0; i < 50; i++) t.equal(fs.readFileSync(path.join(root, 'dest', `d${i % 5}`, `f${i}`), 'utf8'), `file ${i}`)
})

// The same failures through fs.promises.cp (Node's JavaScript cp on every
// version) and through cowcopy/fs: same class, code, message, info.
t.test(`${engine} engine: cp and cpSync fail as fs.promises.cp does`, async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'node-fs-'))
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
  const at = (...p) => path.join(root, ...p)
  fs.mkdirSync(at('s', 'a'), { recursive: true })
  fs.writeFileSync(at('s', 'f'), 'x')
  fs.mkdirSync(at('d'))
  fs.writeFileSync(at('file'), 'x')
  fs.cpSync(at('s'), at('e'), { recursive: true })
  spawnSync('mkfifo', [at('fifo')])
  fs.mkdirSync(at('p', 'a', 'b'), { recursive: true })
  fs.symlinkSync(at('p', 'a', 'b'), at('p', 'a', 'c'))
  fs.mkdirSync(at('q', 'a'), { recursive: true })
  fs.symlinkSync(at('p'), at('q', 'a', 'c'))
  fs.symlinkSync(at('s'), at('ln'))
  const cases = [
    ['same', at('s'), at('s'), { recursive: true }],
    ['no recursive', at('s'), at('x'), undefined],
    ['dir onto file', at('s'), at('file'), { recursive: true }],
    ['file onto dir', at('file'), at('d'), undefined],
    ['into itself', at('s'), at('s', 'a', 'z'), { recursive: true }],
    ['errorOnExist', at('s'), at('e'), { recursive: true, force: false, errorOnExist: true }],
    ['fifo', at('fifo'), at('fifo2'), undefined],
    ['symlink to subdirectory', at('p'), at('q'), { recursive: true }],
    ['parent is src', at('s'), at('ln', 'c'), { recursive: true }],
    ['missing', at('nope'), at('z'), { recursive: true }],
    ['bad option', at('s'), at('z'), { force: 1 }],
    ['bad mode', at('s'), at('z'), { mode: 8 }],
    ['bad filter', at('s'), at('z'), { filter: 'x' }],
    ['pair', at('s'), at('z'), { dereference: true, verbatimSymlinks: true }],
    ['bad dest', at('s'), 1, undefined],
  ]
  const full = (e) => ({ name: e.name, code: e.code, message: e.message, info: e.info, errno: e.errno, syscall: e.syscall, path: e.path, ctor: e.constructor.name })
  // cowcopy/fs follows Node 20's fs.cp. Node 22's reports errorOnExist on an
  // existing directory at the directory itself (Node 20: at the first file
  // inside); there only the class and codes are compared.
  const major = Number(process.versions.node.split('.')[0])
  const codesOnly = (e) => ({ name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, ctor: e.constructor.name })
  for (const [label, src, dest, opts] of cases) {
    const view = label === 'errorOnExist' && major >= 22 ? codesOnly : full
    const want = await fs.promises.cp(src, dest, opts).then(() => null, view)
    t.not(want, null, `${label}: fs.promises.cp fails`)
    const gotAsync = await cowfs.promises.cp(src, dest, opts).then(() => null, view)
    t.same(gotAsync, want, `${label}: cowcopy/fs promises.cp`)
    let gotSync = null
    try {
      cowfs.cpSync(src, dest, opts)
    } catch (e) {
      gotSync = view(e)
    }
    t.same(gotSync, want, `${label}: cowcopy/fs cpSync`)
  }
})

// A deep tree a path can still name (1 500 levels, a 3 KB path):
// fs.promises.cp copies it (each level an await, not a stack frame), so cp
// and fs.promises.cp must too, and cpSync with them. A walk nested by
// yield* runs out of stack from about 1 300 levels on (a RangeError and half
// a tree): the depth must be bounded by PATH_MAX alone (1 900 levels copied
// by hand, where Node 20's own cpSync runs out of stack).
t.test(`${engine} engine: fs.promises.cp and cpSync copy a 1 500-deep tree`, async (t) => {
  const dir = fsDir('tmpfs').dir ?? os.tmpdir()
  const root = fs.mkdtempSync(path.join(dir, 'node-fs-'))
  // rm -rf: fs.rmSync itself runs out of stack on such a tree.
  t.teardown(() => spawnSync('rm', ['-rf', root]))
  const DEPTH = 1500
  const rel = Array(DEPTH).fill('a').join('/')
  fs.mkdirSync(path.join(root, 's', rel), { recursive: true })
  fs.writeFileSync(path.join(root, 's', rel, 'f'), 'deep')
  const runs = {
    cpSync: (s, d) => cowfs.cpSync(s, d, { recursive: true }),
    promises: (s, d) => cowfs.promises.cp(s, d, { recursive: true }), // cp's driver too
  }
  for (const [name, run] of Object.entries(runs)) {
    const dest = path.join(root, name)
    await t.resolves(async () => run(path.join(root, 's'), dest), `${name}: no error`)
    let got = 'missing'
    try {
      got = fs.readFileSync(path.join(dest, rel, 'f'), 'utf8')
    } catch {}
    t.equal(got, 'deep', `${name}: the deepest file copied`)
  }
})

// cowcopy/fs keeps setuid/setgid only for the source's owner (the README's
// deviations table); preserveTimestamps makes a read-only copy writable to
// set its times and must then give back the mode the copy got, not the
// source's: root copying uid 1001's 04555 program must not make a
// setuid-root one.
t.test(`${engine} engine: preserveTimestamps does not give back setuid/setgid the copy dropped`, { skip: isRoot ? false : 'needs root (chown)' }, async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'node-fs-'))
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }))
  fs.mkdirSync(path.join(root, 's'))
  const prog = path.join(root, 's', 'prog')
  fs.writeFileSync(prog, '#!/bin/sh\n')
  fs.chownSync(prog, 1001, 1001)
  fs.chmodSync(prog, 0o6555)
  fs.utimesSync(prog, 1000, 2000)
  const runs = {
    cpSync: (s, d) => cowfs.cpSync(s, d, { recursive: true, preserveTimestamps: true }),
    promises: (s, d) => cowfs.promises.cp(s, d, { recursive: true, preserveTimestamps: true }),
  }
  for (const [name, run] of Object.entries(runs)) {
    const dest = path.join(root, name)
    await run(path.join(root, 's'), dest)
    const st = fs.statSync(path.join(dest, 'prog'))
    t.equal((st.mode & 0o7777).toString(8), '555', `${name}: the copy is 0555, no setuid/setgid`)
    t.equal(st.mtimeMs, 2000 * 1000, `${name}: its mtime is the source's`)
  }
})
