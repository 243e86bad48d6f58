// copyDir against fs.promises.cp on the same trees: dereference,
// verbatimSymlinks (cowcopy keeps targets verbatim by default, fs.cp rewrites
// relative ones), errorOnExist, the filter asked about the root, a file as the
// source. Each result tree is compared with fs.cp's (types, modes, link
// targets, bytes). Plus the adversarial side of dereference: link cycles,
// links to a FIFO, to /dev/zero, dangling links, links leaving the tree.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { copyDir } from 'cowcopy'
import { fileURLToPath } from 'node:url'
import { diffTrees, onFs, openFds } from '../helpers.mjs'

const write = (file, data, mode = 0o644) => {
  fs.writeFileSync(file, data, { mode })
  fs.chmodSync(file, mode)
}

// A small tree with every kind of link fs.cp treats differently: relative
// and absolute, to files and to directories, leaving the tree, plus modes
// that are not the umask's.
function makeParityTree(dir) {
  const src = path.join(dir, 'src')
  const outside = path.join(dir, 'outside')
  fs.mkdirSync(path.join(src, 'sub', 'deep'), { recursive: true })
  fs.mkdirSync(path.join(outside, 'odir'), { recursive: true })
  write(path.join(src, 'f.txt'), 'file f')
  write(path.join(src, 'exec.sh'), '#!/bin/sh\n', 0o755)
  write(path.join(src, 'sub', 'deep', 'g.txt'), 'file g', 0o600)
  fs.chmodSync(path.join(src, 'sub'), 0o750)
  write(path.join(outside, 'secret.txt'), 'outside file', 0o640)
  write(path.join(outside, 'odir', 'h.txt'), 'outside dir file')
  fs.symlinkSync('f.txt', path.join(src, 'rel'))
  fs.symlinkSync('sub/deep/g.txt', path.join(src, 'subrel'))
  fs.symlinkSync('../../f.txt', path.join(src, 'sub', 'deep', 'up'))
  fs.symlinkSync('./deep/../deep//g.txt', path.join(src, 'sub', 'messy'))
  fs.symlinkSync(path.join(src, 'f.txt'), path.join(src, 'abs'))
  fs.symlinkSync('sub', path.join(src, 'dlink'))
  fs.symlinkSync(path.join(outside, 'secret.txt'), path.join(src, 'out'))
  fs.symlinkSync('../outside/odir', path.join(src, 'outdir'))
  return { src, outside }
}

const snapshot = (root) => {
  const out = []
  const walk = (rel) => {
    const p = path.join(root, rel)
    const st = fs.lstatSync(p)
    const row = { rel, type: st.mode & 0o170000, mode: st.isSymbolicLink() ? 0 : st.mode & 0o7777 }
    if (st.isSymbolicLink()) row.target = fs.readlinkSync(p)
    if (st.isFile()) row.data = fs.readFileSync(p, 'latin1')
    out.push(row)
    if (st.isDirectory()) for (const e of fs.readdirSync(p).sort()) walk(path.join(rel, e))
  }
  walk('')
  return out
}

const zero = () => ({ files: 0, bytes: 0, dirs: 0, symlinks: 0 })

