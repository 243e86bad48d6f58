// The fixture files the vendored tests read, made fresh under <root>/test/fixtures:
// copy/kitchen-sink (files, nested directories, a relative symlink; its
// README.md says "# Hello"), copy/utf/新建文件夹 (non-ASCII names), a.js.
// Our own trees, shaped as the tests expect; not Node's files.
import fs from 'node:fs'
import path from 'node:path'

export function makeFixtures(root) {
  const dir = path.join(root, 'test', 'fixtures')
  fs.rmSync(dir, { recursive: true, force: true })
  const sink = path.join(dir, 'copy', 'kitchen-sink')
  const files = {
    'README.md': '# Hello\n',
    'index.js': "module.exports = 'kitchen-sink'\n",
    'a/index.js': "module.exports = 'a'\n",
    'a/b/README2.md': '# Hello again\n',
    'a/b/index.js': "module.exports = 'b'\n",
    'a/c/d/index.txt': 'deep\n',
    'a/c/e.js': "module.exports = 'e'\n",
    'bin/tool.sh': '#!/bin/sh\necho tool\n',
    'data/big.bin': Buffer.alloc(256 * 1024, 7),
  }
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(sink, rel)), { recursive: true })
    fs.writeFileSync(path.join(sink, rel), content)
  }
  fs.chmodSync(path.join(sink, 'bin/tool.sh'), 0o755)
  fs.mkdirSync(path.join(sink, 'empty'))
  fs.symlinkSync('../b/index.js', path.join(sink, 'a/c/link.js'))
  const utf = path.join(dir, 'copy', 'utf', '新建文件夹')
  fs.mkdirSync(path.join(utf, '子目录'), { recursive: true })
  fs.writeFileSync(path.join(utf, '文件.txt'), '内容\n')
  fs.writeFileSync(path.join(utf, '子目录', 'ünïcödé.js'), "module.exports = 'ü'\n")
  fs.writeFileSync(path.join(dir, 'a.js'), "'use strict'\nmodule.exports = 'a.js fixture'\n")
  return dir
}
