// Independent float64 references of the pooling layers, losses, readouts and optimizers, written
// from their PyTorch/sinabs definitions (not from the library's code). Arrays are row-major.

/** AvgPool2d / SumPool2d forward on (N, C, H, W): window means or sums, padding 0, floor mode. */
export function poolRef(
  x: ArrayLike<number>,
  shape: number[],
  k: [number, number],
  s: [number, number],
  sum: boolean,
): { y: number[]; shape: number[] } {
  const [N, C, H, W] = shape as [number, number, number, number];
  const Ho = Math.floor((H - k[0]) / s[0]) + 1,
    Wo = Math.floor((W - k[1]) / s[1]) + 1;
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
  g: ArrayLike<number>,
  y: ArrayLike<number>,
  shape: number[],
  k: [number, number],
  s: [number, number],
  sum: boolean,
): number[] {
  const [N, C, H, W] = shape as [number, number, number, number];
  const Ho = Math.floor((H - k[0]) / s[0]) + 1,
    Wo = Math.floor((W - k[1]) / s[1]) + 1;
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

/** torch.optim.SGD in float64, one step over arrays (buf: undefined before the first step). */
export function sgdRef(
  p: number[],
  g: number[],
  buf: number[] | undefined,
  o: { lr: number; momentum?: number; dampening?: number; weightDecay?: number; nesterov?: boolean },
): { p: number[]; buf: number[] | undefined } {
  const mom = o.momentum ?? 0,
    damp = o.dampening ?? 0,
    wd = o.weightDecay ?? 0;
  let d = g.map((v, k) => v + wd * p[k]!);
  let nb: number[] | undefined;
  if (mom !== 0) {
    nb = buf === undefined ? d.slice() : buf.map((b, k) => mom * b + (1 - damp) * d[k]!);
    d = o.nesterov ? d.map((v, k) => v + mom * nb![k]!) : nb.slice();
  }
  return { p: p.map((v, k) => v - o.lr * d[k]!), buf: nb };
}

/** torch.optim.Adam / AdamW in float64, one step (t: the new step count, from 1). */
export function adamRef(
  p: number[],
  g: number[],
  m: number[],
  v: number[],
  t: number,
  o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number; decoupled: boolean; min?: number },
): { p: number[]; m: number[]; v: number[] } {
  const q = o.decoupled ? p.map((x) => x * (1 - o.lr * o.weightDecay)) : p.slice();
  const gg = o.decoupled ? g : g.map((x, k) => x + o.weightDecay * p[k]!);
  const nm = m.map((x, k) => o.beta1 * x + (1 - o.beta1) * gg[k]!);
  const nv = v.map((x, k) => o.beta2 * x + (1 - o.beta2) * gg[k]! * gg[k]!);
  const bc1 = 1 - o.beta1 ** t,
    bc2 = 1 - o.beta2 ** t;
  const np = q.map((x, k) => {
    const y = x - ((o.lr / bc1) * nm[k]!) / (Math.sqrt(nv[k]!) / Math.sqrt(bc2) + o.eps);
    return o.min === undefined ? y : Math.max(o.min, y);
  });
  return { p: np, m: nm, v: nv };
}
