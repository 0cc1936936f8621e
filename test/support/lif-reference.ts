// The float64 reference of sinabs' LIF family, written from the specification alone: the step of
// semantics.md §3.2 (synaptic current, integration, spikes, reset, clip; §4-§5 for the rules),
// the forward recurrence over a call, and the adjoint (backward) recurrence of §7. Tests compare
// the float32 layer against it; nothing here calls the library.

/** One neuron's rules for one step, in float64. */
export interface RefStepRules {
  alphaMem: number;
  /** null: no synaptic current (the input goes straight into the membrane). */
  alphaSyn: number | null;
  /** Input scale: 1 - alphaMem with normInput, else 1. */
  c: number;
  theta: number;
  spike: 'multi' | 'single' | 'none';
  /** MaxSpike's limit (Infinity for MultiSpike). */
  maxSpikes: number;
  reset: 'subtract' | 'reset' | 'none';
  /** MembraneSubtract's value. */
  thetaSub: number;
  /** MembraneReset's value. */
  resetValue: number;
  minV: number | null;
}

/** What one step computes. */
export interface RefStepResult {
  /** The synaptic current (the input itself without a synapse). */
  i: number;
  /** The membrane before spiking. */
  u: number;
  /** The spike count (u itself without a spike function). */
  s: number;
  /** The membrane after the reset, before the clip. */
  r: number;
  /** The new membrane. */
  v: number;
}

/** One step from (vPrev, iPrev) with input x (semantics.md §3.2). */
export function refStep(p: RefStepRules, vPrev: number, iPrev: number, x: number): RefStepResult {
  // 1. synaptic current: i_t = alpha_s (i_{t-1} + x_t), or x_t
  const i = p.alphaSyn === null ? x : p.alphaSyn * (iPrev + x);
  // 2. integrate
  const u = p.alphaMem * vPrev + p.c * i;
  // 3. spikes: MultiSpike [u > 0] * trunc(u / theta) (-0 for u <= 0, NaN through), clamped by MaxSpike
  let s: number;
  if (p.spike === 'multi') {
    const q = Math.trunc(u / p.theta);
    s = u > 0 ? q : 0 * q;
    if (s > p.maxSpikes) s = p.maxSpikes;
  } else if (p.spike === 'single') s = u - p.theta >= 0 ? 1 : 0;
  else s = u;
  // 4. reset
  const r =
    p.reset === 'subtract' ? u - s * p.thetaSub : p.reset === 'reset' ? u * (s === 0 ? 1 : 0) + p.resetValue : u;
  // 5. clip: relu(r - m) + m
  let v = r;
  if (p.minV !== null) {
    const d = r - p.minV;
    v = (d < 0 ? 0 : d) + p.minV;
  }
  return { i, u, s, r, v };
}

export type SpikeRule = { kind: 'multi'; max: number } | { kind: 'single' };
export type ResetRule = { kind: 'subtract'; sub: number } | { kind: 'reset'; value: number };

/** A layer over B batch entries and N neurons, for refForward/refBackward. */
export interface RefModel {
  B: number;
  neuronShape: number[];
  theta: number;
  spike: SpikeRule;
  reset: ResetRule;
  /** sigma(u) in float64 (semantics.md §6). */
  sigma: (u: number) => number;
  minV: number | null;
  norm: boolean;
  /** Per-neuron decay factors (N values), float64. */
  alphaMem: number[];
  alphaSyn: number[] | null;
}

/** What one forward call keeps (all (B, T, N) row-major, float64). */
export interface Traj {
  T: number;
  x: number[];
  u: number[];
  s: number[];
  r: number[];
  v: number[];
  i: number[];
  vPrev: number[];
  iPrev: number[];
}

