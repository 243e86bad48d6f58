// Grouping attack: directory parts differing by '/' vs bytes below '/',
// non-UTF-8 Buffers, interleaved order, many dirs; every fs, concurrency 1..8.
import { importFiles } from '../dist/index.js'
import * as fs from 'node:fs'
import * as path from 'node:path'
const fsName = process.argv[2] || 'btrfs'
const base = fs.mkdtempSync(`/var/tmp/cowcopy-mounts/${fsName}/att-ahead-`)
let bad = 0
try {
  const store = path.join(base, 'store'); fs.mkdirSync(store)
  const names = ['a', 'a/b', 'a-b', 'a.b', 'a!b', 'a\x01b', 'a/b/c', 'a/b-c', 'a/b.c', 'a-b/c', 'ab', 'a/bc', 'a/b/c/d', 'b', 'a\x7fb', 'a/b!', 'a/b\x01']
  const entries = []
  const expect = new Map()
  let k = 0
  const mk = (rel) => { const f = path.join(store, `s${k++}`); fs.writeFileSync(f, `${k}:${Buffer.isBuffer(rel) ? rel.toString('hex') : rel}`); expect.set(Buffer.isBuffer(rel) ? rel.toString('latin1') : Buffer.from(rel).toString('latin1'), f); entries.push([rel, f]) }
  // interleave: round robin over dirs so same-dir entries are not adjacent
  for (let i = 0; i < 12; i++) for (const n of names) mk(`${n}/f${i}`)
  for (let i = 0; i < 5; i++) mk(`top${i}`)
  for (let i = 0; i < 4; i++) { mk(Buffer.from([0x61, 0xff, 0x2f, 0x66, 0x30 + i])); mk(Buffer.from([0x61, 0x2f, 0xfe, 0x2f, 0x66, 0x30 + i])); mk(Buffer.from([0x61, 0x80, 0x62, 0x2f, 0x67, 0x30 + i])) }
  for (let d = 0; d < 300; d++) mk(`m/${d % 7}/${d}/x`)
  for (const conc of [1, 2, 3, 4, 8]) {
    for (const order of ['given', 'reverse']) {
      const es = order === 'given' ? entries : [...entries].reverse()
      const dest = path.join(base, `d-${conc}-${order}`)
      const r = await importFiles(dest, es, { concurrency: conc, marker: 'a/b/c/d/f0' })
      const errs = r.errors.map((e) => `${e.error.code} ${e.dest}`)
      if (r.files !== entries.length || errs.length) { bad++; console.log(conc, order, 'files', r.files, 'of', entries.length, errs.slice(0, 5)) }
      // verify every entry by bytes
      for (const [key, src] of expect) {
        const p = Buffer.concat([Buffer.from(dest + '/'), Buffer.from(key, 'latin1')])
        let got
        try { got = fs.readFileSync(p) } catch (e) { got = null }
        if (!got || !got.equals(fs.readFileSync(src))) { bad++; console.log('MISMATCH', conc, order, JSON.stringify(key)) }
      }
      // count dirs
      let ndirs = 0; const walk = (p) => { for (const d of fs.readdirSync(p, { withFileTypes: true, encoding: 'buffer' })) if (d.isDirectory()) { ndirs++; walk(Buffer.concat([p, Buffer.from('/'), d.name])) } }
      walk(Buffer.from(dest))
      if (ndirs + 1 !== r.dirs) { bad++; console.log('dirs count', conc, order, r.dirs, 'actual', ndirs + 1) }
      console.log(fsName, conc, order, 'files', r.files, 'dirs', r.dirs, 'threads', r.threads)
    }
  }
} finally { fs.rmSync(base, { recursive: true, force: true }) }
console.log(bad ? `BAD ${bad}` : 'OK')
