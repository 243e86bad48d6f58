// cowcopy/fs: Node's fs with cp, cpSync, copyFile, copyFileSync and their
// fs.promises twins running on cowcopy (clones where the filesystem can).
// Everything else is fs's own, so `require('cowcopy/fs')` can replace
// `require('fs')` whole.
import * as nodeFs from 'node:fs'
import { copyFile, copyFilePromise, copyFileSync } from './fs-compat/copy-file'
import { cp, cpPromise, cpSync } from './fs-compat/cp'

// fs's properties by descriptor, so its lazy getters (promises, deprecated
// aliases) stay lazy and warn, if at all, only when read.
function overlay<T extends object>(base: T, own: Record<string, unknown>): T {
  const out = Object.defineProperties({}, Object.getOwnPropertyDescriptors(base)) as Record<string, unknown>
  for (const [key, value] of Object.entries(own)) {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
  }
  return out as T
}

const promises = overlay(nodeFs.promises, { cp: cpPromise, copyFile: copyFilePromise })

const fs = overlay(nodeFs, { cp, cpSync, copyFile, copyFileSync, promises }) as typeof nodeFs

export = fs
