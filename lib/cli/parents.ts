// --parents: SOURCE a/b/c into DIR is copied to DIR/a/b/c, and the missing
// DIR/a and DIR/a/b are made from the source's a and a/b: their mode (less
// the umask, exactly with --preserve=mode), owner and times as --preserve says.
import * as fs from 'node:fs'
import type { Flags } from './args'
import { fail, out, q } from './output'
import { fromBytesText, join, text, type P } from './paths'

export interface Made {
  ok: boolean
  dirs: { src: P; dest: P }[]
}

export function makeParents(src: P, target: P, f: Flags, umask: number): Made {
  const made: Made = { ok: true, dirs: [] }
  const parts = text(src).split('/')
  parts.pop()
  let prefix = ''
  for (const part of parts) {
    prefix = prefix === '' && part === '' ? '/' : prefix === '' || prefix === '/' ? prefix + part : `${prefix}/${part}`
    if (part === '' || part === '.') continue
    const s = fromBytesText(prefix)
    const d = join(target, s)
    try {
      const have = fs.lstatSync(d, { throwIfNoEntry: false })
      if (have && !fs.statSync(d).isDirectory()) throw Object.assign(new Error('Not a directory'), { code: 'ENOTDIR' })
      // cp -p --parents gives existing directories on the path the source's
      // attributes too, not only the ones it makes.
      if (have && !f.preserve.has('mode') && !f.preserve.has('ownership') && !f.preserve.has('timestamps')) continue
      const st = fs.statSync(s)
      if (!st.isDirectory()) throw Object.assign(new Error('Not a directory'), { code: 'ENOTDIR' })
      if (!have) fs.mkdirSync(d, { mode: (f.noPreserveMode ? 0o777 : st.mode & 0o777) & ~umask })
      if (f.preserve.has('mode')) fs.chmodSync(d, st.mode & 0o7777)
      if (f.preserve.has('ownership')) {
        try {
          fs.chownSync(d, st.uid, st.gid)
        } catch {
          // as cp -p: ownership that cannot be kept is not an error
        }
      }
      made.dirs.push({ src: s, dest: d })
      if (!have && f.verbose && !f.json) out(`${q(s)} -> ${q(d)}`)
    } catch (err) {
      fail(`cannot make directory ${q(d)}: ${(err as Error).message.replace(/^[A-Z]+: /, '')}`)
      made.ok = false
      return made
    }
  }
  return made
}

/** After the copy: the made directories get their sources' times (with --preserve=timestamps). */
export function setParentTimes(dirs: Made['dirs'], f: Flags): void {
  if (!f.preserve.has('timestamps')) return
  for (const { src, dest } of dirs.reverse()) {
    try {
      const st = fs.statSync(src)
      fs.utimesSync(dest, st.atime, st.mtime)
    } catch {
      // the copy itself reported what failed
    }
  }
}
