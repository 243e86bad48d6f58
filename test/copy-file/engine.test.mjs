// The single-file engine's own C++ tests, built here against
// src-native/engine with no binding in the way: the method chain's errno table
// (test/engine/method_chain_test.cc, the decision that picks the next method,
// row by row) and replace_by_rename with the open rules
// (test/engine/copy_file_test.cc, on each test filesystem).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { tmpScratch, onFs } from '../helpers.mjs'
import * as fs from 'node:fs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

t.test('the method chain errno table', (t) => {
  let cxx
  try {
    execFileSync('g++', ['--version'])
    cxx = 'g++'
  } catch {
    if (process.env.CI) t.fail('CI needs g++ to build the engine test')
    else t.skip('no g++ on PATH')
    return t.end()
  }
  const bin = path.join(tmpScratch(t), 'method_chain_test')
  execFileSync(cxx, ['-std=c++17', '-Wall', '-Wextra', '-Werror', '-o', bin,
    path.join(root, 'test/engine/method_chain_test.cc'), path.join(root, 'src-native/engine/method_chain.cc')])
  let out
  try {
    out = execFileSync(bin, { encoding: 'utf8' })
  } catch (e) {
    out = e.stdout
  }
  t.match(out, /^\d+ checks, 0 failed$/m, out.trim())
  t.end()
})

// replace_by_rename and the OpenRules, from C++ with no binding in the way
// (test/engine/copy_file_test.cc), on each filesystem.
const ENGINE = ['copy_file', 'open_path', 'copy_data', 'method_chain', 'sparse', 'preserve', 'atomic_dest', 'ladder']
let engineBin = null
function engineTest(t) {
  if (engineBin) return engineBin
  const dir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'cowcopy-engine-'))
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))
  engineBin = path.join(dir, 'copy_file_test')
  execFileSync('g++', ['-std=c++17', '-O1', '-Wall', '-Wextra', '-Werror', '-D_FILE_OFFSET_BITS=64', '-pthread', '-o', engineBin,
    path.join(root, 'test/engine/copy_file_test.cc'),
    ...ENGINE.map((f) => path.join(root, `src-native/engine/${f}.cc`))])
  return engineBin
}

for (const fsName of ['btrfs', 'xfs', 'ext4', 'tmpfs']) {
  onFs(t, fsName, 'engine: replace_by_rename and the open rules', async (t, dir) => {
    let out
    try {
      out = execFileSync(engineTest(t), [dir], { encoding: 'utf8' })
    } catch (e) {
      out = e.stdout + (e.stderr || '')
    }
    t.match(out, /^\d+ checks, 0 failed$/m, out.trim())
  })
}
