// Loads the native addon once. null when it cannot load (no prebuild for this
// platform and no compiler at install time) or when COWCOPY_NATIVE=0 asks for
// the fs.copyFile fallback.
import * as path from 'node:path'

export interface NativeResult {
  errno: number // 0 or a positive errno
  reason?: string // a clearer description than strerror, when the engine has one
  method: 'none' | 'clone' | 'copy_file_range' | 'sendfile' | 'readwrite'
  bytes: number
}

export type PathArg = string | Buffer

export interface NativeBinding {
  copyFileSync(src: PathArg, dest: PathArg, reflink: number, overwrite: boolean): NativeResult
  copyFile(src: PathArg, dest: PathArg, reflink: number, overwrite: boolean): Promise<NativeResult>
}

function load(): { binding: NativeBinding | null; loadError: Error | null } {
  if (process.env.COWCOPY_NATIVE === '0') {
    return { binding: null, loadError: new Error('disabled by COWCOPY_NATIVE=0') }
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => NativeBinding
    return { binding: nodeGypBuild(path.join(__dirname, '..')), loadError: null }
  } catch (err) {
    return { binding: null, loadError: err as Error }
  }
}

const loaded = load()
export const native: NativeBinding | null = loaded.binding
export const nativeLoadError: Error | null = loaded.loadError
