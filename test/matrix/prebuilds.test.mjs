// Static checks of every committed prebuild, none of which needs the target
// machine: the format and CPU in its header, the shared libraries it needs,
// that every symbol it imports is Node-API (NAPI_VERSION 8) or provided by
// those libraries (the real ones, from Debian's sysroots), that it exports the
// module's entry point, that it was built from the current sources, its size;
// and, for arm64 macOS, the code signature without which macOS kills the
// process that loads it.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const require = createRequire(import.meta.url)
const { sourceHash } = require('../../src-native/source-hash.js')
const napiV8 = require('node-api-headers').symbols.v8
const NAPI = new Set([...napiV8.js_native_api_symbols, ...napiV8.node_api_symbols])
const KiB = 1024

// libs: what the file may need (glibc: what node-gyp's builds need; zig's
// musl builds link libc++ statically; the macOS clone layer needs no C++
// runtime at all). sysroot: where Debian keeps those libraries for the target
// (and the package that puts them there). budget: ~15% over today's size
// (musl carries libc++): a jump means something new was linked in, and every
// user downloads every file.
const GLIBC = ['libstdc++.so.6', 'libgcc_s.so.1', 'libc.so.6']
const EXPECTED = [
  { file: 'linux-x64/cowcopy.glibc.node', format: 'elf', arch: 'x86-64', libs: [...GLIBC, 'ld-linux-x86-64.so.2'], libc: 'libc.so.6', sysroot: ['/lib/x86_64-linux-gnu', 'libc6'], budget: 400 * KiB },
  { file: 'linux-arm64/cowcopy.glibc.node', format: 'elf', arch: 'aarch64', libs: [...GLIBC, 'ld-linux-aarch64.so.1'], libc: 'libc.so.6', sysroot: ['/usr/aarch64-linux-gnu/lib', 'g++-aarch64-linux-gnu'], budget: 400 * KiB },
  { file: 'linux-x64/cowcopy.musl.node', format: 'elf', arch: 'x86-64', libs: ['libc.so'], libc: 'libc.so', sysroot: ['/usr/lib/x86_64-linux-musl', 'musl'], budget: 560 * KiB },
  { file: 'linux-arm64/cowcopy.musl.node', format: 'elf', arch: 'aarch64', libs: ['libc.so'], libc: 'libc.so', sysroot: ['/lib/aarch64-linux-musl', 'musl:arm64'], budget: 560 * KiB },
  { file: 'darwin-x64/cowcopy.node', format: 'macho', arch: 'x86_64', libs: ['/usr/lib/libSystem.B.dylib'], libc: '/usr/lib/libSystem.B.dylib', budget: 46 * KiB },
  { file: 'darwin-arm64/cowcopy.node', format: 'macho', arch: 'arm64', libs: ['/usr/lib/libSystem.B.dylib'], libc: '/usr/lib/libSystem.B.dylib', signed: true, budget: 83 * KiB },
]
const ELF_MACHINE = { 62: 'x86-64', 183: 'aarch64' }
const MACHO_CPU = { 0x01000007: 'x86_64', 0x0100000c: 'arm64' }
const LC = { LOAD_DYLIB: 0xc, LOAD_WEAK_DYLIB: 0x80000018, REEXPORT_DYLIB: 0x8000001f, CODE_SIGNATURE: 0x1d }

const run = (cmd, args) => execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 })

/** Format and CPU from the header; for Mach-O also its dylibs and whether it is signed. */
function header(buf) {
  if (buf.readUInt32BE(0) === 0x7f454c46) return { format: 'elf', arch: ELF_MACHINE[buf.readUInt16LE(18)] ?? `e_machine ${buf.readUInt16LE(18)}` }
  if (buf.readUInt32LE(0) !== 0xfeedfacf) return { format: `unknown (magic ${buf.subarray(0, 4).toString('hex')})` }
  const cpu = buf.readUInt32LE(4)
  const dylibs = []
  let signed = false
  // mach_header_64 is 32 bytes; then ncmds load commands of (cmd, cmdsize, ...).
  for (let i = 0, off = 32; i < buf.readUInt32LE(16); i++, off += buf.readUInt32LE(off + 4)) {
    const cmd = buf.readUInt32LE(off)
    if (cmd === LC.CODE_SIGNATURE) signed = true
    if (cmd === LC.LOAD_DYLIB || cmd === LC.LOAD_WEAK_DYLIB || cmd === LC.REEXPORT_DYLIB) {
      const name = buf.subarray(off + buf.readUInt32LE(off + 8), off + buf.readUInt32LE(off + 4))
      dylibs.push(name.subarray(0, name.indexOf(0)).toString())
    }
  }
  return { format: 'macho', arch: MACHO_CPU[cpu] ?? `cputype 0x${cpu.toString(16)}`, dylibs, signed }
}

/** ELF: DT_NEEDED entries. */
function neededElf(file) {
  const out = run('llvm-readobj', ['--needed-libs', file])
  return out.slice(out.indexOf('NeededLibraries [') + 17, out.lastIndexOf(']')).split('\n').map((l) => l.trim()).filter(Boolean)
}

/** ELF dynamic symbols as [name@version, type]; `name@@v` (the default) is `name@v`. */
function elfSymbols(file, which) {
  return run('llvm-nm', ['-D', which, '-P', file]).split('\n').filter(Boolean).map((l) => {
    const [name, type] = l.split(' ')
    return [name.replace('@@', '@'), type]
  })
}

