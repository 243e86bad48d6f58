// On btrfs importFiles makes directories ahead of the copy threads, each
// held open, within a descriptor budget: the budget is what the process has
// left (a process may hold most of its descriptors already: a package
// manager's sockets and files), and every import running at once shares it.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { onFs } from '../helpers.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

// Runs `script` (an ES module importing cowcopy) under a descriptor limit;
// its last line of output is JSON.
function underLimit(t, nofile, script) {
  const run = spawnSync('prlimit', [`--nofile=${nofile}:${nofile}`, process.execPath, '--input-type=module', '-e', script],
    { encoding: 'utf8', cwd: ROOT, timeout: 60_000 })
  t.equal(run.status, 0, run.stderr)
  return JSON.parse(run.stdout.trim().split('\n').pop())
}

// The budget (import.cc dirs_ahead_budget) counts the descriptors the
// process already holds: a quarter of RLIMIT_NOFILE (64 of 256) taken as if
// it held none would let the walker, which makes that many directories
// (each held open) before a copy thread gets a file, run out first in a
// process with most of its descriptors open, and every entry past that
// would fail with EMFILE.
onFs(t, 'btrfs', 'directories made ahead fit in the descriptors the process has left', async (t, dir) => {
  const src = path.join(dir, 'f')
  fs.writeFileSync(src, 'content\n')
  const dest = path.join(dir, 'dest')
  const r = underLimit(t, 256, `
    import { importFiles } from 'cowcopy'
    import * as fs from 'node:fs'
    // Leave 48 descriptors free: the budget's 64 directories do not fit.
    while (fs.readdirSync('/proc/self/fd').length - 1 < 256 - 48) fs.openSync('/dev/null', 'r')
    const entries = []
    for (let d = 0; d < 150; d++) entries.push([\`lib/d\${d}/index.js\`, ${JSON.stringify(src)}])
    const r = await importFiles(${JSON.stringify(dest)}, entries, { concurrency: 2 })
    console.log(JSON.stringify({ files: r.files, errors: r.errors.map((e) => e.error.code) }))
  `)
  t.same(r.errors.slice(0, 3), [], 'no EMFILE')
  t.equal(r.files, 150, 'every entry placed')
  t.equal(fs.readdirSync(path.join(dest, 'lib')).length, 150, 'every directory made')
})

// Several imports run at once (libuv's pool runs 4 calls together; package
// managers import packages in parallel): a quarter of the limit per call
// would let 4 calls on btrfs hold every descriptor in directories made
// ahead. The budget is the process's: what all calls hold together.
onFs(t, 'btrfs', 'concurrent imports share one directory budget', async (t, dir) => {
  const src = path.join(dir, 'f')
  fs.writeFileSync(src, 'content\n')
  const r = underLimit(t, 256, `
    import { importFiles } from 'cowcopy'
    const jobs = []
    for (let c = 0; c < 4; c++) {
      const entries = []
      for (let d = 0; d < 300; d++) entries.push([\`lib/d\${d}/index.js\`, ${JSON.stringify(src)}])
      jobs.push(importFiles(${JSON.stringify(dir)} + '/pkg' + c, entries, { concurrency: 2 }))
    }
    const rs = await Promise.all(jobs)
    console.log(JSON.stringify({ files: rs.map((r) => r.files), errors: rs.flatMap((r) => r.errors.map((e) => e.error.code)) }))
  `)
  t.same(r.errors.slice(0, 3), [], 'no EMFILE')
  t.same(r.files, [300, 300, 300, 300], 'every entry of every call placed')
})
