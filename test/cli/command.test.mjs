// The cowcopy command, run as a child process on real filesystems: options,
// exit codes, error text, --json, probe, dedupe, Ctrl-C, the progress bar
// drawn in a real pseudo-terminal (script(1)), and control characters in
// printed names. (Signals and what they leave: signals.test.mjs.)
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { allShared, diffTrees, interruptOnceOpen, makeFile, makeTree, noneShared, onFs } from '../helpers.mjs'

const cli = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.js')
const run = (args, opts = {}) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', ...opts })

t.test('help, version, usage errors (exit 2)', async (t) => {
  const h = run(['--help'])
  t.equal(h.status, 0)
  t.match(h.stdout, /^Usage: cowcopy \[OPTION\]\.\.\. \[-T\] SOURCE DEST/)
  t.match(run(['--version']).stdout, /^cowcopy \d+\.\d+\.\d+\n$/)
  for (const [args, msg] of [
    [[], /missing file operand/],
    [['only-one'], /missing destination file operand after 'only-one'/],
    [['--frobnicate', 'a', 'b'], /unrecognized option '--frobnicate'/],
    [['--reflink=sometimes', 'a', 'b'], /invalid argument 'sometimes' for '--reflink'/],
    [['--sparse=maybe', 'a', 'b'], /invalid argument 'maybe' for '--sparse'/],
    [['dedupe', 'a'], /dedupe needs a FILE and at least one more FILE/],
  ]) {
    const r = run(args)
    t.equal(r.status, 2, `${args.join(' ')}: exit 2`)
    t.match(r.stderr, msg)
    t.match(r.stderr, /Try 'cowcopy --help'/)
  }
})

onFs(t, 'btrfs', 'files: clone, -v and --json, into a directory, --reflink=never', async (t, dir) => {
  const a = path.join(dir, 'a')
  makeFile(a, 300000, 0o755)
  let r = run(['-v', a, path.join(dir, 'b')])
  t.equal(r.status, 0)
  t.equal(r.stdout, `'${a}' -> '${path.join(dir, 'b')}' (clone, 293.0 KiB)\n`)
  t.ok(allShared(path.join(dir, 'b')), 'a real clone (FIEMAP)')
  t.equal(fs.statSync(path.join(dir, 'b')).mode & 0o777, 0o755)
  r = run(['--json', '--reflink=never', a, path.join(dir, 'c')])
  t.same(JSON.parse(r.stdout), { src: a, dest: path.join(dir, 'c'), method: 'sendfile', bytes: 300000 })
  t.ok(noneShared(path.join(dir, 'c')))
  fs.mkdirSync(path.join(dir, 'into'))
  r = run(['--json', a, path.join(dir, 'b'), path.join(dir, 'into')])
  t.equal(r.status, 0)
  t.same(r.stdout.trim().split('\n').map((l) => JSON.parse(l).dest), [path.join(dir, 'into', 'a'), path.join(dir, 'into', 'b')])
  r = run([a, path.join(dir, 'b'), path.join(dir, 'c')])
  t.equal(r.status, 1)
  t.equal(r.stderr, `cowcopy: target '${path.join(dir, 'c')}' is not a directory\n`)
  r = run(['--reflink', a, path.join(dir, 'd')])
  t.equal(r.status, 0, '--reflink alone means always, which works here')
})

onFs(t, 'ext4', 'errors: cp-like text, exit 1, the others still copied', async (t, dir) => {
  const a = path.join(dir, 'a')
  makeFile(a, 1000)
  fs.mkdirSync(path.join(dir, 'out'))
  const r = run([path.join(dir, 'missing'), a, path.join(dir, 'out')])
  t.equal(r.status, 1)
  t.equal(r.stderr, `cowcopy: cannot stat '${path.join(dir, 'missing')}': No such file or directory\n`)
  t.ok(fs.existsSync(path.join(dir, 'out', 'a')), 'the good source was copied')
  const always = run(['--reflink=always', a, path.join(dir, 'x')])
  t.equal(always.status, 1)
  t.match(always.stderr, new RegExp(`^cowcopy: cannot copy '${a}' to '${path.join(dir, 'x')}': Operation not supported`))
  t.notOk(fs.existsSync(path.join(dir, 'x')))
  const d = run([dir, path.join(dir, 'y')])
  t.equal(d.status, 1)
  t.equal(d.stderr, `cowcopy: -r not specified; omitting directory '${dir}'\n`)
})

