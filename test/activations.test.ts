// Unit tests of every activation (spike functions, resets, surrogate gradients, custom callables)
// through the public API. Expected values come from the closed forms of docs/semantics.md §4-§6,
// evaluated in float64 here, or from the specification's float32 rules (each operation rounded to
// float32 separately, no FMA: docs/semantics.md §3.2 "Float32 details"), emulated with Math.fround.
import { expect } from 'chai';
import {
  Gaussian,
  Heaviside,
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

const f = Math.fround;

/** One step (B=1, T=1, N=k) with u = x: normInput false, no tauSyn, zero initial state. */
function oneStep(xs: readonly number[], opts: Partial<LIFOptions>): { layer: LIF; out: Float32Array } {
  const layer = new LIF({ tauMem: 10, normInput: false, ...opts });
  const out = layer.forward(Tensor.from(xs, [1, 1, xs.length])).toFloat32Array();
  return { layer, out };
}

/**
 * sigma(u) as the layer's input gradient: with T=1 the first step gives u = x (initial state 0,
 * c = 1), gradOutput = 1 and the adjoint of the final state is 0, so gx = gu = 1 * sigma(u)
 * (docs/semantics.md §7 with gr = 0).
 */
function sigmaOf(xs: readonly number[], opts: Partial<LIFOptions>): Float32Array {
  const { layer } = oneStep(xs, opts);
  return layer.backward(Tensor.from(new Array(xs.length).fill(1), [1, 1, xs.length])).toFloat32Array();
}

/** A grid from lo to hi (inclusive) with `n` points, rounded to float32 (the layer's input). */
function grid(lo: number, hi: number, n: number): number[] {
  return Array.from({ length: n }, (_, k) => f(lo + ((hi - lo) * k) / (n - 1)));
}

/** The largest float32 below a non-zero float32 x. */
function nextDown(x: number): number {
  const a = new Float32Array([x]);
  const i = new Int32Array(a.buffer);
  i[0] = x > 0 ? i[0]! - 1 : i[0]! + 1;
  return a[0]!;
}

const SQRT_2PI = Math.sqrt(2 * Math.PI);
const normal = (x: number, mu: number, s: number): number => Math.exp(-((x - mu) ** 2) / (2 * s * s)) / (s * SQRT_2PI);

/**
 * Relative tolerance of a float32 surrogate exp(-arg): the arguments (u, theta, the
 * hyper-parameters) are float32, so `arg` carries a relative rounding error of a few float32 ulps
 * (<= ~4 * 6e-8 from u - theta, the square or the |.|, the product with the pre-digested constant
 * and that constant's own rounding), i.e. an absolute error <= 2.5e-7*|arg| in the exponent and
 * the same relative error in exp; the polynomial exp adds <= 2 ulp (2.4e-7), the prefactor a few
 * more float32 roundings. 2e-6 + 5e-7*|arg| covers this with margin, and stays ~1e-5 for the
 * grids used here (|arg| <= ~18).
 */
const relTolFor = (arg: number): number => 2e-6 + 5e-7 * Math.abs(arg);

/** Compares sigma at every u with ref(u) = { value, tol } (tol absolute). */
function expectSigma(
  what: string,
  us: readonly number[],
  got: Float32Array,
  ref: (u: number) => { value: number; tol: number },
): void {
  expect(got.length).to.equal(us.length);
  let checked = 0;
  for (let k = 0; k < us.length; ++k) {
    const { value, tol } = ref(us[k]!);
    const d = Math.abs(got[k]! - value);
    if (!(d <= tol)) expect.fail(`${what}: sigma(${us[k]}) = ${got[k]}, expected ${value} (|diff| ${d} > tol ${tol})`);
    checked++;
  }
  expect(checked).to.equal(us.length);
}

describe('activations: surrogate gradients sigma(u) (semantics.md §6)', function () {
  // The layer must not depend on the spike function for sigma: MultiSpike is the default.
  describe('SingleExponential: gradScale / w * exp(-|u - theta| / w), w = theta * gradWidth', function () {
    const cases = [
      { theta: 1, gradWidth: undefined, gradScale: undefined },
      { theta: 1.5, gradWidth: 0.3, gradScale: 2.5 },
      { theta: 0.7, gradWidth: 0.8, gradScale: 0.4 },
    ];
    for (const c of cases) {
      it(`theta ${c.theta}, gradWidth ${c.gradWidth ?? 'default 0.5'}, gradScale ${c.gradScale ?? 'default 1'}`, function () {
        const w = c.theta * (c.gradWidth ?? 0.5),
          gs = c.gradScale ?? 1;
        const us = [...grid(-3, 6, 91), f(c.theta)];
        const surrogateGradFn =
          c.gradWidth === undefined
            ? new SingleExponential()
            : new SingleExponential({ gradWidth: c.gradWidth, gradScale: c.gradScale });
        const got = sigmaOf(us, { spikeThreshold: c.theta, surrogateGradFn });
        expectSigma('SingleExponential', us, got, (u) => {
          const arg = Math.abs(u - f(c.theta)) / w;
          const v = (gs / w) * Math.exp(-arg);
          return { value: v, tol: relTolFor(arg) * v };
        });
        // peak at u = theta is gradScale / w (2 / theta with the defaults)
        expect(got[us.length - 1]!).to.be.closeTo(gs / w, 1e-6 * (gs / w));
      });
    }
  });

  describe('Heaviside: [u >= theta - window] / theta, window absolute', function () {
    const cases = [
      { theta: 1, window: undefined as number | undefined },
      { theta: 2, window: undefined },
      { theta: 1.5, window: 0.75 },
      { theta: 0.5, window: 2 },
    ];
    for (const c of cases) {
      it(`theta ${c.theta}, window ${c.window ?? 'default 1'}`, function () {
        const win = c.window ?? 1;
        const edge = f(c.theta - win); // exactly representable for these cases
        expect(edge).to.equal(c.theta - win);
        // the grid, the edge itself, the float32 just below it, and a relative-window decoy
        // (theta - theta*window), where a relative window would flip the result.
        const below = edge === 0 ? f(-1e-6) : nextDown(edge);
        const us = [
          ...grid(-4, 5, 73),
          edge,
          below,
          f(c.theta - c.theta * win * 0.999),
          f(c.theta - c.theta * win * 1.001),
        ];
        const got = sigmaOf(us, {
          spikeThreshold: c.theta,
          surrogateGradFn: c.window === undefined ? new Heaviside() : new Heaviside({ window: c.window }),
        });
        expectSigma('Heaviside', us, got, (u) => {
          const v = u >= c.theta - win ? 1 / c.theta : 0;
          // 1/theta is rounded to float32 once: relative error <= 6e-8
          return { value: v, tol: relTolFor(0) / c.theta };
        });
        expect(got[us.length - 4], 'sigma at the edge').to.be.greaterThan(0);
        expect(got[us.length - 3], 'sigma just below the edge').to.equal(0);
      });
    }
  });

  describe('Gaussian: gradScale * N(u - theta; mu, sigma), not scaled by theta', function () {
    const cases = [
      {
        theta: 1,
        mu: undefined as number | undefined,
        sigma: undefined as number | undefined,
        gradScale: undefined as number | undefined,
      },
      { theta: 1.2, mu: 0.2, sigma: 0.4, gradScale: 1.7 },
      { theta: 3, mu: -0.5, sigma: 1.1, gradScale: 0.6 },
    ];
    for (const c of cases) {
      it(`theta ${c.theta}, mu ${c.mu ?? 0}, sigma ${c.sigma ?? 0.5}, gradScale ${c.gradScale ?? 1}`, function () {
        const mu = c.mu ?? 0,
          s = c.sigma ?? 0.5,
          gs = c.gradScale ?? 1;
        // |x - mu| <= 3 sigma: arg <= 4.5 ... keep the exponent moderate
        const us = grid(c.theta + mu - 3 * s, c.theta + mu + 3 * s, 61).concat(grid(-1, 0, 5));
        const surrogateGradFn =
          c.mu === undefined ? new Gaussian() : new Gaussian({ mu: c.mu, sigma: c.sigma, gradScale: c.gradScale });
        const got = sigmaOf(us, { spikeThreshold: c.theta, surrogateGradFn });
        expectSigma('Gaussian', us, got, (u) => {
          const x = u - f(c.theta);
          const v = gs * normal(x, mu, s);
          return { value: v, tol: relTolFor((x - mu) ** 2 / (2 * s * s)) * v };
        });
      });
    }
  });

  describe('MultiGaussian: side lobes at +-sigma, independent of mu', function () {
    const cases = [
      { theta: 1, mu: undefined as number | undefined, sigma: 0.5, h: 0.15, s: 6, gradScale: 1 },
      { theta: 1, mu: 0.3, sigma: 0.5, h: 0.15, s: 6, gradScale: 1 },
      { theta: 1.8, mu: -0.4, sigma: 0.35, h: 0.3, s: 3, gradScale: 2 },
    ];
    for (const c of cases) {
      it(`theta ${c.theta}, mu ${c.mu ?? 0}, sigma ${c.sigma}, h ${c.h}, s ${c.s}, gradScale ${c.gradScale}`, function () {
        const mu = c.mu ?? 0,
          sg = c.sigma,
          h = c.h,
          ss = c.s * c.sigma,
          gs = c.gradScale;
        const us = grid(c.theta - 2.2, c.theta + 2.2, 89);
        const surrogateGradFn =
          c.mu === undefined
            ? new MultiGaussian()
            : new MultiGaussian({ mu: c.mu, sigma: c.sigma, h: c.h, s: c.s, gradScale: c.gradScale });
        const got = sigmaOf(us, { spikeThreshold: c.theta, surrogateGradFn });
        expectSigma('MultiGaussian', us, got, (u) => {
          const x = u - f(c.theta);
          const main = gs * (1 + h) * normal(x, mu, sg);
          const sa = gs * h * normal(x, sg, ss);
          const sb = gs * h * normal(x, -sg, ss);
          // sigma can be negative and near zero (cancellation): the error is relative to the
          // size of the three terms, not to their difference.
          const arg = Math.max(
            (x - mu) ** 2 / (2 * sg * sg),
            (x - sg) ** 2 / (2 * ss * ss),
            (x + sg) ** 2 / (2 * ss * ss),
          );
          return { value: main - sa - sb, tol: relTolFor(arg) * (Math.abs(main) + Math.abs(sa) + Math.abs(sb)) };
        });
        // the formula goes negative somewhere on this grid (the side lobes win in the tails)
        expect(Math.min(...got)).to.be.lessThan(0);
      });
    }
  });

  describe('PeriodicExponential: peaks gradScale at k*theta, exp(-(theta-u)/w) below theta', function () {
    const cases = [
      { theta: 1, gradWidth: undefined as number | undefined, gradScale: undefined as number | undefined },
      { theta: 0.7, gradWidth: 0.25, gradScale: 1.3 },
      { theta: 2, gradWidth: 0.9, gradScale: 0.5 },
    ];
    for (const c of cases) {
      it(`theta ${c.theta}, gradWidth ${c.gradWidth ?? 0.5}, gradScale ${c.gradScale ?? 1}`, function () {
        const th = f(c.theta),
          gw = c.gradWidth ?? 0.5,
          gs = c.gradScale ?? 1;
        const multiples = [1, 2, 3, 4, 5, 6].map((k) => f(k * th));
        const halves = [1, 2, 3, 5].map((k) => f((k + 0.5) * th));
        const between = [1.1, 1.3, 2.2, 2.8, 3.65, 4.05].map((k) => f(k * th));
        const below = grid(-1.5 * th, 0.999 * th, 21);
        const us = [...multiples, ...halves, ...between, ...below];
        const surrogateGradFn =
          c.gradWidth === undefined
            ? new PeriodicExponential()
            : new PeriodicExponential({ gradWidth: c.gradWidth, gradScale: c.gradScale });
        const got = sigmaOf(us, { spikeThreshold: c.theta, surrogateGradFn });
        // Independent closed form (the "equivalently" paragraph of §6), not the sawtooth one.
        expectSigma('PeriodicExponential', us, got, (u) => {
          let arg: number;
          if (u < th) arg = (th - u) / gw;
          else {
            const k = Math.max(1, Math.round(u / th));
            arg = (2 * Math.abs(u - k * th)) / gw;
          }
          // n = u/theta - 0.5 and the sawtooth are float32: for u <= 7 theta, n carries an
          // absolute error <= ~5e-7 (two roundings of a number < 8), so |a| = theta*|2 frac - 1|
          // is off by <= ~1e-6 * theta, an extra relative error of 1e-6 * theta / gw in sigma;
          // 4e-6 * theta / gw covers it with margin.
          const v = gs * Math.exp(-arg);
          return { value: v, tol: (relTolFor(arg) + (4e-6 * Math.max(1, th)) / gw) * v };
        });
        for (let k = 0; k < multiples.length; ++k)
          expect(got[k]!, `peak at ${k + 1}*theta`).to.be.closeTo(gs, 1e-5 * gs);
        for (let k = 0; k < halves.length; ++k)
          expect(got[multiples.length + k]!, 'minimum at (k+1/2)*theta').to.be.closeTo(
            gs * Math.exp(-th / gw),
            1e-5 * gs,
          );
      });
    }
  });
});

describe('activations: spike functions (semantics.md §4), u = x', function () {
  const values = [
    0, 0.3, 0.99999, 1, 1.0000001, 2.1, 2.9999, 3, 3.0001, 7.5, 12.25, 1000.5, 1e-30, -1e-30, -0.3, -0.7, -1, -2.5,
    -7.5,
  ];

  /** trunc of the float32 quotient: float32 division = double division rounded once (exact). */
  const count = (u: number, th: number): number => Math.trunc(f(f(u) / f(th)));

  for (const theta of [1, 0.7]) {
    it(`MultiSpike: trunc(u / theta) for u > 0, -0.0 for u < 0 (theta ${theta})`, function () {
      const us = values.map(f);
      const { out } = oneStep(us, { spikeThreshold: theta });
      us.forEach((u, k) => {
        const got = out[k]!;
        if (u > 0) expect(got, `u=${u}`).to.equal(count(u, theta));
        else if (u < 0)
          expect(Object.is(got, -0), `u=${u}: expected -0.0, got ${Object.is(got, 0) ? '+0' : got}`).to.equal(true);
        else expect(got, `u=${u}`).to.equal(0);
      });
      // spot values independent of the float32 rule above
      const at = (x: number): number => out[us.indexOf(f(x))]!;
      if (theta === 1) {
        expect(at(2.9999)).to.equal(2);
        expect(at(3)).to.equal(3);
        expect(at(7.5)).to.equal(7);
        expect(at(0.99999)).to.equal(0);
        expect(at(1000.5)).to.equal(1000);
      } else {
        expect(at(7.5)).to.equal(10); // 7.5 / 0.7 = 10.71
        expect(at(2.9999)).to.equal(4); // 4.2856
        expect(at(12.25)).to.equal(17); // 17.5
      }
    });

    it(`MaxSpike: min(MultiSpike, k) with k = 2; null behaves as MultiSpike (theta ${theta})`, function () {
      const us = values.map(f);
      const { out: clamped } = oneStep(us, { spikeThreshold: theta, spikeFn: new MaxSpike({ maxNumSpikesPerBin: 2 }) });
      const { out: unlimited } = oneStep(us, {
        spikeThreshold: theta,
        spikeFn: new MaxSpike({ maxNumSpikesPerBin: null }),
      });
      const { out: multi } = oneStep(us, { spikeThreshold: theta, spikeFn: MultiSpike });
      us.forEach((u, k) => {
        if (u > 0) {
          expect(clamped[k], `clamped u=${u}`).to.equal(Math.min(count(u, theta), 2));
          expect(unlimited[k], `null u=${u}`).to.equal(count(u, theta));
        } else if (u < 0) {
          expect(Object.is(clamped[k], -0), `clamped u=${u} is -0.0`).to.equal(true);
          expect(Object.is(unlimited[k], -0), `null u=${u} is -0.0`).to.equal(true);
        }
      });
      expect(
        Buffer.from(unlimited.buffer).equals(Buffer.from(multi.buffer)),
        'MaxSpike(null) bytes == MultiSpike bytes',
      ).to.equal(true);
      expect(Math.max(...clamped)).to.equal(2);
    });

    it(`SingleSpike: 1 when u >= theta, else +0 (theta ${theta})`, function () {
      const th = f(theta);
      const justBelow = nextDown(th); // the float32 just below theta
      const us = [...values.map(f), th, justBelow];
      expect(justBelow).to.be.lessThan(th);
      const { out } = oneStep(us, { spikeThreshold: theta, spikeFn: SingleSpike });
      us.forEach((u, k) => {
        const e = u >= th ? 1 : 0;
        expect(out[k], `u=${u}`).to.equal(e);
        if (e === 0) expect(Object.is(out[k], 0), `u=${u}: [u - theta >= 0].float() is +0.0`).to.equal(true);
      });
      expect(out[us.length - 2]).to.equal(1);
      expect(out[us.length - 1]).to.equal(0);
    });
  }

  it('spike function instances and classes are interchangeable (MultiSpike, new MultiSpike())', function () {
    const us = values.map(f);
    const a = oneStep(us, { spikeFn: MultiSpike }).out;
    const b = oneStep(us, { spikeFn: new MultiSpike() }).out;
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).to.equal(true);
  });
});

