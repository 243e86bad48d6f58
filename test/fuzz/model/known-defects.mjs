// The defects the fuzzer is allowed to meet. A discrepancy that is a known,
// open defect is looked up in KNOWN_DEFECTS (keyed by the defect's number): it
// is reported as a finding and the model resyncs from disk, instead of failing
// the run (World.fail in world.mjs). Set COWCOPY_FUZZ_STRICT=1 to fail on
// those too. Remove an entry when its defect is fixed.

/** Known open defects the fuzzer still meets; a check that hits one records it instead of failing. */
export const KNOWN_DEFECTS = {}

/**
 * Discrepancies the fuzzer found that are not filed as defects yet (gated
 * like the entries above until they are filed and fixed).
 */
export const UNFILED_DEFECTS = {}
Object.assign(KNOWN_DEFECTS, UNFILED_DEFECTS)

const STRICT = process.env.COWCOPY_FUZZ_STRICT === '1'

export { STRICT }
