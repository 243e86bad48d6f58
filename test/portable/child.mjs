// Helpers for test/portable: runs a snippet of ES module code in a child node
// that imports the built package (dist/index.mjs), with or without the
// native addon (COWCOPY_NATIVE=0), optionally as another user or under a
// wrapper (strace, prlimit). A child that does not finish within `timeout`
// is killed with its whole process group: a copy that hangs fails the test,
// it never hangs tap. Not a test file (tap runs *.test.mjs only).
import { spawn } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const DIST_MJS = path.join(ROOT, 'dist', 'index.mjs')
export const NOBODY = 65534

const RESULT = 'COWCOPY-RESULT '

/**
 * Runs `code` (an ES module body; `c` is the cowcopy module, `args` the
 * extra arguments, `report(value)` prints the value for the parent, which
 * gets it back as `result`) in a child node.
 *
 * options: native (default false: COWCOPY_NATIVE=0), args, timeout (ms,
 * default 20000), uid (run as that uid and gid through setpriv), wrap (a
 * command prefix such as ['strace', ...]), env (added), cwd.
 *
 * Resolves with { status, signal, timedOut, stdout, stderr, result }.
 */
export function runChild(code, { native = false, args = [], timeout = 20000, uid, wrap = [], env = {}, cwd } = {}) {
  const prelude = `
const c = await import(${JSON.stringify(pathToFileURL(DIST_MJS).href)});
const args = process.argv.slice(1);
const report = (v) => process.stdout.write(${JSON.stringify(RESULT)} + JSON.stringify(v) + '\\n');
const errInfo = (e) => e == null ? e : ({ name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path === undefined ? undefined : String(e.path), dest: e.dest === undefined ? undefined : String(e.dest), message: e.message });
`
  const cmd = [
    ...(uid !== undefined ? ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups'] : []),
    ...wrap,
    // tap's process-info hook (NODE_OPTIONS, added by its spawn wrapper)
    // writes under .tap/ at exit: not for these children, nor possible as another user.
    'env', '-u', 'NODE_OPTIONS',
    process.execPath, '--input-type=module', '-e', prelude + code, '--', ...args,
  ]
  const childEnv = { ...process.env, ...env }
  if (native) delete childEnv.COWCOPY_NATIVE
  // npm run test:layer: the portable engine is the one over the clone layer.
  else if (!process.env.COWCOPY_EXPECT_LAYER) childEnv.COWCOPY_NATIVE = '0'
  return new Promise((resolve) => {
    const child = spawn(cmd[0], cmd.slice(1), { env: childEnv, cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        child.kill('SIGKILL')
      }
    }, timeout)
    child.on('close', (status, signal) => {
      clearTimeout(timer)
      // Whatever the group left behind (a tracer's tracee, say).
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // gone already
      }
      const lines = stdout.split('\n').filter((l) => l.startsWith(RESULT))
      const result = lines.length ? JSON.parse(lines[lines.length - 1].slice(RESULT.length)) : undefined
      resolve({ status, signal, timedOut, stdout, stderr, result })
    })
  })
}

/** A one-line description of how a child ended, for assertion messages. */
export function how(r) {
  if (r.timedOut) return `the child did not finish and was killed (the call hung); stderr: ${r.stderr.slice(-800)}`
  return `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}; stderr: ${r.stderr.slice(-1500)}`
}

/** The listing of a directory, sorted. */
export function ls(dir) {
  return fs.readdirSync(dir).sort()
}

/** True when `cmd` is on PATH. */
export function have(cmd) {
  return (process.env.PATH || '').split(':').some((d) => {
    try {
      fs.accessSync(path.join(d, cmd), fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}