onFs(t, 'ext4', '-n, -p, --atomic, --sparse=never', async (t, dir) => {
  const a = path.join(dir, 'a')
  makeFile(a, 5000)
  fs.writeFileSync(path.join(dir, 'keep'), 'keep')
  t.equal(run(['-n', a, path.join(dir, 'keep')]).status, 0, '-n: an existing file is skipped, not an error')
  t.equal(fs.readFileSync(path.join(dir, 'keep'), 'utf8'), 'keep')
  execFileSync('touch', ['-m', '-d', '2003-04-05 06:07:08', a])
  t.equal(run(['-p', a, path.join(dir, 'p')]).status, 0)
  t.equal(fs.statSync(path.join(dir, 'p')).mtimeMs, fs.statSync(a).mtimeMs, '-p kept the mtime')
  fs.writeFileSync(path.join(dir, 'old'), 'old')
  t.equal(run(['--atomic', a, path.join(dir, 'old')]).status, 0)
  t.equal(fs.statSync(path.join(dir, 'old')).size, 5000)
  t.same(fs.readdirSync(dir).filter((n) => n.includes('cowcopy')), [], 'no temporary file left')
  const sparse = path.join(dir, 'sparse')
  fs.writeFileSync(sparse, '')
  fs.truncateSync(sparse, 32 << 20)
  t.equal(run(['--sparse=never', '--reflink=never', sparse, path.join(dir, 'dense')]).status, 0)
  t.ok(fs.statSync(path.join(dir, 'dense')).blocks * 512 >= 32 << 20, '--sparse=never writes every byte')
  t.equal(run(['--reflink=never', sparse, path.join(dir, 'holey')]).status, 0)
  t.ok(fs.statSync(path.join(dir, 'holey')).blocks < 64, 'by default holes stay holes')
})

onFs(t, 'xfs', '-r: a tree, -v summary, --json', async (t, dir) => {
  const src = path.join(dir, 'src')
  const files = makeTree(src, { packages: 5, filesPerPackage: 6 })
  const r = run(['-r', '-v', src, path.join(dir, 'dest')])
  t.equal(r.status, 0, r.stderr)
  const lines = r.stdout.trim().split('\n')
  t.equal(lines.length, files + 1, 'one line per file, then the total')
  t.ok(lines.slice(0, -1).every((l) => / \(clone, [\d.]+ (B|KiB|MiB)\)$/.test(l)), 'each file line names its method')
  t.ok(lines.some((l) => l.startsWith(`'${path.join(src, 'node_modules', 'pkg-1', 'lib', 'file-1.js')}' -> '${path.join(dir, 'dest', 'node_modules', 'pkg-1', 'lib', 'file-1.js')}' (clone, `)))
  t.match(lines.at(-1), new RegExp(`^'${src}' -> '${path.join(dir, 'dest')}' \\(${files} files: clone ${files}; \\d+ dirs, 15 symlinks, `))
  t.same(diffTrees(src, path.join(dir, 'dest')), [])
  fs.mkdirSync(path.join(dir, 'parent'))
  const j = run(['-R', '--json', src, path.join(dir, 'parent')])
  const o = JSON.parse(j.stdout)
  t.equal(o.dest, path.join(dir, 'parent', 'src'), 'into an existing directory, as cp -r')
  t.equal(o.files, files)
  t.equal(o.methods.clone, files)
})

for (const fsName of ['btrfs', 'ext4']) {
  onFs(t, fsName, 'probe', async (t, dir) => {
    const r = run(['probe', '--json', dir])
    t.equal(r.status, 0)
    const cow = fsName === 'btrfs'
    t.same(JSON.parse(r.stdout), { dir, fsType: fsName, blockSize: 4096, clone: cow, dedupe: cow, copyFileRange: true })
    const table = run(['probe', dir]).stdout
    t.match(table, new RegExp(`filesystem\\s+${fsName}\\n\\s+block size\\s+4096\\n\\s+clone\\s+${cow ? 'yes' : 'no'}`))
    t.same(fs.readdirSync(dir), [], 'nothing left behind')
  })
}

