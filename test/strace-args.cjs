'use strict'
// strace's argument text split into arguments, for the test that replays
// strace logs (test/portable/overwrite-mode.test.mjs) and the system-call
// benchmark (bench/syscalls.js). Not a test file (tap runs *.test.mjs only).

// Top-level arguments of "name(args)": commas inside quotes, brackets and a
// descriptor's <path> (strace -y: `12</path>`, `AT_FDCWD</cwd>`) do not split.
function splitArgs(s) {
  const out = []
  let depth = 0
  let cur = ''
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]
    if (ch === '"') {
      let j = i + 1
      while (j < s.length && s[j] !== '"') j += s[j] === '\\' ? 2 : 1
      cur += s.slice(i, j + 1)
      i = j
      continue
    }
    const close = ch === '<' && /(\d|AT_FDCWD)$/.test(cur) ? s.indexOf('>', i) : -1
    if (close !== -1) {
      cur += s.slice(i, close + 1)
      i = close
      continue
    }
    if ('([{'.includes(ch)) depth++
    else if (')]}'.includes(ch)) depth--
    if (ch === ',' && depth === 0) {
      out.push(cur.trim())
      cur = ''
    } else {
      cur += ch
    }
  }
  if (cur.trim()) out.push(cur.trim())
  return out
}

module.exports = { splitArgs }
