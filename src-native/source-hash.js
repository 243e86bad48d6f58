'use strict'
// Prints the SHA-256 (first 16 hex digits) of the native sources and
// src-native/binding.gyp. binding.gyp embeds it in the addon; lib/native.ts
// compares it with the shipped sources (or, where they are not shipped, with
// dist/source-hash.txt, written by `npm run build:ts`), and
// test/matrix/package.test.mjs with the committed prebuilds, so a binary built from
// other sources is caught. Build output (src-native/build/) is not a source.
const crypto = require('node:crypto')
const fs = require('node:fs')
const path = require('node:path')

function sourceHash(root = path.join(__dirname, '..')) {
  const files = []
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name)
      if (e.isDirectory()) {
        if (!(dir === top && e.name === 'build')) walk(p)
      } else if (/\.(cc|h)$/.test(e.name) || (dir === top && e.name === 'binding.gyp')) files.push(p)
    }
  }
  const top = path.join(root, 'src-native')
  walk(top)
  files.sort()
  const h = crypto.createHash('sha256')
  for (const f of files) {
    h.update(path.relative(root, f).split(path.sep).join('/'))
    h.update('\0')
    h.update(fs.readFileSync(f))
    h.update('\0')
  }
  return h.digest('hex').slice(0, 16)
}

module.exports = { sourceHash }
if (require.main === module) process.stdout.write(sourceHash())
