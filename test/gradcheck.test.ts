// The float64 reference of the LIF layer written from the specification alone (test/support/lif-reference.ts):
// the forward recurrence of docs/semantics.md §3.2 and the adjoint (backward) recurrence of §7, with
// the spike/reset/surrogate rules of §4-§6 and the parameter broadcasting of §2. The layer
// (float32, native kernels) is compared against it on random inputs over two forward calls that
// carry state, backwarded in reverse order (second call first).
//
// Spikes are piecewise constant, so finite differences of the true loss are zero almost everywhere;
// the backward check is therefore against the independently written adjoint recurrence.
import { expect } from 'chai';
import {
  Gaussian,
  LIF,
  MaxSpike,
  MembraneReset,
  MembraneSubtract,
  MultiGaussian,
  MultiSpike,
  PeriodicExponential,
  SingleExponential,
  SingleSpike,
  Tensor,
  type LIFOptions,
} from '../lib/index.js';
import { rng } from './support/random.js';
import { refBackward, refForward, type RefModel, type ResetRule, type Traj } from './support/lif-reference.js';

const f = Math.fround;

/** Uniform float32 values (the reference reads the same float32 numbers in float64). */
function uniform(r: () => number, n: number, lo: number, hi: number): number[] {
  return Array.from({ length: n }, () => f(lo + (hi - lo) * r()));
}

const SQRT_2PI = Math.sqrt(2 * Math.PI);
const normal = (x: number, mu: number, s: number): number => Math.exp(-((x - mu) ** 2) / (2 * s * s)) / (s * SQRT_2PI);

/**
 * Smallest distance of the trajectory to a discontinuity of the forward map or of the gradient
 * masks: spike-count boundaries (u/theta at a positive integer, or u = theta for SingleSpike)
 * and the clip boundary r = m. The float32 layer and the float64 reference take the same branch
 * only if the float32 rounding (~1e-6 here) is well inside this margin.
 */
function margin(m: RefModel, tr: Traj): number {
  let d = Infinity;
  for (let q = 0; q < tr.u.length; ++q) {
    const u = tr.u[q]!;
    if (m.spike.kind === 'multi') {
      const z = u / m.theta;
      if (z > 0.5) d = Math.min(d, Math.abs(z - Math.round(z)));
    } else d = Math.min(d, Math.abs(u - m.theta) / m.theta);
    if (m.minV !== null) d = Math.min(d, Math.abs(tr.r[q]! - m.minV));
  }
  return d;
}

// ---- cases ------------------------------------------------------------------------------------

interface Case {
  name: string;
  B: number;
  Ts: [number, number];
  neuronShape: number[];
  /** Parameter values (float32-representable) and shapes. */
  tauMem: { shape: number[]; values: number[] };
  tauSyn: { shape: number[]; values: number[] } | null;
  trainAlphas?: boolean;
  theta: number;
  spikeFn: 'multi' | 'single' | number;
  reset: ResetRule | { kind: 'subtract'; sub: null };
  surrogate: { make: () => LIFOptions['surrogateGradFn']; sigma: (u: number, theta: number) => number };
  minV: number | null;
  norm: boolean;
  xRange: [number, number];
  seed: number;
}

/** Index of the parameter element for neuron n (NumPy broadcasting from the right, §2). */
function paramIndex(pShape: number[], neuronShape: number[], n: number): number {
  if (pShape.reduce((a, b) => a * b, 1) === 1) return 0;
  const R = neuronShape.length,
    off = R - pShape.length;
  const coord: number[] = [];
  let rem = n;
  for (let k = R - 1; k >= 0; --k) {
    coord[k] = rem % neuronShape[k]!;
    rem = Math.floor(rem / neuronShape[k]!);
  }
  let idx = 0;
  for (let k = 0; k < pShape.length; ++k) idx = idx * pShape[k]! + (pShape[k] === 1 ? 0 : coord[off + k]!);
  return idx;
}

const seSigma =
  (gw: number, gs: number) =>
  (u: number, th: number): number => {
    const w = th * gw;
    return (gs / w) * Math.exp(-Math.abs(u - th) / w);
  };

