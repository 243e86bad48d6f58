// Budget attack: run importFiles in a child under prlimit --nofile=N with
// shapes: wide (many dirs), deep (nested deeper than the budget), marker
// deep, stopOnError with a bad entry, stage; report errors / hang / fd leak.
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
const fsName = process.argv[2] || 'btrfs'
const nofiles = (process.argv[3] || '64').split(',').map(Number)
const concs = (process.argv[4] || '1,2,4,8').split(',').map(Number)
const shapes = (process.argv[5] || 'wide,deep,deepwide,markerdeep,stop,stage').split(',')
const base = fs.mkdtempSync(`/var/tmp/cowcopy-mounts/${fsName}/att-ahead-`)
const child = `
import { importFiles } from '/work/wt/att-ahead/dist/index.js'
import * as fs from 'node:fs'
const [base, shape, conc] = process.argv.slice(2)
const store = base + '/store'
const src = store + '/f'
const entries = []
let marker, stopOnError = false, stage = false
if (shape === 'wide') for (let d = 0; d < 3000; d++) entries.push([\`d\${d}/s/t/f\`, src])
if (shape === 'deep') { let p = 'x'; for (let d = 0; d < 200; d++) { p += '/y' + d; for (let i = 0; i < 3; i++) entries.push([p + '/f' + i, src]) } }
if (shape === 'deepwide') { for (let w = 0; w < 30; w++) { let p = 'w' + w; for (let d = 0; d < 40; d++) { p += '/y'; entries.push([p + '/f', src]) } } }
if (shape === 'markerdeep') { let p = 'm'; for (let d = 0; d < 60; d++) p += '/z'; entries.push([p + '/package.json', src]); marker = p + '/package.json'; for (let d = 0; d < 2000; d++) entries.push([\`d\${d}/f\`, src]) }
if (shape === 'stop') { for (let d = 0; d < 2000; d++) entries.push([\`d\${d}/a/f\`, d === 700 ? store + '/missing' : src]); stopOnError = true }
if (shape === 'stage') { for (let d = 0; d < 2000; d++) entries.push([\`d\${d}/a/f\`, src]); stage = true }
const before = fs.readdirSync('/proc/self/fd').length
const dest = base + '/dest-' + shape + '-' + conc + '-' + process.pid
let r, err
try { r = await importFiles(dest, entries, { concurrency: +conc, marker, stopOnError, stage }) } catch (e) { err = e.code }
const after = fs.readdirSync('/proc/self/fd').length
const codes = {}
for (const e of r?.errors ?? []) codes[e.error.code] = (codes[e.error.code] || 0) + 1
console.log(JSON.stringify({ n: entries.length, files: r?.files, dirs: r?.dirs, threads: r?.threads, codes, err, fdLeak: after - before }))
fs.rmSync(dest, { recursive: true, force: true })
`
fs.mkdirSync(path.join(base, 'store'))
fs.writeFileSync(path.join(base, 'store', 'f'), 'x'.repeat(5000))
fs.writeFileSync(path.join(base, 'child.mjs'), child)
try {
  for (const nofile of nofiles) for (const conc of concs) for (const shape of shapes) {
    const t0 = Date.now()
    const r = spawnSync('prlimit', [`--nofile=${nofile}:${nofile}`, process.execPath, path.join(base, 'child.mjs'), base, shape, String(conc)], { encoding: 'utf8', timeout: 60000 })
    const dt = Date.now() - t0
    console.log(fsName, 'nofile', nofile, 'conc', conc, shape, r.error ? 'HANG/ERR ' + r.error.code : r.status, dt + 'ms', (r.stdout || '').trim(), (r.stderr || '').trim().slice(0, 300))
  }
} finally { fs.rmSync(base, { recursive: true, force: true }) }
