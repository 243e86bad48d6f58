// Abort at random moments: the call must settle (no hang), leak no fd, and
// a staged import must leave nothing; run in a child with a hard timeout.
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
const fsName = process.argv[2] || 'btrfs'
const nofile = process.argv[3] || '64'
const iters = +(process.argv[4] || 40)
const base = fs.mkdtempSync(`/var/tmp/cowcopy-mounts/${fsName}/att-ahead-`)
fs.mkdirSync(path.join(base, 'store'))
fs.writeFileSync(path.join(base, 'store', 'f'), 'x'.repeat(3000))
const child = `
import { importFiles } from '/work/wt/att-ahead/dist/index.js'
import * as fs from 'node:fs'
const [base, iters] = process.argv.slice(2)
const src = base + '/store/f'
let seed = ${Date.now() % 100000}
const rnd = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
const before = fs.readdirSync('/proc/self/fd').length
const out = []
for (let it = 0; it < +iters; it++) {
  const conc = 1 + rnd(8), stage = rnd(3) === 0, stopOnError = rnd(2) === 0, withMarker = rnd(2) === 0
  const entries = []
  const nd = 200 + rnd(2000)
  for (let d = 0; d < nd; d++) entries.push([\`p\${d % 13}/d\${d}/s/f\`, rnd(500) === 0 ? base + '/nope' : src])
  let deep = 'k'; for (let i = 0; i < 30; i++) deep += '/q'
  entries.push([deep + '/package.json', src])
  const ac = new AbortController()
  const delay = rnd(4) === 0 ? -1 : rnd(400)
  if (delay >= 0) setTimeout(() => ac.abort(), delay)
  const dest = base + '/dest' + it
  let res
  try { const r = await importFiles(dest, entries, { concurrency: conc, stage, stopOnError, signal: ac.signal, marker: withMarker ? deep + '/package.json' : undefined }); res = 'ok files=' + r.files + ' err=' + r.errors.length } catch (e) { res = 'rej ' + (e.code || e.name) }
  if (stage && !res.startsWith('ok') && fs.existsSync(dest)) res += ' STAGE-LEFT-DEST'
  if (stage && fs.readdirSync(base).some((n) => n.startsWith('.dest' + it + '.'))) res += ' STAGE-LEFT-TEMP'
  out.push([conc, stage, stopOnError, withMarker, delay, res].join(' '))
  fs.rmSync(dest, { recursive: true, force: true })
}
const after = fs.readdirSync('/proc/self/fd').length
console.log(out.join('\\n'))
console.log('fdLeak', after - before)
`
fs.writeFileSync(path.join(base, 'child.mjs'), child)
try {
  const r = spawnSync('prlimit', [`--nofile=${nofile}:${nofile}`, process.execPath, path.join(base, 'child.mjs'), base, String(iters)], { encoding: 'utf8', timeout: 240000 })
  console.log(r.error ? 'HANG ' + r.error.code : 'status ' + r.status, r.signal || '')
  console.log(r.stdout.split('\n').filter((l) => /LEFT|fdLeak/.test(l)).join('\n'))
  console.log('rejections', (r.stdout.match(/rej/g) || []).length, 'ok', (r.stdout.match(/ ok /g) || []).length)
  console.error(r.stderr.slice(0, 2000))
} finally { fs.rmSync(base, { recursive: true, force: true }) }
