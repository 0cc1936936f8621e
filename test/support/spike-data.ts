// Seeded spike-count data for the event-driven paths: mostly zeros, small integer counts.
import { rng } from './random.js';

/** n spike counts: 0 with probability 1 - density, else 1, 2 or 3. */
export function spikes(seed: number, n: number, density: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() < density ? 1 + Math.floor(3 * r()) : 0));
}
