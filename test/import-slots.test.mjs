// importFiles runs at most max(2, cores) calls natively at once (four small
// imports creating files together on a 2-core machine were slower than two);
// the others wait in order, an abort while waiting rejects at once, and a
// slot is given back by every call however it ends.
import t from 'tap'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { importFiles } from 'cowcopy'
import { slotState } from '../dist/import-slots.js'
import { onFs } from './helpers.mjs'

onFs(t, 'tmpfs', 'calls beyond the slots wait their turn, an abort while waiting rejects, every slot comes back', async (t, dir) => {
  const store = path.join(dir, 'store')
  fs.mkdirSync(store)
  const entries = new Map()
  for (let i = 0; i < 40; i++) {
    const f = path.join(store, `f${i}`)
    fs.writeFileSync(f, `file ${i}\n`.repeat(200))
    entries.set(`lib/f${i}.js`, f)
  }
  const { slots } = slotState()
  t.equal(slots, Math.max(2, os.availableParallelism()), 'max(2, cores) slots')
  const n = slots + 6
  let most = 0
  let waited = 0
  let sampling = true
  const sample = () => {
    const s = slotState()
    most = Math.max(most, s.running)
    waited = Math.max(waited, s.waiting)
    if (sampling) setImmediate(sample)
  }
  sample()
  const ac = new AbortController()
  const calls = []
  for (let i = 0; i < n; i++) {
    calls.push(importFiles(path.join(dir, `pkg${i}`), entries, i === n - 1 ? { signal: ac.signal } : {}))
  }
  // The last call is queued behind the others: abort it while it waits.
  const until = Date.now() + 5000
  while (slotState().waiting < n - slots && Date.now() < until) await new Promise((r) => setImmediate(r))
  ac.abort()
  const settled = await Promise.allSettled(calls)
  sampling = false
  t.ok(most <= slots, `at most ${slots} ran at once (saw ${most})`)
  t.equal(waited, n - slots, 'the others waited')
  for (let i = 0; i < n - 1; i++) {
    t.equal(settled[i].status, 'fulfilled', `call ${i} completed`)
    t.equal(settled[i].value.files, entries.size)
    t.ok(fs.readFileSync(path.join(dir, `pkg${i}`, 'lib', 'f39.js')).equals(fs.readFileSync(entries.get('lib/f39.js'))))
  }
  t.equal(settled[n - 1].status, 'rejected')
  t.equal(settled[n - 1].reason.name, 'AbortError', 'aborted while waiting: AbortError')
  t.notOk(fs.existsSync(path.join(dir, `pkg${n - 1}`)), 'the aborted call created nothing')
  t.same(slotState(), { slots, running: 0, waiting: 0 }, 'every slot given back')

  // Calls that fail (a missing source, a bad destination) give their slot back too.
  const bad = await Promise.allSettled(Array.from({ length: n }, (_, i) =>
    importFiles(i % 2 ? path.join(dir, 'store', 'f0', 'not-a-dir') : path.join(dir, `bad${i}`), [['x', path.join(dir, 'missing')]])))
  t.ok(bad.every((r) => r.status === 'rejected' || r.value.errors.length === 1), 'each failed')
  t.same(slotState(), { slots, running: 0, waiting: 0 }, 'every slot given back after failures')
})
