// Fault injection at every syscall site (in the manner of SQLite's I/O-error
// tests and xfstests' dm-error): test/fault/shim.c, an LD_PRELOAD library
// built here, counts the libc calls the addon makes in one operation (a dry
// run), then fails each call site in turn with EIO, ENOSPC, EDQUOT, EINTR or
// a short transfer, each in a child process (test/fault/driver.mjs). After
// every run: an exact copy or a Node-style error with the injected errno;
// the source unchanged; nothing the call created left (temporary names
// included); a pre-existing destination intact where the README promises
// it; the same descriptors open; no crash, no hang. EINTR and short
// transfers must not show at all.
//
// Knobs: COWCOPY_FAULT_BUDGET=<runs>|all (default 3000 of about 8 400), COWCOPY_FAULT_SEED,
// COWCOPY_FAULT_JOBS (2), COWCOPY_FAULT_ONLY=<scenario regexp>,
// COWCOPY_FAULT_FS=<fs,...>. test/fault/README.md says how to replay one run.
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import * as fs from 'node:fs'
import { createRequire } from 'node:module'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { MARK, SCENARIOS } from '../fault/driver.mjs'
import { fsDir } from '../helpers.mjs'

const TEST_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const ROOT = path.dirname(TEST_DIR)
const DRIVER = path.join(TEST_DIR, 'fault', 'driver.mjs')
const SHIM_SRC = path.join(TEST_DIR, 'fault', 'shim.c')

const BUDGET_ENV = process.env.COWCOPY_FAULT_BUDGET || '3000'
const BUDGET = BUDGET_ENV === 'all' ? Infinity : Number(BUDGET_ENV)
const SEED = Number(process.env.COWCOPY_FAULT_SEED || 12)
const JOBS = Number(process.env.COWCOPY_FAULT_JOBS || 2)
const ONLY = process.env.COWCOPY_FAULT_ONLY ? new RegExp(process.env.COWCOPY_FAULT_ONLY) : null
const ONLY_FS = process.env.COWCOPY_FAULT_FS ? process.env.COWCOPY_FAULT_FS.split(',') : null
const CHILD_TIMEOUT_MS = 20000

// Calls that move a count the shim can halve ("short").
const TRANSFERS = new Set(['copy_file_range', 'sendfile', 'read', 'pread', 'write', 'pwrite', 'getdents64'])
const ERRNOS = ['EIO', 'ENOSPC', 'EDQUOT']
// Errnos that mean "this method is not available here": from that call on
// (`name:n+:errno`), the engine must fall back or fail with that errno.
const FALLBACK = {
  open: ['EOPNOTSUPP'],
  renameat2: ['EINVAL'],
}
// What filesystems that are not mounted here answer a clone or an in-kernel
// copy (the README's table of them): OpenZFS 2.2's block cloning says EAGAIN
// while the source has unsynced data, once or for a
// while; NFS 4.2, SMB3 and CephFS servers say EXDEV, EOPNOTSUPP or EINVAL,
// also after part of the file went over (a server restarting, two exports),
// and return short counts. Each is "go on with the next method": the run
// must end with an exact copy whose `method` is not the one that failed,
// unless the call asked for a clone and nothing else (`cloneOnly`), where it
// fails cleanly with that errno. `partial`: half of one transfer goes
// through, then the errno from the next call of that name on.
const SERVER_ANSWERS = {
  ioctl_ficlone: ['EAGAIN', 'EAGAIN+', 'EXDEV+', 'EOPNOTSUPP+', 'EINVAL+'],
  ioctl_ficlonerange: ['EAGAIN', 'EAGAIN+', 'EXDEV+', 'EOPNOTSUPP+', 'EINVAL+'],
  copy_file_range: ['EAGAIN', 'EAGAIN+', 'EXDEV+', 'EOPNOTSUPP+', 'EINVAL+', 'ENOSYS+', 'partial:EINVAL', 'partial:EXDEV'],
  sendfile: ['EAGAIN', 'EAGAIN+', 'EINVAL+', 'EOPNOTSUPP+', 'partial:EINVAL'],
}
// The method a call site belongs to, as a result names it. (A refused
// FICLONERANGE over a longer file may be followed by a whole-file FICLONE
// into the emptied file: still 'clone', and true.)
const METHOD_OF = { ioctl_ficlone: 'clone', copy_file_range: 'copy_file_range', sendfile: 'sendfile' }
const CLONE_SITES = new Set(['ioctl_ficlone', 'ioctl_ficlonerange'])

