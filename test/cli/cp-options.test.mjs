// The cowcopy command as cp: what coreutils' own tests/cp scripts check
// (names that are not UTF-8, ACLs under -p, a symlink operand under -r,
// contradictory options, --json for every operand, file names that look
// like subcommands) and cp's options (-a -d -P -L -H -f
// -l -s -u -t -T --remove-destination --preserve --no-preserve --parents).
// COWCOPY_CLI runs another build of the command (to see these fail first).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { makeFile, onFs } from '../helpers.mjs'

const cli = process.env.COWCOPY_CLI || path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.js')
const run = (args, opts = {}) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', ...opts })
// Through bash, for arguments that are not UTF-8 ($'\xff'): spawn takes strings only.
const sh = (script, cwd) => spawnSync('bash', ['-c', script, 'sh', process.execPath, cli], { cwd, encoding: 'utf8' })
const jsonLines = (s) => s.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))
const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0

onFs(t, 'btrfs', 'a source name that is not UTF-8 is copied with its exact bytes', async (t, dir) => {
  const ff = Buffer.from([0xff])
  const name = Buffer.concat([Buffer.from(dir + '/'), ff])
  fs.mkdirSync(name)
  fs.writeFileSync(Buffer.concat([name, Buffer.from('/f')]), 'x')
  fs.writeFileSync(Buffer.concat([Buffer.from(dir + '/'), Buffer.from([0x66, 0xfe])]), 'y')
  let r = sh(`"$1" "$2" -r $'\\xff' t`, dir)
  t.equal(r.stderr, '')
  t.equal(r.status, 0)
  t.equal(fs.readFileSync(path.join(dir, 't', 'f'), 'utf8'), 'x')
  r = sh(`"$1" "$2" --json $'f\\xfe' $'\\xff'`, dir)
  t.equal(r.status, 0, r.stderr)
  t.equal(fs.readFileSync(Buffer.concat([name, Buffer.from([0x2f, 0x66, 0xfe])]), 'utf8'), 'y', 'into a directory named \\xff')
  t.same(jsonLines(r.stdout).map((o) => [o.src, o.dest]), [['f\\xfe', '\\xff/f\\xfe']], 'JSON names bytes that are not UTF-8 as \\xNN')
  r = sh(`"$1" "$2" $'f\\xfd' u`, dir)
  t.equal(r.status, 1)
  t.equal(r.stderr, "cowcopy: cannot stat 'f\\xfd': No such file or directory\n", 'messages too')
})

onFs(t, 'ext4', '-p keeps POSIX ACLs (cp -p keeps them with the mode); without -p they are not copied', async (t, dir) => {
  if (!has('setfacl') || !has('getfacl')) return t.skip('needs setfacl/getfacl (apt-get install acl)')
  const a = path.join(dir, 'a')
  makeFile(a, 100, 0o640)
  t.equal(spawnSync('setfacl', ['-m', 'u:65534:rw', a]).status, 0)
  fs.mkdirSync(path.join(dir, 'd'))
  fs.writeFileSync(path.join(dir, 'd', 'f'), 'f')
  t.equal(spawnSync('setfacl', ['-m', 'u:65534:rx', '-d', '-m', 'u:65534:r', path.join(dir, 'd')]).status, 0)
  const acl = (p) => spawnSync('getfacl', ['-cpn', p], { encoding: 'utf8' }).stdout
  t.equal(run(['-p', a, path.join(dir, 'b')]).status, 0)
  t.match(acl(path.join(dir, 'b')), /user:65534:rw-/)
  t.equal(run(['--preserve=mode', a, path.join(dir, 'b2')]).status, 0)
  t.match(acl(path.join(dir, 'b2')), /user:65534:rw-/, '--preserve=mode includes the ACL')
  t.equal(run(['-rp', path.join(dir, 'd'), path.join(dir, 'e')]).status, 0)
  t.match(acl(path.join(dir, 'e')), /user:65534:r-x/)
  t.match(acl(path.join(dir, 'e')), /default:user:65534:r--/, 'the default ACL of a directory')
  t.equal(run([a, path.join(dir, 'c')]).status, 0)
  t.notMatch(acl(path.join(dir, 'c')), /65534/, 'no -p: no ACL (as cp)')
  t.equal(run(['-p', '--no-preserve=xattr', a, path.join(dir, 'c2')]).status, 0)
  t.notMatch(acl(path.join(dir, 'c2')), /65534/, '--no-preserve=xattr drops them')
})

