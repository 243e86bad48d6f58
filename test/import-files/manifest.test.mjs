// importFiles' manifest: every relPath checked before anything is created,
// entries as a Map, pairs or a plain object, and the entry a rejection names.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { importFiles } from 'cowcopy'
import { needMounts, onFs } from '../helpers.mjs'
import { native } from '../../dist/native.js'
import { engineImport } from './store.mjs'

onFs(t, 'xfs', 'relative paths are checked before anything is created', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'data')
  const dest = path.join(dir, 'dest')
  const bad = ['../escape', '/etc/passwd', 'a//b', 'a/./b', 'a/../../x', '.', '..', '', 'a/', 'a\0b', Buffer.from('a/../b')]
  for (const rel of bad) {
    await t.rejects(importFiles(dest, [['ok.js', src], [rel, src]]), { code: 'ERR_INVALID_ARG_VALUE', message: /entries\[1\]\[0\]/ },
      `${JSON.stringify(String(rel))} is refused, naming the entry`)
  }
  await t.rejects(importFiles(dest, [['a', src], ['a', src]]), { code: 'ERR_INVALID_ARG_VALUE', message: /listed twice/ })
  await t.rejects(importFiles(dest, [['a/b', src], ['a', src]]), { code: 'ERR_INVALID_ARG_VALUE', message: /also the directory/ })
  // The entry named is the first listed again (duplicates before files that
  // are directories), then the file whose name is a directory first met.
  const many = Array.from({ length: 3000 }, (_, i) => [`p${i % 50}/d${i % 7}/f${i}`, src])
  await t.rejects(importFiles(dest, [['x', src], ...many, ['x/y', src], ['a', src], ['p3/d1/f0', src], ['a', src]]),
    { code: 'ERR_INVALID_ARG_VALUE', message: /^The argument 'entries\[3004\]\[0\]' is listed twice\. Received 'a'$/ })
  await t.rejects(importFiles(dest, [...many, ['q/r/s', src], ['q/r', src], ['q', src]]),
    { code: 'ERR_INVALID_ARG_VALUE', message: /^The argument 'entries\[3002\]\[0\]' is a file and also the directory of another entry\. Received 'q'$/ })
  await t.rejects(importFiles(dest, [['a', src]], { marker: 'b' }), { code: 'ERR_INVALID_ARG_VALUE', message: /marker/ })
  await t.rejects(importFiles(dest, [[1, src]]), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(importFiles(dest, 'a'), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(importFiles(dest, [['a', src]], { link: ['clone', 'clone'] }), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(importFiles(dest, [['a', src]], { link: ['symlink'] }), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(importFiles(dest, [['a', src]], { link: [] }), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(importFiles(dest, [['a', src]], { link: 'clone' }), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(importFiles(dest, [['a', src]], { link: ['hardlink'], reflink: 'always' }), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(importFiles(dest, [['a', src]], { link: ['clone', 'copy'], reflink: 'never' }), { code: 'ERR_INVALID_ARG_VALUE' })
  await t.rejects(importFiles(dest, [['a', src]], { stage: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
  // An entry at fault is said first: before a bad option, an aborted
  // signal or a marker, and in entry order against a bad source (a plain
  // manifest of strings has its relPaths checked by the engine; any other
  // goes through lib/'s checks: both name the same entry).
  const entryOne = { code: 'ERR_INVALID_ARG_VALUE', message: /^The argument 'entries\[1\]\[0\]' must be a relative path/ }
  await t.rejects(importFiles(dest, [['ok', src], ['../x', src]], { concurrency: 'two' }), entryOne, 'before a bad option')
  await t.rejects(importFiles(dest, [['ok', src], ['../x', src]], { signal: AbortSignal.abort() }), entryOne, 'before an abort')
  await t.rejects(importFiles(dest, [['ok', src], ['../x', src]], { marker: 'ok' }), entryOne, 'with a marker')
  await t.rejects(importFiles(dest, [['ok', src], ['../x', src]], { stage: true }), entryOne, 'staged')
  await t.rejects(importFiles(dest, [['ok', src], ['../x', src]], { marker: 'nope' }), entryOne, 'before a marker not listed')
  await t.rejects(importFiles(dest, [['ok', src], ['../x', src], ['b', 5]]), entryOne, 'before a later bad source')
  await t.rejects(importFiles(dest, [['ok', src], ['b', 5], ['../x', src]]), { code: 'ERR_INVALID_ARG_TYPE', message: /entries\[1\]\[1\]/ },
    'after an earlier bad source')
  await t.rejects(importFiles(dest, [['ok', src], ['a\0', src]]), entryOne, 'a NUL in a relPath')
  await t.rejects(importFiles(dest, [['ok', src], ['a', `${src}\0`]]), { code: 'ERR_INVALID_ARG_VALUE', message: /entries\[1\]\[1\]/ },
    'a NUL in a source')
  // Entries read once, whatever they are: an iterator that is its own
  // iterable, a generator; an entry at fault before a failing read is said.
  const m = new Map([['a', src], [Buffer.from('../evil'), src], ['c', src]])
  await t.rejects(importFiles(dest, m.entries()), entryOne, 'map.entries(): its Buffer entry, not the rest')
  await t.rejects(importFiles(dest, (function * () { yield ['ok', src]; yield ['../x', src]; throw new Error('read failed') })()),
    entryOne, 'before a failing iterator')
  const getter = ['ok', src]
  Object.defineProperty(getter, 1, { get () { throw new Error('getter failed') } })
  await t.rejects(importFiles(dest, [['../x', src], getter]), { code: 'ERR_INVALID_ARG_VALUE', message: /entries\[0\]\[0\]/ },
    'before a failing getter')
  const badRelGetter = ['../y', src]
  Object.defineProperty(badRelGetter, 1, { get () { throw new Error('getter failed') } })
  await t.rejects(importFiles(dest, [['ok', src], badRelGetter]), { code: 'ERR_INVALID_ARG_VALUE', message: /entries\[1\]\[0\]/ },
    "before its own source's failing getter")
  const ac = new AbortController()
  const staged = importFiles(dest, [['ok', src], ['../x', src]], { stage: true, signal: ac.signal })
  ac.abort()
  await t.rejects(staged, entryOne, 'staged, aborted right after the call')
  const progress = []
  await t.rejects(importFiles(dest, [['ok', src], ['../x', src]], { stage: true, onProgress: (e) => progress.push(e) }), entryOne,
    'staged, with onProgress')
  t.same(progress, [], 'onProgress never called for a refused manifest')
  t.notOk(fs.existsSync(dest), 'no destination was created by any of them')
  t.same(fs.readdirSync(dir), ['src'], 'nor a staging directory beside it')
  // The engine checks again (a caller of the binding that skipped lib/).
  await t.rejects(engineImport(dest, ['../x'], [src]), { code: 'EINVAL' })
  if (native) {
    await t.rejects(engineImport(dest, ['a', 'b/c', 'a'], [src, src, src]), { code: 'EINVAL', entryIndex: 2, entryProblem: 'twice' })
    await t.rejects(engineImport(dest, ['b/c', 'b'], [src, src]), { code: 'EINVAL', entryIndex: 1, entryProblem: 'fileAndDir' })
  }
  t.notOk(fs.existsSync(dest), 'nor by the engine')
})

// A package manager's file index is often a plain object read from JSON.
t.test('entries as a plain object { relPath: src }; other objects are refused', async (t) => {
  const dirs = needMounts(t, 'ext4')
  if (!dirs) return
  const dir = fs.mkdtempSync(path.join(dirs[0], 'import-object-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, 'a'), 'a-bytes')
  fs.writeFileSync(path.join(dir, 'b'), 'b-bytes')
  const index = JSON.parse(JSON.stringify({ 'package.json': path.join(dir, 'a'), 'lib/index.js': path.join(dir, 'b') }))
  const r = await importFiles(path.join(dir, 'pkg'), index, { marker: 'package.json' })
  t.same(r.errors, [])
  t.equal(r.files, 2)
  t.equal(fs.readFileSync(path.join(dir, 'pkg', 'lib', 'index.js'), 'utf8'), 'b-bytes')
  t.equal(fs.readFileSync(path.join(dir, 'pkg', 'package.json'), 'utf8'), 'a-bytes')
  // Iterators are read once: a generator with a URL among plain strings,
  // map.entries() with a Buffer among them and a marker: every entry placed.
  const a = path.join(dir, 'a')
  const b = path.join(dir, 'b')
  const gen = function * () { yield ['g1', a]; yield ['g2', pathToFileURL(b)]; yield ['g3', a] }
  const g = await importFiles(path.join(dir, 'gen'), gen())
  t.same([g.files, g.errors], [3, []], 'a generator: all three entries')
  t.same(fs.readdirSync(path.join(dir, 'gen')).sort(), ['g1', 'g2', 'g3'])
  const m = new Map([['package.json', a], [Buffer.from('x'), b], ['y', a]])
  const it = await importFiles(path.join(dir, 'iter'), m.entries(), { marker: 'package.json' })
  t.same([it.files, it.errors], [3, []], 'map.entries() with a marker: all three entries')
  t.same(fs.readdirSync(path.join(dir, 'iter')).sort(), ['package.json', 'x', 'y'])
  // Not an iterable and not a plain object: a Date, a class instance.
  for (const bad of [new Date(), new (class Index {})()]) {
    await t.rejects(importFiles(path.join(dir, 'other'), bad), { code: 'ERR_INVALID_ARG_TYPE', message: /plain object/ })
  }
  t.notOk(fs.existsSync(path.join(dir, 'other')), 'nothing made for a refused manifest')
})

// The entry a bad manifest's rejection names, by the rule docs/api.md
// states: the first entry whose relPath an earlier one has; else the file
// whose path is the first directory met (in entry order, parents first)
// that is also a file. The native engine finds these by sorting, the
// portable one in lib/: both must name the same entry. Random manifests
// from a fixed seed over a few names, as strings and Buffers.
function expectedBadEntry(rels) {
  const keys = rels.map((r) => Buffer.from(r).toString('latin1'))
  const seen = new Map()
  for (let i = 0; i < keys.length; i++) {
    if (seen.has(keys[i])) return `entries[${i}][0]' is listed twice`
    seen.set(keys[i], i)
  }
  const met = new Set()
  for (const key of keys) {
    const parts = key.split('/')
    for (let d = 1; d < parts.length; d++) {
      const dir = parts.slice(0, d).join('/')
      if (met.has(dir)) continue
      met.add(dir)
      if (seen.has(dir)) return `entries[${seen.get(dir)}][0]' is a file and also the directory`
    }
  }
  return null
}

t.test('a bad manifest names the entry the rule says, on random manifests', async (t) => {
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'cowcopy-test-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'x')
  let seed = 20261207
  const rnd = (n) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n
  const names = ['a', 'b', 'a-b', 'é', '\ufffd', '\ud800']
  let bad = 0
  const mismatched = []
  for (let run = 0; run < 300; run++) {
    const rels = Array.from({ length: 1 + rnd(7) }, () => Array.from({ length: 1 + rnd(3) }, () => names[rnd(names.length)]).join('/'))
    const entries = rels.map((r) => [rnd(3) === 0 ? Buffer.from(r) : r, src])
    const want = expectedBadEntry(rels)
    const dest = path.join(dir, `d${run}`)
    let got = null
    try {
      await importFiles(dest, entries)
    } catch (err) {
      got = err.code === 'ERR_INVALID_ARG_VALUE' ? err.message : `${err.code} ${err.message}`
    }
    if (want) bad++
    if (want ? !(got && got.includes(want)) : got !== null) mismatched.push({ rels, want, got })
    if (want) t.notOk(fs.existsSync(dest), `run ${run}: nothing created`)
    fs.rmSync(dest, { recursive: true, force: true })
  }
  t.ok(bad > 50 && bad < 250, `both kinds of manifest were tried (${bad} of 300 bad)`)
  t.same(mismatched.slice(0, 3), [], 'every rejection names the entry the rule gives, and no good manifest is refused')
})

// The engine's check, from C++ with no Node (test/engine/manifest_test.cc):
// 200 000 random manifests against the rule written out the slow way.
t.test('the engine names the entry the rule says, on 200 000 random manifests (C++)', (t) => {
  try {
    execFileSync('g++', ['--version'])
  } catch {
    if (process.env.CI) t.fail('CI needs g++ to build the engine test')
    else t.skip('no g++ on PATH')
    return t.end()
  }
  const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'cowcopy-manifest-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const bin = path.join(dir, 'manifest_test')
  execFileSync('g++', ['-std=c++17', '-O2', '-Wall', '-Wextra', '-Werror', '-o', bin,
    path.join(root, 'test/engine/manifest_test.cc'), path.join(root, 'src-native/engine/manifest.cc')])
  let out
  try {
    out = execFileSync(bin, { encoding: 'utf8' })
  } catch (e) {
    out = e.stdout
  }
  t.match(out, /^200000 checks \(\d+ bad manifests\), 0 failed$/m, out.trim())
  t.end()
})