for (const fsName of ['tmpfs', 'xfs', 'btrfs']) {
  onFs(t, fsName, 'default: targets verbatim, the same tree as fs.cp with verbatimSymlinks: true', async (t, dir) => {
    const { src } = makeParityTree(dir)
    const r = await copyDir(src, path.join(dir, 'ours'))
    await fs.promises.cp(src, path.join(dir, 'theirs'), { recursive: true, verbatimSymlinks: true })
    t.same(r.errors, [])
    t.same(diffTrees(path.join(dir, 'theirs'), path.join(dir, 'ours')), [])
    t.equal(fs.readlinkSync(path.join(dir, 'ours', 'rel')), 'f.txt', 'a relative target stays relative')
    t.equal(r.symlinks, 8)
  })

  onFs(t, fsName, 'verbatimSymlinks: false rewrites relative targets as fs.cp does by default', async (t, dir) => {
    const { src } = makeParityTree(dir)
    const r = await copyDir(src, path.join(dir, 'ours'), { verbatimSymlinks: false })
    await fs.promises.cp(src, path.join(dir, 'theirs'), { recursive: true })
    t.same(r.errors, [])
    t.same(diffTrees(path.join(dir, 'theirs'), path.join(dir, 'ours')), [])
    t.equal(fs.readlinkSync(path.join(dir, 'ours', 'rel')), path.join(src, 'f.txt'), 'absolute, into the source')
    t.equal(fs.readlinkSync(path.join(dir, 'ours', 'sub', 'messy')), path.join(src, 'sub', 'deep', 'g.txt'), 'normalized like path.resolve')
    t.equal(fs.readlinkSync(path.join(dir, 'ours', 'abs')), path.join(src, 'f.txt'), 'an absolute target as it was')

    // A relative source path resolves against the working directory, as fs.cp's does.
    const relSrc = path.relative(process.cwd(), src)
    await copyDir(relSrc, path.join(dir, 'ours-rel'), { verbatimSymlinks: false })
    await fs.promises.cp(relSrc, path.join(dir, 'theirs-rel'), { recursive: true })
    t.same(diffTrees(path.join(dir, 'theirs-rel'), path.join(dir, 'ours-rel')), [])
    // And a Buffer source, to the byte.
    await copyDir(Buffer.from(src + '/'), path.join(dir, 'ours-buf'), { verbatimSymlinks: false })
    t.same(diffTrees(path.join(dir, 'theirs'), path.join(dir, 'ours-buf')), [])
  })

  onFs(t, fsName, 'dereference: links followed, the same tree as fs.cp({ dereference: true })', async (t, dir) => {
    const { src, outside } = makeParityTree(dir)
    const outsideBefore = snapshot(outside)
    const fds = openFds()
    const r = await copyDir(src, path.join(dir, 'ours'), { dereference: true })
    t.same(openFds(), fds, 'no descriptor leaked')
    await fs.promises.cp(src, path.join(dir, 'theirs'), { recursive: true, dereference: true })
    t.same(r.errors, [])
    t.same(r.skipped, [])
    t.same(diffTrees(path.join(dir, 'theirs'), path.join(dir, 'ours')), [])
    t.equal(r.symlinks, 0, 'no link made')
    t.ok(snapshot(path.join(dir, 'ours')).every((e) => e.type !== 0o120000), 'no symlink in the copy')
    t.equal(fs.readFileSync(path.join(dir, 'ours', 'out'), 'utf8'), 'outside file', 'a link leaving the tree is read')
    t.equal(fs.statSync(path.join(dir, 'ours', 'out')).mode & 0o777, 0o640, "its target's mode")
    t.equal(fs.readFileSync(path.join(dir, 'ours', 'dlink', 'deep', 'g.txt'), 'utf8'), 'file g', 'a linked directory is walked')
    t.equal(fs.statSync(path.join(dir, 'ours', 'dlink')).mode & 0o777, 0o750, "a linked directory takes its target's mode")
    t.equal(fs.readFileSync(path.join(dir, 'ours', 'outdir', 'h.txt'), 'utf8'), 'outside dir file')
    t.same(snapshot(outside), outsideBefore, 'what the links lead to is only read')
    // 6 files, 3 through links to files (rel, subrel, up, abs, out, messy: 6), 2 through linked directories.
    t.equal(r.files, fs.readdirSync(path.join(dir, 'ours'), { recursive: true }).filter((p) => fs.statSync(path.join(dir, 'ours', p)).isFile()).length)
  })
}

onFs(t, 'xfs', 'dereference: a link to an ancestor is a cycle, refused at once (fs.cp recurses until ELOOP)', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(path.join(src, 'sub'), { recursive: true })
  write(path.join(src, 'f'), 'f')
  write(path.join(src, 'sub', 'g'), 'g')
  fs.symlinkSync('..', path.join(src, 'sub', 'up'))
  fs.symlinkSync('.', path.join(src, 'here'))
  fs.symlinkSync('self', path.join(src, 'self'))
  const fds = openFds()
  const r = await copyDir(src, path.join(dir, 'ours'), { dereference: true })
  t.same(openFds(), fds, 'no descriptor leaked')
  const byPath = Object.fromEntries(r.errors.map((e) => [path.relative(src, e.src), e.error]))
  t.same(Object.keys(byPath).sort(), ['here', 'self', 'sub/up'])
  t.equal(byPath['sub/up'].code, 'ELOOP')
  t.match(byPath['sub/up'].message, /cycle/)
  t.equal(byPath.here.code, 'ELOOP')
  t.equal(byPath.self.code, 'ELOOP', 'a link to itself: the kernel says ELOOP')
  t.equal(byPath['sub/up'].path, path.join(src, 'sub', 'up'))
  t.same(fs.readdirSync(path.join(dir, 'ours')).sort(), ['f', 'sub'])
  t.same(fs.readdirSync(path.join(dir, 'ours', 'sub')).sort(), ['g'], 'nothing made for the cycle')
  t.equal(r.files, 2)
  // fs.cp follows the cycle until the path has too many links in it.
  const err = await fs.promises.cp(src, path.join(dir, 'theirs'), { recursive: true, dereference: true }).then(() => null, (e) => e)
  t.equal(err?.code, 'ELOOP', 'fs.cp: ELOOP after nesting')
})

