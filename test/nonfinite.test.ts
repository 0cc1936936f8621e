// NaN and ±Inf in the input (and in a loaded state) propagate the way sinabs propagates them:
// the formulas of docs/semantics.md §3.2/§4/§5 evaluated with IEEE-754 rules, as PyTorch evaluates them.
// The expected values below are derived from those formulas by hand, not from the implementation:
//
//   u = α·v + c·x                       NaN in -> NaN;  +Inf in -> +Inf (α·v finite, c > 0)
//   MultiSpike  s = [u > 0]·trunc(u/θ)  u = NaN: [False]·NaN = 0·NaN = NaN
//                                       u = +Inf: 1·Inf = Inf;   u = -Inf: 0·(-Inf) = NaN
//   MaxSpike(k) min(s, k)               torch.clamp keeps NaN: NaN; +Inf -> k
//   SingleSpike s = [u - θ >= 0]        NaN -> 0 (a comparison with NaN is false); +Inf -> 1; -Inf -> 0
//   MembraneSubtract r = u - s·θ        Inf - Inf·θ = NaN; Inf - k·θ = Inf; -Inf - 0·θ = -Inf
//   MembraneReset    r = u·[s == 0] + v NaN·anything = NaN; Inf·0 = NaN (a spiking +Inf neuron)
//   clip        relu(r - m) + m         relu(NaN) = NaN (the clip does not clean NaN);
//                                       relu(-Inf - m) + m = m (the clip does clean -Inf)
//   no spike fn / ExpLeak: the output is u itself.
// A non-finite value stays in its own neuron (and batch entry): no other element changes.
// Backward: σ(NaN) is NaN for SingleExponential (and Gaussian, MultiGaussian, PeriodicExponential),
// so every gradient through a NaN membrane is NaN; Heaviside gives σ(NaN) = [NaN >= θ - w]/θ = 0,
// so input gradients at and after the NaN step are 0, but the τ gradient still multiplies 0 by the
// NaN state (0·NaN = NaN), exactly as autograd does.
import { expect } from 'chai';
import {
  LIF,
  IAF,
  ExpLeak,
  Tensor,
  SingleSpike,
  MaxSpike,
  MembraneReset,
  Heaviside,
  type LIFOptions,
} from '../lib/index.js';
import { uniform } from './support/random.js';

const values = (n: number, seed: number, lo = -0.5, hi = 2.5): Float32Array => uniform(seed, n, lo, hi);

/** Same number (NaN equals NaN; -0 equals 0). */
const same = (a: number, b: number): boolean => (Number.isNaN(a) && Number.isNaN(b)) || a === b;
function expectNumbers(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  expect(got.length, `${what}: length`).to.equal(want.length);
  for (let k = 0; k < want.length; ++k)
    if (!same(got[k]!, want[k]!))
      expect.fail(`${what}: element ${k} is ${got[k]}, expected ${want[k]} (got [${Array.from(got).join(', ')}])`);
}
function expectBits(got: Float32Array, want: Float32Array, what: string, skip?: (k: number) => boolean): void {
  expect(got.length, `${what}: length`).to.equal(want.length);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length),
    b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let k = 0; k < a.length; ++k) {
    if (skip?.(k)) continue;
    if (a[k] !== b[k]) expect.fail(`${what}: element ${k} differs: ${got[k]} vs ${want[k]}`);
  }
}

// Two neurons, one batch entry, four steps. Neuron 0 gets the non-finite value at t = 0 and 0.5
// afterwards; neuron 1 gets finite values only. Layout (B, T, N) = (1, 4, 2).
const N1 = [0.3, 0.9, 2.5, 0.1];
function input(v0: number): Tensor {
  const d: number[] = [];
  for (let t = 0; t < 4; ++t) d.push(t === 0 ? v0 : 0.5, N1[t]!);
  return Tensor.from(d, [1, 4, 2]);
}
const col = (t: Tensor, n: number): number[] => {
  const d = t.toArray();
  return d.filter((_, k) => k % 2 === n);
};