const CASES: Case[] = [
  {
    name: 'per-neuron tauMem and tauSyn, minVMem, MultiSpike + MembraneSubtract, SingleExponential',
    B: 2,
    Ts: [25, 19],
    neuronShape: [6],
    tauMem: { shape: [6], values: [4, 6.5, 9, 13.25, 20, 30] },
    tauSyn: { shape: [6], values: [2, 3.5, 5, 8, 11, 15] },
    theta: 1,
    spikeFn: 'multi',
    reset: { kind: 'subtract', sub: null },
    surrogate: { make: () => new SingleExponential(), sigma: seSigma(0.5, 1) },
    minV: -0.6,
    norm: true,
    xRange: [-4, 12],
    seed: 11,
  },
  {
    name: 'per-channel tauMem [3,1] on neurons [3,4], scalar tauSyn, MaxSpike(2) + MembraneReset(0.2), Gaussian, normInput false',
    B: 2,
    Ts: [20, 13],
    neuronShape: [3, 4],
    tauMem: { shape: [3, 1], values: [5, 12, 25] },
    tauSyn: { shape: [], values: [4] },
    theta: 1.5,
    spikeFn: 2,
    reset: { kind: 'reset', value: 0.2 },
    surrogate: { make: () => new Gaussian({ mu: 0.1, sigma: 0.6 }), sigma: (u, th) => normal(u - th, 0.1, 0.6) },
    minV: -1,
    norm: false,
    xRange: [-0.9, 1.3],
    seed: 22,
  },
  {
    name: 'scalar tauMem, no tauSyn, SingleSpike + MembraneSubtract(0.5), PeriodicExponential',
    B: 3,
    Ts: [18, 22],
    neuronShape: [5],
    tauMem: { shape: [], values: [8] },
    tauSyn: null,
    theta: 0.75,
    spikeFn: 'single',
    reset: { kind: 'subtract', sub: 0.5 },
    surrogate: {
      make: () => new PeriodicExponential({ gradWidth: 0.4, gradScale: 0.9 }),
      sigma: (u, th) => {
        // closed form: below theta exp(-(theta-u)/w); above, exp(-2 d / w), d to the nearest k*theta
        if (u < th) return 0.9 * Math.exp(-(th - u) / 0.4);
        const k = Math.max(1, Math.round(u / th));
        return 0.9 * Math.exp((-2 * Math.abs(u - k * th)) / 0.4);
      },
    },
    minV: null,
    norm: true,
    xRange: [-1, 6],
    seed: 33,
  },
  {
    name: 'trainAlphas, scalar tauMem and tauSyn, MultiSpike + MembraneSubtract, MultiGaussian, minVMem',
    B: 2,
    Ts: [21, 17],
    neuronShape: [4],
    tauMem: { shape: [], values: [10] },
    tauSyn: { shape: [], values: [3] },
    trainAlphas: true,
    theta: 1.25,
    spikeFn: 'multi',
    reset: { kind: 'subtract', sub: null },
    surrogate: {
      make: () => new MultiGaussian(),
      sigma: (u, th) => {
        const x = u - th;
        return 1.15 * normal(x, 0, 0.5) - 0.15 * normal(x, 0.5, 3) - 0.15 * normal(x, -0.5, 3);
      },
    },
    minV: -0.4,
    norm: true,
    xRange: [-12, 16],
    seed: 44,
  },
];

function layerOptions(c: Case): LIFOptions {
  const p = (t: { shape: number[]; values: number[] }): number | Tensor =>
    t.shape.length === 0 ? t.values[0]! : Tensor.from(t.values, t.shape);
  return {
    tauMem: p(c.tauMem),
    tauSyn: c.tauSyn ? p(c.tauSyn) : null,
    trainAlphas: c.trainAlphas ?? false,
    spikeThreshold: c.theta,
    spikeFn:
      c.spikeFn === 'multi'
        ? MultiSpike
        : c.spikeFn === 'single'
          ? SingleSpike
          : new MaxSpike({ maxNumSpikesPerBin: c.spikeFn }),
    resetFn:
      c.reset.kind === 'subtract'
        ? new MembraneSubtract({ subtractValue: c.reset.sub })
        : new MembraneReset({ resetValue: c.reset.value }),
    surrogateGradFn: c.surrogate.make(),
    minVMem: c.minV,
    normInput: c.norm,
    recordStates: true,
  };
}

