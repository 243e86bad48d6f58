// The copying side of the race tests (test/security/race-*.test.mjs), in its own process so that it can
// run as another user (setpriv) and so that a hang is a timeout, not a stuck
// test. Reads a JSON job (argv[2]), copies in a loop while the racer runs,
// checks every result and prints one JSON summary line.
//
// job: { kind: 'copyDir-new' | 'copyDir-merge' | 'copyFile', src, dest,
//        seconds, maxIterations, callTimeoutMs, secrets: [file...],
//        options, linkNames: [name...], allowed: [file...], prefixOf, minLength,
//        prefill }
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyDir, copyFile } from 'cowcopy'

const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'))
const secrets = (job.secrets ?? []).map((f) => fs.readFileSync(f))
const allowed = (job.allowed ?? []).map((f) => fs.readFileSync(f))
const prefixOf = job.prefixOf ? fs.readFileSync(job.prefixOf) : null

const summary = {
  iterations: 0,
  ms: 0,
  leaks: [], // dest files holding a secret's bytes
  badErrors: [], // errors that are not Node-style
  errorCodes: {}, // "CODE syscall" -> count
  linkEexist: [], // EEXIST while replacing a symlink named in linkNames
  wrongContent: [], // copyFile: a result that is none of the allowed contents
  hang: null,
  rejected: 0,
  copied: 0,
  samples: [], // a few error messages, to show in the test output
}

const SYSTEM_MESSAGE = /^(E[A-Z0-9]+): [^,]+(, [^,]+)*, ([a-z_0-9]+)( '.*')?( -> '.*')?$/s

// Problems with an error's shape: Node's fs errors carry code, a negative
// errno, syscall, path (and dest for two-path calls) and "CODE: text, syscall 'a' -> 'b'".
function errorProblems(err) {
  const p = []
  if (!(err instanceof Error)) return ['not an Error']
  if (typeof err.code !== 'string' || !/^E[A-Z0-9]+$/.test(err.code)) p.push(`code ${err.code}`)
  if (typeof err.errno !== 'number' || err.errno >= 0) p.push(`errno ${err.errno}`)
  if (typeof err.syscall !== 'string' || err.syscall === '') p.push(`syscall ${err.syscall}`)
  if (typeof err.path !== 'string') p.push(`path ${err.path}`)
  const m = SYSTEM_MESSAGE.exec(err.message)
  if (!m) p.push(`message ${JSON.stringify(err.message)}`)
  else if (m[1] !== err.code) p.push(`message code ${m[1]} vs ${err.code}`)
  return p
}

function noteError(err, src) {
  const key = `${err?.code} ${err?.syscall}`
  summary.errorCodes[key] = (summary.errorCodes[key] ?? 0) + 1
  const problems = errorProblems(err)
  if (problems.length && summary.badErrors.length < 10) {
    summary.badErrors.push({ message: String(err?.message), problems, stack: String(err?.stack).slice(0, 600) })
  }
  if (summary.samples.length < 8 && !summary.samples.some((s) => s.startsWith(key))) {
    summary.samples.push(`${key}: ${err?.message}`)
  }
  const name = src === undefined ? '' : path.basename(String(src))
  if (err?.code === 'EEXIST' && (job.linkNames ?? []).includes(name) && summary.linkEexist.length < 10) {
    summary.linkEexist.push(err.message)
  }
}

// Every regular file under dir (never following a symlink) whose bytes
// contain a secret, or which is a secret's inode.
function scan(dir, secretStats) {
  const walk = (d) => {
    let entries
    try {
      entries = fs.readdirSync(d, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      const p = path.join(d, e.name)
      if (e.isDirectory()) walk(p)
      else if (e.isFile()) {
        let st, bytes
        try {
          st = fs.lstatSync(p)
          bytes = fs.readFileSync(p, { flag: fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK })
        } catch {
          continue // renamed meanwhile by the racer
        }
        if (secretStats.some((s) => s.ino === st.ino && s.dev === st.dev)) summary.leaks.push(`${p}: the secret's inode`)
        secrets.forEach((s, i) => {
          if (bytes.includes(s) && summary.leaks.length < 20) summary.leaks.push(`${p}: secret ${i}`)
        })
      }
    }
  }
  walk(dir)
}

function withTimeout(promise) {
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timed out'), { hang: true })), job.callTimeoutMs ?? 10000)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function checkContent(dest) {
  const got = fs.readFileSync(dest)
  if (allowed.some((a) => a.equals(got))) return
  if (prefixOf && got.length >= (job.minLength ?? 0) && got.length <= prefixOf.length &&
      got.equals(prefixOf.subarray(0, got.length))) return
  if (summary.wrongContent.length < 5) {
    let firstBad = -1
    if (prefixOf) for (let i = 0; i < got.length && firstBad < 0; i++) if (got[i] !== prefixOf[i]) firstBad = i
    summary.wrongContent.push({ length: got.length, firstDifferentByte: firstBad, byte: firstBad >= 0 ? got[firstBad] : null })
  }
}

const secretStats = (job.secrets ?? []).map((f) => fs.statSync(f))
const started = Date.now()
const deadline = started + job.seconds * 1000
try {
  while (summary.iterations < job.maxIterations && Date.now() < deadline) {
    const i = summary.iterations++
    const dest = job.kind === 'copyDir-new' ? path.join(job.dest, String(i)) : job.dest
    try {
      if (job.kind === 'copyFile') {
        // An existing destination longer than the source, or none.
        if (job.prefill) fs.writeFileSync(dest, Buffer.alloc(job.prefill, 0x78))
        else fs.rmSync(dest, { force: true })
        const r = await withTimeout(copyFile(job.src, dest, job.options))
        summary.copied++
        if (r.bytes >= 0) checkContent(dest)
      } else {
        const r = await withTimeout(copyDir(job.src, dest, job.options))
        summary.copied += r.files
        for (const e of r.errors) noteError(e.error, e.src)
      }
    } catch (err) {
      if (err?.hang) {
        summary.hang = `iteration ${i}: ${job.kind} did not finish in ${job.callTimeoutMs ?? 10000} ms`
        break
      }
      summary.rejected++
      noteError(err, job.src)
    }
    // A merge destination is being swapped by the racer: a scan now could
    // follow its symlinks. The test scans it once the racer has stopped.
    if (job.kind === 'copyDir-new') scan(dest, secretStats)
    if (job.kind === 'copyDir-new') fs.rmSync(dest, { recursive: true, force: true })
  }
} finally {
  summary.ms = Date.now() - started
  process.stdout.write(`${JSON.stringify(summary)}\n`)
  // A copy stuck in a libuv thread would keep the process alive; otherwise
  // end normally (under LeakSanitizer, process.exit() leaves V8's heap behind).
  if (summary.hang) process.exit(0)
}