type Make = () => LIF;
interface Case {
  name: string;
  make: Make;
  value: number;
  /** outputs of neuron 0 at t = 0..3 */
  out: number[];
  /** final v_mem of neuron 0 */
  v: number;
  /** final i_syn of neuron 0, when the layer has one */
  i?: number;
}

const lif =
  (o: Partial<LIFOptions> = {}): Make =>
  () =>
    new LIF({ tauMem: 10, ...o });
const cases: Case[] = [
  // NaN
  { name: 'MultiSpike + MembraneSubtract', make: lif(), value: NaN, out: [NaN, NaN, NaN, NaN], v: NaN },
  {
    name: 'SingleSpike + MembraneSubtract',
    make: lif({ spikeFn: SingleSpike }),
    value: NaN,
    out: [0, 0, 0, 0],
    v: NaN,
  },
  {
    name: 'MaxSpike(2) + MembraneSubtract',
    make: lif({ spikeFn: new MaxSpike({ maxNumSpikesPerBin: 2 }) }),
    value: NaN,
    out: [NaN, NaN, NaN, NaN],
    v: NaN,
  },
  {
    name: 'MultiSpike + MembraneReset',
    make: lif({ resetFn: new MembraneReset() }),
    value: NaN,
    out: [NaN, NaN, NaN, NaN],
    v: NaN,
  },
  {
    name: 'SingleSpike + MembraneReset(0.2)',
    make: lif({ spikeFn: SingleSpike, resetFn: new MembraneReset({ resetValue: 0.2 }) }),
    value: NaN,
    out: [0, 0, 0, 0],
    v: NaN,
  },
  {
    name: 'MultiSpike + minVMem -1 (relu(NaN) = NaN: the clip keeps NaN)',
    make: lif({ minVMem: -1 }),
    value: NaN,
    out: [NaN, NaN, NaN, NaN],
    v: NaN,
  },
  {
    name: 'tauSyn 3 (NaN stays in i_syn too)',
    make: lif({ tauSyn: 3 }),
    value: NaN,
    out: [NaN, NaN, NaN, NaN],
    v: NaN,
    i: NaN,
  },
  {
    name: 'spikeFn null (output is the membrane)',
    make: lif({ spikeFn: null }),
    value: NaN,
    out: [NaN, NaN, NaN, NaN],
    v: NaN,
  },
  { name: 'ExpLeak', make: () => new ExpLeak({ tauMem: 10 }), value: NaN, out: [NaN, NaN, NaN, NaN], v: NaN },
  { name: 'IAF', make: () => new IAF(), value: NaN, out: [NaN, NaN, NaN, NaN], v: NaN },
  // +Inf
  {
    name: 'MultiSpike + MembraneSubtract (Inf spikes, then Inf - Inf = NaN)',
    make: lif(),
    value: Infinity,
    out: [Infinity, NaN, NaN, NaN],
    v: NaN,
  },
  {
    name: 'SingleSpike + MembraneSubtract (Inf - θ = Inf: one spike per step forever)',
    make: lif({ spikeFn: SingleSpike }),
    value: Infinity,
    out: [1, 1, 1, 1],
    v: Infinity,
  },
  {
    name: 'MaxSpike(2) + MembraneSubtract (min(Inf, 2) = 2, Inf - 2θ = Inf)',
    make: lif({ spikeFn: new MaxSpike({ maxNumSpikesPerBin: 2 }) }),
    value: Infinity,
    out: [2, 2, 2, 2],
    v: Infinity,
  },
  {
    name: 'MultiSpike + MembraneReset (Inf·0 = NaN)',
    make: lif({ resetFn: new MembraneReset() }),
    value: Infinity,
    out: [Infinity, NaN, NaN, NaN],
    v: NaN,
  },
  {
    name: 'SingleSpike + MembraneReset (Inf·0 = NaN, then no spikes)',
    make: lif({ spikeFn: SingleSpike, resetFn: new MembraneReset() }),
    value: Infinity,
    out: [1, 0, 0, 0],
    v: NaN,
  },
  {
    name: 'tauSyn 3, SingleSpike (Inf stays in i_syn and v_mem)',
    make: lif({ tauSyn: 3, spikeFn: SingleSpike }),
    value: Infinity,
    out: [1, 1, 1, 1],
    v: Infinity,
    i: Infinity,
  },
  {
    name: 'ExpLeak',
    make: () => new ExpLeak({ tauMem: 10 }),
    value: Infinity,
    out: [Infinity, Infinity, Infinity, Infinity],
    v: Infinity,
  },
  {
    name: 'IAF, SingleSpike',
    make: () => new IAF({ spikeFn: SingleSpike }),
    value: Infinity,
    out: [1, 1, 1, 1],
    v: Infinity,
  },
  // -Inf
  {
    name: 'MultiSpike + MembraneSubtract ([u > 0]·trunc(-Inf) = 0·-Inf = NaN)',
    make: lif(),
    value: -Infinity,
    out: [NaN, NaN, NaN, NaN],
    v: NaN,
  },
  {
    name: 'SingleSpike + MembraneSubtract (-Inf - 0·θ = -Inf)',
    make: lif({ spikeFn: SingleSpike }),
    value: -Infinity,
    out: [0, 0, 0, 0],
    v: -Infinity,
  },
  {
    name: 'MultiSpike + minVMem -1 (NaN spikes, NaN state)',
    make: lif({ minVMem: -1 }),
    value: -Infinity,
    out: [NaN, NaN, NaN, NaN],
    v: NaN,
  },
  {
    name: 'ExpLeak',
    make: () => new ExpLeak({ tauMem: 10 }),
    value: -Infinity,
    out: [-Infinity, -Infinity, -Infinity, -Infinity],
    v: -Infinity,
  },
];

