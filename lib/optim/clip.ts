// torch.nn.utils.clip_grad_norm_: the total L2 norm of every gradient, and a rescale when it is
// too large. Sums of squares run where each gradient lives (double, fixed order); only the
// per-tensor sums come to the host.
import { Tensor, checkTensor, describe } from '../tensor.js';
import { readNumber } from '../validate.js';
import { ops } from '../nn/tensor-ops.js';

/**
 * Clips the gradients of `params` in place: computes the total L2 norm over all gradients (in
 * the order of `params`, in double), and when it exceeds `maxNorm` multiplies every gradient by
 * `maxNorm / (norm + 1e-6)`. Parameters without a gradient are skipped. Returns the norm before
 * clipping.
 */
export function clipGradNorm(params: Tensor[], maxNorm: number): number {
  const what = 'clipGradNorm';
  if (!Array.isArray(params))
    throw new TypeError(`${what}: params must be an array of Tensors, got ${describe(params)}`);
  const max = readNumber(maxNorm, `${what}: maxNorm`, undefined, { min: 0 });
  const grads: Tensor[] = [];
  params.forEach((p, k) => {
    checkTensor(p, `${what}: params[${k}]`);
    if (p.grad) grads.push(checkTensor(p.grad, `${what}: params[${k}].grad`));
  });
  const { n, emulate } = ops();
  let sq = 0;
  for (const g of grads) sq += n.sumSquares({ n: g.size, x: g._storage(), emulate });
  const norm = Math.sqrt(sq);
  const coef = max / (norm + 1e-6);
  if (coef < 1) for (const g of grads) n.scaleInPlace({ n: g.size, x: g._storage(), s: coef, emulate });
  return norm;
}
