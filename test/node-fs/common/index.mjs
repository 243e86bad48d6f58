// The ESM face of ./index.js, as Node's test/common/index.mjs has one.
import { createRequire } from 'module'

const common = createRequire(import.meta.url)('./index.js')

export const { isWindows, isIBMi, mustCall, mustSucceed, mustNotCall, mustNotMutateObjectDeep, skip } = common
export default common
