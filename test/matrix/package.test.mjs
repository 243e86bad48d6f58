// The package as a user gets it: `npm pack`, installed into a fresh app with
// no compiler on the PATH, used as ESM, CJS and from TypeScript, cloning on
// btrfs with the x64 prebuild and, under qemu, with the arm64 one. Also: the
// committed prebuilds are built from the current sources, need no glibc
// newer than 2.28, and an install with no prebuild and no compiler succeeds
// and falls back to fs.copyFile.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { allShared, needMounts, noneShared } from '../helpers.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const require = createRequire(import.meta.url)
const { sourceHash } = require('../../src-native/source-hash.js')


// A PATH with node, npm and sh only: no g++, cc, make or python3.
function bareBin(t) {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-bin-'))
  t.teardown(() => fs.rmSync(bin, { recursive: true, force: true }))
  fs.symlinkSync(process.execPath, path.join(bin, 'node'))
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh'))
  const npmCli = execFileSync('npm', ['root', '-g'], { encoding: 'utf8' }).trim()
  fs.writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(npmCli, 'npm', 'bin', 'npm-cli.js')}" "$@"\n`, { mode: 0o755 })
  return bin
}

function pack(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-pack-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const name = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: root, encoding: 'utf8' }).trim().split('\n').pop()
  return path.join(dir, name)
}

function installApp(t, tarball, bin) {
  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-app-'))
  t.teardown(() => fs.rmSync(app, { recursive: true, force: true }))
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', tarball], {
    cwd: app, encoding: 'utf8', env: { ...process.env, PATH: bin, npm_config_nodedir: '/nonexistent' },
  })
  return { app, status: r.status, log: r.stdout + r.stderr }
}

t.test('the committed prebuilds', async (t) => {
  for (const arch of ['x64', 'arm64']) {
    const file = path.join(root, 'prebuilds', `linux-${arch}`, 'cowcopy.glibc.node')
    t.ok(fs.existsSync(file), `prebuilds/linux-${arch} is there`)
    if (!fs.existsSync(file)) continue
    const syms = execFileSync('objdump', ['-T', file], { encoding: 'utf8' })
    const glibc = [...syms.matchAll(/GLIBC_(\d+)\.(\d+)/g)].map((m) => [+m[1], +m[2]])
    const max = glibc.reduce((a, b) => (b[0] > a[0] || (b[0] === a[0] && b[1] > a[1]) ? b : a), [0, 0])
    t.ok(max[0] === 2 && max[1] <= 28, `${arch}: needs glibc ${max.join('.')} (<= 2.28)`)
    const cxx = [...syms.matchAll(/GLIBCXX_3\.4\.(\d+)/g)].map((m) => +m[1])
    t.ok(Math.max(...cxx) <= 21, `${arch}: needs GLIBCXX_3.4.${Math.max(...cxx)} (<= 3.4.21, GCC 5)`)
    // The source hash is a plain string in the binary: built from these sources?
    t.ok(fs.readFileSync(file).includes(Buffer.from(sourceHash())), `${arch}: built from the current sources (${sourceHash()})`)
  }
})