function refModel(c: Case): RefModel {
  const N = c.neuronShape.reduce((a, b) => a * b, 1);
  // alpha = exp(-1/tau) in float64 (tau mode); with trainAlphas the parameter is alpha itself,
  // computed once in float32 at construction (§2), so the reference uses that float32 value.
  const alphas = (t: { shape: number[]; values: number[] }): number[] =>
    Array.from({ length: N }, (_, n) => {
      const a = Math.exp(-1 / t.values[paramIndex(t.shape, c.neuronShape, n)]!);
      return c.trainAlphas ? f(a) : a;
    });
  return {
    B: c.B,
    neuronShape: c.neuronShape,
    theta: c.theta,
    spike:
      c.spikeFn === 'multi'
        ? { kind: 'multi', max: Infinity }
        : c.spikeFn === 'single'
          ? { kind: 'single' }
          : { kind: 'multi', max: c.spikeFn },
    reset: c.reset.kind === 'subtract' ? { kind: 'subtract', sub: c.reset.sub ?? c.theta } : c.reset,
    sigma: (u) => c.surrogate.sigma(u, c.theta),
    minV: c.minV,
    norm: c.norm,
    alphaMem: alphas(c.tauMem),
    alphaSyn: c.tauSyn ? alphas(c.tauSyn) : null,
  };
}

/** max |a - ref| <= rtol * max(floor, max |ref|), with a message naming the worst element. */
function expectNormwise(what: string, got: Float32Array, ref: number[], rtol: number, floor = 0): void {
  expect(got.length, `${what} length`).to.equal(ref.length);
  let worst = 0,
    at = -1,
    scale = floor;
  for (let k = 0; k < ref.length; ++k) scale = Math.max(scale, Math.abs(ref[k]!));
  for (let k = 0; k < ref.length; ++k) {
    const d = Math.abs(got[k]! - ref[k]!);
    if (!(d <= worst)) {
      worst = d;
      at = k;
    }
  }
  expect(scale, `${what}: reference is not all zero`).to.be.greaterThan(0);
  if (!(worst <= rtol * scale))
    expect.fail(`${what}: max |diff| ${worst} at ${at} (got ${got[at]}, ref ${ref[at]}) > ${rtol} * ${scale}`);
}

/*
 * Tolerances. The layer runs in float32: each step rounds ~5 operations (relative 6e-8 each), the
 * state recurrence is contractive (alpha < 1) so errors do not grow beyond ~1/(1 - alpha) steps'
 * worth, and the float32 alpha carries a relative error of up to ~3e-8/(1 - alpha) in the input
 * scaling (§3.2 float32 details; <= 1e-6 for tau <= 30). The adjoint recurrence has factors
 * |alpha (1 - theta_sub sigma)| <= ~1 for these surrogates, so relative errors stay of the same
 * order. 1e-4 of each tensor's largest magnitude leaves a wide margin over these ~1e-6 effects
 * while still catching any wrong term (a missing or mis-scaled term changes results by O(1e-1)).
 * Alpha/tau gradients are sums of many terms of both signs: their rounding error is bounded by
 * the relative error times the sum of |terms|, so that sum is their scale.
 */
const RTOL = 1e-4;

