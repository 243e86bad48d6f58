// One fault-injection run: `node driver.mjs <scenario> <dir>` (under
// LD_PRELOAD=shim.so with COWCOPY_FAULT set) builds the scenario's files in
// <dir>, takes a snapshot of everything in it, runs the one cowcopy call,
// takes another snapshot and prints one JSON line: the call's result or
// error, both snapshots and the open descriptors before and after. The shim
// only touches the addon's own calls, so the snapshots (Node's fs) are exact.
// `node driver.mjs --serve` does the same for a stream of jobs on stdin.
// The scenarios are in scenarios.mjs; test/failures/syscall-injection.test.mjs
// judges the outcome.
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { SCENARIOS, sha } from './scenarios.mjs'

export const MARK = 'COWCOPY-FAULT-OUTCOME '

/** Every entry under root: type, mode, size, content hash, link target, inode, times. */
export function snapshot(root) {
  const out = {}
  const walk = (rel) => {
    const p = path.join(root, rel)
    for (const name of fs.readdirSync(p).sort()) {
      const r = rel ? `${rel}/${name}` : name
      const full = path.join(root, r)
      const st = fs.lstatSync(full, { bigint: true })
      const e = { mode: Number(st.mode & 0o7777n), ino: String(st.ino), mtime: String(st.mtimeNs) }
      if (st.isFile()) {
        e.type = 'f'
        e.size = Number(st.size)
        e.hash = sha(fs.readFileSync(full))
      } else if (st.isDirectory()) {
        e.type = 'd'
      } else if (st.isSymbolicLink()) {
        e.type = 'l'
        e.target = fs.readlinkSync(full)
      } else {
        e.type = st.isFIFO() ? 'p' : 'o'
      }
      out[r] = e
      if (e.type === 'd') walk(r)
    }
  }
  walk('')
  return out
}

function xattrsOf(file) {
  try {
    return execFileSync('getfattr', ['--absolute-names', '-d', '-m', '-', file], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .sort()
  } catch {
    return null
  }
}

const fdCount = () => fs.readdirSync('/proc/self/fd').length

function plainError(err) {
  if (!err || typeof err !== 'object') return { thrown: String(err) }
  const e = { name: err.name, message: err.message }
  for (const k of ['code', 'errno', 'syscall', 'path', 'dest']) if (err[k] !== undefined) e[k] = err[k]
  if (typeof e.path !== 'string' && e.path !== undefined) e.path = String(e.path)
  return e
}

function plainResult(r) {
  if (r === undefined) return null
  return JSON.parse(
    JSON.stringify(r, (k, v) => {
      if (typeof v === 'bigint') return Number(v)
      if (v instanceof Error) return plainError(v)
      return v
    }),
  )
}

// The shim's control channel (see shim.c): a path only it answers.
function shimControl(cmd) {
  fs.accessSync(`/cowcopy-fault-control/${cmd}`)
}

/** One run: setup, snapshot, the call (with the shim armed), snapshot. */
export async function runOne(cc, name, dir, arm) {
  const sc = SCENARIOS[name]
  if (!sc) throw new Error(`no scenario ${name}`)
  // Each run starts with nothing remembered: a persistent "no clones here"
  // fault of an earlier run in this process must not steer this one.
  ;(await import('../../dist/native.js')).native?.resetLinkMemory()
  sc.setup(dir)
  const meta = { expect: sc.expect ? sc.expect(dir) : undefined }
  if (sc.preserve) meta.srcXattrs = xattrsOf(path.join(dir, 'src/f'))
  const before = snapshot(dir)
  const fdsBefore = fdCount()
  const out = { before, meta }
  if (arm) shimControl(arm)
  try {
    out.result = plainResult(await sc.run(cc, dir))
    out.ok = true
  } catch (err) {
    out.ok = false
    out.error = plainError(err)
  } finally {
    if (arm) shimControl('disarm')
  }
  // Let a promise's worker finish closing before the count.
  await new Promise((r) => setImmediate(r))
  out.fdsBefore = fdsBefore
  out.fdsAfter = fdCount()
  out.after = snapshot(dir)
  if (sc.preserve && out.after['out/f']?.type === 'f') meta.destXattrs = xattrsOf(path.join(dir, 'out/f'))
  return out
}

// --serve: one JSON job per stdin line ({ id, scenario, dir, spec, out }),
// one outcome line each; the process (and the addon) stays loaded, the shim
// is re-armed per job. Starting Node per run costs ten times the run.
async function serve(cc) {
  const { createInterface } = await import('node:readline')
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue
    const job = JSON.parse(line)
    let out
    try {
      out = await runOne(cc, job.scenario, job.dir, `arm/${job.out.replaceAll('/', '%2f')}/${job.spec}`)
    } catch (err) {
      out = { driverError: String(err?.stack ?? err) }
    }
    process.stdout.write(MARK + JSON.stringify({ id: job.id, ...out }) + '\n')
  }
}

async function main() {
  const cc = await import('cowcopy')
  if (process.argv[2] === '--serve') return serve(cc)
  const [name, dir] = process.argv.slice(2)
  // One run configured by COWCOPY_FAULT / COWCOPY_FAULT_OUT (a reproduction).
  const out = await runOne(cc, name, dir, null)
  process.stdout.write(MARK + JSON.stringify(out) + '\n')
  // For a person replaying a run: what the call said and what changed on disk.
  const show = (e) => (!e ? 'absent' : e.type === 'f' ? `file ${e.size} B mode ${e.mode.toString(8)} ${e.hash.slice(0, 8)}` : `${e.type} ${e.target ?? e.mode.toString(8)}`)
  const lines = [out.ok ? `result: ${JSON.stringify(out.result)}` : `error: ${out.error.code} ${out.error.message}`]
  lines.push(`descriptors: ${out.fdsBefore} before, ${out.fdsAfter} after`)
  for (const rel of new Set([...Object.keys(out.before), ...Object.keys(out.after)])) {
    const a = show(out.before[rel])
    const b = show(out.after[rel])
    if (a !== b) lines.push(`${rel}: ${a} -> ${b}`)
  }
  process.stderr.write(lines.join('\n') + '\n')
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  main().catch((err) => {
    process.stderr.write(`driver failed: ${err.stack}\n`)
    process.exit(3)
  })
}