t.test('packed, installed without a compiler, used as ESM, CJS and TypeScript', async (t) => {
  const dirs = needMounts(t, 'btrfs', 'ext4', 'xfs')
  if (!dirs) return
  const [btrfs, ext4, xfs] = dirs.map((d) => fs.mkdtempSync(path.join(d, 'pkg-')))
  t.teardown(() => [btrfs, ext4, xfs].forEach((d) => fs.rmSync(d, { recursive: true, force: true })))
  const tarball = pack(t)
  const size = fs.statSync(tarball).size
  t.comment(`tarball ${path.basename(tarball)}: ${(size / 1024).toFixed(0)} KiB`)
  // Six prebuilds (glibc ~340 KB and musl ~470 KB for x64 and arm64, the
  // macOS clone layer ~40-70 KB for x64 and arm64; ~780 KB gzipped), the
  // docs, and two engines: the native one's TypeScript facade and the
  // portable one (lib/portable/, ~60 KB of JavaScript and types): a budget,
  // not a wish.
  t.ok(size < 1024 * 1024, 'the tarball stays small (< 1 MiB)')
  const listing = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' })
  t.notMatch(listing, /package\/test\//, 'no tests in the tarball')
  t.notMatch(listing, /\.map$|package\/build\/|\.tsbuildinfo/m, 'no build intermediates or source maps')
  t.match(listing, /package\/prebuilds\/linux-x64\/cowcopy\.glibc\.node/)
  t.match(listing, /package\/prebuilds\/linux-arm64\/cowcopy\.glibc\.node/)
  t.notMatch(listing, /^package\/binding\.gyp$/m, 'no binding.gyp at the root (npm and pnpm would count it as a build)')

  const bin = bareBin(t)
  const { app, status, log } = installApp(t, tarball, bin)
  t.equal(status, 0, `npm install succeeded with PATH=${bin}`)
  t.notOk(fs.existsSync(path.join(app, 'node_modules', 'cowcopy', 'build')), 'nothing compiled: the prebuild was used')
  if (status !== 0) return t.comment(log)

  const env = { ...process.env, PATH: bin }
  // CJS, and the core cases, from the app.
  const smoke = path.join(app, 'smoke.cjs')
  fs.copyFileSync(path.join(root, 'test', 'fixtures', 'smoke.cjs'), smoke)
  const res = JSON.parse(execFileSync(process.execPath, [smoke, btrfs, ext4, xfs], { cwd: app, env, encoding: 'utf8' }))
  t.same(res.clone, { method: 'clone', bytes: 300000 })
  t.ok(allShared(path.join(btrfs, 'clone')), 'x64: the clone shares its extents')
  t.equal(res.cloneMode, '755')
  t.equal(res.ext4Auto.method, 'copy_file_range')
  t.equal(res.ext4Always.code, 'ENOTSUP')
  t.equal(res.ext4AlwaysLeft, false)
  t.equal(res.crossFs.code, 'EXDEV')
  t.equal(res.never.method, 'sendfile')
  t.ok(noneShared(path.join(btrfs, 'never')))
  t.equal(res.tree.errors, 0)
  t.equal(res.async.method, 'clone')

  // ESM.
  const esm = path.join(app, 'esm.mjs')
  fs.writeFileSync(esm, `import { copyFile, reflink, copyDir, constants } from 'cowcopy'
import cowcopy from 'cowcopy'
const r = await copyFile(process.argv[2], process.argv[3])
await reflink(process.argv[2], process.argv[3] + '-2')
console.log(JSON.stringify({ r, dir: typeof copyDir, excl: constants.COPYFILE_EXCL, def: typeof cowcopy.copyFileSync }))`)
  const e = JSON.parse(execFileSync(process.execPath, [esm, path.join(btrfs, 'src'), path.join(btrfs, 'esm')], { cwd: app, env, encoding: 'utf8' }))
  t.same(e, { r: { method: 'clone', bytes: 300000 }, dir: 'function', excl: 1, def: 'function' })

  // TypeScript against the shipped types.
  fs.writeFileSync(path.join(app, 'check.ts'), `import { copyFile, copyDir, type CopyResult, type BatchResult } from 'cowcopy'
const r: Promise<CopyResult> = copyFile('a', 'b', { reflink: 'never', preserve: { timestamps: true } })
const d: Promise<BatchResult> = copyDir('a', 'b', { filter: (rel, entry) => entry.isFile() && rel.length > 0 })
void r; void d
// @ts-expect-error: 'sometimes' is not a reflink mode
copyFile('a', 'b', { reflink: 'sometimes' })
`)
  fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'node16', moduleResolution: 'node16', strict: true, noEmit: true, types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')], skipLibCheck: false },
    files: ['check.ts'],
  }))
  const tsc = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], { encoding: 'utf8' })
  t.equal(tsc.status, 0, `tsc --noEmit against the shipped types ${tsc.stdout}`)

  // The command, through the bin link npm made.
  const probed = JSON.parse(execFileSync(path.join(app, 'node_modules', '.bin', 'cowcopy'), ['probe', '--json', btrfs], { env, encoding: 'utf8' }))
  t.match(probed, { fsType: 'btrfs', clone: true }, 'the cowcopy command works from the install')

  // The portable engine, forced.
  const fb = execFileSync(process.execPath, ['-e', `require('cowcopy').copyFile(process.argv[1], process.argv[2]).then((r) => console.log(JSON.stringify(r)))`, path.join(btrfs, 'src'), path.join(btrfs, 'fb')], { cwd: app, env: { ...env, COWCOPY_NATIVE: '0' }, encoding: 'utf8' })
  t.same(JSON.parse(fb), { method: 'clone', bytes: 300000 }, 'the portable engine clones on btrfs (fs.copyFile with COPYFILE_FICLONE_FORCE) and says so')

  // arm64, under qemu, with a real arm64 Node.
  t.test('arm64 under qemu', async (t) => {
    const qemu = spawnSync('qemu-aarch64-static', ['--version'])
    let node
    try {
      node = execFileSync('bash', [path.join(root, 'test', 'fixtures', 'arm64-node.sh')], { encoding: 'utf8' }).trim()
    } catch {}
    if (qemu.status !== 0 || !node) {
      if (process.env.CI) t.fail('CI needs qemu-user-static and the arm64 Node (test/fixtures/arm64-node.sh)')
      else t.skip('no qemu-aarch64-static or arm64 Node')
      return
    }
    for (const d of [btrfs, ext4, xfs]) for (const f of fs.readdirSync(d)) fs.rmSync(path.join(d, f), { recursive: true, force: true })
    const r = spawnSync('qemu-aarch64-static', ['-L', '/usr/aarch64-linux-gnu', node, smoke, btrfs, ext4, xfs], { cwd: app, encoding: 'utf8', timeout: 300000 })
    t.equal(r.status, 0, `ran (${r.stderr.slice(0, 500)})`)
    const a = JSON.parse(r.stdout)
    t.equal(a.arch, 'arm64')
    t.same(a.clone, { method: 'clone', bytes: 300000 }, 'arm64 prebuild: clone')
    t.ok(allShared(path.join(btrfs, 'clone')), 'arm64: the clone shares its extents (FIEMAP from the host)')
    t.equal(a.cloneMode, '755')
    t.equal(a.ext4Auto.method, 'copy_file_range')
    t.equal(a.ext4Always.code, 'ENOTSUP')
    t.equal(a.crossFs.code, 'EXDEV')
    t.equal(a.never.method, 'sendfile')
    t.equal(a.tree.errors, 0)
    t.equal(a.async.method, 'clone')
  })
})

