// The ESM entry of cowcopy/fs: the CommonJS module (fs.ts) as the default
// export, its cowcopy-backed functions by name.
import fs from './fs.js'

export const { cp, cpSync, copyFile, copyFileSync, promises, constants } = fs
export default fs
