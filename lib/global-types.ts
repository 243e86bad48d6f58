// Node's URL and AbortSignal as the user's own type environment has them,
// without naming Node's types: the shipped .d.ts files must type-check with
// and without @types/node (TypeScript 7 defaults to `types: []`) and with or
// without the DOM lib. Where the global is not declared, the type is `never`:
// nothing of that kind can be passed, and nothing fails to compile.

/** The global URL class's instances (lib.dom or @types/node), or never. */
export type URLInstance = typeof globalThis extends { URL: { prototype: infer T } } ? T : never

/** The global AbortSignal's instances (lib.dom or @types/node), or never. */
export type AbortSignalInstance = typeof globalThis extends { AbortSignal: { prototype: infer T } } ? T : never

/**
 * What the API gives back as bytes: Node's Buffer where the user's types
 * declare it (@types/node), else the Uint8Array it is. (Where the API takes
 * bytes it takes any Uint8Array, as fs does.)
 */
export type BufferInstance = typeof globalThis extends { Buffer: { prototype: infer T } } ? T : Uint8Array
