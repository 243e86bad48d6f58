// Third attack round on importFiles (attacked commit fe533a7): the marker
// rule, files written in place, dest_dir_fresh. Each test failed on that
// commit and passes since. The real filesystems at /var/tmp/cowcopy-mounts.
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { importFiles } from 'cowcopy'
import { onFs, writeBigFile } from './helpers.mjs'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

// import.cc:576: the marker rule is one fstatat of the marker's whole
// relPath, and only ENOENT forces the re-import. A relPath longer than
// PATH_MAX says ENAMETOOLONG: the destination passes for complete, a partial
// file a killed import left is kept as "existing", and the marker (reached
// one component at a time) is placed over it.
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

// The marker rule covers a destination without its marker only. One WITH
// its marker (a complete import) that lost a file is re-imported with
// overwrite: false by writing the missing file in place, under its final
// name (import.cc request(): O_EXCL, not atomic), while the old marker keeps
// saying "complete". Killed during that write, the partial file is kept as
// `existing` by every later re-import, which reports success.
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