/** Forward recurrence of §3.2 from state (v0, i0); returns the trajectory and the final state. */
export function refForward(
  m: RefModel,
  T: number,
  x: number[],
  v0: number[],
  i0: number[],
): { traj: Traj; v1: number[]; i1: number[] } {
  const N = m.alphaMem.length,
    B = m.B;
  const E = B * T * N;
  const traj: Traj = {
    T,
    x,
    u: new Array(E),
    s: new Array(E),
    r: new Array(E),
    v: new Array(E),
    i: new Array(E),
    vPrev: new Array(E),
    iPrev: new Array(E),
  };
  const v = v0.slice(),
    is = i0.slice();
  const rules = stepRules(m);
  for (let b = 0; b < B; ++b)
    for (let t = 0; t < T; ++t)
      for (let n = 0; n < N; ++n) {
        const q = (b * T + t) * N + n,
          bn = b * N + n;
        traj.vPrev[q] = v[bn]!;
        traj.iPrev[q] = is[bn]!;
        const st = refStep(rules[n]!, v[bn]!, is[bn]!, x[q]!);
        traj.u[q] = st.u;
        traj.s[q] = st.s;
        traj.r[q] = st.r;
        traj.v[q] = st.v;
        traj.i[q] = st.i;
        v[bn] = st.v;
        if (m.alphaSyn) is[bn] = st.i;
      }
  return { traj, v1: v, i1: is };
}

/**
 * Adjoint recurrence of §7 for one call: given dL/ds (g), the adjoints of the final state
 * (gvEnd, giEnd), returns dL/dx, the adjoints of the initial state and dL/d alpha per neuron,
 * plus the sums of |terms| of the alpha gradients (their rounding-error scale).
 */
export function refBackward(m: RefModel, tr: Traj, g: number[], gvEnd: number[], giEnd: number[]) {
  const N = m.alphaMem.length,
    B = m.B,
    T = tr.T;
  const gx = new Array<number>(B * T * N).fill(0);
  const gv = gvEnd.slice(),
    gic = giEnd.slice();
  const gAm = new Array<number>(N).fill(0),
    gAs = new Array<number>(N).fill(0);
  const absAm = new Array<number>(N).fill(0),
    absAs = new Array<number>(N).fill(0);
  for (let b = 0; b < B; ++b)
    for (let t = T - 1; t >= 0; --t)
      for (let n = 0; n < N; ++n) {
        const q = (b * T + t) * N + n,
          bn = b * N + n;
        const am = m.alphaMem[n]!,
          c = m.norm ? 1 - am : 1;
        const gr = m.minV === null ? gv[bn]! : tr.r[q]! - m.minV > 0 ? gv[bn]! : 0;
        const sg = m.sigma(tr.u[q]!);
        const gt = g[q]!;
        const gu =
          m.reset.kind === 'subtract' ? gr + (gt - m.reset.sub * gr) * sg : gr * (tr.s[q] === 0 ? 1 : 0) + gt * sg;
        const dAm = gu * (m.norm ? tr.vPrev[q]! - tr.i[q]! : tr.vPrev[q]!);
        gAm[n] += dAm;
        absAm[n] += Math.abs(dAm);
        gv[bn] = am * gu;
        const gi = c * gu + gic[bn]!;
        if (m.alphaSyn) {
          const as = m.alphaSyn[n]!;
          gx[q] = as * gi;
          const dAs = gi * (tr.iPrev[q]! + tr.x[q]!);
          gAs[n] += dAs;
          absAs[n] += Math.abs(dAs);
          gic[bn] = as * gi;
        } else gx[q] = gi;
      }
  return { gx, gvStart: gv, giStart: gic, gAm, gAs, absAm, absAs };
}

/** The per-neuron step rules of a model. */
export function stepRules(m: RefModel): RefStepRules[] {
  return m.alphaMem.map((am, n) => ({
    alphaMem: am,
    alphaSyn: m.alphaSyn ? m.alphaSyn[n]! : null,
    c: m.norm ? 1 - am : 1,
    theta: m.theta,
    spike: m.spike.kind,
    maxSpikes: m.spike.kind === 'multi' ? m.spike.max : Infinity,
    reset: m.reset.kind,
    thetaSub: m.reset.kind === 'subtract' ? m.reset.sub : 0,
    resetValue: m.reset.kind === 'reset' ? m.reset.value : 0,
    minV: m.minV,
  }));
}
