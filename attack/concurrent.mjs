// Concurrent imports (pnpm imports several packages at once: libuv runs up
// to 4 Execute calls together). Each call on btrfs holds up to
// RLIMIT_NOFILE/4 directories made ahead, without regard to the others or
// to the descriptors the process already has: 4 calls take the whole limit.
// Usage: node attack/concurrent.mjs <fs> <nofile> <calls> <dirsPerPkg> [distDir] [extraOpenFds]
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
const [fsName = 'btrfs', nofile = '256', calls = '4', ndirs = '300', dist = '/work/wt/att-ahead/dist', extra = '0'] = process.argv.slice(2)
const base = fs.mkdtempSync(`/var/tmp/cowcopy-mounts/${fsName}/att-ahead-`)
fs.mkdirSync(path.join(base, 'store'))
fs.writeFileSync(path.join(base, 'store', 'f'), 'x'.repeat(3000))
const child = `
import { importFiles } from '${dist}/index.js'
import * as fs from 'node:fs'
const [base, calls, ndirs, extra] = process.argv.slice(2)
const src = base + '/store/f'
const held = []
for (let i = 0; i < +extra; i++) held.push(fs.openSync(src, 'r'))
const jobs = []
for (let c = 0; c < +calls; c++) {
  const entries = []
  for (let d = 0; d < +ndirs; d++) entries.push([\`lib/d\${d}/index.js\`, src])
  jobs.push(importFiles(base + '/pkg' + c, entries, { concurrency: 2 }))
}
const rs = await Promise.allSettled(jobs)
const codes = {}
let files = 0
for (const r of rs) { if (r.status === 'rejected') codes['rej ' + r.reason.code] = (codes['rej ' + r.reason.code] || 0) + 1; else { files += r.value.files; for (const e of r.value.errors) codes[e.error.code] = (codes[e.error.code] || 0) + 1 } }
console.log(JSON.stringify({ files, of: +calls * +ndirs, codes }))
`
fs.writeFileSync(path.join(base, 'child.mjs'), child)
try {
  const r = spawnSync('prlimit', [`--nofile=${nofile}:${nofile}`, process.execPath, path.join(base, 'child.mjs'), base, calls, ndirs, extra], { encoding: 'utf8', timeout: 120000 })
  console.log(fsName, 'nofile', nofile, 'calls', calls, 'dirs', ndirs, 'extra', extra, dist, r.error ? 'HANG' : r.status, r.stdout.trim(), r.stderr.trim().slice(0, 300))
} finally { fs.rmSync(base, { recursive: true, force: true }) }
