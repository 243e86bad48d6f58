// A source that shrinks while it is copied (the shim in ./shim.mjs truncates
// it at the first SEEK_DATA, read or clone): the copy holds what was copied,
// never zeros or an old tail up to the size the source had when opened.
import t from 'tap'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { PORTABLE } from '../engines.mjs'
import { makeFile, onFs } from '../helpers.mjs'
import { copyUnderShim } from './shim.mjs'

for (const fsName of ['btrfs', 'xfs', 'ext4']) {
  onFs(t, fsName, 'sparse walk: a source shrunk after fstat is not padded', async (t, dir) => {
    const src = path.join(dir, 'shrinkme')
    const dest = path.join(dir, 'dest')
    const fd = fs.openSync(src, 'w')
    fs.writeSync(fd, Buffer.alloc(65536, 7), 0, 65536, 0)
    fs.ftruncateSync(fd, 4 << 20) // a hole to 4 MiB: a sparse walk
    fs.closeSync(fd)
    // Shrunk at the native walk's first SEEK_DATA, or at the portable loop's first read.
    const out = copyUnderShim(t, [PORTABLE ? 'shrink_read' : 'shrink_seek'], src, dest, { reflink: 'never' }, { COWCOPY_TEST_SHRINK: '0' })
    t.notOk(out.error, JSON.stringify(out.error))
    t.equal(fs.statSync(dest).size, 0, 'the copy ends where the source ended')
  })
}

for (const fsName of ['btrfs', 'xfs']) {
  onFs(t, fsName, 'clone over a longer destination: a source shrunk at the clone leaves no old tail', async (t, dir) => {
    const src = path.join(dir, 'shrinkme')
    const dest = path.join(dir, 'dest')
    makeFile(src, 8192)
    makeFile(dest, 16384)
    const head = fs.readFileSync(src).subarray(0, 4096)
    const out = copyUnderShim(t, ['shrink_clone'], src, dest, { reflink: 'always' }, { COWCOPY_TEST_SHRINK: '4096' })
    t.notOk(out.error, JSON.stringify(out.error))
    t.same(fs.readFileSync(dest), head, 'the 4096 bytes the clone took, nothing more')
  })
}
