// An independent float64 reference of the sinabs LIF recurrence for the network tests: MultiSpike,
// MembraneSubtract (by the threshold), SingleExponential surrogate, norm_input, no synaptic
// current. Written from the formulas in the golden README, not from the library.

export interface RefLif {
  /** Per-neuron tau (length N) or one value. */
  tau: number[];
  theta: number;
  /** SingleExponential grad_width (relative to theta). */
  gradWidth?: number;
}

export interface RefForward {
  out: Float64Array;
  /** Pre-spike membrane per (b, t, n). */
  u: Float64Array;
  /** State before each step per (b, t, n). */
  vPrev: Float64Array;
  vEnd: Float64Array;
  /** Smallest distance of u to a spike boundary k*theta (k >= 1), relative to max(theta, |u|). */
  margin: number;
}

const tauAt = (l: RefLif, n: number): number => (l.tau.length === 1 ? l.tau[0]! : l.tau[n]!);
const f32 = Math.fround;

/** Runs (B, T, N) input from state v0 (B*N), in float64 (alphas from the float32 tau values). */
export function refForward(
  l: RefLif,
  x: ArrayLike<number>,
  B: number,
  T: number,
  N: number,
  v0?: Float64Array,
): RefForward {
  const out = new Float64Array(B * T * N),
    u = new Float64Array(B * T * N),
    vPrev = new Float64Array(B * T * N);
  const v = v0 ? Float64Array.from(v0) : new Float64Array(B * N);
  let margin = Infinity;
  for (let b = 0; b < B; ++b)
    for (let t = 0; t < T; ++t)
      for (let n = 0; n < N; ++n) {
        const a = Math.exp(-1 / f32(tauAt(l, n)));
        const q = (b * T + t) * N + n;
        vPrev[q] = v[b * N + n]!;
        const uu = a * v[b * N + n]! + (1 - a) * x[q]!;
        const s = uu > 0 ? Math.floor(uu / l.theta) : 0;
        if (uu > 0) {
          const k = Math.max(1, Math.round(uu / l.theta));
          margin = Math.min(margin, Math.abs(uu - k * l.theta) / Math.max(l.theta, Math.abs(uu)));
        }
        u[q] = uu;
        out[q] = s;
        v[b * N + n] = uu - s * l.theta;
      }
  return { out, u, vPrev, vEnd: v, margin };
}

/**
 * Backward of one call: dL/dx and dL/dtau (per tau element) given dL/dout, and the adjoint of the
 * final state `gvEnd` from a later call; returns the adjoint of the initial state too.
 */
export function refBackward(
  l: RefLif,
  x: ArrayLike<number>,
  f: RefForward,
  g: ArrayLike<number>,
  B: number,
  T: number,
  N: number,
  gvEnd?: Float64Array,
): { gx: Float64Array; gTau: Float64Array; gvStart: Float64Array } {
  const w = l.theta * (l.gradWidth ?? 0.5);
  const gx = new Float64Array(B * T * N);
  const gTau = new Float64Array(l.tau.length);
  const gvStart = new Float64Array(B * N);
  for (let b = 0; b < B; ++b)
    for (let n = 0; n < N; ++n) {
      const tau = f32(tauAt(l, n));
      const a = Math.exp(-1 / tau);
      let gv = gvEnd ? gvEnd[b * N + n]! : 0;
      let ga = 0;
      for (let t = T - 1; t >= 0; --t) {
        const q = (b * T + t) * N + n;
        const sigma = Math.exp(-Math.abs(f.u[q]! - l.theta) / w) / w;
        const gu = g[q]! * sigma + gv * (1 - l.theta * sigma);
        gx[q] = gu * (1 - a);
        ga += gu * (f.vPrev[q]! - x[q]!);
        gv = gu * a;
      }
      gvStart[b * N + n] = gv;
      gTau[l.tau.length === 1 ? 0 : n]! += (ga * a) / (tau * tau);
    }
  return { gx, gTau, gvStart };
}

/** max |a - b| / max(1e-30, max |b|). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0,
    m = 0;
  for (let k = 0; k < b.length; ++k) {
    d = Math.max(d, Math.abs(a[k]! - b[k]!));
    m = Math.max(m, Math.abs(b[k]!));
  }
  return d / Math.max(m, 1e-30);
}
