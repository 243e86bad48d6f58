// The fault-injection test's machinery: building test/fault/shim.c, finding
// the addon that loads and what it imports, the driver processes
// (driver.mjs --serve) that run one job each under the shim, the shim's log,
// and a seeded shuffle for sampling. test/failures/syscall-injection.test.mjs
// uses it; README.md here says how the pieces fit.
import { execFileSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { MARK } from './driver.mjs'

const TEST_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const ROOT = path.dirname(TEST_DIR)
const DRIVER = path.join(TEST_DIR, 'fault', 'driver.mjs')
const SHIM_SRC = path.join(TEST_DIR, 'fault', 'shim.c')
export const CHILD_TIMEOUT_MS = 20000

export function seeded(seed) {
  let x = seed >>> 0 || 1
  return () => {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    return x / 2 ** 32
  }
}

export function shuffle(list, rand) {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[list[i], list[j]] = [list[j], list[i]]
  }
  return list
}

export function buildShim(dir) {
  const out = path.join(dir, 'shim.so')
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror', '-o', out, SHIM_SRC, '-ldl', '-lpthread'], {
    stdio: 'pipe',
  })
  return out
}

// The binary lib/native.ts loads: a build from source first, then the prebuild.
export function addonPath() {
  const require = createRequire(import.meta.url)
  const ngb = require('node-gyp-build')
  try {
    return ngb.path(path.join(ROOT, 'src-native'))
  } catch {
    return ngb.path(ROOT)
  }
}

export function dynSymbols(file, flag) {
  return execFileSync('nm', ['-D', flag, file], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/).pop())
    .filter(Boolean)
    .map((s) => s.replace(/@.*$/, ''))
}

/** The shim's log: counted calls (dry run), fired faults, totals at exit. */
export function parseLog(file) {
  const log = { calls: [], fired: [], exited: false }
  let text = ''
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch {
    return log
  }
  for (const line of text.split('\n')) {
    const p = line.split(' ')
    if (p[0] === 'C') {
      const [num, ...detail] = p[4].split(':')
      log.calls.push({ name: p[1], ord: Number(p[2]), off: p[3], num: Number(num), detail: detail.join(':') })
    } else if (p[0] === 'F') {
      log.fired.push({ name: p[1], ord: Number(p[2]), off: p[3], what: p[4], detail: p[5] })
    } else if (p[0] === 'X') {
      log.exited = true
    }
  }
  return log
}

/**
 * A driver process (`driver.mjs --serve`) that runs jobs one at a time with
 * the shim preloaded; replaced after a crash or a hang.
 */
export class Server {
  constructor(ctx) {
    this.ctx = ctx
    this.child = null
  }

  start() {
    const env = { ...process.env, LD_PRELOAD: this.ctx.shim, COWCOPY_FAULT_LIB: this.ctx.lib }
    delete env.COWCOPY_FAULT
    delete env.NODE_OPTIONS
    const child = spawn(process.execPath, [DRIVER, '--serve'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    this.child = child
    this.buf = ''
    this.stderr = ''
    this.pending = null
    child.stdout.on('data', (d) => {
      this.buf += d
      let nl
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, nl)
        this.buf = this.buf.slice(nl + 1)
        if (line.startsWith(MARK) && this.pending) this.pending.done({ outcome: JSON.parse(line.slice(MARK.length)) })
      }
    })
    child.stderr.on('data', (d) => (this.stderr = (this.stderr + d).slice(-4000)))
    child.on('close', (status, signal) => {
      if (this.child === child) this.child = null
      if (this.pending) this.pending.done({ status, signal, stderr: this.stderr })
    })
    child.stdin.on('error', () => {})
  }

  /** Runs one job: { outcome } or { status, signal, stderr } (crash) or { timedOut }. */
  run(job) {
    if (!this.child) this.start()
    const child = this.child
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending = null
        child.kill('SIGKILL')
        resolve({ timedOut: true, stderr: this.stderr })
      }, CHILD_TIMEOUT_MS)
      this.pending = {
        done: (r) => {
          clearTimeout(timer)
          this.pending = null
          resolve(r)
        },
      }
      child.stdin.write(JSON.stringify(job) + '\n')
    })
  }

  stop() {
    if (this.child) this.child.stdin.end()
  }
}

/** Runs one scenario under the shim with a fault spec; never rejects. */
export async function runJob(ctx, server, job) {
  const scratch = fs.mkdtempSync(path.join(ctx.session[job.fs], 'run-'))
  const logFile = path.join(ctx.tmp, `log-${ctx.seq++}`)
  const started = Date.now()
  const r = await server.run({ id: ctx.seq, scenario: job.scenario, dir: scratch, spec: job.spec, out: logFile })
  const log = parseLog(logFile)
  fs.rmSync(logFile, { force: true })
  fs.rmSync(scratch, { recursive: true, force: true })
  const outcome = r.outcome && !r.outcome.driverError ? r.outcome : null
  return {
    ...job,
    ms: Date.now() - started,
    status: outcome ? 0 : (r.status ?? null),
    signal: r.signal ?? null,
    timedOut: !!r.timedOut,
    stderr: r.outcome?.driverError ?? r.stderr ?? '',
    outcome,
    log,
    scratch,
  }
}

/** One fresh process configured through the environment, as a reproduction runs. */
export function runFresh(ctx, job) {
  const scratch = fs.mkdtempSync(path.join(ctx.session[job.fs], 'run-'))
  const logFile = path.join(ctx.tmp, `log-${ctx.seq++}`)
  const env = { ...process.env, LD_PRELOAD: ctx.shim, COWCOPY_FAULT: job.spec, COWCOPY_FAULT_OUT: logFile, COWCOPY_FAULT_LIB: ctx.lib }
  delete env.NODE_OPTIONS
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [DRIVER, job.scenario, scratch], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: CHILD_TIMEOUT_MS })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('close', (status, signal) => {
      const line = stdout.split('\n').find((l) => l.startsWith(MARK))
      const log = parseLog(logFile)
      fs.rmSync(logFile, { force: true })
      fs.rmSync(scratch, { recursive: true, force: true })
      resolve({ ...job, status, signal, stderr, outcome: line ? JSON.parse(line.slice(MARK.length)) : null, log, scratch })
    })
  })
}

/** Runs fn(job, server) over the jobs on `servers` driver processes. */
export async function pool(jobs, servers, fn) {
  const results = new Array(jobs.length)
  let next = 0
  const worker = async (server) => {
    while (next < jobs.length) {
      const i = next++
      results[i] = await fn(jobs[i], server)
    }
  }
  await Promise.all(servers.map(worker))
  return results
}
