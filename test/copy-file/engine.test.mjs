// Builds and runs the C++ test of the fallback table (test/engine/
// fallback_test.cc) against the engine's own fallback.cc: the decision that
// picks the next method is checked row by row, without Node in the way.
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { tmpScratch } from './helpers.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')

t.test('fallback table', (t) => {
  let cxx
  try {
    execFileSync('g++', ['--version'])
    cxx = 'g++'
  } catch {
    if (process.env.CI) t.fail('CI needs g++ to build the engine test')
    else t.skip('no g++ on PATH')
    return t.end()
  }
  const bin = path.join(tmpScratch(t), 'fallback_test')
  execFileSync(cxx, ['-std=c++17', '-Wall', '-Wextra', '-Werror', '-o', bin,
    path.join(root, 'test/engine/fallback_test.cc'), path.join(root, 'src-native/engine/fallback.cc')])
  let out
  try {
    out = execFileSync(bin, { encoding: 'utf8' })
  } catch (e) {
    out = e.stdout
  }
  t.match(out, /^\d+ checks, 0 failed$/m, out.trim())
  t.end()
})
