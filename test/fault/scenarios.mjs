// The fault-injection scenarios: for each, the files it starts from, the one
// cowcopy call it makes and what the README promises after a failure in it.
// driver.mjs runs them; test/failures/syscall-injection.test.mjs judges them.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import * as fs from 'node:fs'
import * as path from 'node:path'

/** Deterministic bytes: the same (seed, size) always gives the same content. */
export function bytes(seed, size) {
  const out = Buffer.alloc(size)
  let x = (seed * 2654435761) >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}

/** The SHA-1 of a file's bytes, as the snapshots give it. */
export const sha = (buf) => createHash('sha1').update(buf).digest('hex')

function write(file, seed, size, mode = 0o644) {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, bytes(seed, size))
  fs.chmodSync(file, mode)
}

// A source with holes: data at 0 and 1 MiB, a hole between and one at the end.
function writeSparse(file) {
  const fd = fs.openSync(file, 'w', 0o640)
  fs.writeSync(fd, bytes(7, 65536), 0, 65536, 0)
  fs.writeSync(fd, bytes(8, 70000), 0, 70000, 1 << 20)
  fs.ftruncateSync(fd, 3 << 20)
  fs.fsyncSync(fd)
  fs.closeSync(fd)
  fs.chmodSync(file, 0o640)
}

function sparseSetup(dir) {
  fs.mkdirSync(path.join(dir, 'src'))
  writeSparse(path.join(dir, 'src/f'))
  fs.mkdirSync(path.join(dir, 'out'))
}

// The one file most scenarios copy: 300 KiB + 123 bytes, so a read/write copy
// takes two rounds (256 KiB buffer) and the last block is partial.
const SRC_SIZE = (300 << 10) + 123

function fileSetup(existing) {
  return (dir) => {
    write(path.join(dir, 'src/f'), 1, SRC_SIZE, 0o754)
    fs.mkdirSync(path.join(dir, 'out'))
    if (existing) write(path.join(dir, 'out/f'), 2, 500 << 10, 0o600)
  }
}

// A small tree with every kind of entry copyDir handles.
function treeSetup(dir) {
  const s = path.join(dir, 'src/tree')
  write(path.join(s, 'a'), 11, 5000, 0o644)
  write(path.join(s, 'b'), 12, SRC_SIZE, 0o600)
  write(path.join(s, 'sub/c'), 13, 100, 0o644)
  write(path.join(s, 'sub/d'), 14, 9000, 0o755)
  write(path.join(s, 'sub/deep/e'), 15, 0, 0o644)
  fs.mkdirSync(path.join(s, 'empty'))
  fs.symlinkSync('a', path.join(s, 'link'))
  fs.symlinkSync('nowhere', path.join(s, 'dangling'))
  // A FIFO: a hard link to the test's template beside the run's directory
  // when there is one (mkfifo is a process per run).
  const template = path.join(path.dirname(dir), 'fifo')
  if (fs.existsSync(template)) fs.linkSync(template, path.join(s, 'fifo'))
  else execFileSync('mkfifo', [path.join(s, 'fifo')])
  fs.chmodSync(path.join(s, 'sub'), 0o751)
  fs.mkdirSync(path.join(dir, 'out'))
}

// The destination of a merge: an older file to overwrite, a symlink where
// the source has one, a directory with another mode, a file only here.
function mergeSetup(dir) {
  treeSetup(dir)
  const d = path.join(dir, 'out/tree')
  write(path.join(d, 'a'), 21, 7000, 0o600)
  fs.symlinkSync('old-target', path.join(d, 'link'))
  fs.mkdirSync(path.join(d, 'sub'), { mode: 0o700 })
  fs.chmodSync(path.join(d, 'sub'), 0o700)
  write(path.join(d, 'sub/c'), 22, 3000, 0o644)
  write(path.join(d, 'keep'), 23, 100, 0o644)
}

function preserveSetup(existing) {
  const base = fileSetup(existing)
  return (dir) => {
    base(dir)
    const f = path.join(dir, 'src/f')
    execFileSync('setfattr', ['-n', 'user.cowcopy', '-v', 'fault', f])
    fs.utimesSync(f, new Date('2001-02-03T04:05:06.789Z'), new Date('2002-03-04T05:06:07.891Z'))
  }
}

const ALL = ['btrfs', 'xfs', 'ext4', 'tmpfs']
const COW = ['btrfs', 'xfs']

