// Node's URL and AbortSignal as the user's own type environment has them,
// without naming Node's types: the shipped .d.ts files must type-check with
// and without @types/node (TypeScript 7 defaults to `types: []`) and with or
// without the DOM lib. Where the global is not declared, the type is `never`:
// nothing of that kind can be passed, and nothing fails to compile.

/** The global URL class's instances (lib.dom or @types/node), or never. */
export type URLInstance = typeof globalThis extends { URL: { prototype: infer T } } ? T : never

/** The global AbortSignal's instances (lib.dom or @types/node), or never. */
export type AbortSignalInstance = typeof globalThis extends { AbortSignal: { prototype: infer T } } ? T : never

// Buffer needs no stand-in: it is a Uint8Array, and the API takes any
// Uint8Array where it takes a Buffer (as fs does).