onFs(t, 'tmpfs', 'dereference: links to a FIFO and to /dev/zero are skipped (no hang), a dangling link is an error', async (t, dir) => {
  const src = path.join(dir, 'src')
  fs.mkdirSync(src)
  write(path.join(src, 'f'), 'f')
  execFileSync('mkfifo', [path.join(dir, 'fifo')])
  fs.symlinkSync(path.join(dir, 'fifo'), path.join(src, 'to-fifo'))
  fs.symlinkSync('/dev/zero', path.join(src, 'to-zero'))
  fs.symlinkSync('nowhere', path.join(src, 'dangling'))
  const r = await copyDir(src, path.join(dir, 'ours'), { dereference: true })
  t.same(r.skipped.map((s) => [path.basename(s.path), s.type]).sort(), [['to-fifo', 'fifo'], ['to-zero', 'character device']])
  t.equal(r.errors.length, 1)
  t.equal(r.errors[0].src, path.join(src, 'dangling'))
  t.equal(r.errors[0].error.code, 'ENOENT', 'a dangling link: ENOENT, listed; the others still copied')
  t.same(fs.readdirSync(path.join(dir, 'ours')), ['f'])
  // fs.cp: the dangling link rejects the whole call; a FIFO too (ERR_FS_CP_FIFO_PIPE).
  const dangling = await fs.promises.cp(src, path.join(dir, 'theirs'), {
    recursive: true, dereference: true, filter: (s) => !s.endsWith('to-zero') && !s.endsWith('to-fifo'),
  }).then(() => null, (e) => e)
  t.equal(dangling?.code, 'ENOENT')
  const fifo = await fs.promises.cp(src, path.join(dir, 'theirs2'), {
    recursive: true, dereference: true, filter: (s) => !s.endsWith('to-zero') && !s.endsWith('dangling'),
  }).then(() => null, (e) => e)
  t.equal(fifo?.code, 'ERR_FS_CP_FIFO_PIPE')
  // Without dereference all three are links, copied as links.
  const plain = await copyDir(src, path.join(dir, 'plain'))
  t.equal(plain.symlinks, 3)
  t.equal(fs.readlinkSync(path.join(dir, 'plain', 'to-zero')), '/dev/zero')
})

// What the kernel saw (strace): a link is opened O_PATH, nothing that is not
// a regular file or a directory is ever opened otherwise, and a followed file
// is read through the descriptor the O_PATH open gave (/proc/self/fd/N), not
// by resolving the link's name again.
const hasStrace = spawnSync('strace', ['-V']).status === 0
onFs(t, 'tmpfs', 'dereference follows through descriptors (strace)', async (t, dir) => {
  if (!hasStrace) return t.skip('strace is not installed')
  fs.mkdirSync(path.join(dir, 'src', 'sub'), { recursive: true })
  write(path.join(dir, 'outside'), 'o')
  write(path.join(dir, 'src', 'sub', 'g'), 'g')
  fs.symlinkSync('../outside', path.join(dir, 'src', 'lf'))
  fs.symlinkSync('/dev/zero', path.join(dir, 'src', 'z'))
  fs.symlinkSync('sub', path.join(dir, 'src', 'ld'))
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'index.js')
  const script = `require(${JSON.stringify(entry)}).copyDir('src', 'dst', { dereference: true, concurrency: 1 }).then((r) => console.log(r.files))`
  const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=openat,open', process.execPath, '-e', script], { cwd: dir, encoding: 'utf8' })
  t.equal(r.stdout.trim(), '3', 'lf, sub/g, ld/g')
  const opens = r.stderr.split('\n').filter((l) => /"(lf|z|ld|\/dev\/zero|\/proc\/self\/fd\/\d+)"/.test(l))
  t.ok(opens.some((l) => /\d+, "lf", .*O_PATH/.test(l)), 'the link to a file opened O_PATH')
  t.ok(opens.some((l) => /"\/proc\/self\/fd\/\d+", O_RDONLY/.test(l)), 'its file read through that descriptor')
  t.notOk(opens.some((l) => /\d+, "lf", O_RDONLY/.test(l) && !/O_PATH/.test(l)), 'the name lf never opened for reading')
  t.same(opens.filter((l) => /"z"|\/dev\/zero/.test(l)).map((l) => /O_PATH/.test(l)), [true], '/dev/zero: one O_PATH open, nothing else')
  t.ok(opens.some((l) => /\d+, "ld", O_RDONLY\|.*O_DIRECTORY/.test(l)), 'the linked directory opened O_DIRECTORY')
})

