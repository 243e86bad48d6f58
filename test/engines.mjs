// Which engine a test process runs on, and every deliberate difference
// between the native engine (the addon) and the portable one (TypeScript
// over node:fs, COWCOPY_NATIVE=0), in one place. The feature suites run once
// per engine (.ci/run); a test that meets a difference asserts the portable
// answer from here instead of skipping.
import { cloneLayer, native } from 'cowcopy'

export const PORTABLE = !native
export const ENGINE = native ? 'native' : 'portable'
/** The clone layer under the portable engine ('linux-shim' in npm run test:layer), or null. */
export const LAYER = cloneLayer
// npm run test:layer must really run over the layer, not quietly without it.
if (process.env.COWCOPY_EXPECT_LAYER && cloneLayer !== process.env.COWCOPY_EXPECT_LAYER) {
  throw new Error(`COWCOPY_EXPECT_LAYER=${process.env.COWCOPY_EXPECT_LAYER}, but the clone layer in use is ${cloneLayer}`)
}

/**
 * The differences, each with its reason. Tests import the constants below;
 * this table is what the README's "native vs portable" section lists.
 */
export const DIFFERENCES = {
  copyMethods: 'a byte copy reports the call that made it (copy_file_range, sendfile, readwrite); the portable engine reports fs (fs.copyFile: libuv picks) or readwrite (its own loop)',
  cloneRange: 'cloneRange and dedupeRange need ioctls Node cannot make: ENOSYS on the portable engine',
  probe: 'probe tries a clone with fs.copyFile; dedupe and copyFileRange are false on the portable engine (it cannot call them)',
  xattrs: 'preserve.xattrs needs the native addon (ENOSYS): Node has no xattr calls',
  holes: 'the portable engine keeps holes only where the source is sparse and a 64 KiB run reads as zeros (no SEEK_DATA in Node)',
  descriptorRules: 'the portable engine opens paths by name (Node has no openat): a tree another user can write has a window between a check and its use',
  existingDestination: 'the portable copyFile replaces an existing destination by a temporary file and a rename (a new inode), where the native one writes it in place',
  newDestination: 'the portable copyFile writes a new destination under a hidden temporary name beside it too, then renames it (or, overwrite false, links it) into place: fs.copyFile unlinks its destination by name when it fails, and that name must be one no other process can have taken',
  timestamps: 'preserved times to the microsecond on the portable engine (Node sets them as a double of seconds)',
  pathMax: 'the portable engine opens by path: past PATH_MAX (4096 bytes) a path fails with ENAMETOOLONG',
  listedInode: 'Node\'s readdir gives no inode numbers: an entry renamed into the source tree after its directory was listed is copied as found there (a FIFO refused as any FIFO, EINVAL), where the native engine refuses it as replaced (ESTALE)',
  markerDirectory: 'the native importFiles places the marker through a descriptor of its directory kept from the walk (a directory removed meanwhile fails the marker); the portable engine places it by path, into whatever directory has that name then',
  fileCapabilities: 'Node cannot read security.capability: the portable hardlink rung links a file with file capabilities (setuid/setgid files it never links)',
}

/**
 * Suites that run on the native engine only (npm run test:portable runs the
 * others a second time without the addon), and why.
 */
export const NATIVE_ONLY_SUITES = {
  'cli/': 'the command line, on top of the API that both engines run',
  'fs-compat/cp-parity': 'counts the native walk\'s syscalls under strace (O_PATH opens)',
  'range/dedupe-tail': 'FIDEDUPERANGE: ENOSYS on the portable engine (test/portable/ranges)',
  'copy-file/blocking-read': 'the native engine\'s own EAGAIN for a read that would block; the portable engine passes on libuv\'s',
  'failures/syscall-injection': 'fault shims and native internals (C++ exceptions, O_TMPFILE, NOCOW in-place clones); their portable counterparts are test/portable/ and the COWCOPY_NATIVE=0 children of security/portable-engine, failures/terminal-errors and api/progress-abort',
}

/** Methods a byte copy (not a clone) may report on this engine. */
export const COPY_METHODS = native ? ['copy_file_range', 'sendfile', 'readwrite'] : ['fs', 'readwrite']

/** The default `threads` of a batch: measured copy threads (native), files allowed in flight (portable). */
export const DEFAULT_THREADS = native ? 2 : 16

/**
 * RSS growth allowed for a 100 000-file copyDir: the portable engine makes
 * garbage per file (Stats, promises) that V8 collects late; nothing is kept
 * (heapUsed after a forced GC grows < 1 MiB), but RSS may grow more.
 */
export const MEMORY_BOUND_MIB = native ? 64 : 160

/**
 * How far a preserved timestamp may be from the source's: Node sets times
 * as a double of seconds (about 0.25 µs apart at today's dates), so the
 * portable engine keeps them to the microsecond; the native one exactly.
 */
export const TIME_SLACK_NS = native ? 0n : 1000n
