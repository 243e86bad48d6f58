// The descriptor budget the tree walkers share (README: a low descriptor
// limit makes a copy slower, never EMFILE). Every walk holds a bounded number
// of directories open whatever the depth, and copyDir and importFiles running
// at once in one process draw from the same budget. Each scenario runs in a
// child process under `prlimit --nofile`, on the real filesystems.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { onFs } from './helpers.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

// Runs `script` (an ES module importing cowcopy) under a descriptor limit;
// its last line of output is JSON.
function underLimit(t, nofile, script, timeout = 120_000) {
  const run = spawnSync('prlimit', [`--nofile=${nofile}:${nofile}`, process.execPath, '--input-type=module', '-e', script],
    { encoding: 'utf8', cwd: ROOT, timeout, maxBuffer: 64 << 20 })
  t.equal(run.status, 0, `child exited 0 (${run.signal || ''} ${run.stderr.slice(-2000)})`)
  return JSON.parse(run.stdout.trim().split('\n').pop() || 'null')
}

const codes = (r) => [...new Set(r.errors.map((e) => e.error?.code ?? e.code))]

// A chain of `depth` directories under root, a file of `size` bytes in each.
function chain(root, depth, size = 16) {
  let d = root
  const data = Buffer.alloc(size, 7)
  for (let i = 0; i < depth; i++) {
    d = path.join(d, 'd')
    fs.mkdirSync(d)
    fs.writeFileSync(path.join(d, 'f'), data)
  }
}

// Walks a copied chain back: how many levels hold their file.
function chainDepth(root) {
  let n = 0
  let d = root
  for (;;) {
    d = path.join(d, 'd')
    if (!fs.existsSync(path.join(d, 'f'))) return n
    n += 1
  }
}

for (const fsName of ['btrfs', 'ext4']) {
  onFs(t, fsName, 'importFiles: a relPath 120 levels deep under nofile=64 places every entry', async (t, dir) => {
    const src = path.join(dir, 'src')
    fs.writeFileSync(src, 'content\n')
    const r = underLimit(t, 64, `
      import { importFiles } from 'cowcopy'
      const entries = []
      let rel = ''
      for (let i = 0; i < 120; i++) { rel += 'd/'; entries.push([rel + 'f', ${JSON.stringify(src)}]) }
      for (let b = 0; b < 40; b++) entries.push(['wide/b' + b + '/f', ${JSON.stringify(src)}])
      const r = await importFiles(${JSON.stringify(path.join(dir, 'dest'))}, entries, { concurrency: 2 })
      console.log(JSON.stringify({ files: r.files, errors: r.errors.map((e) => e.error.code) }))
    `)
    t.same(r.errors, [], 'no error (no EMFILE)')
    t.equal(r.files, 160, 'every entry placed')
    t.equal(chainDepth(path.join(dir, 'dest')), 120, 'the whole chain is there')
  })

  onFs(t, fsName, 'copyDir: a tree 150 levels deep under nofile=64 copies every file', async (t, dir) => {
    const src = path.join(dir, 'src')
    fs.mkdirSync(src)
    chain(src, 150)
    const r = underLimit(t, 64, `
      import { copyDir } from 'cowcopy'
      const r = await copyDir(${JSON.stringify(src)}, ${JSON.stringify(path.join(dir, 'dest'))}, { concurrency: 2 })
      console.log(JSON.stringify({ files: r.files, errors: r.errors.map((e) => e.error.code) }))
    `)
    t.same(r.errors, [], 'no error (no EMFILE)')
    t.equal(r.files, 150, 'every file copied')
    t.equal(chainDepth(path.join(dir, 'dest')), 150, 'the whole chain is there')
  })
}