// Without /proc (a chroot, a container that hides it): the followed file is
// opened by its name, following, and proved to be the inode fstat saw.
onFs(t, 'tmpfs', 'dereference without /proc: followed files still copied', async (t, dir) => {
  const ns = spawnSync('unshare', ['-m', 'true'])
  if (ns.status !== 0) return t.skip('no mount namespace (unshare -m) here')
  fs.mkdirSync(path.join(dir, 'src'))
  write(path.join(dir, 'outside'), 'o', 0o640)
  fs.symlinkSync('../outside', path.join(dir, 'src', 'lf'))
  const entry = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'index.js')
  const script = `require(${JSON.stringify(entry)}).copyDir('src', 'dst', { dereference: true }).then((r) => console.log(JSON.stringify([require('fs').existsSync('/proc/self'), r.files, r.errors.map((e) => e.error.message)])))`
  const r = spawnSync('unshare', ['-m', 'sh', '-c', 'umount -l /proc && exec "$0" -e "$1"', process.execPath, script], { cwd: dir, encoding: 'utf8' })
  t.same(JSON.parse(r.stdout || 'null'), [false, 1, []], r.stderr)
  t.equal(fs.readFileSync(path.join(dir, 'dst', 'lf'), 'utf8'), 'o')
  t.equal(fs.lstatSync(path.join(dir, 'dst', 'lf')).mode & 0o7777, 0o640)
})

onFs(t, 'xfs', 'dereference: a linked directory that is the destination is refused', async (t, dir) => {
  const src = path.join(dir, 'src')
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(src)
  fs.mkdirSync(dest)
  write(path.join(src, 'f'), 'f')
  fs.symlinkSync(dest, path.join(src, 'to-dest'))
  const r = await copyDir(src, dest, { dereference: true })
  t.equal(r.errors.length, 1)
  t.match(r.errors[0].error.message, /into itself/)
  t.same(fs.readdirSync(dest).sort(), ['f'])
})

