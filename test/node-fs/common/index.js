'use strict'
// A minimal stand-in for the helpers of Node's test/common that the vendored
// tests in ../parallel use (written for cowcopy, not copied from Node):
// call-count checks made at exit, a deep no-mutation proxy, skip, and two
// platform flags.
const assert = require('assert')

const isWindows = process.platform === 'win32'
const isIBMi = process.platform === 'os400'

const expectations = []

process.on('exit', (code) => {
  if (code !== 0) return
  const failed = expectations.filter((e) => e.actual !== e.exact)
  for (const e of failed) {
    process.stderr.write(`Mismatched ${e.name} function calls. Expected exactly ${e.exact}, actual ${e.actual}.\n${e.stack}\n`)
  }
  if (failed.length) process.exitCode = 1
})

function expect(fn, exact, name) {
  const e = { exact, actual: 0, name, stack: new Error().stack.split('\n').slice(3).join('\n') }
  expectations.push(e)
  return function (...args) {
    e.actual++
    return fn.apply(this, args)
  }
}

function mustCall(fn, exact = 1) {
  if (typeof fn === 'number') return expect(() => {}, fn, 'noop')
  return expect(fn ?? (() => {}), exact, fn?.name || '<anonymous>')
}

function mustSucceed(fn, exact = 1) {
  return mustCall(function (err, ...args) {
    assert.ifError(err)
    if (typeof fn === 'function') return fn.apply(this, args)
  }, exact)
}

function mustNotCall(msg) {
  return function mustNotCall(...args) {
    assert.fail(`${msg || 'function should not have been called'}: called with ${require('util').inspect(args)}`)
  }
}

// A proxy that throws on any write, at any depth, so a test sees whether the
// function under test writes to the options object it was given.
function mustNotMutateObjectDeep(original) {
  if (original === null || typeof original !== 'object') return original
  const handler = {
    get(target, prop, receiver) {
      return mustNotMutateObjectDeep(Reflect.get(target, prop, receiver))
    },
    set(target, prop) {
      assert.fail(`Expected no side effects, got ${String(prop)} assigned`)
    },
    defineProperty(target, prop) {
      assert.fail(`Expected no side effects, got ${String(prop)} defined`)
    },
    deleteProperty(target, prop) {
      assert.fail(`Expected no side effects, got ${String(prop)} deleted`)
    },
    setPrototypeOf() {
      assert.fail('Expected no side effects, got the prototype set')
    },
  }
  return new Proxy(original, handler)
}

function skip(msg) {
  process.stdout.write(`1..0 # Skipped: ${msg}\n`)
  process.exit(0)
}

module.exports = { isWindows, isIBMi, mustCall, mustSucceed, mustNotCall, mustNotMutateObjectDeep, skip }
