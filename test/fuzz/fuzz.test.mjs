// Model-based fuzzing: random sequences of copyFile, reflink,
// cloneRange, copyRange, dedupeRange, copyDir and copyFiles, with random
// options, aborts and names, on btrfs, XFS, ext4 and tmpfs, checked after
// every operation against a model of the destination tree (test/fuzz/model/).
// A fixed seed and budget by default; COWCOPY_FUZZ_SEED and COWCOPY_FUZZ_RUNS
// override; `npm run fuzz -- --runs N [--seed S]` runs longer. A failure
// prints its seed and the shrunk case.
import t from 'tap'
import { FS_NAMES, onFs } from '../helpers.mjs'
import { fuzzDir, KNOWN_DEFECTS } from './model.mjs'

const SEED = process.env.COWCOPY_FUZZ_SEED !== undefined ? Number(process.env.COWCOPY_FUZZ_SEED) : 20250112
const RUNS = process.env.COWCOPY_FUZZ_RUNS !== undefined ? Number(process.env.COWCOPY_FUZZ_RUNS) : 250
// The CI budget for the whole file is 3 minutes: each filesystem stops after
// 40 s even when the machine is slow (the runs done are printed).
const LIMIT_MS = Number(process.env.COWCOPY_FUZZ_TIME_MS || 40000)

for (const name of FS_NAMES) {
  onFs(t, name, `fuzz: ${RUNS} random operation sequences, seed ${SEED}`, async (t, dir) => {
    const t0 = Date.now()
    const { details, report, findings } = await fuzzDir(dir, { runs: RUNS, seed: SEED, timeout: LIMIT_MS })
    t.comment(`${name}: ${details.numRuns} runs (${details.numSkips} skipped) in ${((Date.now() - t0) / 1000).toFixed(1)} s, seed ${SEED}${details.interrupted ? ', stopped at the time limit' : ''}`)
    for (const [item, f] of [...findings].sort((a, b) => String(a[0]).localeCompare(String(b[0]), 'en', { numeric: true }))) {
      t.comment(`known defect met (${typeof item === 'number' ? `defect ${item}` : `unfiled '${item}'`}: ${KNOWN_DEFECTS[item]}): ${f.count}x, e.g. ${f.example}`)
    }
    if (report) {
      // The seed and the shrunk case, in the TAP log.
      t.comment(report)
      t.fail(`fuzz failed on ${name}; replay with COWCOPY_FUZZ_SEED=${details.seed}`, { diagnostic: true, report })
    } else {
      t.pass(`${details.numRuns} runs agree with the model`)
    }
  })
}
