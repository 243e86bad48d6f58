// npm run fuzz -- --runs N [--seed S] [--fs btrfs,xfs,ext4,tmpfs]
// The same property as test/fuzz/fuzz.test.mjs, for longer runs. Prints the seed
// and the shrunk case of a failure, and the known defects met.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { parseArgs } from 'node:util'
import { fsDir, FS_NAMES } from '../helpers.mjs'
import { fuzzDir, KNOWN_DEFECTS } from './model.mjs'

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1000' },
    seed: { type: 'string' },
    fs: { type: 'string', default: FS_NAMES.join(',') },
  },
})
const runs = Number(values.runs)
const seed = values.seed !== undefined ? Number(values.seed) : Date.now() ^ (Math.random() * 2 ** 31)
let failed = false
for (const name of values.fs.split(',')) {
  const { dir, reason } = fsDir(name)
  if (!dir) {
    console.log(`# ${name}: skipped, ${reason}`)
    continue
  }
  const scratch = fs.mkdtempSync(path.join(dir, 'fuzz-'))
  const t0 = Date.now()
  try {
    const { details, report, findings } = await fuzzDir(scratch, { runs, seed })
    console.log(`# ${name}: ${details.numRuns} runs, seed ${seed}, ${((Date.now() - t0) / 1000).toFixed(1)} s: ${details.failed ? 'FAILED' : 'ok'}`)
    for (const [item, f] of [...findings].sort((a, b) => String(a[0]).localeCompare(String(b[0]), 'en', { numeric: true }))) {
      console.log(`#   known defect, ${typeof item === 'number' ? `defect ${item}` : `unfiled '${item}'`} (${KNOWN_DEFECTS[item]}): met ${f.count}x, e.g. ${f.example}`)
    }
    if (report) {
      failed = true
      console.log(report)
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
}
process.exitCode = failed ? 1 : 0