onFs(t, 'btrfs', 'dedupe FILE FILE...', async (t, dir) => {
  const a = path.join(dir, 'a')
  makeFile(a, 4 << 20)
  fs.copyFileSync(a, path.join(dir, 'same'), 0)
  execFileSync('cp', ['--reflink=never', a, path.join(dir, 'same2')])
  const other = fs.readFileSync(a)
  other[100] ^= 1
  fs.writeFileSync(path.join(dir, 'other'), other)
  execFileSync('sync', ['-f', dir])
  const r = run(['dedupe', a, path.join(dir, 'same2'), path.join(dir, 'other')])
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, new RegExp(`'${path.join(dir, 'same2')}': 4.0 MiB shared with '${a}'`))
  t.match(r.stdout, new RegExp(`'${path.join(dir, 'other')}': differs from '${a}'`))
  t.match(r.stdout, /4\.0 MiB shared in all\n$/)
  t.ok(allShared(path.join(dir, 'same2')), 'extents shared now')
  t.ok(fs.readFileSync(path.join(dir, 'other')).equals(other), 'the different file is unchanged')
  const j = run(['dedupe', '--json', a, path.join(dir, 'missing')])
  t.equal(j.status, 1)
  t.match(j.stderr, /cannot stat/)
})

onFs(t, 'ext4', 'Ctrl-C in the middle of a large copy: exit 130, no partial file', async (t, dir) => {
  const big = path.join(dir, 'big')
  makeFile(big, 1 << 30)
  execFileSync('sync', ['-f', dir])
  fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
  const { code, stderr } = await interruptOnceOpen([cli, '--reflink=never', big, path.join(dir, 'copy')], big)
  t.equal(code, 130)
  t.match(stderr, /interrupted: the copy in progress was removed/)
  t.same(fs.readdirSync(dir), ['big'], 'no partial destination')
})

onFs(t, 'ext4', '--progress draws a bar on a terminal, nothing without one', async (t, dir) => {
  const big = path.join(dir, 'big')
  makeFile(big, 512 << 20)
  execFileSync('sync', ['-f', dir])
  fs.writeFileSync('/proc/sys/vm/drop_caches', '1')
  // script(1) gives the command a real pseudo-terminal and records what it drew.
  const log = path.join(dir, 'typescript')
  const cmd = `${process.execPath} ${cli} --progress --reflink=never ${big} ${path.join(dir, 'copy')}`
  const r = spawnSync('script', ['-qfec', cmd, log], { encoding: 'utf8', env: { ...process.env, COLUMNS: '120' } })
  t.equal(r.status, 0, r.stderr)
  const screen = fs.readFileSync(log, 'utf8')
  const frames = screen.split('\r').map((f) => f.replace(/\x1b\[K/g, '').trim()).filter((f) => f.includes('%'))
  t.ok(frames.length >= 1, `${frames.length} frames drawn`)
  t.match(frames.at(-1), /\[#+\] 100% 512\.0 MiB\/512\.0 MiB .*\/s ETA 0s/, `final frame: ${frames.at(-1)}`)
  const plain = run(['--progress', '--reflink=never', big, path.join(dir, 'copy2')])
  t.equal(plain.stdout, '', 'not a TTY: nothing extra')
  t.equal(plain.status, 0)
})

// C1 control characters in printed names are escaped as C0 and DEL are.
onFs(t, 'ext4', 'C1 control characters in names are escaped (CSI cannot drive the terminal)', async (t, dir) => {
  const name = 'a\u009b31mred\u0085b'
  const src = path.join(dir, name)
  fs.writeFileSync(src, 'x')
  const r = run(['-v', src, path.join(dir, 'copy')])
  t.equal(r.status, 0, r.stderr)
  t.notMatch(r.stdout, /[\u0080-\u009f]/, 'no raw C1 character printed')
  t.match(r.stdout, `'${path.join(dir, 'a\\u009b31mred\\u0085b')}'`)
  const e = run([path.join(dir, 'missing\u009bx'), path.join(dir, 'c2')])
  t.equal(e.status, 1)
  t.notMatch(e.stderr, /[\u0080-\u009f]/)
  t.match(e.stderr, /missing\\u009bx/)
  // C0 and DEL are escaped too.
  const n = run(['-v', src, path.join(dir, 'new\nline\x7f')])
  t.match(n.stdout, /new\\x0aline\\x7f/)
})