/**
 * Each scenario: `fs` where it runs, `setup(dir)`, `run(cc, dir)` (the one
 * call), `kind` (how the test judges it: file, tree, files, range, dedupe,
 * probe) and what the README promises: `keepExisting` (a pre-existing
 * destination survives a failure unchanged), `base` (faults always injected,
 * to reach a fallback path: they must not make the call fail), `expectCode`
 * (the error the call gives without any fault, per filesystem or for all),
 * `cloneOnly` (a clone or nothing: no method after it, so a clone's "try
 * another way" answer is the call's failure).
 */
export const SCENARIOS = {
  'copyFile-auto-new': {
    fs: ALL, kind: 'file', setup: fileSetup(false),
    run: (cc, d) => cc.copyFile(`${d}/src/f`, `${d}/out/f`),
  },
  'copyFile-auto-existing': {
    fs: ALL, kind: 'file', existing: true, setup: fileSetup(true),
    run: (cc, d) => cc.copyFileSync(`${d}/src/f`, `${d}/out/f`),
  },
  'copyFile-always-new': {
    fs: COW, kind: 'file', cloneOnly: true, setup: fileSetup(false),
    run: (cc, d) => cc.copyFile(`${d}/src/f`, `${d}/out/f`, { reflink: 'always' }),
  },
  'copyFile-always-existing': {
    // README: "an existing destination is left as it was".
    fs: ALL, kind: 'file', existing: true, keepExisting: true, cloneOnly: true, setup: fileSetup(true),
    expectCode: { ext4: 'ENOTSUP', tmpfs: 'ENOTSUP' },
    run: (cc, d) => cc.copyFileSync(`${d}/src/f`, `${d}/out/f`, { reflink: 'always' }),
  },
  'copyFile-never-new': {
    fs: ALL, kind: 'file', setup: fileSetup(false),
    run: (cc, d) => cc.copyFile(`${d}/src/f`, `${d}/out/f`, { reflink: 'never' }),
  },
  'copyFile-never-existing': {
    fs: ['xfs', 'ext4'], kind: 'file', existing: true, setup: fileSetup(true),
    run: (cc, d) => cc.copyFileSync(`${d}/src/f`, `${d}/out/f`, { reflink: 'never' }),
  },
  'copyFile-excl-existing': {
    // overwrite: false onto an existing file: EEXIST, the file untouched.
    fs: ['ext4'], kind: 'file', existing: true, keepExisting: true, setup: fileSetup(true), expectCode: 'EEXIST',
    run: (cc, d) => cc.copyFileSync(`${d}/src/f`, `${d}/out/f`, { overwrite: false }),
  },
  'copyFile-atomic-new': {
    fs: ALL, kind: 'file', setup: fileSetup(false),
    run: (cc, d) => cc.copyFile(`${d}/src/f`, `${d}/out/f`, { atomic: true }),
  },
  'copyFile-atomic-existing': {
    // README: "on any failure or abort the old file is intact and no temporary file is left".
    fs: ALL, kind: 'file', existing: true, keepExisting: true, setup: fileSetup(true),
    run: (cc, d) => cc.copyFileSync(`${d}/src/f`, `${d}/out/f`, { atomic: true, reflink: 'never' }),
  },
  'copyFile-atomic-fsync-existing': {
    fs: ['xfs', 'ext4'], kind: 'file', existing: true, keepExisting: true, setup: fileSetup(true),
    run: (cc, d) => cc.copyFile(`${d}/src/f`, `${d}/out/f`, { atomic: true, fsync: true }),
  },
  'copyFile-atomic-named-existing': {
    // No O_TMPFILE (as on NFS or an old kernel): the hidden named temporary.
    fs: ['btrfs', 'ext4'], kind: 'file', existing: true, keepExisting: true, setup: fileSetup(true),
    base: 'open:1:EOPNOTSUPP',
    run: (cc, d) => cc.copyFileSync(`${d}/src/f`, `${d}/out/f`, { atomic: true }),
  },
  'copyFile-atomic-noreplace-new': {
    fs: ['xfs', 'tmpfs'], kind: 'file', setup: fileSetup(false),
    run: (cc, d) => cc.copyFile(`${d}/src/f`, `${d}/out/f`, { atomic: true, overwrite: false }),
  },
  'copyFile-atomic-noreplace-link-new': {
    // A filesystem without RENAME_NOREPLACE: the link + unlink fallback.
    fs: ['ext4'], kind: 'file', setup: fileSetup(false), base: 'renameat2:1:EINVAL',
    run: (cc, d) => cc.copyFileSync(`${d}/src/f`, `${d}/out/f`, { atomic: true, overwrite: false }),
  },
  'copyFile-preserve-new': {
    fs: ALL, kind: 'file', preserve: true, setup: preserveSetup(false),
    run: (cc, d) => cc.copyFile(`${d}/src/f`, `${d}/out/f`, { preserve: true }),
  },
  'copyFile-preserve-existing': {
    fs: ['xfs'], kind: 'file', preserve: true, existing: true, setup: preserveSetup(true),
    run: (cc, d) => cc.copyFileSync(`${d}/src/f`, `${d}/out/f`, { preserve: true, reflink: 'never' }),
  },
  'copyFile-sparse-auto': {
    fs: ALL, kind: 'file',
    setup: sparseSetup,
    run: (cc, d) => cc.copyFile(`${d}/src/f`, `${d}/out/f`),
  },
  'copyFile-sparse-never': {
    fs: ['btrfs', 'ext4'], kind: 'file',
    setup: sparseSetup,
    run: (cc, d) => cc.copyFileSync(`${d}/src/f`, `${d}/out/f`, { reflink: 'never' }),
  },
  'copyDir-new': {
    fs: ALL, kind: 'tree', setup: treeSetup,
    run: (cc, d) => cc.copyDir(`${d}/src/tree`, `${d}/out/tree`, { concurrency: 1 }),
  },
  'copyDir-merge': {
    fs: ALL, kind: 'tree', existing: true, setup: mergeSetup,
    run: (cc, d) => cc.copyDir(`${d}/src/tree`, `${d}/out/tree`, { concurrency: 1 }),
  },
  'copyDir-never-new': {
    fs: ['btrfs', 'ext4'], kind: 'tree', setup: treeSetup,
    run: (cc, d) => cc.copyDir(`${d}/src/tree`, `${d}/out/tree`, { concurrency: 1, reflink: 'never' }),
  },
  'copyDir-preserve-new': {
    fs: ['btrfs', 'ext4'], kind: 'tree', preserve: true, setup: treeSetup,
    run: (cc, d) => cc.copyDir(`${d}/src/tree`, `${d}/out/tree`, { concurrency: 1, preserve: true }),
  },
  'copyDir-threads-new': {
    // Two copy threads: the n-th call of a name may come from either, so a
    // fault lands on a different file from run to run; the rules still hold.
    fs: ['xfs', 'ext4'], kind: 'tree', setup: treeSetup,
    run: (cc, d) => cc.copyDir(`${d}/src/tree`, `${d}/out/tree`, { concurrency: 2 }),
  },
  'copyFiles': {
    fs: ALL, kind: 'files',
    setup: (d) => {
      write(path.join(d, 'src/a'), 31, 4000, 0o644)
      write(path.join(d, 'src/b'), 32, SRC_SIZE, 0o755)
      write(path.join(d, 'src/c'), 33, 10, 0o600)
      write(path.join(d, 'out/b'), 34, 9000, 0o644)
    },
    pairs: [['src/a', 'out/a'], ['src/b', 'out/b'], ['src/c', 'out/c']],
    run: (cc, d) =>
      cc.copyFiles([['a', 'a'], ['b', 'b'], ['c', 'c']].map(([s, t]) => [`${d}/src/${s}`, `${d}/out/${t}`]), {
        concurrency: 1,
      }),
  },
  'copyFiles-never': {
    // reflink 'never' starts at sendfile: its sites in a batch call.
    fs: ['xfs', 'tmpfs'], kind: 'files',
    setup: (d) => {
      write(path.join(d, 'src/a'), 35, 4000, 0o644)
      write(path.join(d, 'src/b'), 36, SRC_SIZE, 0o755)
      fs.mkdirSync(path.join(d, 'out'))
    },
    pairs: [['src/a', 'out/a'], ['src/b', 'out/b']],
    run: (cc, d) => cc.copyFiles([['a', 'a'], ['b', 'b']].map(([s, t]) => [`${d}/src/${s}`, `${d}/out/${t}`]), { concurrency: 1, reflink: 'never' }),
  },
  'importFiles-stage': {
    // All or nothing: a failure anywhere leaves neither files nor directories.
    fs: ALL, kind: 'files', dirs: ['out/pkg', 'out/pkg/lib'],
    setup: (d) => {
      write(path.join(d, 'src/a'), 51, 4000, 0o644)
      write(path.join(d, 'src/b'), 52, SRC_SIZE, 0o755)
      write(path.join(d, 'src/c'), 53, 10, 0o600)
      fs.mkdirSync(path.join(d, 'out'))
    },
    pairs: [['src/a', 'out/pkg/package.json'], ['src/b', 'out/pkg/lib/b'], ['src/c', 'out/pkg/lib/c']],
    run: (cc, d) =>
      cc.importFiles(`${d}/out/pkg`, [['package.json', `${d}/src/a`], ['lib/b', `${d}/src/b`], ['lib/c', `${d}/src/c`]], {
        stage: true, marker: 'package.json', concurrency: 1,
      }),
  },
  'importFiles-ladder-existing': {
    // Into an existing package: one file replaced, the ladder's every rung.
    fs: ALL, kind: 'files', dirs: ['out/pkg/lib'],
    setup: (d) => {
      write(path.join(d, 'src/a'), 61, 4000, 0o644)
      write(path.join(d, 'src/b'), 62, SRC_SIZE, 0o755)
      write(path.join(d, 'out/pkg/a'), 63, 9000, 0o600)
    },
    pairs: [['src/a', 'out/pkg/a'], ['src/b', 'out/pkg/lib/b']],
    run: (cc, d) =>
      cc.importFiles(`${d}/out/pkg`, [['a', `${d}/src/a`], ['lib/b', `${d}/src/b`]], {
        overwrite: true, link: ['clone', 'hardlink', 'copy'], concurrency: 1,
      }),
  },
  'cloneRange-new': {
    fs: ALL, kind: 'range', cloneOnly: true, setup: fileSetup(false), expectCode: { ext4: 'ENOTSUP', tmpfs: 'ENOTSUP' },
    expect: (d) => sha(fs.readFileSync(`${d}/src/f`)),
    run: (cc, d) => cc.cloneRange(`${d}/src/f`, `${d}/out/f`),
  },
  'cloneRange-existing': {
    fs: COW, kind: 'range', existing: true, cloneOnly: true, setup: fileSetup(true),
    expect: (d) => {
      const out = fs.readFileSync(`${d}/out/f`)
      fs.readFileSync(`${d}/src/f`).copy(out, 8192, 4096, 4096 + 16384)
      return sha(out)
    },
    run: (cc, d) => cc.cloneRangeSync(`${d}/src/f`, `${d}/out/f`, { srcOffset: 4096, destOffset: 8192, length: 16384 }),
  },
  'copyRange-new': {
    fs: ALL, kind: 'range', setup: fileSetup(false),
    expect: (d) => sha(fs.readFileSync(`${d}/src/f`)),
    run: (cc, d) => cc.copyRange(`${d}/src/f`, `${d}/out/f`),
  },
  'copyRange-handle-existing': {
    fs: ['ext4', 'tmpfs'], kind: 'range', existing: true, setup: fileSetup(true),
    expect: (d) => {
      const out = fs.readFileSync(`${d}/out/f`)
      fs.readFileSync(`${d}/src/f`).copy(out, 1000, 10, 10 + 290000)
      return sha(out)
    },
    run: async (cc, d) => {
      const fh = await fs.promises.open(`${d}/src/f`, 'r')
      try {
        return await cc.copyRange(fh, `${d}/out/f`, { srcOffset: 10, destOffset: 1000, length: 290000 })
      } finally {
        await fh.close()
      }
    },
  },
  'dedupeRange': {
    fs: COW, kind: 'dedupe',
    setup: (d) => {
      write(path.join(d, 'src/f'), 41, 256 << 10, 0o644)
      write(path.join(d, 'out/same1'), 41, 256 << 10, 0o644)
      write(path.join(d, 'out/same2'), 41, 256 << 10, 0o644)
      const differs = bytes(41, 256 << 10)
      differs[200000] ^= 1
      fs.writeFileSync(path.join(d, 'out/differs'), differs)
    },
    run: (cc, d) =>
      cc.dedupeRange(`${d}/src/f`, { offset: 0, length: 0 }, [
        { path: `${d}/out/same1` },
        { path: `${d}/out/differs` },
        { path: `${d}/out/same2` },
      ]),
  },
  'probe': {
    fs: ALL, kind: 'probe',
    setup: (d) => fs.mkdirSync(path.join(d, 'out')),
    run: (cc, d) => cc.probe(`${d}/out`),
  },
}