t.test('no prebuild for the platform and no compiler: install succeeds silently, the portable engine says why at first use', async (t) => {
  const tarball = pack(t)
  // The same package without its prebuilds, as on a platform we build none for.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-bare-'))
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }))
  execFileSync('tar', ['xzf', tarball, '-C', work])
  fs.rmSync(path.join(work, 'package', 'prebuilds'), { recursive: true, force: true })
  execFileSync('tar', ['czf', path.join(work, 'bare.tgz'), '-C', work, 'package'])
  const bin = bareBin(t)
  const { app, status, log } = installApp(t, path.join(work, 'bare.tgz'), bin)
  t.equal(status, 0, 'npm install exits 0')
  t.notMatch(log, /script|build|gyp/i, 'and runs nothing: no install script, nothing compiled')
  const src = path.join(app, 'package.json')
  const r = spawnSync(process.execPath, ['-e', `
    const c = require('cowcopy')
    const r = c.copyFileSync(process.argv[1], process.argv[1] + '.copy')
    c.copyFileSync(process.argv[1], process.argv[1] + '.copy2')
    c.copyDir('node_modules/cowcopy/dist', 'x').then((d) => console.log(JSON.stringify({ r, dir: d.files > 0 && d.errors.length === 0, native: c.native, code: c.nativeLoadError.code })))`, src], { cwd: app, env: { ...process.env, PATH: bin }, encoding: 'utf8' })
  t.same(JSON.parse(r.stdout), { r: { method: 'fs', bytes: fs.statSync(src).size }, dir: true, native: false, code: 'COWCOPY_NO_PREBUILD' }, 'copyDir works without a prebuild (the portable engine)')
  const warnings = r.stderr.split('\n').filter((l) => l.includes('CowcopyWarning'))
  t.equal(warnings.length, 1, 'one warning, at first use')
  t.match(warnings[0], /no prebuilt binary for linux-x64 \(glibc [\d.]+\).*npm run build:native.*portable engine/, `names the reason: ${warnings[0]}`)
})

