// Float64 references of Linear and Conv2d (forward and backward), written as the plain sums of
// their definitions (torch.nn.Linear / torch.nn.Conv2d with zero padding, groups 1, dilation 1),
// independently of the library: no im2col, no GEMM, no transposes.

/** y[m][n] = b[n] + sum_k x[m][k] W[n][k]. */
export function linearRef(
  x: ArrayLike<number>,
  M: number,
  K: number,
  W: ArrayLike<number>,
  N: number,
  b: ArrayLike<number> | null,
): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; ++m)
    for (let n = 0; n < N; ++n) {
      let s = b ? b[n]! : 0;
      for (let k = 0; k < K; ++k) s += x[m * K + k]! * W[n * K + k]!;
      y[m * N + n] = s;
    }
  return y;
}

/** dL/dx, dL/dW, dL/db of linearRef for dL/dy = g (M x N). */
export function linearBackRef(
  g: ArrayLike<number>,
  x: ArrayLike<number>,
  M: number,
  K: number,
  W: ArrayLike<number>,
  N: number,
) {
  const dx = new Float64Array(M * K),
    dW = new Float64Array(N * K),
    db = new Float64Array(N);
  for (let m = 0; m < M; ++m)
    for (let n = 0; n < N; ++n) {
      const gv = g[m * N + n]!;
      db[n]! += gv;
      for (let k = 0; k < K; ++k) {
        dx[m * K + k]! += gv * W[n * K + k]!;
        dW[n * K + k]! += gv * x[m * K + k]!;
      }
    }
  return { dx, dW, db };
}

/** Convolution geometry: input (N, C, H, W), weight (O, C, kH, kW), stride, zero padding. */
export interface RefGeom {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  kH: number;
  kW: number;
  sH: number;
  sW: number;
  pH: number;
  pW: number;
}

export function outSize(g: RefGeom): [number, number] {
  return [Math.floor((g.H + 2 * g.pH - g.kH) / g.sH) + 1, Math.floor((g.W + 2 * g.pW - g.kW) / g.sW) + 1];
}

/** y[n][o][i][j] = b[o] + sum_{c,a,e} W[o][c][a][e] x[n][c][i*sH + a - pH][j*sW + e - pW] (zero outside). */
export function conv2dRef(
  x: ArrayLike<number>,
  g: RefGeom,
  W: ArrayLike<number>,
  b: ArrayLike<number> | null,
): Float64Array {
  const [Ho, Wo] = outSize(g);
  const y = new Float64Array(g.N * g.O * Ho * Wo);
  for (let n = 0; n < g.N; ++n)
    for (let o = 0; o < g.O; ++o)
      for (let i = 0; i < Ho; ++i)
        for (let j = 0; j < Wo; ++j) {
          let s = b ? b[o]! : 0;
          for (let c = 0; c < g.C; ++c)
            for (let a = 0; a < g.kH; ++a) {
              const yy = i * g.sH + a - g.pH;
              if (yy < 0 || yy >= g.H) continue;
              for (let e = 0; e < g.kW; ++e) {
                const xx = j * g.sW + e - g.pW;
                if (xx < 0 || xx >= g.W) continue;
                s += W[((o * g.C + c) * g.kH + a) * g.kW + e]! * x[((n * g.C + c) * g.H + yy) * g.W + xx]!;
              }
            }
          y[((n * g.O + o) * Ho + i) * Wo + j] = s;
        }
  return y;
}

/** dL/dx, dL/dW, dL/db of conv2dRef for dL/dy = gy (N, O, Ho, Wo). */
export function conv2dBackRef(gy: ArrayLike<number>, x: ArrayLike<number>, g: RefGeom, W: ArrayLike<number>) {
  const [Ho, Wo] = outSize(g);
  const dx = new Float64Array(g.N * g.C * g.H * g.W);
  const dW = new Float64Array(g.O * g.C * g.kH * g.kW);
  const db = new Float64Array(g.O);
  for (let n = 0; n < g.N; ++n)
    for (let o = 0; o < g.O; ++o)
      for (let i = 0; i < Ho; ++i)
        for (let j = 0; j < Wo; ++j) {
          const gv = gy[((n * g.O + o) * Ho + i) * Wo + j]!;
          db[o]! += gv;
          for (let c = 0; c < g.C; ++c)
            for (let a = 0; a < g.kH; ++a) {
              const yy = i * g.sH + a - g.pH;
              if (yy < 0 || yy >= g.H) continue;
              for (let e = 0; e < g.kW; ++e) {
                const xx = j * g.sW + e - g.pW;
                if (xx < 0 || xx >= g.W) continue;
                const wi = ((o * g.C + c) * g.kH + a) * g.kW + e,
                  xi = ((n * g.C + c) * g.H + yy) * g.W + xx;
                dx[xi]! += gv * W[wi]!;
                dW[wi]! += gv * x[xi]!;
              }
            }
        }
  return { dx, dW, db };
}

/** max |a - ref| and max |ref|. */
export function deviation(a: ArrayLike<number>, ref: ArrayLike<number>): { err: number; scale: number } {
  if (a.length !== ref.length) throw new Error(`length ${a.length} vs reference ${ref.length}`);
  let err = 0,
    scale = 0;
  for (let k = 0; k < ref.length; ++k) {
    const d = Math.abs(a[k]! - ref[k]!);
    err = Number.isNaN(d) ? Infinity : Math.max(err, d);
    scale = Math.max(scale, Math.abs(ref[k]!));
  }
  return { err, scale };
}

/**
 * Float32 tolerance: max |impl − ref| ≤ rtol · max |ref|. The kernels form each output as a
 * float32 sum of at most a few hundred products (or add gradient contributions over at most a few
 * thousand rows); with random signs the rounding error of such sums stays near sqrt(terms) · 2^-24
 * of the largest terms, about 1e-6 of max|ref| here, so 1e-5 leaves a margin of ten while any
 * indexing or accumulation bug gives errors of order 1.
 */
export const F32_RTOL = 1e-5;

/** Throws when `a` deviates from `ref` by more than rtol · max|ref|. */
export function assertClose(a: ArrayLike<number>, ref: ArrayLike<number>, what: string, rtol = F32_RTOL): void {
  const { err, scale } = deviation(a, ref);
  if (!(err <= rtol * scale))
    throw new Error(
      `${what}: max |impl - ref| = ${err.toExponential(3)} > ${rtol} * max|ref| (${scale.toExponential(3)})`,
    );
}
