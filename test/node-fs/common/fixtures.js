'use strict'
// Node's test/fixtures as ../make-fixtures.mjs makes them: NODE_TEST_FIXTURES,
// else test/fixtures under the working directory.
const path = require('path')

const fixturesDir = path.resolve(process.env.NODE_TEST_FIXTURES || 'test/fixtures')

module.exports = { fixturesDir, path: (...args) => path.join(fixturesDir, ...args) }
