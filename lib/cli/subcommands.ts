// `cowcopy probe [DIR]` and `cowcopy dedupe FILE FILE...`.
import * as fs from 'node:fs'
import * as path from 'node:path'
import { dedupeRange, probe } from '../index'
import { human as humanBytes } from '../progress-bar'
import { describe, errorJson, fail, json, jsonPath, out, q, UsageError } from './output'
import { text, type P } from './paths'

export async function runProbe(asJson: boolean, operands: P[]): Promise<number> {
  if (operands.length > 1) {
    throw new UsageError(`probe takes one directory, not ${operands.length} (to copy a file named 'probe', write ./probe or -- probe)`)
  }
  const dir = operands[0] ?? '.'
  try {
    const p = await probe(dir)
    if (asJson) {
      json({ dir: jsonPath(dir), ...p })
    } else {
      const yes = (b: boolean) => (b ? 'yes' : 'no')
      out(`${path.resolve(text(dir))}`)
      out(`  filesystem       ${p.fsType}`)
      out(`  block size       ${p.blockSize}`)
      out(`  clone            ${yes(p.clone)}`)
      out(`  dedupe           ${yes(p.dedupe)}`)
      out(`  copy_file_range  ${yes(p.copyFileRange)}`)
    }
    return 0
  } catch (err) {
    const hint = fs.existsSync('probe') ? " (to copy the file named 'probe', write ./probe or -- probe)" : ''
    fail(`cannot probe ${q(dir)}: ${describe(err)}${hint}`)
    return 1
  }
}

export async function runDedupe(asJson: boolean, operands: P[]): Promise<number> {
  if (operands.length < 2) throw new UsageError('dedupe needs a FILE and at least one more FILE')
  const [src, ...targets] = operands
  let srcSize: number
  try {
    srcSize = fs.statSync(src).size
  } catch (err) {
    fail(`cannot stat ${q(src)}: ${describe(err)}`)
    return 1
  }
  let ok = true
  let total = 0
  for (const t of targets) {
    let size: number
    try {
      size = fs.statSync(t).size
    } catch (err) {
      fail(`cannot stat ${q(t)}: ${describe(err)}`)
      ok = false
      continue
    }
    const length = Math.min(size, srcSize)
    try {
      const [r] = await dedupeRange(src, { offset: 0, length: length === srcSize ? 0 : length }, [{ path: t }])
      if (r.status === 'error') throw r.error
      const bytes = Number(r.bytesDeduped)
      total += bytes
      if (asJson) json({ src: jsonPath(src), target: jsonPath(t), status: r.status, bytesDeduped: bytes })
      else if (r.status === 'same') out(`${q(t)}: ${humanBytes(bytes)} shared with ${q(src)}`)
      else out(`${q(t)}: differs from ${q(src)} (${humanBytes(bytes)} shared before the first difference)`)
    } catch (err) {
      fail(`cannot dedupe ${q(t)} with ${q(src)}: ${describe(err)}`)
      if (asJson) json({ src: jsonPath(src), target: jsonPath(t), status: 'error', error: errorJson(err) })
      ok = false
    }
  }
  if (!asJson) out(`${humanBytes(total)} shared in all`)
  return ok ? 0 : 1
}