function checkElfImports(t, e, file) {
  const [dir, pkg] = e.sysroot
  const libs = e.libs.map((l) => path.join(dir, l)).filter((p) => fs.existsSync(p))
  if (!fs.existsSync(path.join(dir, e.libc))) {
    const why = `${dir}/${e.libc} is missing (apt-get install ${pkg}): cannot check the imports`
    return process.env.CI ? t.fail(why) : t.skip(why)
  }
  const provided = new Set()
  for (const lib of libs) {
    for (const [name] of elfSymbols(lib, '--defined-only')) {
      provided.add(name)
      provided.add(name.replace(/@.*/, '')) // an unversioned import binds to any version
    }
  }
  const bad = []
  for (const [name, type] of elfSymbols(file, '--undefined-only')) {
    if (/^(napi|node_api)_/.test(name)) {
      if (!NAPI.has(name)) bad.push(`${name} (not Node-API 8)`)
    } else if (!provided.has(name) && type !== 'w' && type !== 'v') {
      bad.push(name) // a weak import may be absent; a strong one fails the dlopen
    }
  }
  t.same(bad, [], `every import is Node-API 8 or in ${e.libs.join(', ')} of ${dir}`)
  const exported = elfSymbols(file, '--defined-only').map(([n]) => n)
  t.ok(exported.includes('napi_register_module_v1'), 'exports napi_register_module_v1')
  if (e.libc === 'libc.so') {
    // The static libc++ and libunwind stay inside: the process may have its own.
    t.same(exported.sort(), ['napi_register_module_v1', 'node_api_module_get_api_version_v1'], 'exports only the entry points')
  }
}

function checkMachoImports(t, file) {
  // -m: each import says where the linker bound it: a dylib, or "dynamically
  // looked up" (left for the loading process: right for napi_*, a crash at
  // first call for anything else).
  const lines = run('llvm-nm', ['-m', '--undefined-only', file]).split('\n').filter(Boolean)
  const bad = []
  for (const line of lines) {
    const m = /external _?(\S+) \((.*)\)$/.exec(line) // C names carry a leading _
    if (!m) {
      bad.push(line.trim())
    } else if (/^(napi|node_api)_/.test(m[1])) {
      if (!NAPI.has(m[1]) || m[2] !== 'dynamically looked up') bad.push(`${m[1]} (${m[2]})`)
    } else if (m[2] !== 'from libSystem') {
      bad.push(`${m[1]} (${m[2]})`)
    }
  }
  t.same(bad, [], 'every import is Node-API 8 (looked up in the process) or from libSystem')
  const exported = run('llvm-nm', ['-m', '--defined-only', '--extern-only', file])
  t.match(exported, /\) external _napi_register_module_v1$/m, 'exports napi_register_module_v1')
  // The clone layer is built without a C++ runtime (no libc++/libc++abi
  // linked in, none needed from the process): no symbol of one, defined,
  // imported or bound lazily. Mach-O names carry a leading _.
  const cxxRuntime = /^_?(__cxa_|__gxx_personality|_ZNSt|_ZSt|_Znwm|_Znam|_ZdlPv|_ZdaPv|_ZTI|_ZTS|_ZTV)/
  const names = run('llvm-nm', ['-m', file]).split('\n').map((l) => /(\S+)$/.exec(l.trim())?.[1]).filter(Boolean)
  const binds = run('llvm-objdump', ['--macho', '--bind', '--lazy-bind', '--weak-bind', file]).split('\n').map((l) => /(\S+)$/.exec(l.trim())?.[1]).filter(Boolean)
  t.same([...new Set([...names, ...binds].filter((n) => cxxRuntime.test(n)))], [], 'no C++ runtime symbol, defined or imported')
}

const tools = ['llvm-nm', 'llvm-readobj'].filter((tool) => {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' })
    return false
  } catch {
    return true
  }
})

t.test('prebuilds/ holds exactly the expected files', async (t) => {
  const present = fs.readdirSync(path.join(root, 'prebuilds'), { recursive: true })
    .filter((f) => fs.statSync(path.join(root, 'prebuilds', f)).isFile())
    .map((f) => f.split(path.sep).join('/'))
  t.same(present.filter((f) => !EXPECTED.some((e) => e.file === f)), [], 'no file nobody checks')
})

for (const e of EXPECTED) {
  t.test(e.file, async (t) => {
    const file = path.join(root, 'prebuilds', e.file)
    if (!fs.existsSync(file)) {
      return t.fail(`prebuilds/${e.file} is missing: ${e.file.includes('glibc') ? 'npm run prebuild:all' : 'npm run prebuild:cross'} makes it`)
    }
    if (tools.length) return t.fail(`${tools.join(', ')} missing: apt-get install llvm`)
    const buf = fs.readFileSync(file)
    const h = header(buf)
    t.equal(h.format, e.format, `format ${e.format}`)
    t.equal(h.arch, e.arch, `CPU ${e.arch}`)
    const needed = e.format === 'elf' ? neededElf(file) : h.dylibs
    t.same(needed.filter((l) => !e.libs.includes(l)), [], `needs only ${e.libs.join(', ')} (needs ${needed.join(', ')})`)
    t.ok(needed.includes(e.libc), `links ${e.libc}`)
    if (e.format === 'elf') checkElfImports(t, e, file)
    else checkMachoImports(t, file)
    if (e.format === 'macho') t.equal(h.signed, e.signed === true || h.signed, e.signed ? 'has a code signature (LC_CODE_SIGNATURE)' : 'signature optional on x64')
    // The hash is a plain string in the binary (binding.cc's sourceHash).
    t.ok(buf.includes(Buffer.from(sourceHash())), `built from the current sources (${sourceHash()})`)
    t.ok(buf.length <= e.budget, `${(buf.length / KiB).toFixed(0)} KiB <= ${e.budget / KiB} KiB`)
  })
}