// The addon's imports that are not system-call sites, so the shim need not
// interpose them. Anything else the addon imports must be in shim.c: a new
// call site cannot slip past fault injection unnoticed.
const NOT_SYSCALL_SITES = new Set([
  '__cxa_allocate_exception', '__cxa_begin_catch', '__cxa_end_catch', '__cxa_finalize', '__cxa_free_exception',
  '__cxa_pure_virtual', '__cxa_rethrow', '__cxa_thread_atexit', '__cxa_throw', '__cxa_throw_bad_array_new_length',
  '__errno_location', '__gmon_start__', '__gxx_personality_v0', '__isoc99_sscanf', '__tls_get_addr',
  '_ITM_deregisterTMCloneTable', '_ITM_registerTMCloneTable', '_Unwind_Resume', '__stack_chk_fail',
  'clock_gettime', 'getpid', 'memchr', 'memcpy', 'memmove', 'memset', 'memcmp', 'strcmp', 'strlen', 'strncmp', 'snprintf',
  'pthread_join', 'pthread_mutex_lock', 'pthread_mutex_unlock', 'pthread_cond_wait', 'pthread_cond_timedwait', 'pthread_cond_signal',
  'pthread_cond_broadcast', 'pthread_once', 'pthread_self', 'pthread_key_create', 'pthread_getspecific',
  'pthread_setspecific', 'pthread_sigmask', 'sigemptyset', 'sigfillset', 'malloc', 'free', 'calloc', 'realloc',
  'abort', 'getuid', 'geteuid', 'getgid', 'getegid', 'getgroups', 'umask', 'sysconf',
  // stdio on the FILE from fopen (/proc/self/status): its reads are libc's own.
  'fgets', 'fclose', 'fread', 'fscanf', 'fileno',
])

// Known open defects, each entry with its number (item): a violation
// matching an entry is reported as expected instead of failing. Remove an
// entry when its defect is fixed; the list is empty when none is open.
const KNOWN = []

// Not defects: when the fault hits the cleanup itself (the unlink that
// removes a file the call created, or the fstat/fstatat that proves the name
// is still ours before unlinking it), the file cannot be removed. The call
// still reports its first error; the README says a failed cleanup can leave
// the file. Only created-left/temp-left at these sites are accepted.
const CLEANUP_SITES = /^(unlinkat|unlink|rmdir|fstat|fstatat)@(remove_if_ours|remove_if_same|remove_dir_if_ours|TempDest::discard|DirNode::discard|discard)/

// ---------------------------------------------------------------- helpers

function seeded(seed) {
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

function shuffle(list, rand) {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[list[i], list[j]] = [list[j], list[i]]
  }
  return list
}

function buildShim(dir) {
  const out = path.join(dir, 'shim.so')
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror', '-o', out, SHIM_SRC, '-ldl', '-lpthread'], {
    stdio: 'pipe',
  })
  return out
}

// The binary lib/native.ts loads: a build from source first, then the prebuild.
function addonPath() {
  const require = createRequire(import.meta.url)
  const ngb = require('node-gyp-build')
  try {
    return ngb.path(path.join(ROOT, 'src-native'))
  } catch {
    return ngb.path(ROOT)
  }
}

function dynSymbols(file, flag) {
  return execFileSync('nm', ['-D', flag, file], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/).pop())
    .filter(Boolean)
    .map((s) => s.replace(/@.*$/, ''))
}

