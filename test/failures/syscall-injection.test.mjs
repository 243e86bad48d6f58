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
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { SCENARIOS } from '../fault/scenarios.mjs'
import { judge, knownItem, KNOWN, SERVER_ANSWERS } from '../fault/judge.mjs'
import { addonPath, buildShim, dynSymbols, pool, ROOT, runFresh, runJob, seeded, Server, shuffle } from '../fault/runner.mjs'
import { fsDir } from '../helpers.mjs'

const BUDGET_ENV = process.env.COWCOPY_FAULT_BUDGET || '3000'
const BUDGET = BUDGET_ENV === 'all' ? Infinity : Number(BUDGET_ENV)
const SEED = Number(process.env.COWCOPY_FAULT_SEED || 12)
const JOBS = Number(process.env.COWCOPY_FAULT_JOBS || 2)
const ONLY = process.env.COWCOPY_FAULT_ONLY ? new RegExp(process.env.COWCOPY_FAULT_ONLY) : null
const ONLY_FS = process.env.COWCOPY_FAULT_FS ? process.env.COWCOPY_FAULT_FS.split(',') : null

// Calls that move a count the shim can halve ("short").
const TRANSFERS = new Set(['copy_file_range', 'sendfile', 'read', 'pread', 'write', 'pwrite', 'getdents64'])
const ERRNOS = ['EIO', 'ENOSPC', 'EDQUOT']
// Errnos that mean "this method is not available here": from that call on
// (`name:n+:errno`), the engine must fall back or fail with that errno.
const FALLBACK = {
  open: ['EOPNOTSUPP'],
  renameat2: ['EINVAL'],
}

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

// Not defects: when the fault hits the cleanup itself (the unlink that
// removes a file the call created, or the fstat/fstatat that proves the name
// is still ours before unlinking it), the file cannot be removed. The call
// still reports its first error; the README says a failed cleanup can leave
// the file. Only created-left/temp-left at these sites are accepted.
const CLEANUP_SITES = /^(unlinkat|unlink|rmdir|fstat|fstatat)@(remove_if_ours|remove_if_same|remove_dir_if_ours|TempDest::discard|DirNode::discard|discard)/

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