describe('gradcheck: float64 reference of semantics.md §3.2 and §7, two calls carrying state', function () {
  for (const c of CASES) {
    describe(c.name, function () {
      const N = c.neuronShape.reduce((a, b) => a * b, 1);
      const m = refModel(c);
      type RunOut = {
        out: Float32Array;
        v: Float32Array;
        i: Float32Array | null;
        recV: Float32Array;
        recI: Float32Array | null;
        vShape: number[];
        recShape: number[];
      };
      let f1: ReturnType<typeof refForward>, f2: ReturnType<typeof refForward>;
      let b1: ReturnType<typeof refBackward>, b2: ReturnType<typeof refBackward>;
      let fw: ReturnType<typeof refForward>[];
      let layer: LIF;
      let run: RunOut[];
      let gx1: Float32Array, gx2: Float32Array;

      before(function () {
        const r = rng(c.seed);
        const xs = c.Ts.map((T) => uniform(r, c.B * T * N, c.xRange[0], c.xRange[1]));
        const gs = c.Ts.map((T) => uniform(r, c.B * T * N, -1, 1));
        const zero = new Array<number>(c.B * N).fill(0);

        // reference: two forward calls, then backward of the second, then the first
        f1 = refForward(m, c.Ts[0], xs[0]!, zero, zero);
        f2 = refForward(m, c.Ts[1], xs[1]!, f1.v1, f1.i1);
        b2 = refBackward(m, f2.traj, gs[1]!, zero, zero);
        b1 = refBackward(m, f1.traj, gs[0]!, b2.gvStart, b2.giStart);
        fw = [f1, f2];

        // the layer, the same way
        layer = new LIF(layerOptions(c));
        run = [];
        for (let k = 0; k < 2; ++k) {
          const shape = [c.B, c.Ts[k]!, ...c.neuronShape];
          const out = layer.forward(Tensor.from(xs[k]!, shape));
          const rec = layer.recordings;
          run.push({
            out: out.toFloat32Array(),
            v: layer.vMem!.toFloat32Array(),
            i: layer.iSyn?.toFloat32Array() ?? null,
            recV: rec.vMem!.toFloat32Array(),
            recI: rec.iSyn?.toFloat32Array() ?? null,
            vShape: layer.vMem!.shape,
            recShape: rec.vMem!.shape,
          });
        }
        gx2 = layer.backward(Tensor.from(gs[1]!, [c.B, c.Ts[1], ...c.neuronShape])).toFloat32Array();
        gx1 = layer.backward(Tensor.from(gs[0]!, [c.B, c.Ts[0], ...c.neuronShape])).toFloat32Array();
      });

      it('the random data is meaningful and away from discontinuities', function () {
        const mg = Math.min(margin(m, f1.traj), margin(m, f2.traj));
        expect(
          mg,
          'test data too close to a spike/clip boundary for a float32-vs-float64 comparison: change the seed',
        ).to.be.greaterThan(1e-4);
        const spikes = [...f1.traj.s, ...f2.traj.s];
        expect(spikes.filter((s) => s > 0).length, 'spikes occur').to.be.greaterThan(10);
        expect(spikes.filter((s) => s === 0).length, 'silent steps occur').to.be.greaterThan(10);
        if (c.spikeFn === 'multi') expect(Math.max(...spikes), 'multi-spikes occur').to.be.greaterThan(1);
        if (typeof c.spikeFn === 'number')
          expect(spikes.filter((s) => s === c.spikeFn).length, 'MaxSpike saturates').to.be.greaterThan(0);
        if (c.minV !== null) {
          const clipped = [...f1.traj.r, ...f2.traj.r].filter((x) => x < c.minV!).length;
          expect(clipped, 'the clip is active somewhere').to.be.greaterThan(0);
        }
      });

      it('forward: spikes exactly equal, states and recordings within 1e-4 (both calls)', function () {
        for (let k = 0; k < 2; ++k) {
          const tr = fw[k]!.traj;
          const o = run[k]!;
          for (let q = 0; q < tr.s.length; ++q)
            if (o.out[q] !== tr.s[q])
              expect.fail(`call ${k}: spike count ${o.out[q]} != reference ${tr.s[q]} at ${q} (u = ${tr.u[q]})`);
          expect(o.vShape).to.deep.equal([c.B, ...c.neuronShape]);
          expect(o.recShape).to.deep.equal([c.B, c.Ts[k], ...c.neuronShape]);
          // v = u - s*theta_sub (then clipped) inherits the absolute error of u, which is large
          // when a big synaptic current is integrated and most of it is subtracted again: the
          // error scale of v is max|u|, not max|v|.
          const uScale = Math.max(1, ...tr.u.map(Math.abs));
          expectNormwise(`call ${k} vMem`, o.v, fw[k]!.v1, RTOL, uScale);
          expectNormwise(`call ${k} recordings.vMem`, o.recV, tr.v, RTOL, uScale);
          if (c.tauSyn) {
            expectNormwise(`call ${k} iSyn`, o.i!, fw[k]!.i1, RTOL, 1);
            expectNormwise(`call ${k} recordings.iSyn`, o.recI!, tr.i, RTOL, 1);
          } else {
            expect(o.i, 'no iSyn without tauSyn').to.equal(null);
            expect(o.recI, 'no recordings.iSyn without tauSyn').to.equal(null);
          }
          if (c.minV !== null) {
            const mv = f(c.minV);
            expect(
              o.recV.every((x) => x >= mv),
              'recorded states respect minVMem',
            ).to.equal(true);
          }
        }
      });

      it('backward: gradInput of both calls (second call first) within 1e-4 of the reference adjoint', function () {
        expectNormwise('call 1 gradInput', gx2, b2.gx, RTOL);
        expectNormwise('call 0 gradInput (carrying the state adjoint of call 1)', gx1, b1.gx, RTOL);
      });

      it(`backward: ${c.trainAlphas ? 'alphaMem/alphaSyn' : 'tauMem/tauSyn'} gradients within 1e-4 of the reference`, function () {
        const check = (
          what: string,
          param: Tensor | null,
          pDef: { shape: number[]; values: number[] },
          gA: number[][],
          absA: number[][],
        ): void => {
          expect(param, `${what} parameter`).to.be.instanceOf(Tensor);
          const grad = param!.grad;
          expect(grad, `${what}.grad`).to.be.instanceOf(Tensor);
          expect(grad!.shape, `${what}.grad shape`).to.deep.equal(pDef.shape);
          const P = pDef.values.length;
          const ref = new Array<number>(P).fill(0),
            scale = new Array<number>(P).fill(0);
          for (let n = 0; n < N; ++n) {
            const p = paramIndex(pDef.shape, c.neuronShape, n);
            // d alpha / d tau = alpha / tau^2 in tau mode (§2), identity with trainAlphas
            const tau = pDef.values[p]!;
            const fac = c.trainAlphas ? 1 : Math.exp(-1 / tau) / (tau * tau);
            for (let k = 0; k < 2; ++k) {
              ref[p] += gA[k]![n]! * fac;
              scale[p] += absA[k]![n]! * fac;
            }
          }
          const got = grad!.toFloat32Array();
          for (let p = 0; p < P; ++p) {
            const d = Math.abs(got[p]! - ref[p]!);
            if (!(d <= RTOL * scale[p]!))
              expect.fail(
                `${what}.grad[${p}] = ${got[p]}, reference ${ref[p]} (|diff| ${d} > ${RTOL} * sum|terms| ${scale[p]})`,
              );
          }
          expect(Math.max(...ref.map(Math.abs)), `${what}: reference gradient is not trivially 0`).to.be.greaterThan(0);
        };
        const memP = c.trainAlphas ? layer.alphaMem : layer.tauMem;
        check(c.trainAlphas ? 'alphaMem' : 'tauMem', memP, c.tauMem, [b1.gAm, b2.gAm], [b1.absAm, b2.absAm]);
        if (c.tauSyn) {
          const synP = c.trainAlphas ? layer.alphaSyn : layer.tauSyn;
          check(c.trainAlphas ? 'alphaSyn' : 'tauSyn', synP, c.tauSyn, [b1.gAs, b2.gAs], [b1.absAs, b2.absAs]);
        }
        expect(layer.spikeThreshold!.grad, 'the threshold gets no gradient').to.equal(null);
        if (layer.minVMem) expect(layer.minVMem.grad, 'minVMem gets no gradient').to.equal(null);
      });
    });
  }

  it('the carried state adjoint matters: call 0 alone (zero end adjoint) differs from call 0 followed by call 1', function () {
    // Makes sure the two-call comparison above can tell a carried adjoint from a dropped one:
    // the references differ by far more than the tolerance, and the layer with call 0 alone
    // matches the zero-end-adjoint reference.
    const c = CASES[0]!;
    const N = c.neuronShape.reduce((a, b) => a * b, 1);
    const m = refModel(c);
    const r = rng(c.seed);
    const xs = c.Ts.map((T) => uniform(r, c.B * T * N, c.xRange[0], c.xRange[1]));
    const gs = c.Ts.map((T) => uniform(r, c.B * T * N, -1, 1));
    const f1 = refForward(m, c.Ts[0], xs[0]!, new Array(c.B * N).fill(0), new Array(c.B * N).fill(0));
    const zero = new Array(c.B * N).fill(0);
    const cut = refBackward(m, f1.traj, gs[0]!, zero, zero);
    const f2 = refForward(m, c.Ts[1], xs[1]!, f1.v1, f1.i1);
    const b2 = refBackward(m, f2.traj, gs[1]!, zero, zero);
    const linked = refBackward(m, f1.traj, gs[0]!, b2.gvStart, b2.giStart);
    // the two references differ clearly, so the comparison below can tell them apart
    let diff = 0,
      scale = 0;
    for (let q = 0; q < cut.gx.length; ++q) {
      diff = Math.max(diff, Math.abs(cut.gx[q]! - linked.gx[q]!));
      scale = Math.max(scale, Math.abs(cut.gx[q]!));
    }
    expect(diff, 'cut vs linked references differ').to.be.greaterThan(100 * RTOL * scale);

    const layer = new LIF(layerOptions(c));
    layer.forward(Tensor.from(xs[0]!, [c.B, c.Ts[0], ...c.neuronShape]));
    const g0 = layer.backward(Tensor.from(gs[0]!, [c.B, c.Ts[0], ...c.neuronShape])).toFloat32Array();
    expectNormwise('call 0 alone', g0, cut.gx, RTOL);
  });
});