describe('activations: resets and the min_v_mem clip (semantics.md §3.2, §5), one step, u = x', function () {
  const xs = [-2.5, -0.3, 0, 0.4, 0.99, 1, 1.5, 2.25, 3.7, 9.1].map(f);

  function vAfter(opts: Partial<LIFOptions>): { v: Float32Array; s: Float32Array } {
    const { layer, out } = oneStep(xs, opts);
    const v = layer.vMem!;
    expect(v.shape).to.deep.equal([1, xs.length]);
    return { v: v.toFloat32Array(), s: out };
  }

  // float32 rule of §3.2: r = u - fl(s * theta_sub), each product rounded separately
  const subtract = (u: number, s: number, thetaSub: number): number => f(u - f(s * f(thetaSub)));

  for (const theta of [1, 0.7]) {
    it(`MembraneSubtract(subtractValue null) subtracts theta per spike (theta ${theta})`, function () {
      const { v, s } = vAfter({ spikeThreshold: theta, resetFn: new MembraneSubtract() });
      xs.forEach((u, k) => {
        const sk = u > 0 ? Math.trunc(f(u / f(theta))) : 0;
        expect(s[k]).to.equal(sk);
        expect(v[k], `u=${u}`).to.equal(subtract(u, sk, theta));
        // and in exact arithmetic it is u mod theta for u > 0 (float32-close)
        if (u > 0) expect(v[k]!).to.be.closeTo(u - sk * theta, 1e-6 * (1 + u));
      });
    });
  }

  it('MembraneSubtract with an explicit subtractValue (0.25 and 1.6, theta 1)', function () {
    for (const sv of [0.25, 1.6]) {
      const { v, s } = vAfter({ resetFn: new MembraneSubtract({ subtractValue: sv }) });
      xs.forEach((u, k) => {
        expect(v[k], `subtractValue ${sv}, u=${u}`).to.equal(subtract(u, s[k]!, sv));
      });
      // u = 2.25 -> 2 spikes -> 2.25 - 2*sv
      // float64 closed form; the float32 subtraction of fl(2*sv) is within 2 float32 ulps
      expect(v[xs.indexOf(f(2.25))]!).to.be.closeTo(2.25 - 2 * sv, 4e-7);
    }
  });

  it('MembraneReset(resetValue 0): spiking neurons go to 0, others keep u', function () {
    const { v, s } = vAfter({ resetFn: new MembraneReset() });
    xs.forEach((u, k) => {
      expect(v[k], `u=${u}`).to.equal(s[k] === 0 ? u : 0);
    });
    expect(v[xs.indexOf(f(9.1))]).to.equal(0);
  });

  for (const rv of [0.3, -0.45]) {
    it(`MembraneReset(resetValue ${rv}) adds resetValue to every neuron, spiking or not (sinabs quirk)`, function () {
      const { v, s } = vAfter({ resetFn: new MembraneReset({ resetValue: rv }) });
      xs.forEach((u, k) => {
        // r = u * [s == 0] + resetValue, float32
        const e = s[k] === 0 ? f(u + f(rv)) : f(f(u * 0) + f(rv));
        expect(v[k], `u=${u}, s=${s[k]}`).to.equal(e);
      });
      expect(v[xs.indexOf(f(0.4))]).to.equal(f(f(0.4) + f(rv))); // non-spiking: u + rv, not u
      expect(v[xs.indexOf(f(3.7))]).to.equal(f(rv)); // spiking: rv
    });
  }

  it('MembraneReset with MultiSpike goes to resetValue however many spikes', function () {
    const { v, s } = vAfter({ resetFn: new MembraneReset({ resetValue: 0.125 }) });
    const k9 = xs.indexOf(f(9.1));
    expect(s[k9]).to.equal(9);
    expect(v[k9]).to.equal(0.125);
  });

  for (const m of [-1, -0.3, 0.2]) {
    it(`minVMem ${m}: v after a strongly negative input equals minVMem exactly; larger v unchanged (relu(r - m) + m)`, function () {
      const inputs = [-50, -3.3, f(m) - 0.5, 0.9, 5.5].map(f);
      const { layer } = oneStep(inputs, { minVMem: m });
      const v = layer.vMem!.toFloat32Array();
      const mm = f(m);
      inputs.forEach((u, k) => {
        const s = u > 0 ? Math.trunc(f(u / 1)) : 0;
        const r = f(u - f(s * 1));
        const d = f(r - mm);
        const e = f((d < 0 ? 0 : d) + mm); // relu(r - m) + m in float32
        expect(v[k], `u=${u}`).to.equal(e);
        if (r < mm) expect(v[k], `u=${u} clipped`).to.equal(mm);
      });
      expect(v[0]).to.equal(mm);
      expect(v[1]).to.equal(mm);
    });
  }

  it('minVMem: no gradient flows back through a clipped neuron (two steps)', function () {
    // step 0: u0 = x0 (clipped to m or not); step 1: u1 = alpha*v0 + x1. With g = [0, 1],
    // the input gradient at step 0 is sigma(u1) * alpha * [r0 - m > 0] (MembraneSubtract: gr0 = gv*clip,
    // gu0 = gr0 + (0 - theta*gr0)*sigma(u0)). The clipped neuron must get exactly 0.
    const layer = new LIF({ tauMem: 10, normInput: false, minVMem: -0.5, surrogateGradFn: new Gaussian() });
    layer.forward(Tensor.from([-3, 0.2, 0.5, 0.5], [1, 2, 2]));
    const gx = layer.backward(Tensor.from([0, 0, 1, 1], [1, 2, 2])).toFloat32Array();
    expect(gx[0], 'clipped neuron').to.equal(0);
    // unclipped neuron: closed form in float64
    const a = Math.exp(-1 / 10),
      u0 = f(0.2),
      u1 = a * u0 + 0.5;
    const sig = (u: number): number => normal(u - 1, 0, 0.5);
    const e = sig(u1) * a * (1 - 1 * sig(u0));
    // float32 rounding of a handful of operations and the polynomial exp: 1e-5 relative
    expect(gx[1]!).to.be.closeTo(e, 1e-5 * Math.abs(e));
    expect(gx[3]!).to.be.closeTo(sig(u1), 1e-5 * sig(u1));
  });
});

