'use strict'
// The scratch directory of a vendored test: NODE_TEST_DIR as the runner
// (test/fs-compat/node-fs.test.mjs) sets it, on the filesystem under test.
const fs = require('fs')
const path = require('path')

const tmpPath = path.resolve(process.env.NODE_TEST_DIR || path.join(require('os').tmpdir(), `cowcopy-node-fs-${process.pid}`))

function refresh() {
  fs.rmSync(tmpPath, { recursive: true, force: true, maxRetries: 3 })
  fs.mkdirSync(tmpPath, { recursive: true })
}

function resolve(...paths) {
  return path.resolve(tmpPath, ...paths)
}

module.exports = { path: tmpPath, refresh, resolve }