onFs(t, 'ext4', 'copyDir and importFiles at once, deep and wide, under nofile=64: no EMFILE', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  chain(src, 60, 256 << 10)
  for (let b = 0; b < 30; b++) {
    let d = path.join(src, `b${b}`)
    for (let i = 0; i < 6; i++) d = path.join(d, `l${i}`)
    fs.mkdirSync(d, { recursive: true })
    fs.writeFileSync(path.join(d, 'f'), Buffer.alloc(256 << 10, b))
  }
  const one = path.join(dir, 'one')
  fs.writeFileSync(one, Buffer.alloc(256 << 10, 1))
  const r = underLimit(t, 64, `
    import { copyDir, importFiles } from 'cowcopy'
    const entries = []
    let rel = ''
    for (let i = 0; i < 60; i++) { rel += 'd/'; entries.push([rel + 'f', ${JSON.stringify(one)}]) }
    for (let b = 0; b < 30; b++) entries.push(['b' + b + '/l0/l1/l2/l3/l4/l5/f', ${JSON.stringify(one)}])
    const jobs = []
    for (let k = 0; k < 2; k++) {
      jobs.push(copyDir(${JSON.stringify(src)}, ${JSON.stringify(dir)} + '/tree' + k, { concurrency: 2 }))
      jobs.push(importFiles(${JSON.stringify(dir)} + '/import' + k, entries, { concurrency: 2 }))
    }
    const rs = await Promise.all(jobs)
    console.log(JSON.stringify(rs.map((r) => ({ files: r.files, errors: r.errors.map((e) => e.error.code) }))))
  `)
  t.same(r.map((x) => x.errors), [[], [], [], []], 'no error in any call (no EMFILE)')
  t.same(r.map((x) => x.files), [90, 90, 90, 90], 'every file of every call')
})

// 150 branches 12 deep with a 4 MiB file at each end, on ext4 (a byte copy,
// slow enough that chunks queue up): the queued chunks and their ancestors
// must stay within the budget.
onFs(t, 'ext4', 'copyDir: 150 deep branches with large files under nofile=512: no EMFILE', async (t, dir) => {
  const src = path.join(dir, 'src')
  const big = Buffer.alloc(4 << 20, 3)
  for (let b = 0; b < 150; b++) {
    let d = path.join(src, `b${b}`)
    for (let i = 0; i < 11; i++) d = path.join(d, `l${i}`)
    fs.mkdirSync(d, { recursive: true })
    fs.writeFileSync(path.join(d, 'f'), big)
  }
  const r = underLimit(t, 512, `
    import { copyDir } from 'cowcopy'
    import * as fs from 'node:fs'
    // What a package manager has open besides: most of the limit.
    while (fs.readdirSync('/proc/self/fd').length - 1 < 512 - 160) fs.openSync('/dev/null', 'r')
    const r = await copyDir(${JSON.stringify(src)}, ${JSON.stringify(path.join(dir, 'dest'))}, { concurrency: 4 })
    console.log(JSON.stringify({ files: r.files, errors: r.errors.map((e) => e.error.code) }))
  `, 300_000)
  t.same(codes({ errors: r.errors.map((code) => ({ code })) }), [], 'no EMFILE')
  t.equal(r.files, 150, 'every file copied')
})

// A node keeps its name, not its whole path: memory grows with the number of
// directories, not with the square of the depth (16 000 levels took 365 MB).
onFs(t, 'tmpfs', 'importFiles: a relPath 12 000 levels deep, memory linear in depth', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.writeFileSync(src, 'x')
  const r = underLimit(t, 1024, `
    import { importFiles } from 'cowcopy'
    const deep = 'd/'.repeat(12000) + 'f'
    const before = process.memoryUsage().rss
    const r = await importFiles(${JSON.stringify(path.join(dir, 'dest'))}, [[deep, ${JSON.stringify(src)}]])
    const grown = (process.resourceUsage().maxRSS * 1024 - before) / (1 << 20)
    console.log(JSON.stringify({ files: r.files, errors: r.errors.map((e) => e.error.code), grown }))
  `)
  t.same(r.errors, [], 'no error')
  t.equal(r.files, 1, 'placed')
  t.ok(r.grown < 64, `peak memory grew ${r.grown.toFixed(1)} MiB (< 64)`)
  execFileSync('rm', ['-rf', path.join(dir, 'dest')])  // deeper than fs.rmSync's paths reach
})