onFs(t, 'btrfs', '-r copies a symlink operand as a symlink; -L and -H follow it', async (t, dir) => {
  fs.mkdirSync(path.join(dir, 'd'))
  fs.writeFileSync(path.join(dir, 'd', 'f'), 'f')
  fs.symlinkSync('d', path.join(dir, 'link'))
  fs.symlinkSync('f', path.join(dir, 'd', 'inner'))
  t.equal(run(['-r', path.join(dir, 'link'), path.join(dir, 'r')]).status, 0)
  t.equal(fs.readlinkSync(path.join(dir, 'r')), 'd', '-r: the link itself, target verbatim')
  t.equal(run(['-rL', path.join(dir, 'link'), path.join(dir, 'L')]).status, 0)
  t.ok(fs.lstatSync(path.join(dir, 'L')).isDirectory())
  t.ok(fs.lstatSync(path.join(dir, 'L', 'inner')).isFile(), '-L follows inside the tree too')
  t.equal(run(['-rH', path.join(dir, 'link'), path.join(dir, 'H')]).status, 0)
  t.ok(fs.lstatSync(path.join(dir, 'H')).isDirectory(), '-H follows the operand')
  t.ok(fs.lstatSync(path.join(dir, 'H', 'inner')).isSymbolicLink(), 'and not the links inside')
  t.equal(run(['-P', path.join(dir, 'd', 'inner'), path.join(dir, 'P')]).status, 0)
  t.equal(fs.readlinkSync(path.join(dir, 'P')), 'f', '-P on a file link')
  t.equal(run([path.join(dir, 'd', 'inner'), path.join(dir, 'plain')]).status, 0)
  t.ok(fs.lstatSync(path.join(dir, 'plain')).isFile(), 'no -r, no -P: followed, as cp')
  fs.writeFileSync(path.join(dir, 'old'), 'old')
  t.equal(run(['-d', path.join(dir, 'd', 'inner'), path.join(dir, 'old')]).status, 0)
  t.equal(fs.readlinkSync(path.join(dir, 'old')), 'f', 'an existing file is replaced by the link, as cp -d')
})

t.test('contradictory and unsupported options are usage errors (exit 2)', async (t) => {
  for (const [args, msg] of [
    [['--sparse=never', '--reflink', 'a', 'b'], /--reflink=always cannot be used with --sparse=never/],
    [['--sparse=never', '--reflink=always', 'a', 'b'], /--reflink=always cannot be used with --sparse=never/],
    [['-l', '-s', 'a', 'b'], /cannot make both hard and symbolic links/],
    [['-t', '/', '-T', 'a', 'b'], /cannot combine --target-directory/],
    [['--atomic', '-l', 'a', 'b'], /--atomic cannot be used with -l/],
    [['-i', 'a', 'b'], /not supported: '-i'/],
    [['--backup', 'a', 'b'], /not supported: '--backup'/],
    [['--preserve=links', 'a', 'b'], /not supported: --preserve=links/],
    [['--preserve=context', 'a', 'b'], /not supported: --preserve=context/],
    [['--preserve=colour', 'a', 'b'], /invalid argument 'colour' for '--preserve'/],
    [['--re', 'a', 'b'], /option '--re' is ambiguous/],
    [['-T', 'a', 'b', 'c'], /extra operand 'c'/],
  ]) {
    const r = run(args)
    t.equal(r.status, 2, `${args.join(' ')}: exit 2`)
    t.match(r.stderr, msg)
    t.match(r.stderr, /Try 'cowcopy --help'/)
  }
})

onFs(t, 'btrfs', '--json: one object per operand, skipped ones too; a tree lists its errors', async (t, dir) => {
  const a = path.join(dir, 'a')
  makeFile(a, 10)
  fs.writeFileSync(path.join(dir, 'b'), 'b')
  fs.mkdirSync(path.join(dir, 'd'))
  fs.mkdirSync(path.join(dir, 'into'))
  fs.writeFileSync(path.join(dir, 'into', 'a'), 'old')
  let r = run(['--json', '-n', a, path.join(dir, 'b'), path.join(dir, 'd'), path.join(dir, 'into')])
  t.equal(r.status, 1, 'the directory without -r fails the run, as cp')
  const lines = jsonLines(r.stdout)
  t.equal(lines.length, 3, 'one object per operand')
  t.same(lines[0], { src: a, dest: path.join(dir, 'into', 'a'), skipped: 'exists' })
  t.equal(lines[1].method !== undefined, true)
  t.same(lines[2], { src: path.join(dir, 'd'), dest: path.join(dir, 'into', 'd'), skipped: 'directory', error: { code: 'EISDIR', message: '-r not specified; omitting directory' } })
  // a tree whose file meets a directory in the destination
  fs.mkdirSync(path.join(dir, 's'))
  fs.writeFileSync(path.join(dir, 's', 'x'), 'x')
  fs.writeFileSync(path.join(dir, 's', 'y'), 'y')
  fs.mkdirSync(path.join(dir, 't', 's', 'x'), { recursive: true })
  r = run(['--json', '-r', path.join(dir, 's'), path.join(dir, 't')])
  t.equal(r.status, 1)
  const [tree] = jsonLines(r.stdout)
  t.equal(tree.files, 1)
  t.equal(tree.errors.length, 1)
  t.match(tree.errors[0], { path: path.join(dir, 's', 'x'), dest: path.join(dir, 't', 's', 'x'), code: String, message: String })
})

