/**
 * The baseline: a sinabs LIF forward written in plain TypeScript the obvious way, as a Node
 * user would write it without this package. MultiSpike + MembraneSubtract, normInput, threshold
 * 1, no min_v_mem, zero initial state; optionally a synaptic current (tauSyn).
 *
 * Layout (B, T, N), row-major, like LIF.forward. Loops over b, t, n with the state in a
 * Float32Array. Math.fround rounds every operation to float32 the way sinabs (and the native
 * kernels) do; without it the spikes would drift from sinabs' after a few rounding ties.
 */
export interface PlainLifOptions {
  tauMem: number;
  /** Synaptic time constant, or null/undefined for none. */
  tauSyn?: number | null;
}

/** Returns the spike counts (B * T * N values) of a fresh layer on input x of shape (B, T, N). */
export function plainLifForward(x: Float32Array, B: number, T: number, N: number, opts: PlainLifOptions): Float32Array {
  const f = Math.fround;
  const theta = 1;
  const alphaMem = f(Math.exp(-1 / opts.tauMem));
  const c = f(1 - alphaMem); // normInput: the input is scaled by (1 - alpha_mem)
  const hasSyn = opts.tauSyn !== undefined && opts.tauSyn !== null;
  const alphaSyn = hasSyn ? f(Math.exp(-1 / opts.tauSyn!)) : 0;
  const out = new Float32Array(B * T * N);
  const v = new Float32Array(N);
  const iSyn = new Float32Array(N);
  for (let b = 0; b < B; ++b) {
    v.fill(0);
    iSyn.fill(0);
    for (let t = 0; t < T; ++t) {
      const row = (b * T + t) * N;
      for (let n = 0; n < N; ++n) {
        let cur = x[row + n]!;
        if (hasSyn) {
          cur = f(alphaSyn * f(iSyn[n]! + cur)); // i_t = alpha_syn * (i_{t-1} + x_t)
          iSyn[n] = cur;
        }
        const u = f(f(alphaMem * v[n]!) + f(c * cur)); // u_t = alpha_mem * v_{t-1} + c * i_t
        const s = u > 0 ? Math.trunc(f(u / theta)) : 0; // MultiSpike
        v[n] = f(u - f(s * theta)); // MembraneSubtract
        out[row + n] = s;
      }
    }
  }
  return out;
}
