// The property and its driver: runOp sends each operation to its runner
// (runTooLong, paths over PATH_MAX for every API, is here), fuzzDir runs
// fast-check's cases on one filesystem directory and collects the findings.
import * as fs from 'node:fs'
import * as path from 'node:path'
import fc from 'fast-check'
import { copyFile, copyFileSync, cloneRange, copyRange, copyFiles, copyDir, probeSync } from 'cowcopy'
import { join, caseArb } from './arbitraries.mjs'
import { World, Known, Discrepancy } from './world.mjs'
import { nodeStyle, settle } from './call-outcomes.mjs'
import { runCopyFile, applyPrep, runRange, runDedupe } from './run-files.mjs'
import { runCopyDir, runCopyFiles } from './run-trees.mjs'

async function runTooLong(w, op) {
  // Over PATH_MAX (4096): ENAMETOOLONG, Node-style, nothing created.
  const long = Buffer.from(path.join(w.root, 'dst') + '/' + './'.repeat(2100) + 'long')
  const srcOk = op.api === 'copyDir' ? path.join(w.root, 'src', 'trees') : w.sources[0].path
  const pick = (l, okDest) => (op.side === 'src' ? [l, okDest] : [srcOk, l])
  const res = await settle(async () => {
    switch (op.api) {
      case 'copyFile': return copyFile(...pick(long.toString(), join(w.dstDir.top, 'ok-long')))
      case 'copyFileSync': return copyFileSync(...pick(long.toString(), join(w.dstDir.top, 'ok-long')))
      case 'cloneRange': return cloneRange(...pick(long.toString(), join(w.dstDir.top, 'ok-long')))
      case 'copyRange': return copyRange(...pick(long.toString(), join(w.dstDir.top, 'ok-long')))
      case 'copyDir': return copyDir(...pick(long.toString(), join(w.dstDir.top, 'ok-long')))
      case 'copyFiles': return copyFiles([pick(long.toString(), join(w.dstDir.top, 'ok-long'))])
    }
  })
  const code = res.ok ? (res.value?.errors?.[0]?.error?.code ?? 'success') : res.err.code
  // With the long path as src, the short dest must not exist either way (src missing/too long).
  if (code !== 'ENAMETOOLONG') w.fail(op, `a ${long.length}-byte path: expected ENAMETOOLONG, got ${res.ok ? JSON.stringify(code) : res.err.message}`)
  if (!res.ok && !nodeStyle(res.err)) w.fail(op, `not a Node-style error: ${res.err}`)
  if (fs.existsSync(join(w.dstDir.top, 'ok-long'))) {
    w.fail(op, 'left a destination behind', op.api === 'cloneRange' || op.api === 'copyRange' ? 15 : null)
  }
  w.verify(op)
}

async function runOp(w, op) {
  switch (op.op) {
    case 'copyFile':
    case 'reflink':
      return runCopyFile(w, op)
    case 'prep':
      return applyPrep(w, op)
    case 'cloneRange':
    case 'copyRange':
      return runRange(w, op)
    case 'dedupe':
      return runDedupe(w, op)
    case 'copyDir':
      return runCopyDir(w, op)
    case 'copyFiles':
      return runCopyFiles(w, op)
    case 'tooLong':
      return runTooLong(w, op)
  }
}

/** What the filesystem at `dir` can do (clone, dedupe, block size). */
export function fsInfo(dir) {
  const p = probeSync(dir)
  return { clone: p.clone, dedupe: p.dedupe, blockSize: p.blockSize, fsType: p.fsType }
}

/**
 * Runs the property on one filesystem directory. Returns fast-check's run
 * details plus `findings` (known defects met, by defect number) and `report`
 * (the failure text with seed and shrunk case, or null).
 */
export async function fuzzDir(dir, { runs, seed, log = () => {}, timeout = 0 }) {
  const info = fsInfo(dir)
  const findings = new Map()
  let n = 0
  const prop = fc.asyncProperty(caseArb, async (spec) => {
    const runDir = fs.mkdtempSync(path.join(dir, `f${n++}-`))
    try {
      const w = new World(runDir, info, spec, log)
      for (const op of spec.ops) {
        try {
          await runOp(w, op)
        } catch (err) {
          if (!(err instanceof Known)) throw err
        }
      }
      for (const f of w.findings) {
        const key = `${f.item}: ${f.op}: ${f.what.slice(0, 300)}`
        if (!findings.has(f.item)) findings.set(f.item, { count: 0, example: key, seed, spec })
        findings.get(f.item).count++
      }
    } finally {
      fs.rmSync(runDir, { recursive: true, force: true })
    }
  })
  const params = { numRuns: runs, seed, verbose: 0 }
  if (timeout) params.interruptAfterTimeLimit = timeout
  const details = await fc.check(prop, params)
  let report = null
  if (details.failed) {
    const e = details.errorInstance
    report = `${fc.defaultReportMessage(details)}\nReplay: COWCOPY_FUZZ_SEED=${details.seed} (fast-check path ${JSON.stringify(details.counterexamplePath)})\n` +
      `Error: ${e instanceof Discrepancy ? e.message : e?.stack ?? e}`
  }
  return { details, report, findings, info }
}
