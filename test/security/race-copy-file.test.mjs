// Race test, copyFile: while copyFile runs, a racer swaps its source between
// a regular file, a symlink and a FIFO, or truncates and restores it. Proves
// every copy is the file or the symlink's target byte for byte (a FIFO: a
// prompt EINVAL, no hang), and a truncated source gives a prefix of it, never
// invented bytes or the old destination's. Shared machinery: race-harness.mjs.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import t from 'tap'
import {
  raceCases, todo, ROOT, NOBODY, OTHER, chownTree, writeFile, mkdir, copyWhileRacing, raceCase, common, S,
} from './race-harness.mjs'

// --- copyFile: the source swapped between a file, a symlink and a FIFO; or truncated.

function copyFileSwap(scratch, racerUid, copierUid) {
  const ref = path.join(scratch, 'ref')
  mkdir(ref, 0o755, copierUid)
  const a = randomBytes(256 << 10)
  const b = randomBytes(100 << 10)
  writeFile(path.join(ref, 'a'), a, 0o644, copierUid)
  writeFile(path.join(ref, 'b'), b, 0o644, copierUid)
  const src = path.join(scratch, 'src')
  fs.mkdirSync(src)
  fs.writeFileSync(path.join(src, 'a'), a)
  fs.writeFileSync(path.join(src, 'b'), b)
  fs.symlinkSync('b', path.join(src, 'l'))
  execFileSync('mkfifo', [path.join(src, 'p')])
  chownTree(src, racerUid)
  fs.chmodSync(src, 0o755)
  const out = path.join(scratch, 'out')
  mkdir(out, 0o755, copierUid)
  return { src, out, allowed: [path.join(ref, 'a'), path.join(ref, 'b')],
    ops: ['x', src, 'a', 'l', 'x', src, 'a', 'p'] }
}

async function copyFileSwapCase(t, scratch, { copierUid, racerUid, seconds }) {
  const s = copyFileSwap(scratch, racerUid, copierUid)
  const { summary, counts } = await copyWhileRacing(scratch, racerUid, s.ops, copierUid, {
    kind: 'copyFile', src: path.join(s.src, 'a'), dest: path.join(s.out, 'a'), seconds, maxIterations: 5000,
    callTimeoutMs: 5000, allowed: s.allowed, options: {},
  })
  common(t, summary, counts, 'copyFile vs. file/symlink/FIFO swaps')
  t.same(summary.wrongContent, [], 'every copy is the file or the symlink\'s target, byte for byte')
  const codes = Object.keys(summary.errorCodes).map((k) => k.split(' ')[0])
  t.same(codes.filter((c) => c !== 'EINVAL'), [], 'the only failure is EINVAL for the FIFO')
}

async function copyFileTruncateCase(t, scratch, { seconds, prefill, options }) {
  const size = 1 << 20
  const content = randomBytes(size)
  const ref = path.join(scratch, 'ref')
  fs.writeFileSync(ref, content)
  const src = path.join(scratch, 'src')
  writeFile(src, content, 0o644, NOBODY)
  const { summary, counts } = await copyWhileRacing(scratch, NOBODY, ['t', src], ROOT, {
    kind: 'copyFile', src, dest: path.join(scratch, 'out'), seconds, maxIterations: 5000, callTimeoutMs: 5000,
    prefixOf: ref, minLength: size / 2, prefill, options,
  })
  common(t, summary, counts, `copyFile vs. truncation (${prefill ? 'longer destination' : 'new destination'})`)
  t.same(summary.wrongContent, [], 'every copy is a prefix of the source, at least the part never truncated: ' +
    'no invented bytes, none of the old destination\'s', { todo: prefill ? todo(6) : false })
}

raceCases(() => {

raceCase('cf-root', 'btrfs', 'copyFile as root, the source swapped for a symlink and a FIFO', (t, d) =>
  copyFileSwapCase(t, d, { copierUid: ROOT, racerUid: NOBODY, seconds: S(10) }))
raceCase('cf-user', 'tmpfs', 'copyFile as uid 65534, the source swapped for a symlink and a FIFO', (t, d) =>
  copyFileSwapCase(t, d, { copierUid: NOBODY, racerUid: OTHER, seconds: S(8) }))
raceCase('cf-trunc', 'xfs', 'copyFile as root, the source truncated and restored (new destination)', (t, d) =>
  copyFileTruncateCase(t, d, { seconds: S(8), prefill: 0, options: {} }))
raceCase('cf-trunc', 'btrfs', 'copyFile as root, the source truncated and restored (longer destination)', (t, d) =>
  copyFileTruncateCase(t, d, { seconds: S(8), prefill: 2 << 20, options: {} }))
})