onFs(t, 'ext4', 'subcommands only as the first argument; ./probe and -- probe copy a file named probe', async (t, dir) => {
  fs.writeFileSync(path.join(dir, 'probe'), 'p')
  fs.writeFileSync(path.join(dir, 'dedupe'), 'd')
  let r = run(['./probe', 'out1'], { cwd: dir })
  t.equal(r.status, 0, r.stderr)
  t.equal(fs.readFileSync(path.join(dir, 'out1'), 'utf8'), 'p')
  r = run(['--', 'probe', 'out2'], { cwd: dir })
  t.equal(r.status, 0, r.stderr)
  t.equal(fs.readFileSync(path.join(dir, 'out2'), 'utf8'), 'p')
  r = run(['-v', 'dedupe', 'out3'], { cwd: dir })
  t.equal(r.status, 0, 'an option first: a copy')
  t.equal(fs.readFileSync(path.join(dir, 'out3'), 'utf8'), 'd')
  r = run(['probe', 'out4'], { cwd: dir })
  t.equal(r.status, 1, 'first argument: the subcommand')
  t.match(r.stderr, /cannot probe 'out4'.*write \.\/probe or -- probe/)
  t.notOk(fs.existsSync(path.join(dir, 'out4')))
})

onFs(t, 'btrfs', '-a, -l, -s, -u, -f, --remove-destination, -t, -T', async (t, dir) => {
  const j = (...p) => path.join(dir, ...p)
  fs.mkdirSync(j('src', 'sub'), { recursive: true })
  makeFile(j('src', 'f'), 1000, 0o750)
  fs.symlinkSync('f', j('src', 'l'))
  fs.utimesSync(j('src', 'f'), 1000000, 1000000)
  fs.utimesSync(j('src'), 2000000, 2000000)
  t.equal(run(['-a', j('src'), j('a')]).status, 0)
  t.equal(fs.statSync(j('a', 'f')).mtimeMs, 1000000 * 1000, '-a keeps times')
  t.equal(fs.statSync(j('a')).mtimeMs, 2000000 * 1000, 'of directories too')
  t.equal(fs.readlinkSync(j('a', 'l')), 'f')
  t.equal(fs.statSync(j('a', 'f')).mode & 0o7777, 0o750)
  // -l
  t.equal(run(['-l', j('src', 'f'), j('hard')]).status, 0)
  t.equal(fs.statSync(j('hard')).ino, fs.statSync(j('src', 'f')).ino)
  let r = run(['-l', j('src', 'f'), j('hard')])
  t.equal(r.status, 1, 'an existing destination: cp -l fails')
  t.match(r.stderr, /cannot create hard link .*File exists/)
  fs.writeFileSync(j('other'), 'o')
  t.equal(run(['-lf', j('src', 'f'), j('other')]).status, 0, '-f replaces it')
  t.equal(fs.statSync(j('other')).ino, fs.statSync(j('src', 'f')).ino)
  t.equal(run(['-rl', j('src'), j('hardtree')]).status, 0)
  t.equal(fs.statSync(j('hardtree', 'f')).ino, fs.statSync(j('src', 'f')).ino, '-rl links the files of a tree')
  // -s
  t.equal(run(['-s', j('src', 'f'), j('sym')]).status, 0)
  t.equal(fs.readlinkSync(j('sym')), j('src', 'f'))
  r = run(['-s', 'src/f', j('sub-sym')], { cwd: dir })
  t.equal(r.status, 1)
  t.match(r.stderr, /can make relative symbolic links only in current directory/)
  t.equal(run(['-s', 'src/f', 'rel-sym'], { cwd: dir }).status, 0)
  t.equal(fs.readlinkSync(j('rel-sym')), 'src/f')
  // -u
  fs.writeFileSync(j('newer'), 'newer')
  r = run(['-u', '--json', j('src', 'f'), j('newer')])
  t.equal(r.status, 0)
  t.same(jsonLines(r.stdout)[0].skipped, 'not newer')
  t.equal(fs.readFileSync(j('newer'), 'utf8'), 'newer')
  fs.utimesSync(j('newer'), 10, 10)
  t.equal(run(['-u', j('src', 'f'), j('newer')]).status, 0)
  t.equal(fs.statSync(j('newer')).size, 1000, 'older destination: copied')
  fs.writeFileSync(j('a', 'f'), 'keep')
  t.equal(run(['-ru', j('src') + '/.', j('a')]).status, 0)
  t.equal(fs.readFileSync(j('a', 'f'), 'utf8'), 'keep', '-ru: a newer file in the destination is kept')
  // -f: a destination that cannot be opened is removed and copied again
  fs.writeFileSync(j('ro'), 'ro')
  fs.chmodSync(j('ro'), 0o444)
  const asNobody = (args) => spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, ...args], { encoding: 'utf8', env: { PATH: process.env.PATH } })
  fs.chmodSync(dir, 0o777)
  fs.chmodSync(j('src', 'f'), 0o755)
  fs.chownSync(j('ro'), 65534, 65534)
  r = asNobody([j('src', 'f'), j('ro')])
  t.equal(r.status, 1, 'without -f: permission denied')
  r = asNobody(['-f', j('src', 'f'), j('ro')])
  t.equal(r.status, 0, r.stderr)
  t.equal(fs.statSync(j('ro')).size, 1000)
  // --remove-destination: a new inode
  fs.writeFileSync(j('rd'), 'rd')
  fs.linkSync(j('rd'), j('rd-link'))
  t.equal(run(['--remove-destination', j('src', 'f'), j('rd')]).status, 0)
  t.equal(fs.readFileSync(j('rd-link'), 'utf8'), 'rd', 'the old inode (its other name) is untouched')
  // -t and -T
  fs.mkdirSync(j('tdir'))
  t.equal(run(['-t', j('tdir'), j('src', 'f'), j('hard')]).status, 0)
  t.same(fs.readdirSync(j('tdir')).sort(), ['f', 'hard'])
  fs.mkdirSync(j('T'))
  r = run(['-rT', j('src'), j('T')])
  t.equal(r.status, 0)
  t.ok(fs.existsSync(j('T', 'f')), '-T: DEST is the copy itself, not a directory to copy into')
})

