// Model-based fuzzing of cowcopy with fast-check. A run builds a small world on a real filesystem
// (sources under src/, destinations under dst/, both with a deep directory
// chain so paths reach the 1024-byte native path buffer), then applies a
// random sequence of operations. The model holds dst/ as a tree of Buffers:
// after every operation the real tree must equal it (bytes, existence, types,
// modes, link targets), and src/ must equal its snapshot (sources never
// change). Names are bytes: multi-byte characters at every path-buffer
// boundary, 255-byte names, names of 234-255 bytes with `atomic`, paths over
// 4096 bytes, non-UTF-8 bytes through Buffer paths.
//
// This file is the index; the model is in model/: arbitraries.mjs (names,
// contents, trees, operations), world.mjs (the world and its checks),
// known-defects.mjs, call-outcomes.mjs, run-files.mjs and run-trees.mjs (the
// runners of each operation), fuzz-dir.mjs (the property, fuzzDir).
export { KNOWN_DEFECTS, UNFILED_DEFECTS } from './model/known-defects.mjs'
export { nameArb, contentArb, treeArb, opArb, caseArb } from './model/arbitraries.mjs'
export { readNode, Discrepancy } from './model/world.mjs'
export { fsInfo, fuzzDir } from './model/fuzz-dir.mjs'
