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
import { onFs } from '../helpers.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

// Runs `script` (an ES module importing cowcopy) under a descriptor limit;
// its last line of output is JSON.
function underLimit(t, nofile, script, timeout = 120_000) {
  // Without tap's loader hooks (which it adds to NODE_OPTIONS of every child
  // it sees spawned): they open files of their own later, under the limit.
  const run = spawnSync('env', ['-u', 'NODE_OPTIONS', 'prlimit', `--nofile=${nofile}:${nofile}`, process.execPath,
    '--input-type=module', '-e', script], { encoding: 'utf8', cwd: ROOT, timeout, maxBuffer: 64 << 20 })
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
  // A relPath 120 levels deep, and the same with its deepest entry as the
  // marker: placed last, in its directory, which (with those above it) must
  // not stay open all the way, one descriptor per level.
  for (const [title, marker] of [['a relPath 120 levels deep under nofile=64 places every entry', false],
    ['a marker 120 levels deep under nofile=64 is placed, no EMFILE', true]]) {
    onFs(t, fsName, `importFiles: ${title}`, async (t, dir) => {
      const src = path.join(dir, 'src')
      fs.writeFileSync(src, 'content\n')
      const r = underLimit(t, 64, `
        import { importFiles } from 'cowcopy'
        const entries = []
        let rel = ''
        for (let i = 0; i < 120; i++) { rel += 'd/'; entries.push([rel + 'f', ${JSON.stringify(src)}]) }
        for (let b = 0; b < 40; b++) entries.push(['wide/b' + b + '/f', ${JSON.stringify(src)}])
        const r = await importFiles(${JSON.stringify(path.join(dir, 'dest'))}, entries, { ${marker ? "marker: rel + 'f', " : ''}concurrency: 2 })
        console.log(JSON.stringify({ files: r.files, errors: r.errors.map((e) => e.error.code) }))
      `)
      t.same(r.errors, [], 'no error (no EMFILE)')
      t.equal(r.files, 160, 'every entry placed')
      t.equal(chainDepth(path.join(dir, 'dest')), 120, 'the whole chain is there (the deepest entry too)')
    })
  }

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

// A spine 100 deep where each level also has two side branches 12 deep:
// the walker turns back at every level, and each directory it reopened on
// the way must be closable again (else one stays open per turn: EMFILE).
function comb(root, spine = 100, side = 12) {
  let d = root
  for (let i = 0; i < spine; i++) {
    for (const s of ['a-side', 'z-side']) {
      let p = path.join(d, s)
      for (let k = 0; k < side; k++, p = path.join(p, 's')) {
        fs.mkdirSync(p)
        fs.writeFileSync(path.join(p, 'f'), 'x')
      }
    }
    d = path.join(d, 'spine')
    fs.mkdirSync(d)
    fs.writeFileSync(path.join(d, 'f'), 'y')
  }
}

function filesUnder(root, rel = '', out = []) {
  for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name
    if (e.isDirectory()) filesUnder(root, r, out)
    else out.push(r)
  }
  return out
}

onFs(t, 'ext4', 'a walk that turns back at every level closes what it reopened (copyDir and importFiles, nofile=64)', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  comb(src)
  const rels = filesUnder(src)
  fs.writeFileSync(path.join(dir, 'rels.json'), JSON.stringify(rels))
  const r = underLimit(t, 64, `
    import { copyDir, importFiles } from 'cowcopy'
    import * as fs from 'node:fs'
    const a = await copyDir(${JSON.stringify(src)}, ${JSON.stringify(path.join(dir, 'tree'))}, { concurrency: 1 })
    const rels = JSON.parse(fs.readFileSync(${JSON.stringify(path.join(dir, 'rels.json'))}, 'utf8'))
    const entries = rels.map((rel) => [rel, ${JSON.stringify(src)} + '/' + rel])
    const b = await importFiles(${JSON.stringify(path.join(dir, 'import'))}, entries, { concurrency: 2 })
    console.log(JSON.stringify([a, b].map((r) => ({ files: r.files, errors: [...new Set(r.errors.map((e) => e.error.code))] }))))
  `, 300_000)
  t.same(r.map((x) => x.errors), [[], []], 'no error (no EMFILE)')
  t.same(r.map((x) => x.files), [rels.length, rels.length], `all ${rels.length} files, both calls`)
})

