// copyDir on btrfs holds file chunks back until a batch of directories is
// made. Each held chunk keeps its directory open, and with it every
// ancestor (a DirNode holds its parent): a batch must count the directories
// it keeps open, not only those with files. In a tree whose files sit only
// at the ends of deep, unshared branches (.pnpm/<pkg>/node_modules/<pkg>/…),
// counting one directory per branch held six pairs per branch and 217 of 300
// files failed with EMFILE under `prlimit --nofile=1024`.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { diffTrees, onFs } from './helpers.mjs'

for (const fsName of ['btrfs', 'xfs']) {
  onFs(t, fsName, 'files only at the ends of deep branches: no EMFILE under a low limit', async (t, dir) => {
    const src = path.join(dir, 'src')
    for (let b = 0; b < 300; b++) {
      const leaf = path.join(src, `b${b}`, 'l2', 'l3', 'l4', 'l5', 'l6')
      fs.mkdirSync(leaf, { recursive: true })
      fs.writeFileSync(path.join(leaf, 'f'), `file ${b}\n`)
    }
    const dest = path.join(dir, 'dest')
    const script = `
      import { copyDir } from 'cowcopy'
      const r = await copyDir(${JSON.stringify(src)}, ${JSON.stringify(dest)}, { concurrency: 2 })
      console.log(JSON.stringify({ files: r.files, errors: r.errors.map((e) => e.error.code) }))
    `
    const run = spawnSync('prlimit', ['--nofile=1024:1024', process.execPath, '--input-type=module', '-e', script],
      { encoding: 'utf8', cwd: process.cwd(), timeout: 60_000 })
    t.equal(run.status, 0, run.stderr)
    const r = JSON.parse(run.stdout)
    t.same(r.errors, [], 'no EMFILE (or any error) under a 1024-descriptor limit')
    t.equal(r.files, 300, 'every file copied')
    t.same(diffTrees(src, dest), [], 'same types, modes and bytes')
  })
}
