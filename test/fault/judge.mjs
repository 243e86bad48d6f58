// The fault-injection test's judge: given one run (the scenario, the fault,
// the driver's snapshots before and after, the shim's log), the violations
// of what the README promises after a failure. Used by
// test/failures/syscall-injection.test.mjs.
import * as os from 'node:os'
import * as path from 'node:path'
import { SCENARIOS } from './scenarios.mjs'
import { CHILD_TIMEOUT_MS } from './runner.mjs'

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
export const SERVER_ANSWERS = {
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

// Known open defects, each entry with its number (item): a violation
// matching an entry is reported as expected instead of failing. Remove an
// entry when its defect is fixed; the list is empty when none is open.
export const KNOWN = []

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

export function judge(run) {
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

export function knownItem(v) {
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