/** The shim's log: counted calls (dry run), fired faults, totals at exit. */
function parseLog(file) {
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
class Server {
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
async function runJob(ctx, server, job) {
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
function runFresh(ctx, job) {
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
async function pool(jobs, servers, fn) {
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

// ---------------------------------------------------------------- judging

const errnoCodes = new Map(Object.entries(os.constants.errno))

/**
 * Why `e` is not a Node-style system error, or null. The code is the errno's
 * name (os.constants.errno); Node itself says UNKNOWN for errnos libuv has no
 * name for (EDQUOT), which is accepted too.
 */
function errorShape(e) {
  if (!e || typeof e !== 'object') return `not an error object: ${JSON.stringify(e)}`
  if (!Number.isInteger(e.errno) || e.errno >= 0) return `errno ${e.errno} is not a negative integer`
  const unknown = e.code === 'UNKNOWN' && e.message?.startsWith('UNKNOWN: unknown error')
  if (!unknown && (typeof e.code !== 'string' || errnoCodes.get(e.code) !== -e.errno)) {
    return `code ${JSON.stringify(e.code)} is not the name of errno ${e.errno}`
  }
  if (typeof e.syscall !== 'string' || !e.syscall) return `syscall ${JSON.stringify(e.syscall)}`
  if (typeof e.message !== 'string' || !e.message.startsWith(`${e.code}: `)) return `message ${JSON.stringify(e.message)}`
  if (!e.message.includes(`, ${e.syscall}`)) return `message does not name syscall '${e.syscall}': ${e.message}`
  if (e.path !== undefined && !e.message.includes(`'${e.path}'`)) return `message does not name path: ${e.message}`
  if (e.dest !== undefined && !e.message.includes(`-> '${e.dest}'`)) return `message does not name dest: ${e.message}`
  return null
}

const sameFile = (a, b) => a && b && a.type === b.type && a.hash === b.hash && a.mode === b.mode && a.target === b.target
const describe = (e) =>
  !e ? 'absent' : e.type === 'f' ? `file ${e.size} B mode ${e.mode.toString(8)}` : e.type === 'l' ? `symlink -> ${e.target}` : `${e.type} mode ${e.mode.toString(8)}`

/**
 * The invariants after one run: a list of { what, detail }. `primary` is the
 * fault under test (null for a dry run); base faults only steer the call onto
 * a fallback path and must not make it fail.
 */
// The README's own exceptions to "an existing destination is left as it
// was", each with the only outcome it allows:
// - reflink 'always' in place: once the kernel accepted the clone, a failed
//   later step (mode, metadata, the size fstat) leaves the new data, and a
//   second clone that fails after the probe leaves the file empty;
// - atomic + fsync: a failed directory sync after the rename leaves the new
//   file, and the error says "destination replaced".
function documentedWindow(run, now, error) {
  const src = run.outcome.before['src/f']
  const newData = now && src && now.type === 'f' && now.hash === src.hash
  if (run.scenario === 'copyFile-always-existing') {
    // Empty only when the whole-file FICLONE failed: over an existing file
    // the engine clones a named range (FICLONERANGE) and, for 'always', only
    // empties the file for a FICLONE after its probe clone worked.
    const laterClone = /^ioctl_ficlone:/.test(run.primary?.at ?? '')
    return newData || (laterClone && now?.type === 'f' && now.size === 0)
  }
  if (/^copyFile-atomic-fsync/.test(run.scenario)) return newData && /destination replaced/.test(error?.message ?? '')
  return false
}

function judge(run) {
  const v = []
  const add = (what, detail) => v.push({ what, detail })
  if (run.timedOut) return [{ what: 'hang', detail: `killed after ${CHILD_TIMEOUT_MS} ms` }]
  if (run.signal) return [{ what: 'crash', detail: `signal ${run.signal}: ${run.stderr.slice(-400)}` }]
  if (run.status !== 0 || !run.outcome) return [{ what: 'crash', detail: `exit ${run.status}: ${run.stderr.slice(-400)}` }]
  const sc = SCENARIOS[run.scenario]
  const { before, after, ok, error, result, meta } = run.outcome
  const primaryFired = run.primary ? run.log.fired.filter((f) => `${f.name}:${f.ord}` === run.primary.at || run.primary.dead) : []
  const fired = primaryFired.length > 0
  const kind = run.primary?.kind
  // What the call should have done: succeed exactly (no fault, or one that
  // must be invisible), or fail/succeed with the injected errno.
  // A server's answer (SERVER_ANSWERS) hands the file to the next method;
  // only a clone-only call has none, and fails with it.
  const server = run.primary?.server
  const nextMethod = server && !(CLONE_SITES.has(server) && sc.cloneOnly)
  const mustSucceed = !fired || kind === 'EINTR' || kind === 'short' || !!nextMethod
  const injected = fired && kind !== 'EINTR' && kind !== 'short' && (kind !== 'EAGAIN' || server) ? kind : null
  const dead = !!run.primary?.dead

  if (run.outcome.fdsAfter !== run.outcome.fdsBefore) {
    add('fd-leak', `${run.outcome.fdsBefore} descriptors open before, ${run.outcome.fdsAfter} after`)
  }
  // The source (and a dedupe's targets) never change.
  for (const [rel, e] of Object.entries(before)) {
    if (!rel.startsWith('src/') && !(sc.kind === 'dedupe' && rel.startsWith('out/'))) continue
    if (e.type === 'd') continue
    if (!sameFile(e, after[rel])) add('source-changed', `${rel}: ${describe(e)} became ${describe(after[rel])}`)
  }
  for (const rel of Object.keys(after)) {
    if (/\.cowcopy-/.test(path.basename(rel)) && !dead) add('temp-left', rel)
  }
  const checkErr = (e, where) => {
    const shape = errorShape(e)
    if (shape) add('bad-error', `${where}: ${shape}`)
    if (injected && e?.errno !== -errnoCodes.get(injected)) add('errno-lost', `${where}: ${e?.code} (${e?.message}) where ${injected} was injected`)
    if (mustSucceed) add(kind === 'short' ? 'short-not-looped' : kind === 'EINTR' ? 'eintr-not-retried' : 'failed-without-fault', `${where}: ${e?.code}: ${e?.message}`)
  }
  // The answer the call gives anyway (EEXIST for overwrite: false, ENOTSUP for a clone on ext4).
  const expectCode = typeof sc.expectCode === 'object' ? sc.expectCode[run.fs] : sc.expectCode
  if (!ok) {
    if (!expectCode || error?.code !== expectCode) checkErr(error, 'the call')
  } else if (expectCode) {
    add('not-exact', `succeeded, but ${expectCode} was expected: ${JSON.stringify(result)}`)
  }
  // Entries the call may have made: each kind says which; any other new one is left over.
  const outputs = new Set()
  const judgeNew = (rel, expected) => {
    const now = after[rel]
    const was = before[rel]
    outputs.add(rel)
    if (expected === 'copy') {
      if (!now) add('not-exact', `${rel} is missing after success`)
      else if (!sameFile(now, expected === 'copy' && expectedOf(rel))) {
        add('not-exact', `${rel}: ${describe(now)} (${now.hash?.slice(0, 8)}), expected ${describe(expectedOf(rel))} (${expectedOf(rel)?.hash?.slice(0, 8)})`)
      }
    } else if (was) {
      // A failure over an existing entry: never deleted; intact where promised.
      if (!now) add('existing-deleted', `${rel}: ${describe(was)} is gone`)
      else if (expected === 'intact' && !sameFile(was, now) && !documentedWindow(run, now, error)) {
        add('existing-not-intact', `${rel}: ${describe(was)} became ${describe(now)}`)
      }
    } else if (now && !dead) {
      add('created-left', `${rel}: ${describe(now)} left after the failure`)
    }
  }
  let expectedOf = () => null

  if (sc.kind === 'file' || sc.kind === 'range') {
    // (expectCode is per filesystem for some scenarios)
    const src = before['src/f']
    if (sc.kind === 'file') expectedOf = () => src
    else expectedOf = () => ({ ...(after['out/f'] ?? {}), type: 'f', hash: meta.expect })
    if (ok && !expectCode) {
      judgeNew('out/f', 'copy')
      if (sc.kind === 'file' && result.bytes !== src.size) add('not-exact', `result.bytes ${result.bytes}, source ${src.size}`)
      if (sc.kind === 'file' && fired && server && METHOD_OF[server] && result.method === METHOD_OF[server]) {
        add('method-untrue', `${server} failed with ${kind}, yet the result says method '${result.method}'`)
      }
      if (sc.preserve) {
        if (after['out/f']?.mtime !== src.mtime) add('not-exact', `mtime ${after['out/f']?.mtime} vs source ${src.mtime}`)
        if (!meta.destXattrs?.some((l) => l.startsWith('user.cowcopy='))) add('not-exact', `xattr user.cowcopy missing: ${meta.destXattrs}`)
      }
    } else {
      judgeNew('out/f', sc.keepExisting ? 'intact' : 'kept')
    }
  } else if (sc.kind === 'files') {
    // Directories an import makes stay when it resolved (with or without errors).
    if (ok) for (const d of sc.dirs ?? []) outputs.add(d)
    const failed = new Map()
    if (ok) {
      for (const e of result.errors) {
        const rel = path.relative(run.scratch, e.dest)
        failed.set(rel, e)
        checkErr(e.error, `pair ${rel}`)
      }
    }
    for (const [s, d] of sc.pairs) {
      expectedOf = () => before[s]
      if (ok && !failed.has(d)) judgeNew(d, 'copy')
      else judgeNew(d, 'intact')
    }
  } else if (sc.kind === 'tree') {
    judgeTree(run, add, outputs, checkErr, dead)
  } else if (sc.kind === 'dedupe' && ok) {
    const want = ['same', 'differs', 'same']
    result.forEach((r, i) => {
      if (r.status === 'error') checkErr(r.error, `target ${i}`)
      else if (r.status !== want[i]) add('not-exact', `target ${i}: ${r.status}, expected ${want[i]}`)
      else if (r.status === 'same' && r.bytesDeduped !== 256 << 10) add('not-exact', `target ${i}: ${r.bytesDeduped} bytes deduped`)
    })
    for (const r of Object.keys(before)) outputs.add(r)
  } else if (sc.kind === 'probe' && ok) {
    if (typeof result.fsType !== 'string' || typeof result.clone !== 'boolean') add('not-exact', JSON.stringify(result))
  }
  for (const rel of Object.keys(after)) {
    if (before[rel] || outputs.has(rel) || dead) continue
    if (/\.cowcopy-/.test(path.basename(rel))) continue // reported as temp-left
    add('created-left', `${rel}: ${describe(after[rel])}`)
  }
  return v
}

// copyDir: every destination entry is an exact copy of its source entry, or
// was there before and is unchanged; failures are listed with the fault's errno.
function judgeTree(run, add, outputs, checkErr, dead) {
  const { before, after, ok, result } = run.outcome
  const SRC = 'src/tree'
  const DST = 'out/tree'
  const failed = []
  if (ok) {
    for (const e of result.errors) {
      failed.push(path.relative(path.join(run.scratch, SRC), e.src))
      checkErr(e.error, `entry ${path.relative(run.scratch, e.src)}`)
    }
  }
  const covered = (rel) => failed.some((f) => f === '' || rel === f || rel.startsWith(`${f}/`))
  const rels = new Set()
  for (const r of [...Object.keys(before), ...Object.keys(after)]) {
    if (r.startsWith(`${SRC}/`)) rels.add(r.slice(SRC.length + 1))
    if (r.startsWith(`${DST}/`)) rels.add(r.slice(DST.length + 1))
  }
  outputs.add(DST)
  if (!before[DST] && after[DST] && !ok && !dead) {
    // The call failed as a whole: what it made of the root must be gone.
    add('created-left', `${DST}: ${describe(after[DST])} left after the call failed`)
  }
  if (ok && before[DST] === undefined && after[DST] && !covered('') && after[DST].mode !== before[SRC].mode) {
    add('not-exact', `${DST}: mode ${after[DST].mode.toString(8)}, source ${before[SRC].mode.toString(8)}`)
  }
  if (before[DST] && after[DST] && before[DST].mode !== after[DST].mode) {
    add('existing-not-intact', `${DST}: existing directory's mode ${before[DST].mode.toString(8)} became ${after[DST].mode.toString(8)}`)
  }
  for (const rel of [...rels].sort()) {
    const s = before[`${SRC}/${rel}`]
    const was = before[`${DST}/${rel}`]
    const now = after[`${DST}/${rel}`]
    const d = `${DST}/${rel}`
    outputs.add(d)
    if (s?.type === 'p') {
      if (now && !was) add('created-left', `${d}: a FIFO's copy ${describe(now)}`)
      continue
    }
    if (now && !was && s && s.type !== 'd' && failed.includes(rel) && !dead) {
      // Listed as failed, so not copied: nothing of it may be left (a file is removed; so must a symlink be).
      add('created-left', `${d}: ${describe(now)} left though listed as failed`)
      continue
    }
    const exact = now && s && now.type === s.type && (s.type === 'd' || sameFile(now, s))
    const exactDir = exact && s.type === 'd' && (now.mode === s.mode || (was && now.mode === was.mode))
    if (exact && (s.type !== 'd' || exactDir)) continue
    if (was && now && sameFile(was, now) && (was.type !== 'd' || was.mode === now.mode)) {
      // Untouched. Fine if the source has nothing here, or it failed, or overwrite is off.
      if (!s || covered(rel) || !ok) continue
      add('not-exact', `${d}: still ${describe(was)} though the source has ${describe(s)} and no error names it`)
      continue
    }
    if (was && !now) {
      add('existing-deleted', `${d}: ${describe(was)} is gone`)
      continue
    }
    if (was && now) {
      if (was.type === 'd' && now.type === 'd' && was.mode !== now.mode) {
        add('existing-not-intact', `${d}: existing directory's mode ${was.mode.toString(8)} became ${now.mode.toString(8)}`)
      } else {
        add('existing-not-intact', `${d}: ${describe(was)} became ${describe(now)}${covered(rel) ? ' (listed as failed)' : ''}`)
      }
      continue
    }
    // New entry.
    if (!now) {
      if (ok && s && !covered(rel)) add('not-exact', `${d}: missing, and no error names it`)
      continue
    }
    if (s && s.type === 'd' && now.type === 'd') {
      if (!covered(rel)) add('not-exact', `${d}: directory mode ${now.mode.toString(8)}, source ${s.mode.toString(8)}, and no error names it`)
      continue
    }
    if (!dead) add(covered(rel) ? 'created-left' : 'not-exact', `${d}: ${describe(now)} vs source ${describe(s)}`)
  }
}

function knownItem(v) {
  const k = KNOWN.find(
    (k) =>
      (k.what instanceof RegExp ? k.what.test(v.what) : k.what === v.what) &&
      (!k.scenario || k.scenario.test(v.scenario)) &&
      (!k.site || k.site.test(v.site)) &&
      (!k.detail || k.detail.test(v.detail)) &&
      (!k.fault || k.fault.test(v.spec)),
  )
  return k ? k.item : null
}

// ---------------------------------------------------------------- the test

t.test('the judge catches each kind of violation', async (t) => {
  // Synthetic outcomes of copyFile-always-existing: the rules, not the engine.
  const dir = { type: 'd', mode: 0o755 }
  const src = { type: 'f', mode: 0o754, size: 10, hash: 'aaaa' }
  const old = { type: 'f', mode: 0o600, size: 20, hash: 'bbbb' }
  const before = { src: dir, 'src/f': src, out: dir, 'out/f': old }
  const err = (code, errno) => ({ code, errno, syscall: 'copyfile', message: `${code}: x, copyfile 'a' -> 'b'`, path: 'a', dest: 'b' })
  const run = (over, outcome = {}) => ({
    scenario: 'copyFile-always-existing', fs: 'xfs', status: 0, signal: null, timedOut: false, stderr: '',
    primary: { at: 'ioctl_ficlone:1', kind: 'EIO' },
    log: { fired: [{ name: 'ioctl_ficlone', ord: 1 }] },
    ...over,
    outcome: { before, after: { ...before }, ok: false, error: err('EIO', -5), fdsBefore: 20, fdsAfter: 20, meta: {}, ...outcome },
  })
  const whats = (r) => judge(r).map((v) => v.what).sort()
  t.same(whats(run({})), [], 'a clean failure')
  t.same(whats(run({}, { ok: true, error: undefined, result: { method: 'clone', bytes: 10 }, after: { ...before, 'out/f': src } })), [], 'an exact copy')
  t.same(whats(run({}, { ok: true, error: undefined, result: { method: 'clone', bytes: 10 }, after: { ...before, 'out/f': { ...src, hash: 'cccc' } } })), ['not-exact'])
  t.same(whats(run({ primary: { at: 'ioctl_ficlonerange:1', kind: 'EIO' }, log: { fired: [{ name: 'ioctl_ficlonerange', ord: 1 }] } }, { after: { ...before, 'out/f': { ...old, size: 0, hash: 'e3b0' } } })), ['existing-not-intact'])
  t.same(whats(run({}, { after: { ...before, 'out/f': { ...old, size: 20, hash: 'ffff' } } })), ['existing-not-intact'], 'neither old, new nor the documented empty file')
  t.same(whats(run({}, { after: { src: dir, 'src/f': src, out: dir } })), ['existing-deleted'])
  t.same(whats(run({}, { error: err('ENOSPC', -28) })), ['errno-lost'])
  t.same(whats(run({}, { error: { ...err('EIO', -5), message: 'i/o error' } })), ['bad-error'])
  t.same(whats(run({ primary: { at: 'ioctl_ficlone:1', kind: 'EINTR' } }, { error: err('EINTR', -4) })), ['eintr-not-retried'])
  t.same(whats(run({}, { fdsAfter: 21 })), ['fd-leak'])
  t.same(whats(run({}, { after: { ...before, 'out/.f.cowcopy-0123456789ab': old } })), ['temp-left'])
  t.same(whats(run({}, { after: { ...before, 'src/f': { ...src, hash: 'dddd' } } })), ['source-changed'])
  t.same(whats(run({ timedOut: true })), ['hang'])
  t.same(whats(run({ signal: 'SIGSEGV', outcome: null })), ['crash'])
})

t.test('fault injection at every syscall site', async (t) => {
  const missing = ['btrfs', 'xfs', 'ext4', 'tmpfs'].filter((f) => !fsDir(f).dir)
  if (missing.length) {
    if (process.env.CI) t.fail(`CI needs the ${missing.join(', ')} mounts`)
    else t.skip(`missing mounts: ${missing.join(', ')}`)
    return
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-fault-'))
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }))
  let shim
  try {
    shim = buildShim(tmp)
  } catch (err) {
    t.fail(`cannot build the shim: ${err.stderr || err.message}`)
    return
  }
  const addon = addonPath()
  // One directory per filesystem for this session, with a FIFO the runs link.
  const session = {}
  for (const f of ['btrfs', 'xfs', 'ext4', 'tmpfs']) {
    session[f] = fs.mkdtempSync(path.join(fsDir(f).dir, 'fault-'))
    execFileSync('mkfifo', [path.join(session[f], 'fifo')])
  }
  t.teardown(() => Object.values(session).forEach((d) => fs.rmSync(d, { recursive: true, force: true })))
  // The shim recognises the addon's calls by its file name: the one that
  // loads (a build from source, or a prebuild such as cowcopy.glibc.node).
  const ctx = { shim, tmp, seq: 0, session, lib: path.basename(addon) }
  const servers = Array.from({ length: JOBS }, () => new Server(ctx))
  t.teardown(() => servers.forEach((s) => s.stop()))
  const startedAt = Date.now()

  t.test('the shim interposes every system call the addon imports', async (t) => {
    const imports = dynSymbols(addon, '--undefined-only').filter((s) => !s.startsWith('napi_') && !/^_Z/.test(s))
    const interposed = new Set(dynSymbols(shim, '--defined-only'))
    const uncovered = imports.filter((s) => !interposed.has(s) && !NOT_SYSCALL_SITES.has(s))
    t.same(uncovered, [], `imports of ${path.relative(ROOT, addon)} neither interposed by shim.c nor listed as no syscall site`)
  })

  t.test('OpenZFS\'s EAGAIN: the next method copies, and a batch does not remember it', async (t) => {
    // copy_file_range says EAGAIN on every call (ext4: no clone first): the
    // copy goes on by sendfile, and the message of a real would-block file
    // is not given for a regular one.
    const one = await runFresh(ctx, { scenario: 'copyFile-auto-new', fs: 'ext4', spec: 'copy_file_range:1+:EAGAIN' })
    t.equal(one.outcome?.ok, true, one.outcome?.error?.message)
    t.equal(one.outcome?.result?.method, 'sendfile')
    t.equal(one.outcome?.after['out/f']?.hash, one.outcome?.before['src/f']?.hash, 'an exact copy')
    // The first clone of a batch says EAGAIN once: that file is copied, the
    // others are still cloned. EOPNOTSUPP, the same way, is the filesystem's
    // answer for the device pair: remembered, so no later file tries.
    const passing = await runFresh(ctx, { scenario: 'copyFiles', fs: 'btrfs', spec: 'ioctl_ficlone:1:EAGAIN' })
    t.same(passing.outcome?.result?.errors, [])
    t.match(passing.outcome?.result?.methods, { clone: 2, copy_file_range: 1 }, 'EAGAIN: one file copied, two cloned')
    const remembered = await runFresh(ctx, { scenario: 'copyFiles', fs: 'btrfs', spec: 'ioctl_ficlone:1:EOPNOTSUPP' })
    t.match(remembered.outcome?.result?.methods, { clone: 0, copy_file_range: 3 }, 'EOPNOTSUPP: remembered for the device pair')
    // reflink 'always' has no next method: EAGAIN is the answer, and it says why.
    const always = await runFresh(ctx, { scenario: 'copyFile-always-new', fs: 'xfs', spec: 'ioctl_ficlone:1:EAGAIN' })
    t.equal(always.outcome?.error?.code, 'EAGAIN')
    t.match(always.outcome?.error?.message, /cannot share these extents now/)
    t.notOk(always.outcome?.after['out/f'], 'nothing left')
  })

  t.test('the shim sees only the addon: Node\'s own calls pass', async (t) => {
    // A fault on every call, from the first: Node still starts, reads the
    // driver and writes the snapshots; only the addon's call fails.
    const run = await runFresh(ctx, { scenario: 'copyFile-auto-new', fs: 'tmpfs', spec: '*:1+:EIO' })
    t.equal(run.status, 0, `the driver ran (stderr: ${run.stderr.slice(-300)})`)
    t.equal(run.outcome?.ok, false)
    t.equal(run.outcome?.error?.code, 'EIO')
    t.ok(run.log.fired.length >= 1 && run.log.fired.every((f) => f.name === 'openat'), JSON.stringify(run.log.fired))
  })

  // Dry runs: the call sites of each scenario on each filesystem.
  const combos = []
  for (const [scenario, sc] of Object.entries(SCENARIOS)) {
    if (ONLY && !ONLY.test(scenario)) continue
    for (const f of sc.fs) {
      if (!ONLY_FS || ONLY_FS.includes(f)) combos.push({ scenario, fs: f, spec: sc.base ? `count,${sc.base}` : 'count' })
    }
  }
  // A base fault is injected in the dry run too: its calls are the ones to fail.
  const dry = await pool(combos, servers, async (job, server) => {
    const run = await runJob(ctx, server, job)
    return { ...run, calls: run.log.calls }
  })

  // Symbolize call sites: offset -> the addon's function.
  const offs = [...new Set(dry.flatMap((d) => d.calls.map((c) => c.off)))]
  const fnOf = new Map()
  if (offs.length) {
    const lines = execFileSync('addr2line', ['-f', '-C', '-e', addon, ...offs.map((o) => '0x' + (parseInt(o, 16) - 1).toString(16))], {
      encoding: 'utf8',
    }).split('\n')
    offs.forEach((o, i) => fnOf.set(o, (lines[2 * i] || '?').replace(/\(.*$/, '').replace(/^cowcopy::/, '')))
  }
  const siteOf = (c) => `${c.name}@${fnOf.get(c.off) || '?'}+${c.off}`

  const violations = []
  let cleanupFailed = 0
  const record = (run, list) => {
    for (const v of list) {
      const full = { ...v, scenario: run.scenario, fs: run.fs, spec: run.spec, site: run.site || '-' }
      full.item = knownItem(full)
      if (!full.item && /^(created|temp)-left$/.test(full.what) && CLEANUP_SITES.test(full.site)) {
        cleanupFailed += 1
        continue
      }
      violations.push(full)
    }
  }
  for (const d of dry) {
    // The dry run (with any base fault) must succeed exactly.
    record({ ...d, site: 'dry run' }, judge({ ...d, primary: null }))
  }

  // Every (call, fault) instance; the first of each (site, fault) is always
  // run, the rest sampled with a fixed seed up to the budget.
  const jobs = []
  for (const d of dry) {
    const sc = SCENARIOS[d.scenario]
    const baseAt = sc.base ? sc.base.split(',').map((b) => b.split(':').slice(0, 2).join(':')) : []
    for (const c of d.calls) {
      const at = `${c.name}:${c.ord}`
      if (baseAt.includes(at)) continue
      const kinds = c.name === 'pthread_create' ? ['EAGAIN'] : [...ERRNOS]
      if (c.name !== 'close' && c.name !== 'pthread_create') kinds.push('EINTR')
      if (TRANSFERS.has(c.name) && c.num >= (c.name === 'getdents64' ? 2048 : 2)) kinds.push('short')
      // open: only the O_TMPFILE open has a fallback (num is the flags).
      const fallback = c.name === 'open' && !(c.num & 0o20000000) ? [] : (FALLBACK[c.name] ?? [])
      kinds.push(...fallback)
      const push = (spec, primary, label) =>
        jobs.push({
          scenario: d.scenario, fs: d.fs, spec: sc.base ? `${sc.base},${spec}` : spec,
          site: siteOf(c), primary, key: `${siteOf(c)}/${label}`,
        })
      for (const kind of kinds) push(fallback.includes(kind) ? `${at}+:${kind}` : `${at}:${kind}`, { at, kind }, kind)
      for (const answer of SERVER_ANSWERS[c.name] ?? []) {
        const primary = { at, server: c.name }
        if (answer.startsWith('partial:')) {
          // Half of this transfer, then the errno from the next call on.
          if (!TRANSFERS.has(c.name) || c.num < 2) continue
          const kind = answer.slice('partial:'.length)
          push(`${at}:short,${c.name}:${c.ord + 1}+:${kind}`, { ...primary, kind, at: `${c.name}:${c.ord + 1}` }, answer)
        } else {
          const kind = answer.replace(/\+$/, '')
          push(answer.endsWith('+') ? `${at}+:${kind}` : `${at}:${kind}`, { ...primary, kind }, answer)
        }
      }
    }
    // dm-error: from one call on, every call fails (cleanup too).
    if (d.calls.length > 1) {
      const n = 1 + Math.floor(seeded(SEED + jobs.length)() * d.calls.length)
      jobs.push({ scenario: d.scenario, fs: d.fs, spec: `*:${n}+:EIO`, site: `every call from #${n}`, primary: { at: '*', kind: 'EIO', dead: true }, key: `dead/${d.scenario}` })
    }
  }
  const rand = seeded(SEED)
  const firstOfKey = new Map()
  const rest = []
  for (const j of jobs) {
    if (!firstOfKey.has(j.key)) firstOfKey.set(j.key, j)
    else rest.push(j)
  }
  let chosen = shuffle([...firstOfKey.values()], rand)
  if (chosen.length > BUDGET) chosen = chosen.slice(0, BUDGET)
  chosen = chosen.concat(shuffle(rest, rand).slice(0, Math.max(0, BUDGET - chosen.length)))

  const runs = await pool(chosen, servers, async (job, server) => {
    const run = await runJob(ctx, server, job)
    record(run, judge(run))
    const primary = run.log.fired.some((f) => job.primary.dead || `${f.name}:${f.ord}` === job.primary.at)
    return { fired: primary, ms: run.ms }
  })
  const fired = runs.filter((r) => r.fired).length

  // The report: sites per scenario, faults injected and fired, violations.
  const sites = new Map()
  for (const d of dry) {
    const s = sites.get(d.scenario) ?? { calls: {}, code: new Set() }
    s.calls[d.fs] = d.calls.length
    for (const c of d.calls) s.code.add(siteOf(c).replace(/\+.*/, ''))
    sites.set(d.scenario, s)
  }
  t.comment(`call sites per scenario (calls per filesystem; distinct call sites in the code):`)
  for (const [name, s] of sites) t.comment(`  ${name}: ${Object.entries(s.calls).map(([f, n]) => `${f} ${n}`).join(', ')}; ${s.code.size} sites`)
  t.comment(
    `${jobs.length} (call, fault) instances, ${firstOfKey.size} distinct (site, fault); ran ${chosen.length} ` +
      `(budget ${BUDGET_ENV}, seed ${SEED}): ${fired} faults fired, ${chosen.length - fired} did not; ` +
      `${dry.length} dry runs; ${((Date.now() - startedAt) / 1000).toFixed(1)} s`,
  )

  if (process.env.COWCOPY_FAULT_REPORT) fs.writeFileSync(process.env.COWCOPY_FAULT_REPORT, JSON.stringify(violations, null, 1))

  // One assertion per kind of violation: (what, call site), or for a wrong
  // error shape the shape itself; each with how often, where, and one example.
  const groups = new Map()
  for (const v of violations) {
    const site = v.site.replace(/\+0x[0-9a-f]+$/, '')
    const key = v.what === 'bad-error' ? `${v.what}|${v.detail.replace(/^[^:]*: /, '')}|${v.item}` : `${v.what}|${site}|${v.item}`
    const g = groups.get(key) ?? { ...v, site, n: 0, fss: new Set(), faults: new Set(), scenarios: new Set(), sites: new Set() }
    g.n++
    g.sites.add(site)
    if (g.sites.size > 1) g.site = `${g.sites.size} call sites`
    g.fss.add(v.fs)
    g.scenarios.add(v.scenario)
    g.faults.add(v.spec.replace(/^.*,/, '').replace(/^[^:]+:\d+\+?:/, ''))
    groups.set(key, g)
  }
  t.test('invariants after every injected fault', async (t) => {
    const list = [...groups.values()].sort((a, b) => (a.item ?? 0) - (b.item ?? 0) || a.what.localeCompare(b.what))
    for (const g of list) {
      const repro =
        `COWCOPY_FAULT='${g.spec}' COWCOPY_FAULT_OUT=/tmp/fault.log COWCOPY_FAULT_LIB=${ctx.lib} LD_PRELOAD=/tmp/shim.so ` +
        `node test/fault/driver.mjs ${g.scenario} $(mktemp -d ${fsDir(g.fs).dir}/f-XXXX)`
      const msg =
        `${g.what} at ${g.site} (${g.n}x: ${[...g.scenarios].join(' ')}; ${[...g.fss].join(' ')}; ${[...g.faults].join(' ')}): ` +
        `e.g. ${g.scenario} on ${g.fs} with ${g.spec}: ${g.detail}`
      if (g.item) t.comment(`expected (known defect ${g.item}): ${msg}`)
      else t.fail(msg, { repro })
    }
    const known = violations.filter((v) => v.item).length
    t.pass(`${violations.length - known} unexpected violations, ${known} known (listed in KNOWN), ${cleanupFailed} files left because the fault hit their cleanup`)
  })
})