describe('activations: custom callables', function () {
  /** MultiSpike in JavaScript: [u > 0] * trunc(fl32(u / theta)) (with -0.0 for u < 0). */
  const jsMultiSpike = {
    calls: 0,
    forward(v: Float32Array, th: number): Float32Array {
      this.calls++;
      const s = new Float32Array(v.length);
      for (let k = 0; k < v.length; ++k) {
        const q = Math.trunc(f(v[k]! / th));
        s[k] = v[k]! > 0 ? q : 0 * q;
      }
      return s;
    },
  };

  function randomData(seed: number, n: number, lo: number, hi: number): Float32Array {
    const r = rng(seed);
    return Float32Array.from({ length: n }, () => lo + (hi - lo) * r());
  }

  function bytesEqual(a: Float32Array | undefined, b: Float32Array | undefined): boolean {
    if (a === undefined || b === undefined) return a === b;
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }

  interface RunResult {
    outs: Float32Array[];
    vs: Float32Array[];
    is: (Float32Array | undefined)[];
    recs: (Float32Array | undefined)[];
    gins: Float32Array[];
    gTauMem: Float32Array;
    gTauSyn: Float32Array | undefined;
  }

  /** Two forward calls carrying state (B=3, T=40, N=7), then backward of both (last first). */
  function run(opts: LIFOptions, seed: number): RunResult {
    const B = 3,
      T = 40,
      N = 7;
    const layer = new LIF({ ...opts, recordStates: true });
    const res: RunResult = {
      outs: [],
      vs: [],
      is: [],
      recs: [],
      gins: [],
      gTauMem: new Float32Array(),
      gTauSyn: undefined,
    };
    const gs: Tensor[] = [];
    for (let c = 0; c < 2; ++c) {
      const x = Tensor.from(randomData(seed + c, B * T * N, -1, 10), [B, T, N]);
      res.outs.push(layer.forward(x).toFloat32Array());
      res.vs.push(layer.vMem!.toFloat32Array());
      res.is.push(layer.iSyn?.toFloat32Array());
      res.recs.push(layer.recordings.vMem?.toFloat32Array());
      gs.push(Tensor.from(randomData(seed + 10 + c, B * T * N, -1, 1), [B, T, N]));
    }
    for (let c = 1; c >= 0; --c) res.gins[c] = layer.backward(gs[c]!).toFloat32Array();
    res.gTauMem = layer.tauMem!.grad!.toFloat32Array();
    res.gTauSyn = layer.tauSyn?.grad?.toFloat32Array();
    return res;
  }

  for (const tauSyn of [null, 10]) {
    it(`custom spikeFn implementing MultiSpike is bit-identical to MultiSpike (tauSyn ${tauSyn})`, function () {
      const tauMem = Tensor.from([5, 8, 12, 20, 30, 15, 9], [7]);
      const base: LIFOptions = { tauMem, tauSyn, spikeThreshold: 0.7, minVMem: -0.4 };
      jsMultiSpike.calls = 0;
      const a = run({ ...base, spikeFn: MultiSpike }, 1234);
      const b = run({ ...base, spikeFn: jsMultiSpike }, 1234);
      expect(jsMultiSpike.calls, 'the custom function was used').to.be.greaterThan(0);
      let spikes = 0;
      for (let c = 0; c < 2; ++c) {
        expect(bytesEqual(a.outs[c], b.outs[c]), `call ${c} output`).to.equal(true);
        expect(bytesEqual(a.vs[c], b.vs[c]), `call ${c} vMem`).to.equal(true);
        expect(bytesEqual(a.is[c], b.is[c]), `call ${c} iSyn`).to.equal(true);
        expect(bytesEqual(a.recs[c], b.recs[c]), `call ${c} recordings.vMem`).to.equal(true);
        expect(bytesEqual(a.gins[c], b.gins[c]), `call ${c} gradInput`).to.equal(true);
        spikes += a.outs[c]!.reduce((s, v) => s + v, 0);
      }
      expect(bytesEqual(a.gTauMem, b.gTauMem), 'tauMem.grad').to.equal(true);
      expect(bytesEqual(a.gTauSyn, b.gTauSyn), 'tauSyn.grad').to.equal(true);
      expect(spikes, 'the data spikes (and multi-spikes)').to.be.greaterThan(100);
      expect(Math.max(...a.outs[0]!), 'multi-spikes occur').to.be.greaterThan(1);
    });
  }

  for (const tauSyn of [null, 10]) {
    it(`custom surrogateGradFn implementing SingleExponential matches the built-in within 1e-5 (tauSyn ${tauSyn})`, function () {
      const theta = 0.8,
        gw = 0.5,
        gsc = 1;
      let calls = 0;
      const jsSingleExp = (v: Float32Array, th: number): Float32Array => {
        calls++;
        const w = th * gw;
        return Float32Array.from(v, (u) => (gsc / w) * Math.exp(-Math.abs(u - th) / w));
      };
      const base: LIFOptions = { tauMem: 15, tauSyn, spikeThreshold: theta };
      const a = run({ ...base, surrogateGradFn: new SingleExponential({ gradWidth: gw, gradScale: gsc }) }, 99);
      const b = run({ ...base, surrogateGradFn: jsSingleExp }, 99);
      expect(calls, 'the custom function was used').to.be.greaterThan(0);
      for (let c = 0; c < 2; ++c)
        expect(bytesEqual(a.outs[c], b.outs[c]), `call ${c} output (forward does not use sigma)`).to.equal(true);
      // sigma differs by float32 rounding (<= ~3e-7 relative: the built-in's polynomial exp is
      // within 2 ulp, the JS one is rounded once); the adjoint recurrence is stable here
      // (|alpha * (1 - theta*sigma)| <= 1), so the gradients differ by the same relative amount
      // times a small factor. 1e-5 of each tensor's largest magnitude bounds it with margin.
      const close = (what: string, x: Float32Array, y: Float32Array): void => {
        const scale = Math.max(...Array.from(x, Math.abs));
        expect(scale, `${what} is not all zero`).to.be.greaterThan(0);
        for (let k = 0; k < x.length; ++k)
          if (!(Math.abs(x[k]! - y[k]!) <= 1e-5 * scale))
            expect.fail(`${what}[${k}]: built-in ${x[k]} vs custom ${y[k]} (scale ${scale})`);
      };
      for (let c = 0; c < 2; ++c) close(`call ${c} gradInput`, a.gins[c]!, b.gins[c]!);
      close('tauMem.grad', a.gTauMem, b.gTauMem);
      if (tauSyn) close('tauSyn.grad', a.gTauSyn!, b.gTauSyn!);
    });
  }

  it('a custom spikeFn returning the wrong length throws a RangeError', function () {
    const layer = new LIF({ tauMem: 10, spikeFn: { forward: (v: Float32Array) => new Float32Array(v.length - 1) } });
    expect(() => layer.forward(Tensor.from(new Float32Array(2 * 3 * 4).fill(0.5), [2, 3, 4]))).to.throw(
      RangeError,
      /spikeFn/,
    );
    const layer2 = new LIF({ tauMem: 10, spikeFn: { forward: (v: Float32Array) => new Float32Array(v.length + 5) } });
    expect(() => layer2.forward(Tensor.from(new Float32Array(2 * 3 * 4).fill(0.5), [2, 3, 4]))).to.throw(
      RangeError,
      /spikeFn/,
    );
  });

  it('a custom surrogateGradFn returning the wrong length throws a RangeError at backward', function () {
    const layer = new LIF({ tauMem: 10, surrogateGradFn: (v: Float32Array) => new Float32Array(v.length + 1) });
    layer.forward(Tensor.from(new Float32Array(6).fill(0.5), [1, 3, 2]));
    expect(() => layer.backward(Tensor.from(new Float32Array(6).fill(1), [1, 3, 2]))).to.throw(
      RangeError,
      /surrogateGradFn/,
    );
  });
});
