// What the race tests (race-*.test.mjs) share: the racer (test/race/racer.c,
// built once per file, run as another user with setpriv), the copier in its own
// process (test/race/copier.mjs), raceCase (a case on a test filesystem) and
// common (the assertions every case makes: no crash, no hang, Node-style errors).
//
// KNOWN_OPEN: numbers of the race cases whose defect is known and open;
// their assertions are `todo` (reported, not failing). COWCOPY_RACE_KNOWN_OPEN='' runs them
// as real failures. COWCOPY_RACE_SCALE multiplies every time budget (S).
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { fsDir } from '../helpers.mjs'

const KNOWN_OPEN = (process.env.COWCOPY_RACE_KNOWN_OPEN ?? '')
  .split(',')
  .filter(Boolean)
  .map(Number)
const todo = (item) => (KNOWN_OPEN.includes(item) ? `known defect ${item} is open (KNOWN_OPEN in test/security/race-harness.mjs)` : false)

const SCALE = Number(process.env.COWCOPY_RACE_SCALE ?? 1)
const testDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const COPIER = path.join(testDir, 'race', 'copier.mjs')
const ROOT = 0
const NOBODY = 65534
const OTHER = 65533 // the racer when the copier itself is unprivileged

function have(cmd, args) {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const missing = process.getuid() !== 0
  ? 'the race tests run as root (they switch users with setpriv)'
  : !have('setpriv', ['--version'])
    ? 'no setpriv (util-linux)'
    : !have('gcc', ['--version'])
      ? 'no gcc to build test/race/racer.c'
      : null

// The racer, built once.
let RACER = null
if (!missing) {
  const buildDir = fs.mkdtempSync('/tmp/cowcopy-racer-')
  t.teardown(() => fs.rmSync(buildDir, { recursive: true, force: true }))
  RACER = path.join(buildDir, 'racer')
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-o', RACER, path.join(testDir, 'race', 'racer.c')])
  fs.chmodSync(buildDir, 0o755)
}

const asUser = (uid) => ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups']

function chownTree(p, uid) {
  fs.lchownSync(p, uid, uid)
  if (fs.lstatSync(p).isDirectory()) for (const e of fs.readdirSync(p)) chownTree(path.join(p, e), uid)
}

function writeFile(p, bytes, mode, uid) {
  fs.writeFileSync(p, bytes)
  fs.chmodSync(p, mode)
  fs.chownSync(p, uid, uid)
}

function mkdir(p, mode, uid) {
  fs.mkdirSync(p)
  fs.chmodSync(p, mode)
  fs.chownSync(p, uid, uid)
}

/** Everything about a path that a write, chmod, chown or new entry would change (not atime). */
function snapshot(p) {
  const st = fs.lstatSync(p, { bigint: true })
  const s = { mode: st.mode.toString(8), uid: Number(st.uid), gid: Number(st.gid), size: Number(st.size),
    mtime: st.mtimeNs.toString(), ctime: st.ctimeNs.toString(), ino: st.ino.toString() }
  if (st.isFile()) s.content = fs.readFileSync(p).toString('base64')
  else if (st.isSymbolicLink()) s.target = fs.readlinkSync(p)
  else if (st.isDirectory()) {
    s.entries = {}
    for (const e of fs.readdirSync(p).sort()) s.entries[e] = snapshot(path.join(p, e))
  }
  return s
}

/** Regular files under dir (no symlink followed) holding a secret's bytes; once nothing races. */
function findSecrets(dir, secrets) {
  const found = []
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile() && secrets.some((s) => fs.readFileSync(p).includes(s))) found.push(p)
    }
  }
  walk(dir)
  return found
}

/** Starts the racer as `uid`; resolves once it runs. stop() ends it and gives its counts. */
async function startRacer(uid, seconds, ops) {
  const child = spawn(asUser(uid)[0], [...asUser(uid).slice(1), RACER, String(seconds + 60), ...ops], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => (err += d))
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)))
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('ready\n')) resolve()
    })
    exited.then((code) => reject(new Error(`racer exited (${code}) before starting: ${err}`)))
  })
  return {
    async stop() {
      child.kill('SIGTERM')
      const code = await exited
      const counts = out
        .split('\n')
        .filter((l) => /^[xrt] /.test(l))
        .map((l) => {
          const [kind, index, attempts, ok] = l.split(' ')
          return { op: `${kind}${index}`, attempts: Number(attempts), ok: Number(ok) }
        })
      return { code, counts, stderr: err }
    },
  }
}