onFs(t, 'xfs', 'errorOnExist: rejects with EEXIST at the first existing file (fs.cp: ERR_FS_CP_EEXIST)', async (t, dir) => {
  const { src } = makeParityTree(dir)
  const dest = path.join(dir, 'dest')
  fs.mkdirSync(path.join(dest, 'sub', 'deep'), { recursive: true })
  write(path.join(dest, 'sub', 'deep', 'g.txt'), 'OLD')
  fs.cpSync(dest, path.join(dir, 'theirs'), { recursive: true })

  const err = await copyDir(src, dest, { overwrite: false, errorOnExist: true, concurrency: 1 }).then(() => null, (e) => e)
  t.equal(err?.code, 'EEXIST')
  t.equal(err?.errno, -17)
  t.equal(err?.path, path.join(src, 'sub', 'deep', 'g.txt'))
  t.equal(err?.dest, path.join(dest, 'sub', 'deep', 'g.txt'))
  t.match(err?.message, /^EEXIST: /)
  t.equal(fs.readFileSync(path.join(dest, 'sub', 'deep', 'g.txt'), 'utf8'), 'OLD', 'the existing file kept')
  const theirs = await fs.promises.cp(src, path.join(dir, 'theirs'), { recursive: true, force: false, errorOnExist: true }).then(() => null, (e) => e)
  t.equal(theirs?.code, 'ERR_FS_CP_EEXIST', 'fs.cp rejects too')
  t.equal(fs.readFileSync(path.join(dir, 'theirs', 'sub', 'deep', 'g.txt'), 'utf8'), 'OLD')

  // force is fs.cp's name for overwrite.
  const alias = await copyDir(src, path.join(dir, 'alias'), { force: false, errorOnExist: true })
  t.same(alias.errors, [], 'nothing existing, nothing to reject')
  fs.writeFileSync(path.join(dir, 'alias', 'f.txt'), 'OLD')
  const err2 = await copyDir(src, path.join(dir, 'alias'), { force: false, errorOnExist: true }).then(() => null, (e) => e)
  t.equal(err2?.code, 'EEXIST', 'force: false is overwrite: false')
  await t.rejects(copyDir(src, dest, { force: false, overwrite: true }), { code: 'ERR_INCOMPATIBLE_OPTION_PAIR' })
  await t.rejects(copyDir(src, dest, { force: 'no' }), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(copyDir(src, dest, { errorOnExist: 1 }), { code: 'ERR_INVALID_ARG_TYPE' })

  // An existing symlink is existing too (fs.cp replaces links even with force: false).
  const linked = path.join(dir, 'linked')
  fs.mkdirSync(linked)
  fs.symlinkSync('elsewhere', path.join(linked, 'rel'))
  const err3 = await copyDir(src, linked, { overwrite: false, errorOnExist: true }).then(() => null, (e) => e)
  t.equal(err3?.code, 'EEXIST')
  t.equal(fs.readlinkSync(path.join(linked, 'rel')), 'elsewhere')

  // Without errorOnExist: listed, not rejected. With overwrite: errorOnExist has no effect (as in fs.cp).
  // (What the rejected call copied before it stopped stays, as with fs.cp: all of it exists now.)
  const listed = await copyDir(src, dest, { overwrite: false })
  t.ok(listed.errors.length >= 1 && listed.errors.every((e) => e.error.code === 'EEXIST'), 'existing files listed')
  t.ok(listed.errors.some((e) => e.dest === path.join(dest, 'sub', 'deep', 'g.txt')))
  const over = await copyDir(src, dest, { errorOnExist: true })
  t.same(over.errors, [])
  t.equal(fs.readFileSync(path.join(dest, 'sub', 'deep', 'g.txt'), 'utf8'), 'file g')
})

onFs(t, 'ext4', 'the filter is asked about the root first; false: nothing copied or created (as fs.cp)', async (t, dir) => {
  const { src } = makeParityTree(dir)
  const seen = []
  const r = await copyDir(src, path.join(dir, 'missing-parent', 'dest'), {
    filter: (rel, entry) => {
      seen.push([rel, entry.name, entry.parentPath, entry.isDirectory(), entry.isFile()])
      return false
    },
  })
  t.same(seen, [['', '', '', true, false]], 'asked once, about the root')
  t.match(r, { ...zero(), errors: [], skipped: [] })
  t.notOk(fs.existsSync(path.join(dir, 'missing-parent')), 'nothing created')
  await fs.promises.cp(src, path.join(dir, 'missing-parent', 'dest'), { recursive: true, filter: () => false })
  t.notOk(fs.existsSync(path.join(dir, 'missing-parent')), 'fs.cp creates nothing either')

  // True: the walk goes on, and the root came first.
  const order = []
  await copyDir(src, path.join(dir, 'all'), { filter: (rel) => order.push(rel) > 0 })
  t.equal(order[0], '')
  t.equal(order.filter((r) => r === '').length, 1)
  t.same(diffTrees(src, path.join(dir, 'all')), [])
  // Buffers: the root's relPath is an empty Buffer.
  const bufSeen = []
  await copyDir(Buffer.from(src), path.join(dir, 'buf'), { filter: (rel, e) => bufSeen.push([rel, e.name]) > 1 })
  t.ok(Buffer.isBuffer(bufSeen[0][0]) && bufSeen[0][0].length === 0 && Buffer.isBuffer(bufSeen[0][1]))
  // A throwing or async filter on the root rejects before anything is made.
  const boom = new Error('no')
  await t.rejects(copyDir(src, path.join(dir, 'boom'), { filter: () => { throw boom } }), boom)
  await t.rejects(copyDir(src, path.join(dir, 'async'), { filter: async () => true }), { code: 'ERR_INVALID_RETURN_VALUE' })
  t.notOk(fs.existsSync(path.join(dir, 'boom')) || fs.existsSync(path.join(dir, 'async')))
})

for (const fsName of ['tmpfs', 'xfs']) {
  onFs(t, fsName, 'a file as the source: copied to dest, as fs.cp does', async (t, dir) => {
    const file = path.join(dir, 'file.bin')
    write(file, 'some bytes', 0o751)
    const r = await copyDir(file, path.join(dir, 'ours'), { listFiles: true })
    await fs.promises.cp(file, path.join(dir, 'theirs'))
    t.match(r, { files: 1, bytes: 10, dirs: 0, symlinks: 0, errors: [], skipped: [] })
    t.equal(r.copied.length, 1)
    t.equal(r.copied[0].dest, path.join(dir, 'ours'))
    t.equal(r.methods.clone, fsName === 'xfs' ? 1 : 0)
    t.same(diffTrees(path.join(dir, 'theirs'), path.join(dir, 'ours')), [])

    // An existing file is replaced (overwrite defaults to true, as force does).
    write(path.join(dir, 'ours'), 'OLD', 0o600)
    await copyDir(file, path.join(dir, 'ours'))
    t.same(diffTrees(file, path.join(dir, 'ours')), [])
    // overwrite: false lists it (fs.cp skips it silently); errorOnExist rejects.
    write(path.join(dir, 'ours'), 'OLD', 0o600)
    const kept = await copyDir(file, path.join(dir, 'ours'), { overwrite: false })
    t.same(kept.errors.map((e) => e.error.code), ['EEXIST'])
    t.equal(kept.files, 0)
    const err = await copyDir(file, path.join(dir, 'ours'), { overwrite: false, errorOnExist: true }).then(() => null, (e) => e)
    t.match(err, { code: 'EEXIST', path: file, dest: path.join(dir, 'ours') })
    t.equal(fs.readFileSync(path.join(dir, 'ours'), 'utf8'), 'OLD')

    // A directory as the destination: refused (fs.cp: ERR_FS_CP_NON_DIR_TO_DIR), the directory untouched.
    fs.mkdirSync(path.join(dir, 'adir'))
    const isDir = await copyDir(file, path.join(dir, 'adir')).then(() => null, (e) => e)
    t.match(isDir, { code: 'EISDIR', path: file, dest: path.join(dir, 'adir') })
    t.same(fs.readdirSync(path.join(dir, 'adir')), [])
    const theirs = await fs.promises.cp(file, path.join(dir, 'adir')).then(() => null, (e) => e)
    t.equal(theirs?.code, 'ERR_FS_CP_NON_DIR_TO_DIR')
    // Onto itself: refused (fs.cp: "src and dest cannot be the same").
    await t.rejects(copyDir(file, file), { code: 'EINVAL' })
    t.equal(fs.readFileSync(file, 'utf8'), 'some bytes')
    // The filter sees the root as a file.
    const seen = []
    const none = await copyDir(file, path.join(dir, 'filtered'), { filter: (rel, e) => { seen.push([rel, e.isFile()]); return false } })
    t.same(seen, [['', true]])
    t.match(none, zero())
    t.notOk(fs.existsSync(path.join(dir, 'filtered')))
  })
}

t.test('option checks', async (t) => {
  await t.rejects(copyDir('a', 'b', { dereference: 'yes' }), { code: 'ERR_INVALID_ARG_TYPE' })
  await t.rejects(copyDir('a', 'b', { verbatimSymlinks: 0 }), { code: 'ERR_INVALID_ARG_TYPE' })
  // As fs.cp: the two cannot both be asked for.
  await t.rejects(copyDir('a', 'b', { dereference: true, verbatimSymlinks: true }), { code: 'ERR_INCOMPATIBLE_OPTION_PAIR' })
  await t.rejects(fs.promises.cp('a', 'b', { dereference: true, verbatimSymlinks: true }), { code: 'ERR_INCOMPATIBLE_OPTION_PAIR' })
})

