// Independent float64 references of the pooling layers, losses, readouts and optimizers, written
// from their PyTorch/sinabs definitions (not from the library's code). Arrays are row-major.

/** AvgPool2d / SumPool2d forward on (N, C, H, W): window means or sums, padding 0, floor mode. */
export function poolRef(x: ArrayLike<number>, shape: number[], k: [number, number], s: [number, number], sum: boolean): { y: number[]; shape: number[] } {
  const [N, C, H, W] = shape as [number, number, number, number];
  const Ho = Math.floor((H - k[0]) / s[0]) + 1, Wo = Math.floor((W - k[1]) / s[1]) + 1;
  const y: number[] = [];
  for (let n = 0; n < N; ++n)
    for (let c = 0; c < C; ++c)
      for (let i = 0; i < Ho; ++i)
        for (let j = 0; j < Wo; ++j) {
          let acc = 0;
          for (let a = 0; a < k[0]; ++a)
            for (let b = 0; b < k[1]; ++b) acc += x[((n * C + c) * H + i * s[0] + a) * W + j * s[1] + b]!;
          y.push(sum ? acc : acc / (k[0] * k[1]));
        }
  return { y, shape: [N, C, Ho, Wo] };
}

/**
 * Pooling backward by scattering each output gradient over its window (the adjoint of poolRef).
 * SumPool2d (sinabs, LPPool2d with p = 1): a window whose output `y` is exactly 0 passes nothing.
 */
export function poolBackwardRef(
  g: ArrayLike<number>, y: ArrayLike<number>, shape: number[], k: [number, number], s: [number, number], sum: boolean,
): number[] {
  const [N, C, H, W] = shape as [number, number, number, number];
  const Ho = Math.floor((H - k[0]) / s[0]) + 1, Wo = Math.floor((W - k[1]) / s[1]) + 1;
  const dx = new Array<number>(N * C * H * W).fill(0);
  for (let n = 0; n < N; ++n)
    for (let c = 0; c < C; ++c)
      for (let i = 0; i < Ho; ++i)
        for (let j = 0; j < Wo; ++j) {
          const o = ((n * C + c) * Ho + i) * Wo + j;
          const w = sum ? (y[o] === 0 ? 0 : 1) : 1 / (k[0] * k[1]);
          for (let a = 0; a < k[0]; ++a)
            for (let b = 0; b < k[1]; ++b) dx[((n * C + c) * H + i * s[0] + a) * W + j * s[1] + b]! += w * g[o]!;
        }
  return dx;
}

/** Largest |a - b| over the elements. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let k = 0; k < a.length; ++k) m = Math.max(m, Math.abs(a[k]! - b[k]!));
  return m;
}

/** Largest |v|. */
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < a.length; ++k) m = Math.max(m, Math.abs(a[k]!));
  return m;
}