/** Runs the copier as `uid` with `job`; resolves with its summary. */
function runCopier(uid, scratch, job) {
  const jobFile = path.join(scratch, `job-${randomBytes(4).toString('hex')}.json`)
  fs.writeFileSync(jobFile, JSON.stringify(job))
  fs.chmodSync(jobFile, 0o644)
  const cmd = uid === ROOT ? [process.execPath, COPIER, jobFile] : [...asUser(uid), process.execPath, COPIER, jobFile]
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    // The copier stops itself after job.seconds; past this it is stuck.
    const killer = setTimeout(() => child.kill('SIGKILL'), (job.seconds + 60) * 1000)
    child.on('exit', (code, signal) => {
      clearTimeout(killer)
      const line = out.trim().split('\n').pop()
      try {
        resolve({ ...JSON.parse(line), exit: code, signal, stderr: err })
      } catch {
        resolve({ iterations: 0, crashed: `exit ${code} ${signal}: ${out.slice(-2000)} ${err.slice(-2000)}` })
      }
    })
  })
}

/** Runs the copier as `copierUid` with `job` while the racer as `racerUid` runs `ops`: { summary, counts }. */
async function copyWhileRacing(scratch, racerUid, ops, copierUid, job) {
  const racer = await startRacer(racerUid, job.seconds, ops)
  let summary
  let counts
  try {
    summary = await runCopier(copierUid, scratch, job)
  } finally {
    counts = await racer.stop()
  }
  return { summary, counts }
}

/** A case on a test filesystem: scratch traversable by every user, removed afterwards. */
function raceCase(name, fsName, title, fn) {
  const { dir, reason } = fsDir(fsName)
  if (!dir) {
    if (process.env.CI) return t.test(`${fsName}: ${title}`, (tt) => tt.fail(`CI needs the ${fsName} mount: ${reason}`))
    return t.test(`${fsName}: ${title}`, { skip: reason }, () => {})
  }
  return t.test(`${fsName}: ${title}`, async (tt) => {
    const scratch = fs.mkdtempSync(path.join(dir, `cc-race-${name}-`))
    fs.chmodSync(scratch, 0o755)
    tt.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }))
    await fn(tt, scratch)
  })
}

/** The assertions every case shares; prints iterations and racer counts. */
function common(t, summary, racer, what) {
  t.equal(summary.crashed, undefined, 'the copier exited normally')
  t.ok(summary.iterations > 0, `${what}: ${summary.iterations} iterations in ${summary.ms} ms`)
  t.equal(summary.hang, null, 'no call hung')
  t.same(summary.badErrors, [], 'every error is Node-style (code, negative errno, syscall, path, message)')
  t.equal(racer.code, 0, 'the racer ran to the end', { stderr: racer.stderr })
  const swapped = racer.counts.reduce((n, c) => n + c.ok, 0)
  t.ok(swapped > 0, `racer: ${racer.counts.map((c) => `${c.op} ${c.ok}/${c.attempts}`).join(', ')}`)
  t.comment(`${what}: ${summary.iterations} iterations, ${summary.copied} files copied, ${summary.rejected} rejected; ` +
    `errors ${JSON.stringify(summary.errorCodes)}`)
  for (const s of summary.samples ?? []) t.comment(`  e.g. ${s}`)
}

const S = (s) => Math.max(1, Math.round(s * SCALE))

// A race test file's cases, run only when the machine can (root, the
// racer built, the mounts): else skipped, or failed under CI. Prints the
// file's time at the end.
function raceCases(declare) {
  if (missing) {
    if (process.env.CI) t.fail(`CI needs this: ${missing}`)
    else t.skip(missing)
    return
  }
  const started = Date.now()
  declare()
  t.teardown(() => console.log(`# race tests: ${((Date.now() - started) / 1000).toFixed(1)} s`))
}

export {
  raceCases, todo, ROOT, NOBODY, OTHER, missing, chownTree, writeFile, mkdir, snapshot, findSecrets,
  copyWhileRacing, raceCase, common, S,
}
