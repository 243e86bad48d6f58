// importFiles' marker and stage when an import dies or fails: a killed
// import, or a killed re-import into a destination that has its marker,
// leaves no partial file that a later import with the marker certifies; a
// marker relPath longer than PATH_MAX does not certify one either; a failed
// staged import with a 4096-deep entry rejects and removes its staging
// directory instead of crashing, and never opens that directory to others
// (chmod 0777 under umask 000) before removing it.
import t from 'tap'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { importFiles } from 'cowcopy'
import { importChild, onFs, writeBigFile } from '../helpers.mjs'
import { DIFFERENCES, PORTABLE } from '../engines.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

// import.cc remove_tree(): one recursion per directory level with an 8 KiB
// buffer on the stack; libuv's worker has 8 MiB.
onFs(t, 'xfs', 'stage: a failed import with a 4096-deep entry rejects, it does not crash the process', async (t, dir) => {
  fs.writeFileSync(path.join(dir, 'src'), 'x')
  const r = importChild(`
    const deep = Array(4096).fill('d').join('/') + '/f'
    await importFiles(${JSON.stringify(dir + '/dest')}, [[deep, ${JSON.stringify(dir + '/src')}], [deep + 'z', ${JSON.stringify(dir + '/missing')}]], { stage: true })
    console.log(JSON.stringify({ resolved: true }))`)
  t.equal(r.signal, null, 'no signal (no SIGSEGV)')
  // Past PATH_MAX the portable engine cannot open by path (engines.mjs DIFFERENCES.pathMax).
  t.same(JSON.parse(r.out || '{}'), { rejected: PORTABLE ? 'ENAMETOOLONG' : 'ENOENT' }, 'rejects with the failed entry\'s error')
  t.same(fs.readdirSync(dir).filter((n) => n.includes('cowcopy')), [], 'no staging directory left')
  spawnSync('rm', ['-rf', dir]) // a 4096-deep leftover is too deep for fs.rmSync
})

// A file is written in place under its final name, so a killed run may
// leave it partial: a destination whose marker is missing is placed again in
// full, never kept as `existing` under a new marker.
onFs(t, 'ext4', 'a killed import leaves no partial file that a re-import with a marker certifies', async (t, dir) => {
  const big = path.join(dir, 'big')
  writeBigFile(big) // 512 MiB, no holes
  fs.writeFileSync(path.join(dir, 'pkg.json'), '{}')
  const dest = path.join(dir, 'nm', 'pkg')
  const entries = [['package.json', path.join(dir, 'pkg.json')], ['lib/big.bin', big]]
  const c = spawn(process.execPath, ['-e', `require(${JSON.stringify(ROOT)}).importFiles(${JSON.stringify(dest)}, ${JSON.stringify(entries)}, { marker: 'package.json' })`])
  const exited = new Promise((r) => c.on('exit', r))
  const target = path.join(dest, 'lib', 'big.bin')
  // Killed once its directories exist, while the 512 MiB file is being copied.
  for (let i = 0; i < 100000 && !fs.existsSync(path.join(dest, 'lib')); i++) await new Promise((r) => setImmediate(r))
  await new Promise((r) => setTimeout(r, 30))
  c.kill('SIGKILL')
  await exited
  t.ok(fs.existsSync(path.join(dest, 'lib')), 'the first import was killed after making its directories')
  t.notOk(fs.existsSync(path.join(dest, 'package.json')) && !fs.existsSync(target), 'no marker without the file')
  const r = await importFiles(dest, entries, { marker: 'package.json' })
  t.same(r.errors, [])
  t.equal(fs.statSync(target).size, 512 << 20, 'lib/big.bin is whole once the marker says the import finished')
  t.equal(fs.statSync(dest).mode & 0o777, 0o777 & ~process.umask(), 'the package directory is not left 0700')
  t.equal(fs.statSync(path.join(dest, 'lib')).mode & 0o777, 0o777 & ~process.umask(), 'lib/ is not left 0700')
})

