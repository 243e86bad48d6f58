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
  }
}

export function runSync<T>(steps: Steps<T>): T {
  let next = steps.next()
  while (!next.done) {
    let value: unknown
    try {
      value = stepSync(next.value)
    } catch (err) {
      next = steps.throw(err)
      continue
    }
    next = steps.next(value)
  }
  return next.value
}

export async function runAsync<T>(steps: Steps<T>): Promise<T> {
  let next = steps.next()
  while (!next.done) {
    let value: unknown
    try {
      value = await stepAsync(next.value)
    } catch (err) {
      next = steps.throw(err)
      continue
    }
    next = steps.next(value)
  }
  return next.value
}
