// NumPy broadcasting of a parameter against a layer's neuron shape, as an index map.

/**
 * Maps every neuron n of `neuronShape` to an element of a parameter of shape `pShape`, with
 * NumPy broadcasting against the state shape (B, ...neuronShape) aligned from the right.
 * Returns null for a single-element parameter. Throws a RangeError when it does not broadcast.
 */
export function broadcastMap(
  pShape: readonly number[],
  neuronShape: readonly number[],
  what: string,
): Int32Array | null {
  const size = pShape.reduce((a, b) => a * b, 1);
  if (size === 1) return null;
  const R = neuronShape.length;
  let p = pShape.slice();
  while (p.length > R && p[0] === 1) p = p.slice(1);
  if (p.length > R) {
    throw new RangeError(
      `${what} of shape [${pShape.join(', ')}] does not broadcast against the neuron shape [${neuronShape.join(', ')}]: ` +
        `per-batch-entry values (a leading dimension other than 1) are not supported`,
    );
  }
  const off = R - p.length;
  for (let k = 0; k < p.length; ++k) {
    const pd = p[k]!,
      nd = neuronShape[off + k]!;
    if (pd !== 1 && pd !== nd)
      throw new RangeError(
        `${what} of shape [${pShape.join(', ')}] does not broadcast against the state shape [B, ${neuronShape.join(', ')}] ` +
          `(dimension ${k} is ${pd}, the state has ${nd}); shapes align from the right, e.g. [C, 1, 1] for (B, T, C, H, W) input`,
      );
  }
  const N = neuronShape.reduce((a, b) => a * b, 1);
  const map = new Int32Array(N);
  // strides of p (row-major), zero where p has size 1
  const pStride = new Array<number>(p.length).fill(0);
  let s = 1;
  for (let k = p.length - 1; k >= 0; --k) {
    pStride[k] = p[k] === 1 ? 0 : s;
    s *= p[k]!;
  }
  for (let n = 0; n < N; ++n) {
    let rem = n,
      idx = 0;
    for (let k = R - 1; k >= 0; --k) {
      const nd = neuronShape[k]!;
      const c = rem % nd;
      rem = (rem - c) / nd;
      const pk = k - off;
      if (pk >= 0) idx += c * pStride[pk]!;
    }
    map[n] = idx;
  }
  return map;
}
