// Thread-start failure: uid 65534 under a low RLIMIT_NPROC, so some or all
// copy threads cannot start; the call must still place everything.
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
const fsName = process.argv[2] || 'btrfs'
const base = fs.mkdtempSync(`/var/tmp/cowcopy-mounts/${fsName}/att-ahead-`)
fs.chmodSync(base, 0o777)
fs.mkdirSync(path.join(base, 'store'), { mode: 0o755 })
fs.writeFileSync(path.join(base, 'store', 'f'), 'x'.repeat(3000), { mode: 0o644 })
const child = `
import { importFiles } from '/work/wt/att-ahead/dist/index.js'
import * as fs from 'node:fs'
const [base, conc, nofileish] = process.argv.slice(2)
const src = base + '/store/f'
const entries = []
for (let d = 0; d < 1500; d++) entries.push([\`d\${d}/s/f\`, src])
const out = []
for (const stage of [false, true]) for (const marker of [undefined, 'd1499/s/f']) {
  const dest = base + '/dest-' + process.pid + '-' + out.length
  let res
  try { const r = await importFiles(dest, entries, { concurrency: +conc, stage, marker }); res = 'ok files=' + r.files + ' threads=' + r.threads + ' err=' + JSON.stringify(r.errors.slice(0,2).map(e=>e.error.code)) } catch (e) { res = 'rej ' + e.code + ' ' + e.message }
  out.push(res)
}
console.log(out.join(' | '))
`
fs.writeFileSync(path.join(base, 'child.mjs'), child, { mode: 0o644 })
try {
  for (const nproc of (process.argv[3] || '6,8,10,12,14,20').split(',')) for (const conc of [2, 8]) {
    const r = spawnSync('prlimit', [`--nproc=${nproc}:${nproc}`, '--nofile=64:64', 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, path.join(base, 'child.mjs'), base, String(conc)], { encoding: 'utf8', timeout: 60000 })
    console.log('nproc', nproc, 'conc', conc, r.error ? 'HANG ' + r.error.code : 'status ' + r.status + ' ' + (r.signal || ''), r.stdout.trim(), r.stderr.trim().slice(0, 300))
  }
} finally { fs.rmSync(base, { recursive: true, force: true }) }
