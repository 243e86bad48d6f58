// The two drivers of walk.ts's steps: runSync makes every step on the
// calling thread (fs.*Sync, cowcopy's copyFileSync, a filter that must not
// return a promise); runAsync awaits each (fs.promises, cowcopy's copyFile,
// a filter that may).
import * as fs from 'node:fs'
import { copyFile, copyFileSync } from '../copy-file'
import type { Step, Steps } from './walk'

const syncCalls = fs as unknown as Record<string, (...args: unknown[]) => unknown>
const asyncCalls = fs.promises as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>

function isThenable(value: unknown): boolean {
  return value !== null && (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
}

function invalidFilterResult(value: unknown): TypeError {
  // Node's ERR_INVALID_RETURN_VALUE wording for the sync filter.
  const ctor = (value as { constructor?: { name?: string } }).constructor?.name
  const err = new TypeError(
    `Expected boolean to be returned from the "filter" function but got ${ctor ? `an instance of ${ctor}` : `type ${typeof value}`}.`,
  ) as TypeError & { code: string }
  err.code = 'ERR_INVALID_RETURN_VALUE'
  return err
}

function stepSync(step: Step): unknown {
  switch (step[0]) {
    case 'fs':
      return syncCalls[`${step[1]}Sync`](...step.slice(2))
    case 'copy':
      copyFileSync(step[1], step[2], step[3])
      return undefined
    case 'filter': {
      const answer = step[1](step[2], step[3])
      if (isThenable(answer)) throw invalidFilterResult(answer)
      return answer
    }
    case 'walk':
      throw new Error('unreachable: a walk is run by the driver')
  }
}

async function stepAsync(step: Step): Promise<unknown> {
  switch (step[0]) {
    case 'fs':
      return asyncCalls[step[1]](...step.slice(2))
    case 'copy':
      await copyFile(step[1], step[2], step[3])
      return undefined
    case 'filter':
      return await step[1](step[2], step[3])
    case 'walk':
      throw new Error('unreachable: a walk is run by the driver')
  }
}

/**
 * One driver for both: a stack of walks (a 'walk' step pushes one, its end
 * pops it and hands its value, or its error, to the walk below), so the
 * JavaScript stack stays as deep as one walk's frames however deep the tree.
 * It yields the steps to make; the runner sends back [ok, value or error].
 */
function* drive<T>(root: Steps<T>): Generator<Step, T, [ok: boolean, value: unknown]> {
  const walks: Steps<unknown>[] = [root]
  let ok = true
  let value: unknown
  for (;;) {
    const top = walks[walks.length - 1]
    let next: IteratorResult<Step, unknown>
    try {
      next = ok ? top.next(value) : top.throw(value)
    } catch (err) {
      // This walk threw (or did not catch what it was given): the one below gets it.
      walks.pop()
      if (walks.length === 0) throw err
      ok = false
      value = err
      continue
    }
    if (next.done) {
      walks.pop()
      if (walks.length === 0) return next.value as T
      ok = true
      value = next.value
      continue
    }
    const step: Step = next.value
    if (step[0] === 'walk') {
      walks.push(step[1])
      ok = true
      value = undefined
      continue
    }
    ;[ok, value] = yield step
  }
}

export function runSync<T>(steps: Steps<T>): T {
  const driver = drive(steps)
  let next = driver.next()
  while (!next.done) {
    let outcome: [boolean, unknown]
    try {
      outcome = [true, stepSync(next.value)]
    } catch (err) {
      outcome = [false, err]
    }
    next = driver.next(outcome)
  }
  return next.value
}

export async function runAsync<T>(steps: Steps<T>): Promise<T> {
  const driver = drive(steps)
  let next = driver.next()
  while (!next.done) {
    let outcome: [boolean, unknown]
    try {
      outcome = [true, await stepAsync(next.value)]
    } catch (err) {
      outcome = [false, err]
    }
    next = driver.next(outcome)
  }
  return next.value
}