// The marker rule must not take an error other than ENOENT for "complete":
// for a marker relPath longer than PATH_MAX one fstatat of the whole path
// says ENAMETOOLONG, and a partial file a killed import left would then be
// kept as "existing" with the marker (reached one component at a time)
// placed over it.
onFs(t, 'xfs', 'a marker relPath longer than PATH_MAX does not certify a partial file', async (t, dir) => {
  const base = path.join(dir, 'long')
  fs.mkdirSync(base)
  try {
    const store = path.join(base, 'store')
    fs.mkdirSync(store)
    fs.writeFileSync(path.join(store, 'a'), Buffer.alloc(100000, 0x61))
    fs.writeFileSync(path.join(store, 'pkg'), '{"name":"x"}')
    const deep = Array(25).fill('d'.repeat(200)).join('/')
    const marker = deep + '/package.json'
    const dest = path.join(base, 'dest')
    fs.mkdirSync(dest)
    fs.writeFileSync(path.join(dest, 'a'), Buffer.alloc(5000, 0x61)) // a killed import's partial file, no marker
    const r = await importFiles(dest, [['a', path.join(store, 'a')], [marker, path.join(store, 'pkg')]], { marker })
    const cwd = process.cwd()
    let placed
    try {
      process.chdir(dest)
      for (const seg of deep.split('/')) process.chdir(seg)
      placed = fs.existsSync('package.json')
    } catch (err) {
      // The portable engine opens by path: past PATH_MAX its directories were never made.
      if (err.code !== 'ENOENT') throw err
      placed = false
    } finally {
      process.chdir(cwd)
    }
    const size = fs.statSync(path.join(dest, 'a')).size
    t.notOk(placed && size !== 100000, `the marker is not placed over a partial file (a: ${size} bytes, existing ${r.existing}, marker placed ${placed})`)
  } finally {
    execFileSync('rm', ['-rf', base]) // fs.rmSync stops at ENAMETOOLONG
  }
})

// A destination WITH its marker (a complete import) that lost a file is
// re-imported with overwrite: false while the old marker keeps saying
// "complete". Killed during that write, the missing file must be absent or
// whole: a partial one would be kept as `existing` by every later
// re-import, which would report success.
onFs(t, 'ext4', 'a killed re-import into a marked destination leaves no partial file the marker certifies', async (t, dir) => {
  const big = path.join(dir, 'big')
  writeBigFile(big) // 512 MiB, no holes
  fs.writeFileSync(path.join(dir, 'pkg.json'), '{}')
  const dest = path.join(dir, 'pkg')
  const entries = [['package.json', path.join(dir, 'pkg.json')], ['lib/big.bin', big]]
  const target = path.join(dest, 'lib', 'big.bin')
  // Killed while the child copies (it exits by SIGKILL, not by finishing):
  // the missing file is then either absent or whole, never partial.
  let killed = false
  for (let attempt = 0; attempt < 10 && !killed; attempt++) {
    fs.rmSync(dest, { recursive: true, force: true })
    const first = await importFiles(dest, entries, { marker: 'package.json' })
    t.same(first.errors, [])
    fs.rmSync(target) // a file of a complete package goes missing
    const c = spawn(process.execPath, ['-e', `require(${JSON.stringify(ROOT)}).importFiles(${JSON.stringify(dest)}, ${JSON.stringify(entries)}, { marker: 'package.json' })`])
    const exited = new Promise((r) => c.on('exit', (code, signal) => r(signal)))
    await new Promise((r) => setTimeout(r, 150 + 50 * attempt))
    c.kill('SIGKILL')
    killed = (await exited) === 'SIGKILL'
    if (!killed) continue
    let size = -1
    try { size = fs.statSync(target).size } catch {}
    t.ok(size === -1 || size === 512 << 20, `after the kill lib/big.bin is absent or whole (size ${size})`)
  }
  if (!killed) return t.skip('the child finished before every kill')
  const r = await importFiles(dest, entries, { marker: 'package.json' })
  t.same(r.errors, [])
  t.equal(fs.statSync(target).size, 512 << 20, 'lib/big.bin is whole while the marker says the import finished')
})

