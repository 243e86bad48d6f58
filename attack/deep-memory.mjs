// Pre-existing (not this change): every ImportDir stores its full path
// (dest_root/rel) and holds its parent: a relPath nesting D directories
// costs O(D^2) bytes of path strings and a D-deep destructor recursion.
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
const depth = +(process.argv[2] || 8000)
const base = fs.mkdtempSync('/var/tmp/cowcopy-mounts/tmpfs/att-ahead-')
fs.writeFileSync(base + '/f', 'x')
const script = `
import { importFiles } from '/work/wt/att-ahead/dist/index.js'
const rel = Array(${depth}).fill('a').join('/') + '/f'
const r = await importFiles('${base}/dest', [[rel, '${base}/f']])
const st = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8').match(/VmHWM:\\s+(\\d+)/)[1]
console.log(JSON.stringify({ files: r.files, errors: r.errors.map((e) => e.error.code), peakRssMB: Math.round(st / 1024) }))
`
const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
console.log('depth', depth, r.stdout.trim(), r.stderr.slice(0, 300))
spawnSync('rm', ['-rf', base])
