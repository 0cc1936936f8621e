// PyTorch's default initialisation of Linear and Conv2d: weight and bias uniform in
// [-1/sqrt(fanIn), 1/sqrt(fanIn)), drawn from lib/rng.ts.
import { Rng } from '../rng.js';
import { Tensor } from '../tensor.js';
import { readInt } from '../validate.js';

// Layers built without a `seed` draw from this generator, seeded randomly when the module loads
// (manualSeed makes it reproducible, as torch.manual_seed does).
const shared = new Rng();

/**
 * Seeds the generator that layers built without a `seed` option draw their initial weights from
 * (as `torch.manual_seed`): after `manualSeed(s)`, the same sequence of layer constructions gives
 * the same weights.
 */
export function manualSeed(seed: number): void {
  shared.seed(readInt(seed, 'manualSeed: seed', undefined, 0, 2 ** 32 - 1));
}

/** The generator for a layer: its own, seeded by `seed`, or the shared one. */
export function initGenerator(seed: number | undefined): Rng {
  return seed === undefined ? shared : new Rng(seed);
}

/** `n` values uniform in [-bound, bound), in draw order, rounded to float32. */
export function uniformFill(n: number, bound: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let k = 0; k < n; ++k) out[k] = (2 * rng.next() - 1) * bound;
  return out;
}

/** PyTorch's default bound for Linear/Conv2d weight and bias: 1/sqrt(fanIn) (0 when fanIn is 0). */
export function defaultBound(fanIn: number): number {
  return fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
}

/**
 * PyTorch's default weight and bias of a Linear/Conv2d layer: weight (`shape`, whose first
 * dimension is the output count) and bias (that count, or null) ~ U(-1/sqrt(fanIn), 1/sqrt(fanIn)),
 * drawn in that order from `seed`'s generator, on `device`, with `requiresGrad` set.
 */
export function initWeightAndBias(
  shape: number[],
  fanIn: number,
  hasBias: boolean,
  device: string,
  seed: number | undefined,
): { weight: Tensor; bias: Tensor | null } {
  const rng = initGenerator(seed);
  const bound = defaultBound(fanIn);
  const out = shape[0]!;
  const weight = Tensor.from(uniformFill(out * fanIn, bound, rng), shape, { device });
  weight.requiresGrad = true;
  let bias: Tensor | null = null;
  if (hasBias) {
    bias = Tensor.from(uniformFill(out, bound, rng), [out], { device });
    bias.requiresGrad = true;
  }
  return { weight, bias };
}
