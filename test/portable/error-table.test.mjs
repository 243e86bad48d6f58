// Errors are built from names, with the number from the running platform's
// own table (the one Node's fs uses): proved here with Windows' and macOS'
// tables, where ENOSYS is not 38 and EEXIST is not 17.
import t from 'tap'
import { getSystemErrorMap, getSystemErrorName } from 'node:util'
import { systemErrorFor, systemError } from '../../dist/errors.js'

// libuv's numbers on Windows (what Node's fs errors carry there) and the
// BSD/macOS kernel's, negated as Node gives them.
const WINDOWS = new Map([
  [-4075, ['EEXIST', 'file already exists']],
  [-4058, ['ENOENT', 'no such file or directory']],
  [-4054, ['ENOSYS', 'function not implemented']],
  [-4049, ['ENOTSUP', 'operation not supported on socket']],
  [-4048, ['EPERM', 'operation not permitted']],
  [-4037, ['EXDEV', 'cross-device link not permitted']],
  [-4071, ['EINVAL', 'invalid argument']],
])
const MACOS = new Map([
  [-17, ['EEXIST', 'file already exists']],
  [-78, ['ENOSYS', 'function not implemented']],
  [-45, ['ENOTSUP', 'operation not supported on socket']],
  [-38, ['ENOTSOCK', 'socket operation on non-socket']],
  [-18, ['EXDEV', 'cross-device link not permitted']],
])

t.test('a name takes its number from the table given', async (t) => {
  const win = systemErrorFor(WINDOWS, {})
  const e = win('ENOSYS', 'ioctl_ficlonerange', 'a', 'b', 'needs the native addon')
  t.match(e, { code: 'ENOSYS', errno: -4054, syscall: 'ioctl_ficlonerange', path: 'a', dest: 'b' })
  t.equal(e.message, "ENOSYS: needs the native addon, ioctl_ficlonerange 'a' -> 'b'")
  t.match(win('EEXIST', 'copyfile', 'a', 'b'), { code: 'EEXIST', errno: -4075, message: "EEXIST: file already exists, copyfile 'a' -> 'b'" })
  t.match(win('EOPNOTSUPP', 'copyfile'), { code: 'ENOTSUP', errno: -4049 }, 'EOPNOTSUPP is libuv\'s ENOTSUP')
  const mac = systemErrorFor(MACOS, {})
  t.match(mac('ENOSYS', 'copydir'), { code: 'ENOSYS', errno: -78 }, 'never Linux\'s 38, which is ENOTSOCK on macOS')
  t.match(mac('ENOTSUP', 'copyfile'), { code: 'ENOTSUP', errno: -45 })
})

t.test('on this platform: code and errno agree with Node\'s own table', async (t) => {
  const table = getSystemErrorMap()
  for (const name of ['ENOENT', 'EEXIST', 'ENOSYS', 'ENOTSUP', 'EXDEV', 'EINVAL', 'EISDIR', 'ENOTDIR', 'ELOOP', 'ECANCELED', 'EAGAIN']) {
    const e = systemError(name, 'copyfile')
    t.equal(e.code, name)
    t.equal(getSystemErrorName(e.errno), name, `${name}: errno ${e.errno} names it back`)
    t.equal(table.get(e.errno)?.[0], name)
  }
  t.match(systemError(38, 'copyfile'), { code: getSystemErrorName(-38), errno: -38 }, 'a number from the native engine is this kernel\'s')
})
