/** The largest absolute difference of two arrays relative to the largest magnitude of `reference`. */
export function relativeError(actual: Float32Array, reference: Float32Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < actual.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i]! - reference[i]!));
    norm = Math.max(norm, Math.abs(reference[i]!));
  }
  return diff / Math.max(norm, 1e-6);
}