onFs(t, 'ext4', 'dereference: a followed directory deep in the tree, nofile=64: every directory finished, nothing lost', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  chain(src, 40)
  fs.writeFileSync(path.join(src, 'f'), 'top')
  const elsewhere = path.join(dir, 'elsewhere')
  fs.mkdirSync(elsewhere)
  chain(elsewhere, 40)
  let d = src
  for (let i = 0; i < 40; i++) d = path.join(d, 'd')
  fs.symlinkSync(elsewhere, path.join(d, 'link'))
  fs.mkdirSync(path.join(src, 'z'))
  fs.writeFileSync(path.join(src, 'z', 'f'), 'z')
  const dest = path.join(dir, 'dest')
  const r = underLimit(t, 64, `
    import { copyDir } from 'cowcopy'
    const r = await copyDir(${JSON.stringify(src)}, ${JSON.stringify(dest)}, { dereference: true, concurrency: 2 })
    console.log(JSON.stringify({ files: r.files, errors: r.errors.map((e) => e.error.code) }))
  `)
  t.same(r.errors, [], 'no error')
  t.equal(r.files, 82, 'the chain, the followed chain, the sibling and the top file')
  const private0700 = execFileSync('find', [dest, '-type', 'd', '-perm', '0700'], { encoding: 'utf8' }).trim()
  t.equal(private0700, '', 'no directory left 0700')
})

onFs(t, 'ext4', 'an abort under nofile=64 leaves no directory 0700 (each one made is finished)', async (t, dir) => {
  const src = path.join(dir, 'src')
  let d = src
  for (let i = 0; i < 120; i++) {
    d = path.join(d, 'a')
    fs.mkdirSync(d, { recursive: true })
    for (let k = 0; k < 3; k++) fs.writeFileSync(path.join(d, `f${k}`), Buffer.alloc(256 << 10, k))
  }
  for (const ms of [40, 80, 120]) {
    const dest = path.join(dir, `dest${ms}`)
    const r = underLimit(t, 64, `
      import { copyDir } from 'cowcopy'
      const ac = new AbortController()
      setTimeout(() => ac.abort(), ${ms})
      const r = await copyDir(${JSON.stringify(src)}, ${JSON.stringify(dest)}, { concurrency: 4, signal: ac.signal, reflink: 'never' })
        .then(() => 'resolved', (e) => e.name)
      console.log(JSON.stringify(r))
    `)
    t.ok(['AbortError', 'resolved'].includes(r), `settled (${r})`)
    const left = fs.existsSync(dest) ? execFileSync('find', [dest, '-type', 'd', '-perm', '0700'], { encoding: 'utf8' }).trim() : ''
    t.equal(left, '', `abort at ${ms} ms: no directory left 0700`)
  }
})

onFs(t, 'ext4', 'a call waiting for room in the budget rejects at once when aborted', async (t, dir) => {
  const big = path.join(dir, 'big')
  fs.mkdirSync(big)
  execFileSync('dd', ['if=/dev/zero', `of=${path.join(big, 'f')}`, 'bs=1M', 'count=1000', 'status=none'])
  const one = path.join(dir, 'one')
  fs.writeFileSync(one, 'x')
  const r = underLimit(t, 64, `
    import { copyDir, importFiles } from 'cowcopy'
    import * as fs from 'node:fs'
    // Most of the limit taken: room for one call's floor, not two.
    while (fs.readdirSync('/proc/self/fd').length - 1 < 38) fs.openSync('/dev/null', 'r')
    const holder = copyDir(${JSON.stringify(big)}, ${JSON.stringify(path.join(dir, 'bigcopy'))}, { reflink: 'never' })
    await new Promise((r) => setTimeout(r, 150))
    const ac = new AbortController()
    const t0 = Date.now()
    const waiter = importFiles(${JSON.stringify(path.join(dir, 'imp'))}, [['a/f', ${JSON.stringify(one)}]], { signal: ac.signal, concurrency: 1 })
    setTimeout(() => ac.abort(), 50)
    const name = await waiter.then(() => 'resolved', (e) => e.name)
    const waited = Date.now() - t0
    let holderDone = false
    holder.then(() => { holderDone = true })
    await new Promise((r) => setImmediate(r))
    const early = !holderDone
    await holder
    console.log(JSON.stringify({ name, waited, early }))
  `)
  t.equal(r.name, 'AbortError', 'the waiting call rejects')
  t.ok(r.waited < 1000, `at once (after ${r.waited} ms), not when the other call ends`)
  t.ok(r.early, 'while the other call still runs')
})

