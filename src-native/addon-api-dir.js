'use strict'
// Prints node-addon-api's include directory for binding.gyp. node-addon-api
// is only needed to build from source, so it is a devDependency: an install
// of the published package does not carry its headers (~430 KB), and yarn
// does not add node-gyp beside it. Building inside an installed package
// (`npm run build:native` in node_modules/cowcopy) fetches it first, once.
const { execFileSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')
function find() {
  try {
    return require(require.resolve('node-addon-api', { paths: [root] })).include_dir
  } catch {
    return null
  }
}
let dir = find()
if (!dir) {
  const version = require(path.join(root, 'package.json')).devDependencies['node-addon-api']
  process.stderr.write(`cowcopy: fetching node-addon-api@${version} to build from source\n`)
  const npm = process.env.npm_execpath
  const args = ['install', '--no-save', '--no-package-lock', '--ignore-scripts', '--no-audit', '--no-fund', `node-addon-api@${version}`]
  if (npm && npm.endsWith('.js') && /npm-cli/.test(npm)) execFileSync(process.execPath, [npm, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  else execFileSync('npm', args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] })
  dir = find()
}
if (!dir) {
  process.stderr.write('cowcopy: node-addon-api is missing; run `npm install node-addon-api` in the package directory\n')
  process.exit(1)
}
process.stdout.write(dir)