describe('non-finite input propagates like sinabs (IEEE rules applied to the sinabs formulas)', function () {
  describe('a non-finite input at t = 0 in neuron 0 of (B, T, N) = (1, 4, 2)', function () {
    for (const c of cases) {
      it(`${c.value} into ${c.name}: outputs [${c.out.join(', ')}], v_mem ${c.v}${c.i !== undefined ? `, i_syn ${c.i}` : ''}; neuron 1 untouched`, function () {
        const layer = c.make(),
          ref = c.make();
        const out = layer.forward(input(c.value));
        const refOut = ref.forward(input(0.25));
        expectNumbers(col(out, 0), c.out, 'neuron 0 outputs');
        expectNumbers([layer.vMem!.toArray()[0]!], [c.v], 'neuron 0 v_mem');
        if (c.i !== undefined) expectNumbers([layer.iSyn!.toArray()[0]!], [c.i], 'neuron 0 i_syn');
        // neuron 1 is bit-identical to a run without the non-finite value
        expectBits(Float32Array.from(col(out, 1)), Float32Array.from(col(refOut, 1)), 'neuron 1 outputs');
        expectBits(
          Float32Array.of(layer.vMem!.toArray()[1]!),
          Float32Array.of(ref.vMem!.toArray()[1]!),
          'neuron 1 v_mem',
        );
        // firingRate = mean of the output: NaN if any output is NaN, else +Inf if any is +Inf
        const o = out.toArray();
        const want = o.some(Number.isNaN)
          ? NaN
          : o.includes(Infinity)
            ? Infinity
            : o.reduce((a, b) => a + b, 0) / o.length;
        if (Number.isFinite(want)) expect(layer.firingRate).to.be.closeTo(want, 1e-6);
        else expectNumbers([layer.firingRate!], [want], 'firingRate');
      });
    }

    it('-Inf with SingleSpike and minVMem -1: the clip maps -Inf to -1 (relu(-Inf + 1) - 1), so the run recovers', function () {
      // a huge finite negative input is clipped to the same state: the runs must agree bit for bit
      const a = new LIF({ tauMem: 10, spikeFn: SingleSpike, minVMem: -1 });
      const b = new LIF({ tauMem: 10, spikeFn: SingleSpike, minVMem: -1 });
      const oa = a.forward(input(-Infinity)),
        ob = b.forward(input(-1e30));
      expectBits(oa.toFloat32Array(), ob.toFloat32Array(), 'outputs');
      expectBits(a.vMem!.toFloat32Array(), b.vMem!.toFloat32Array(), 'v_mem');
      expect(a.vMem!.toArray().every(Number.isFinite)).to.equal(true);
    });

    it('ExpLeak with minVMem -1 and -Inf: the output (before the clip) is -Inf at t = 0, the state is clipped to -1, later outputs are finite', function () {
      const a = new ExpLeak({ tauMem: 10, minVMem: -1 });
      const b = new ExpLeak({ tauMem: 10, minVMem: -1 });
      const oa = a.forward(input(-Infinity)),
        ob = b.forward(input(-1e30));
      expect(col(oa, 0)[0]).to.equal(-Infinity);
      expectBits(oa.toFloat32Array(), ob.toFloat32Array(), 'outputs after t = 0', (k) => k === 0);
      expectBits(a.vMem!.toFloat32Array(), b.vMem!.toFloat32Array(), 'v_mem');
    });
  });

  describe('a NaN stays in its own neuron and time range', function () {
    const shape = [2, 10, 6];
    const at = (b: number, t: number, n: number): number => (b * 10 + t) * 6 + n;
    for (const [name, opts, after] of [
      ['MultiSpike, tauSyn, per-neuron tauMem', { tauMem: Tensor.from([3, 5, 8, 13, 21, 34], [6]), tauSyn: 2 }, NaN],
      ['SingleSpike, minVMem', { tauMem: 6, spikeFn: SingleSpike, minVMem: -0.5 }, 0],
    ] as [string, LIFOptions, number][]) {
      it(`${name}: NaN at (b=1, t=5, n=3) changes only (1, t >= 5, 3), whose outputs become ${after}; the state of that neuron becomes NaN`, function () {
        const x = values(120, 7);
        const xn = x.slice();
        xn[at(1, 5, 3)] = NaN;
        const a = new LIF(opts),
          r = new LIF(opts);
        const oa = a.forward(Tensor.from(xn, shape)).toFloat32Array();
        const or = r.forward(Tensor.from(x, shape)).toFloat32Array();
        const hit = (k: number): boolean => {
          const n = k % 6,
            t = Math.floor(k / 6) % 10,
            b = Math.floor(k / 60);
          return b === 1 && n === 3 && t >= 5;
        };
        expectBits(oa, or, 'outputs outside the NaN neuron', hit);
        for (let t = 5; t < 10; ++t) expectNumbers([oa[at(1, t, 3)]!], [after], `output (1, ${t}, 3)`);
        const va = a.vMem!.toFloat32Array(),
          vr = r.vMem!.toFloat32Array();
        expectBits(va, vr, 'v_mem outside the NaN neuron', (k) => k === 6 + 3);
        expect(va[6 + 3]).to.be.NaN;
        // the next call carries the NaN in that neuron only
        const ob = a.forward(Tensor.from(x, shape)).toFloat32Array(),
          orb = r.forward(Tensor.from(x, shape)).toFloat32Array();
        expectBits(ob, orb, 'second call outside the NaN neuron', (k) => Math.floor(k / 60) === 1 && k % 6 === 3);
        // resetStates clears it
        a.resetStates();
        r.resetStates();
        expectBits(
          a.forward(Tensor.from(x, shape)).toFloat32Array(),
          r.forward(Tensor.from(x, shape)).toFloat32Array(),
          'after resetStates',
        );
      });
    }
  });

  describe('non-finite states (loadStateDict accepts them; parameters must be finite)', function () {
    it('a NaN in a loaded v_mem propagates in that neuron only; a +Inf with SingleSpike spikes every step', function () {
      const l = new LIF({ tauMem: 10, spikeFn: SingleSpike }),
        r = new LIF({ tauMem: 10, spikeFn: SingleSpike });
      const x = Tensor.from(values(18, 3), [1, 6, 3]);
      r.forward(x);
      const sd = r.stateDict();
      const v = sd.v_mem!.toFloat32Array();
      v[0] = NaN;
      v[1] = Infinity;
      l.loadStateDict({ ...sd, v_mem: Tensor.from(v, [1, 3]) });
      const o = l.forward(x).toArray(),
        ro = r.forward(x).toArray();
      expectNumbers(
        o.filter((_, k) => k % 3 === 0),
        [0, 0, 0, 0, 0, 0],
        'neuron 0 (NaN state, SingleSpike: no spikes)',
      );
      expectNumbers(
        o.filter((_, k) => k % 3 === 1),
        [1, 1, 1, 1, 1, 1],
        'neuron 1 (+Inf state: one spike per step)',
      );
      expectNumbers(
        o.filter((_, k) => k % 3 === 2),
        ro.filter((_, k) => k % 3 === 2),
        'neuron 2 untouched',
      );
      expectNumbers(l.vMem!.toArray().slice(0, 2), [NaN, Infinity], 'v_mem');
    });
    it('non-finite parameters are rejected with a RangeError (constructor and loadStateDict)', function () {
      expect(() => new LIF({ tauMem: NaN })).to.throw(RangeError, /tauMem/);
      expect(() => new LIF({ tauMem: 10, spikeThreshold: Infinity })).to.throw(RangeError, /spikeThreshold/);
      expect(() => new LIF({ tauMem: 10, minVMem: -Infinity })).to.throw(RangeError, /minVMem/);
      const l = new LIF({ tauMem: 10, minVMem: -1 });
      expect(() => l.loadStateDict({ ...l.stateDict(), min_v_mem: Tensor.scalar(NaN) })).to.throw(
        RangeError,
        /min_v_mem/,
      );
      expect(() => l.loadStateDict({ ...l.stateDict(), spike_threshold: Tensor.scalar(Infinity) })).to.throw(
        RangeError,
        /spike_threshold/,
      );
    });
  });

  describe('backward through a NaN membrane', function () {
    // (B, T, N) = (1, 4, 2): NaN at (t = 2, n = 0); gradOutput = 1 everywhere
    const x = (v: number): Tensor => Tensor.from([0.8, 0.3, 0.9, 0.9, v, 0.4, 0.7, 1.2], [1, 4, 2]);
    const g = Tensor.full([1, 4, 2], 1);
    it('SingleExponential (σ(NaN) = NaN): every input gradient of neuron 0 is NaN, neuron 1 is untouched, tau_mem.grad is NaN only where neuron 0 contributes', function () {
      const mk = (): LIF => new LIF({ tauMem: Tensor.from([6, 9], [2]) });
      const a = mk(),
        r = mk();
      a.forward(x(NaN));
      r.forward(x(0.6));
      const ga = a.backward(g).toArray(),
        gr = r.backward(g).toArray();
      expectNumbers(
        ga.filter((_, k) => k % 2 === 0),
        [NaN, NaN, NaN, NaN],
        'neuron 0 input gradients',
      );
      expectBits(
        Float32Array.from(ga.filter((_, k) => k % 2 === 1)),
        Float32Array.from(gr.filter((_, k) => k % 2 === 1)),
        'neuron 1 input gradients',
      );
      const tg = a.tauMem!.grad!.toArray(),
        tr = r.tauMem!.grad!.toArray();
      expect(tg[0]).to.be.NaN;
      expectBits(Float32Array.of(tg[1]!), Float32Array.of(tr[1]!), 'tau_mem.grad[1]');
    });
    it('Heaviside (σ(NaN) = 0): input gradients at and after the NaN step are 0, earlier ones finite; tau_mem.grad is NaN (0 · NaN state)', function () {
      const a = new LIF({ tauMem: 6, surrogateGradFn: new Heaviside() });
      a.forward(x(NaN));
      const ga = a.backward(g).toArray();
      const n0 = ga.filter((_, k) => k % 2 === 0);
      expect(n0.slice(0, 2).every(Number.isFinite), `neuron 0 before the NaN: [${n0.join(', ')}]`).to.equal(true);
      expectNumbers(n0.slice(2), [0, 0], 'neuron 0 at and after the NaN step');
      expect(ga.filter((_, k) => k % 2 === 1).every(Number.isFinite), 'neuron 1').to.equal(true);
      expect(a.tauMem!.grad!.item()).to.be.NaN;
    });
  });
});