// A call alone with only a little more than its floor free (copyFiles: the
// floor pays for one copier's files, so a second copy thread must come from
// elsewhere, or wait), or fewer than its floor (the walks: let in alone,
// they keep within what is free, closing the directories above their own
// sooner). A limit of 40 with exactly 5 (copyFiles) or 8 (the walks) free.
onFs(t, 'ext4', 'a call with little more than its floor free, or less: no EMFILE (copyFiles, copyDir, importFiles)', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  for (let i = 0; i < 20; i++) fs.writeFileSync(path.join(src, `f${i}`), Buffer.alloc(4 << 20, i))
  const tree = path.join(dir, 'tree')
  fs.mkdirSync(tree)
  chain(tree, 30)
  for (let b = 0; b < 3; b++) {
    fs.mkdirSync(path.join(tree, `w${b}`, 'x', 'y'), { recursive: true })
    for (let k = 0; k < 3; k++) fs.writeFileSync(path.join(tree, `w${b}`, 'x', 'y', `f${k}`), `${k}`)
  }
  const run = (spare, body) => underLimit(t, 40, `
    import { copyFiles, copyDir, importFiles } from 'cowcopy'
    import * as fs from 'node:fs'
    const src = ${JSON.stringify(src)}, tree = ${JSON.stringify(tree)}, out = ${JSON.stringify(dir)} + '/out' + Math.random()
    fs.mkdirSync(out)
    const codes = (r) => r.errors.map((e) => e.error.code)
    const SPARE = ${spare}
    // Exactly n descriptors free: every one taken, then n given back (a
    // count of /proc/self/fd would miss a descriptor Node closes later).
    const leaveFree = (n) => {
      const held = []
      try { for (;;) held.push(fs.openSync('/dev/null', 'r')) } catch (e) { if (e.code !== 'EMFILE') throw e }
      for (let k = 0; k < n; k++) fs.closeSync(held.pop())
    }
    ${body}
  `)
  const a = run(5, `
    const pairs = fs.readdirSync(src).map((n) => [src + '/' + n, out + '/' + n])
    for (const [s, d] of pairs) fs.copyFileSync(s, d)  // existing: each replaced through a temporary file
    leaveFree(SPARE)
    const r = await copyFiles(pairs, { overwrite: true })
    console.log(JSON.stringify({ files: r.files, errors: codes(r) }))
  `)
  t.same(a, { files: 20, errors: [] }, 'copyFiles, 5 free: every file, no EMFILE')
  const b = run(8, `
    const walk = (d, b = '', o = []) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const r = b ? b + '/' + e.name : e.name; if (e.isDirectory()) walk(d + '/' + e.name, r, o); else o.push(r) } return o }
    const entries = walk(tree).map((r) => [r, tree + '/' + r])
    leaveFree(SPARE)
    const c = await copyDir(tree, out + '/c')
    const i = await importFiles(out + '/i', entries)
    console.log(JSON.stringify({ files: [c.files, i.files], errors: [...codes(c), ...codes(i)] }))
  `)
  t.same(b, { files: [39, 39], errors: [] }, 'copyDir and importFiles, 8 free (below their floors): every file, no EMFILE')
  // Again over what is there: each file replaced through a temporary file
  // (and its descriptor duplicated for the close check); importFiles with
  // a marker 6 deep, placed last.
  const first = path.join(dir, 'again')
  underLimit(t, 40, `
    import { copyDir } from 'cowcopy'
    await copyDir(${JSON.stringify(tree)}, ${JSON.stringify(first)})
    console.log('null')
  `)
  const c = run(8, `
    leaveFree(SPARE)
    const c = await copyDir(tree, ${JSON.stringify(first)}, { overwrite: true })
    const entries = [['a/b/c/d/e/f/m', tree + '/d/f'], ['a/b/c/d/e/f/g', tree + '/d/f'], ['a/x', tree + '/d/f']]
    let rel = 'z/'
    for (let k = 0; k < 30; k++) { rel += 'd/'; entries.push([rel + 'f', tree + '/d/f']) }
    const i = await importFiles(out + '/m', entries, { marker: 'a/b/c/d/e/f/m' })
    console.log(JSON.stringify({ files: [c.files, i.files], errors: [...codes(c), ...codes(i)] }))
  `)
  t.same(c, { files: [39, 33], errors: [] }, 'copyDir over an existing copy, importFiles with a marker 6 deep, 8 free: every file, no EMFILE')
  // dereference: the walker holds the link's target while it copies it.
  const links = path.join(dir, 'links')
  let d = links
  fs.mkdirSync(d)
  for (let k = 0; k < 8; k++) {
    d = path.join(d, 'd')
    fs.mkdirSync(d)
    fs.writeFileSync(path.join(d, 'f'), `${k}`)
    fs.symlinkSync(path.join(src, 'f0'), path.join(d, 'link'))
  }
  const e = run(8, `
    leaveFree(SPARE)
    const c = await copyDir(${JSON.stringify(links)}, out + '/l', { dereference: true })
    console.log(JSON.stringify({ files: c.files, errors: codes(c) }))
  `)
  t.same(e, { files: 16, errors: [] }, 'copyDir, dereference, file links 8 deep, 8 free: every file, no EMFILE')
})