onFs(t, 'ext4', '--preserve / --no-preserve, and the mode without them (the umask, as cp)', async (t, dir) => {
  const j = (...p) => path.join(dir, ...p)
  makeFile(j('f'), 10, 0o777)
  fs.utimesSync(j('f'), 1000000, 1000000)
  const sh2 = (cmd) => spawnSync('bash', ['-c', `umask 022; ${cmd}`, 'sh', process.execPath, cli], { cwd: dir, encoding: 'utf8' })
  t.equal(sh2('"$1" "$2" f plain').status, 0)
  t.equal(fs.statSync(j('plain')).mode & 0o777, 0o755, 'a new file: the mode less the umask')
  makeFile(j('existing'), 1, 0o600)
  t.equal(sh2('"$1" "$2" f existing').status, 0)
  t.equal(fs.statSync(j('existing')).mode & 0o777, 0o600, 'an existing file keeps its mode')
  t.equal(sh2('"$1" "$2" --preserve=mode f m').status, 0)
  t.equal(fs.statSync(j('m')).mode & 0o777, 0o777)
  t.not(fs.statSync(j('m')).mtimeMs, 1000000 * 1000)
  t.equal(sh2('"$1" "$2" --preserve=timestamps f ts').status, 0)
  t.equal(fs.statSync(j('ts')).mtimeMs, 1000000 * 1000)
  t.equal(sh2('"$1" "$2" -p --no-preserve=mode f nm').status, 0)
  t.equal(fs.statSync(j('nm')).mode & 0o777, 0o755)
  t.equal(fs.statSync(j('nm')).mtimeMs, 1000000 * 1000)
})

onFs(t, 'ext4', '--parents makes the source path under the directory', async (t, dir) => {
  const j = (...p) => path.join(dir, ...p)
  fs.mkdirSync(j('a', 'b'), { recursive: true, mode: 0o755 })
  fs.chmodSync(j('a', 'b'), 0o700)
  fs.writeFileSync(j('a', 'b', 'f'), 'f')
  fs.mkdirSync(j('out'))
  let r = run(['--parents', 'a/b/f', 'out'], { cwd: dir })
  t.equal(r.status, 0, r.stderr)
  t.equal(fs.readFileSync(j('out', 'a', 'b', 'f'), 'utf8'), 'f')
  t.equal(run(['--parents', '-p', 'a/b/f', 'out2'], { cwd: dir }).status, 2, 'the destination must be a directory')
  fs.mkdirSync(j('out2'))
  t.equal(run(['--par', '-p', 'a/b/f', 'out2'], { cwd: dir }).status, 0, 'an abbreviation, as getopt_long')
  t.equal(fs.statSync(j('out2', 'a', 'b')).mode & 0o777, 0o700, '-p: the made directory has its source\'s mode')
  r = run(['-r', '--parents', 'a/b', 'out3'], { cwd: dir })
  t.equal(r.status, 2)
})