// A failed staged import must not give its hidden root the mkdir mode
// before it removes it (~ImportDir's fchmod): with umask 000 others could
// enter the tree about to be removed and keep it there. Seen with strace: no
// fchmod may open the staged root of a failed import.
onFs(t, 'xfs', 'a failed staged import never opens its staging root to others before removing it', async (t, dir) => {
  if (spawnSync('strace', ['-V']).status !== 0) return t.skip('strace is not installed')
  fs.writeFileSync(path.join(dir, 'f'), 'x')
  const log = path.join(dir, 'strace.log')
  const code = `process.umask(0); require(${JSON.stringify(ROOT)}).importFiles(${JSON.stringify(dir + '/pkg')}, [['a/f', ${JSON.stringify(dir + '/f')}], ['z/f', ${JSON.stringify(dir + '/missing')}]], { stage: true }).then(() => console.log('resolved'), (e) => console.log(e.code))`
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=fchmod,chmod,fchmodat', '-o', log, process.execPath, '-e', code], { encoding: 'utf8' })
  t.equal(r.stdout.trim(), 'ENOENT', 'the staged import fails')
  t.same(fs.readdirSync(dir).filter((n) => n.includes('cowcopy')), [], 'nothing staged is left')
  const widened = fs.readFileSync(log, 'utf8').split('\n').filter((l) => /chmod(at)?\(.*0777\)\s+= 0$/.test(l))
  t.same(widened, [], 'no chmod to 0777 of the staging root while it is being discarded')
})

// The marker says "every other entry is here": it goes into the directory
// the import placed them in, not into one made under that name meanwhile
// (a clean-up and retry elsewhere: rm -rf, mkdir; ext4 may give the new
// directory the old inode number). The slow entries are on a tmpfs mounted
// below destDir, so the window is wide and ext4's allocator untouched.
onFs(t, 'ext4', 'a marker whose directory is removed and made again during the import is not placed (ENOENT)', async (t, dir) => {
  if (PORTABLE) return t.skip(DIFFERENCES.markerDirectory)
  const store = path.join(dir, 'store')
  fs.mkdirSync(store)
  fs.writeFileSync(path.join(store, 'marker'), '{"name":"pkg"}\n')
  fs.writeFileSync(path.join(store, 'js'), 'module.exports = 1\n')
  writeBigFile(path.join(store, 'big'), 64)
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(path.join(dest, 'z'), { recursive: true })
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1g', 'tmpfs', path.join(dest, 'z')])
  t.teardown(() => execFileSync('umount', [path.join(dest, 'z')]))
  const entries = [['pkg/package.json', 'marker'], ['pkg/README', 'js'], ['pkg/lib/index.js', 'js']].map(([r, s]) => [r, path.join(store, s)])
  for (let i = 0; i < 12; i++) entries.push([`z/g${i}`, path.join(store, 'big')])
  const p = importFiles(dest, entries, { marker: 'pkg/package.json', reflink: 'never' })
  let swapped = false
  while (!swapped) {
    await new Promise((r) => setTimeout(r, 1))
    if (fs.existsSync(path.join(dest, 'z/g0'))) {
      fs.rmSync(path.join(dest, 'pkg'), { recursive: true })
      fs.mkdirSync(path.join(dest, 'pkg'))
      swapped = true
    }
  }
  const r = await p
  t.same(r.errors.map((e) => [path.relative(dest, e.dest), e.error.code]), [['pkg/package.json', 'ENOENT']], 'the marker fails, ENOENT')
  t.match(r.errors[0]?.error.message, /its directory was removed during the import/)
  t.same(fs.readdirSync(path.join(dest, 'pkg')), [], 'nothing in the directory made under its name since')
})