t.test('npm run build:native builds from the installed package, and that build is used', async (t) => {
  // A platform without a prebuild: the documented command, in the package.
  const tarball = pack(t)
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-src-'))
  t.teardown(() => fs.rmSync(work, { recursive: true, force: true }))
  execFileSync('tar', ['xzf', tarball, '-C', work])
  fs.rmSync(path.join(work, 'package', 'prebuilds'), { recursive: true, force: true })
  execFileSync('tar', ['czf', path.join(work, 'bare.tgz'), '-C', work, 'package'])
  const app = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-app-'))
  t.teardown(() => fs.rmSync(app, { recursive: true, force: true }))
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }))
  execFileSync('npm', ['install', '--no-audit', '--no-fund', path.join(work, 'bare.tgz')], { cwd: app, stdio: 'ignore' })
  const pkg = path.join(app, 'node_modules', 'cowcopy')
  const b = spawnSync('npm', ['run', 'build:native'], { cwd: pkg, encoding: 'utf8' })
  t.equal(b.status, 0, `npm run build:native in node_modules/cowcopy ${b.status ? b.stdout + b.stderr : ''}`)
  const out = execFileSync(process.execPath, ['-p', `const c = require('cowcopy'); JSON.stringify([c.native, c.nativeLoadError])`], { cwd: app, encoding: 'utf8' })
  t.same(JSON.parse(out), [true, null], 'the build from source is in use')
  // The stale-binary guard still works with the gyp file under src-native/: edit a source, keep the old binary.
  fs.appendFileSync(path.join(pkg, 'src-native', 'binding.cc'), '\n// edited\n')
  const stale = spawnSync(process.execPath, ['-e', `const c = require('cowcopy'); c.copyFileSync('package.json', 'p2'); console.log(c.nativeLoadError.code)`], { cwd: app, encoding: 'utf8' })
  t.equal(stale.stdout.trim(), 'COWCOPY_STALE_BINARY')
  t.match(stale.stderr, /CowcopyWarning: cowcopy: the native addon .*built from other sources/)
  // Sources not shipped (removed): the hash recorded in dist/ at build time still catches the edited build.
  fs.rmSync(path.join(pkg, 'src-native', 'source-hash.js'))
  const noSrc = execFileSync(process.execPath, ['-p', `require('cowcopy').nativeLoadError?.code ?? 'none'`], { cwd: app, encoding: 'utf8' }).trim()
  t.equal(noSrc, 'none', 'without the sources the build hash is compared with dist/source-hash.txt: the binary was built from the shipped sources (before the edit)')
  fs.writeFileSync(path.join(pkg, 'dist', 'source-hash.txt'), '0123456789abcdef')
  const noSrc2 = execFileSync(process.execPath, ['-p', `require('cowcopy').nativeLoadError?.code ?? 'none'`], { cwd: app, encoding: 'utf8' }).trim()
  t.equal(noSrc2, 'COWCOPY_STALE_BINARY', 'and a binary that does not match it is refused')
})
