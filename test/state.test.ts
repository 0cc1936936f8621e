// sinabs' state rules (docs/semantics.md §2, §3.1, §3.3, §8): persistence across calls, re-zeroing on a
// neuron-shape change, batch broadcast from 1, random batch resampling from B > 1, the `shape`
// option, resetStates / detachStates / zeroGrad, recordings, firingRate, stateDict names and
// round trips, trainAlphas, parameter order and flags, and multi-call backward.
import { expect } from 'chai';
import { LIF, Tensor, type LIFOptions } from '../lib/index.js';
import { uniformNumbers, prod } from './support/random.js';

// ---- helpers ----------------------------------------------------------------------------------

const f = Math.fround;

const values = (n: number, seed: number, lo = -0.5, hi = 2.5): number[] => uniformNumbers(seed, n, lo, hi);
function inp(shape: number[], seed: number, lo?: number, hi?: number): Tensor {
  return Tensor.from(values(prod(shape), seed, lo, hi), shape);
}
const arr = (t: Tensor | null | undefined): number[] => {
  expect(t, 'tensor present').to.be.instanceOf(Tensor);
  return t!.toArray();
};

/** Elements [t0, t1) along axis 1 of a (B, T, ...) tensor. */
function sliceT(x: Tensor, t0: number, t1: number): Tensor {
  const [B, T, ...n] = x.shape as [number, number, ...number[]];
  const N = prod(n);
  const d = x.toFloat32Array();
  const r = new Float32Array(B * (t1 - t0) * N);
  for (let b = 0; b < B; ++b) r.set(d.subarray((b * T + t0) * N, (b * T + t1) * N), b * (t1 - t0) * N);
  return Tensor.from(r, [B, t1 - t0, ...n]);
}
/** Concatenation along axis 1. */
function catT(a: Tensor, b: Tensor): Tensor {
  const [B, Ta, ...n] = a.shape as [number, number, ...number[]];
  const Tb = b.shape[1]!;
  const N = prod(n);
  const da = a.toFloat32Array(),
    db = b.toFloat32Array();
  const r = new Float32Array(B * (Ta + Tb) * N);
  for (let k = 0; k < B; ++k) {
    r.set(da.subarray(k * Ta * N, (k + 1) * Ta * N), k * (Ta + Tb) * N);
    r.set(db.subarray(k * Tb * N, (k + 1) * Tb * N), (k * (Ta + Tb) + Ta) * N);
  }
  return Tensor.from(r, [B, Ta + Tb, ...n]);
}
/** Row b of axis 0, keeping a batch dim of 1. */
function row(x: Tensor, b: number): Tensor {
  const sh = x.shape;
  const M = prod(sh.slice(1));
  return Tensor.from(x.toFloat32Array().subarray(b * M, (b + 1) * M), [1, ...sh.slice(1)]);
}
function rowsOf(x: Tensor): number[][] {
  const sh = x.shape;
  const M = prod(sh.slice(1));
  const d = x.toArray();
  return Array.from({ length: sh[0]! }, (_, b) => d.slice(b * M, (b + 1) * M));
}
/** max |a - b| <= rtol * max|b| + atol. */
function expectClose(a: number[], b: number[], what: string, rtol = 1e-5, atol = 1e-7): void {
  expect(a.length, `${what}: length`).to.equal(b.length);
  let d = 0,
    m = 0,
    at = -1;
  for (let k = 0; k < a.length; ++k) {
    const e = Math.abs(a[k]! - b[k]!);
    if (!(e <= d)) {
      d = e;
      at = k;
    }
    m = Math.max(m, Math.abs(b[k]!));
  }
  expect(d, `${what}: max |diff| ${d} at ${at} (${a[at]} vs ${b[at]}), scale ${m}`).to.be.at.most(rtol * m + atol);
}
/** Equal as numbers (-0 == 0), element by element. */
function expectSameNumbers(a: number[], b: number[], what: string): void {
  expect(a.length, `${what}: length`).to.equal(b.length);
  for (let k = 0; k < a.length; ++k) if (!(a[k] === b[k])) expect.fail(`${what}: element ${k}: ${a[k]} !== ${b[k]}`);
}
/** Distance in float32 ulps between two float32 values. */
function ulps(a: number, b: number): number {
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat32(0, a);
  buf.setFloat32(4, b);
  const ia = buf.getInt32(0),
    ib = buf.getInt32(4);
  return Math.abs(ia - ib);
}
const gradOf = (l: LIF, name: string): Tensor | null => l.namedParameters().find(([n]) => n === name)![1].grad;

// ---- tests ------------------------------------------------------------------------------------

describe('state rules (semantics §3.1, §8)', function () {
  describe('state persists across forward calls', function () {
    const configs: [string, LIFOptions, number[]][] = [
      ['defaults, rank 3', { tauMem: 10 }, [2, 10, 3]],
      [
        'tauSyn, minVMem, per-neuron tauMem, recordings',
        { tauMem: Tensor.from([3, 7, 15, 40], [4]), tauSyn: 4, minVMem: -0.3, recordStates: true },
        [3, 10, 4],
      ],
      ['rank 4, normInput false, threshold 1.5', { tauMem: 6, normInput: false, spikeThreshold: 1.5 }, [2, 10, 2, 3]],
      ['rank 2 (no neuron dims)', { tauMem: 5, tauSyn: 2 }, [4, 10]],
    ];
    for (const [name, opts, shape] of configs) {
      it(`two calls of T=5 equal one call of T=10 exactly (${name})`, function () {
        const x = inp(shape, 1, -0.5, 3);
        const one = new LIF(opts),
          two = new LIF(opts);
        const o = one.forward(x);
        const a = two.forward(sliceT(x, 0, 5));
        const b = two.forward(sliceT(x, 5, 10));
        expect(catT(a, b).toArray(), 'spikes').to.deep.equal(o.toArray());
        expect(arr(two.vMem), 'vMem').to.deep.equal(arr(one.vMem));
        if (opts.tauSyn !== undefined) expect(arr(two.iSyn), 'iSyn').to.deep.equal(arr(one.iSyn));
        expect(two.shape).to.deep.equal([shape[0], ...shape.slice(2)]);
        if (opts.recordStates) {
          expect(one.recordings.vMem!.shape).to.deep.equal(shape);
          // the second call's recordings are the second half of the one-call recordings
          expect(arr(two.recordings.vMem), 'recordings.vMem').to.deep.equal(arr(sliceT(one.recordings.vMem!, 5, 10)));
          expect(arr(two.recordings.iSyn), 'recordings.iSyn').to.deep.equal(arr(sliceT(one.recordings.iSyn!, 5, 10)));
        }
      });
    }

    it('ten calls of T=1 equal one call of T=10 (tauSyn, MultiSpike counts > 1)', function () {
      const x = inp([2, 10, 5], 2, -1, 6);
      const one = new LIF({ tauMem: 4, tauSyn: 2, normInput: false });
      const many = new LIF({ tauMem: 4, tauSyn: 2, normInput: false });
      const o = one.forward(x);
      expect(Math.max(...o.toArray()), 'inputs give multi-spike counts').to.be.greaterThan(1);
      let acc = many.forward(sliceT(x, 0, 1));
      for (let t = 1; t < 10; ++t) acc = catT(acc, many.forward(sliceT(x, t, t + 1)));
      expect(acc.toArray()).to.deep.equal(o.toArray());
      expect(arr(many.vMem)).to.deep.equal(arr(one.vMem));
      expect(arr(many.iSyn)).to.deep.equal(arr(one.iSyn));
    });

    it('eval-mode forwards carry the state the same way', function () {
      const x = inp([2, 10, 3], 3, -0.5, 3);
      const one = new LIF({ tauMem: 10, tauSyn: 3 });
      const two = new LIF({ tauMem: 10, tauSyn: 3 }).eval();
      const o = one.forward(x);
      const c = catT(two.forward(sliceT(x, 0, 5)), two.forward(sliceT(x, 5, 10)));
      expect(c.toArray()).to.deep.equal(o.toArray());
      expect(two.pendingCalls, 'eval forwards keep nothing for backward').to.equal(0);
    });
  });

  describe('neuron-shape change', function () {
    it("re-zeroes the state: the call equals a fresh layer's", function () {
      const opts: LIFOptions = { tauMem: 8, tauSyn: 3, recordStates: true, seed: 1 };
      const layer = new LIF(opts);
      layer.forward(inp([2, 6, 4], 1, 0, 3));
      expect(
        arr(layer.vMem).some((v) => v !== 0),
        'state is non-zero before the change',
      ).to.equal(true);
      const y = inp([2, 5, 2, 3], 2, -0.5, 3);
      const o = layer.forward(y);
      const fresh = new LIF(opts);
      expect(o.toArray(), 'spikes').to.deep.equal(fresh.forward(y).toArray());
      expect(layer.shape).to.deep.equal([2, 2, 3]);
      expect(arr(layer.vMem)).to.deep.equal(arr(fresh.vMem));
      expect(arr(layer.iSyn)).to.deep.equal(arr(fresh.iSyn));
      expect(arr(layer.recordings.vMem)).to.deep.equal(arr(fresh.recordings.vMem));
      // and the gradient of the new call does not depend on the lost state
      expectSameNumbers(
        arr(layer.backward(inp([2, 5, 2, 3], 3, -1, 1))),
        arr(fresh.backward(inp([2, 5, 2, 3], 3, -1, 1))),
        'gradInput',
      );
    });
    it('a neuron-shape change together with a batch change re-zeroes too', function () {
      const layer = new LIF({ tauMem: 8, seed: 1 });
      layer.forward(inp([3, 6, 4], 1, 0, 3));
      const y = inp([5, 4, 6], 2, -0.5, 3);
      const fresh = new LIF({ tauMem: 8 });
      expect(layer.forward(y).toArray()).to.deep.equal(fresh.forward(y).toArray());
      expect(arr(layer.vMem)).to.deep.equal(arr(fresh.vMem));
    });
  });

  describe('batch change from 1 copies the single state to every entry', function () {
    it('each entry evolves as a batch-1 layer continued on that entry; input gradients of the first call sum over the copies', function () {
      const opts: LIFOptions = {
        tauMem: Tensor.from([4, 9, 20], [3]),
        tauSyn: 3,
        minVMem: -0.4,
        recordStates: true,
        seed: 2,
      };
      const x1 = inp([1, 6, 3], 11, -0.5, 3);
      const x2 = inp([4, 5, 3], 12, -0.5, 3);
      const g1 = inp([1, 6, 3], 13, -1, 1);
      const g2 = inp([4, 5, 3], 14, -1, 1);
      const layer = new LIF(opts);
      layer.forward(x1);
      const o2 = layer.forward(x2);
      expect(layer.shape).to.deep.equal([4, 3]);
      const refs = [0, 1, 2, 3].map(() => new LIF(opts));
      const refOut = refs.map((r, b) => {
        r.forward(x1);
        return r.forward(row(x2, b));
      });
      for (let b = 0; b < 4; ++b) {
        expect(arr(row(o2, b)), `spikes of entry ${b}`).to.deep.equal(arr(refOut[b]));
        expect(arr(row(layer.vMem!, b)), `vMem of entry ${b}`).to.deep.equal(arr(refs[b]!.vMem));
        expect(arr(row(layer.iSyn!, b)), `iSyn of entry ${b}`).to.deep.equal(arr(refs[b]!.iSyn));
        expect(arr(row(layer.recordings.vMem!, b)), `recordings of entry ${b}`).to.deep.equal(
          arr(refs[b]!.recordings.vMem),
        );
      }
      // backward: the second call per entry as in the references, the first call gets the sum
      const gi2 = layer.backward(g2);
      const gi1 = layer.backward(g1);
      const refGi2 = refs.map((r, b) => r.backward(row(g2, b)));
      const refGi1 = refs.map((r, b) => r.backward(b === 0 ? g1 : Tensor.zeros([1, 6, 3])));
      for (let b = 0; b < 4; ++b) expectClose(arr(row(gi2, b)), arr(refGi2[b]), `gradInput of call 2, entry ${b}`);
      const sum = new Array<number>(18).fill(0);
      for (const g of refGi1) g.toArray().forEach((v, k) => (sum[k]! += v));
      expectClose(arr(gi1), sum, 'gradInput of call 1 = sum over the copies', 1e-5);
      for (const name of ['tau_mem', 'tau_syn']) {
        const s = new Array<number>(gradOf(layer, name)!.size).fill(0);
        for (const r of refs) arr(gradOf(r, name)).forEach((v, k) => (s[k]! += v));
        expectClose(arr(gradOf(layer, name)), s, `${name}.grad = sum over the copies`, 1e-4);
      }
    });
  });

  describe('batch change from B > 1 resamples rows at random', function () {
    const run = (seed: number, opts: Partial<LIFOptions> = {}): LIF => {
      const l = new LIF({ tauMem: 5, tauSyn: 3, seed, ...opts });
      l.forward(inp([4, 6, 5], 21, -0.5, 3));
      l.forward(inp([7, 3, 5], 22, -0.5, 3));
      return l;
    };
    it('is reproducible with a seed (two layers with the same seed agree exactly)', function () {
      const a = run(5),
        b = run(5);
      expect(arr(a.vMem)).to.deep.equal(arr(b.vMem));
      expect(arr(a.iSyn)).to.deep.equal(arr(b.iSyn));
      const oa = a.forward(inp([2, 3, 5], 23)),
        ob = b.forward(inp([2, 3, 5], 23));
      expect(oa.toArray()).to.deep.equal(ob.toArray());
      expect(arr(a.vMem)).to.deep.equal(arr(b.vMem));
    });
    it('manualSeed makes it reproducible too', function () {
      const mk = (): LIF => {
        const l = new LIF({ tauMem: 5, tauSyn: 3, seed: 1 });
        l.forward(inp([4, 6, 5], 21, -0.5, 3));
        l.manualSeed(77);
        l.forward(inp([9, 3, 5], 22, -0.5, 3));
        return l;
      };
      expect(arr(mk().vMem)).to.deep.equal(arr(mk().vMem));
    });
    it('different seeds give different selections (it is random, not a fixed mapping)', function () {
      const rowsA = rowsOf(run(5).vMem!),
        rowsB = rowsOf(run(6).vMem!),
        rowsC = rowsOf(run(7).vMem!);
      const same = (p: number[][], q: number[][]): boolean => JSON.stringify(p) === JSON.stringify(q);
      expect(same(rowsA, rowsB) && same(rowsA, rowsC), 'three seeds all giving the same 7 rows').to.equal(false);
    });

    it('every new row is alpha times some old row (zero input, T = 1, no tauSyn); all old rows get used', function () {
      const tau = 4; // -1/4 is exact in float32, so float32 and float64 exp pipelines agree
      const alpha = f(Math.exp(-1 / tau));
      expect(alpha).to.equal(f(Math.exp(f(-1 / tau))));
      const layer = new LIF({ tauMem: tau, seed: 9 });
      layer.forward(inp([4, 5, 6], 31, -0.8, 0.9));
      const old = rowsOf(layer.vMem!);
      expect(new Set(old.map((r) => JSON.stringify(r))).size, 'old rows are distinct').to.equal(4);
      const o = layer.forward(Tensor.zeros([64, 1, 6]));
      // u = alpha * v0 + (1 - alpha) * 0 (spec §3.2); precondition: below threshold, so no spike and no reset
      for (const r of old)
        for (const v of r) expect(Math.abs(alpha * v), 'precondition |alpha v| < threshold').to.be.below(1);
      expect(
        o.toArray().every((s) => s === 0),
        'no spikes',
      ).to.equal(true);
      const expected = old.map((r) => r.map((v) => f(alpha * v)));
      const used = new Set<number>();
      rowsOf(layer.vMem!).forEach((r, b) => {
        const k = expected.findIndex((e) => e.every((v, n) => v === r[n]));
        if (k < 0) expect.fail(`new row ${b} [${r.join(', ')}] is not alpha times any old row`);
        used.add(k);
      });
      expect([...used].sort(), 'every old row picked at least once in 64 draws').to.deep.equal([0, 1, 2, 3]);
    });

    it('with tauSyn, v_mem and i_syn are resampled with separate indices', function () {
      const tm = 4,
        ts = 2;
      const am = f(Math.exp(-1 / tm)),
        as = f(Math.exp(-1 / ts));
      const c = f(1 - am);
      const layer = new LIF({ tauMem: tm, tauSyn: ts, seed: 12 });
      layer.forward(inp([4, 3, 6], 41, -0.4, 0.4));
      const oldV = rowsOf(layer.vMem!),
        oldI = rowsOf(layer.iSyn!);
      const o = layer.forward(Tensor.zeros([64, 1, 6]));
      expect(
        o.toArray().every((s) => s === 0),
        'precondition: no spikes',
      ).to.equal(true);
      const newV = rowsOf(layer.vMem!),
        newI = rowsOf(layer.iSyn!);
      const pairs: [number, number][] = [];
      for (let b = 0; b < 64; ++b) {
        // i_t = alpha_s * (i_{t-1} + 0); u = alpha_m * v + c * i_t (each product rounded, spec §3.2)
        const ki = oldI.findIndex((r) => r.every((i0, n) => f(as * i0) === newI[b]![n]));
        if (ki < 0) expect.fail(`new i_syn row ${b} is not alpha_syn times any old row`);
        const kv = oldV.findIndex((r) => r.every((v0, n) => f(f(am * v0) + f(c * newI[b]![n]!)) === newV[b]![n]));
        if (kv < 0) expect.fail(`new v_mem row ${b} does not come from any old v_mem row`);
        pairs.push([kv, ki]);
      }
      expect(
        pairs.some(([kv, ki]) => kv !== ki),
        'some new entry takes v_mem and i_syn from different old entries',
      ).to.equal(true);
      expect(new Set(pairs.map((p) => p[0])).size, 'all old v rows used').to.equal(4);
      expect(new Set(pairs.map((p) => p[1])).size, 'all old i rows used').to.equal(4);
    });
  });

  describe('shape option', function () {
    it('pre-allocates zeros of exactly that shape (including the batch dim)', function () {
      const l = new LIF({ tauMem: 10, tauSyn: 3, shape: [2, 3] });
      expect(l.shape).to.deep.equal([2, 3]);
      expect(l.vMem!.shape).to.deep.equal([2, 3]);
      expect(arr(l.vMem)).to.deep.equal([0, 0, 0, 0, 0, 0]);
      expect(arr(l.iSyn)).to.deep.equal([0, 0, 0, 0, 0, 0]);
      const sd = l.stateDict();
      expect(sd.v_mem!.shape).to.deep.equal([2, 3]);
      expect(sd.i_syn!.shape).to.deep.equal([2, 3]);
    });
    it('a lazy layer has no state before its first forward (empty (0,) buffers in stateDict)', function () {
      const l = new LIF({ tauMem: 10, tauSyn: 3 });
      expect(l.shape).to.equal(null);
      expect(l.vMem).to.equal(null);
      expect(l.iSyn).to.equal(null);
      const sd = l.stateDict();
      expect(sd.v_mem!.shape).to.deep.equal([0]);
      expect(sd.i_syn!.shape).to.deep.equal([0]);
    });
    const cases: [string, number[], number[]][] = [
      ['shapes agree', [2, 3], [2, 7, 3]],
      ['neuron shape differs (re-zeroed)', [2, 3], [2, 7, 4]],
      ['batch 1 broadcast to 4', [1, 3], [4, 7, 3]],
      ['batch resampled from 3 to 2 (rows all zero)', [3, 3], [2, 7, 3]],
    ];
    for (const [name, st, xs] of cases) {
      it(`the first call equals the lazy layer's (${name}), backward too`, function () {
        const x = inp(xs, 51, -0.5, 3),
          g = inp(xs, 52, -1, 1);
        const pre = new LIF({ tauMem: 10, tauSyn: 3, shape: st, recordStates: true, seed: 1 });
        const lazy = new LIF({ tauMem: 10, tauSyn: 3, recordStates: true, seed: 1 });
        expect(pre.forward(x).toArray()).to.deep.equal(lazy.forward(x).toArray());
        expect(arr(pre.vMem)).to.deep.equal(arr(lazy.vMem));
        expect(arr(pre.iSyn)).to.deep.equal(arr(lazy.iSyn));
        expect(arr(pre.recordings.vMem)).to.deep.equal(arr(lazy.recordings.vMem));
        expectSameNumbers(arr(pre.backward(g)), arr(lazy.backward(g)), 'gradInput');
        expectSameNumbers(arr(pre.tauMem!.grad), arr(lazy.tauMem!.grad), 'tau_mem.grad');
        expectSameNumbers(arr(pre.tauSyn!.grad), arr(lazy.tauSyn!.grad), 'tau_syn.grad');
      });
    }
  });

  describe('resetStates / detachStates / zeroGrad', function () {
    const opts: LIFOptions = { tauMem: 6, tauSyn: 2, seed: 3 };
    const warm = (): LIF => {
      const l = new LIF(opts);
      l.forward(inp([3, 5, 4], 61, 0, 3));
      l.forward(inp([3, 5, 4], 62, 0, 3));
      return l;
    };
    it('resetStates() zeroes the state, keeps the shape and discards pending calls', function () {
      const l = warm();
      expect(arr(l.vMem).some((v) => v !== 0)).to.equal(true);
      l.resetStates();
      expect(l.shape).to.deep.equal([3, 4]);
      expect(arr(l.vMem)).to.deep.equal(new Array(12).fill(0));
      expect(arr(l.iSyn)).to.deep.equal(new Array(12).fill(0));
      expect(l.pendingCalls).to.equal(0);
      const x = inp([3, 5, 4], 63, -0.5, 3);
      const fresh = new LIF(opts);
      expect(l.forward(x).toArray(), 'next call equals a fresh layer').to.deep.equal(fresh.forward(x).toArray());
      expect(arr(l.vMem)).to.deep.equal(arr(fresh.vMem));
    });
    it('resetStates() before the first forward is a no-op', function () {
      const l = new LIF(opts);
      l.resetStates();
      l.resetStates({ randomize: true });
      expect(l.shape).to.equal(null);
      expect(l.vMem).to.equal(null);
      expect(l.stateDict().v_mem!.shape).to.deep.equal([0]);
    });
    it('resetStates({randomize: true, valueRanges: {v_mem: [2, 3]}}) fills v_mem in [2, 3) and i_syn in the default [0, 1)', function () {
      const l = new LIF({ ...opts, shape: [50, 20] });
      l.resetStates({ randomize: true, valueRanges: { v_mem: [2, 3] } });
      const v = arr(l.vMem),
        i = arr(l.iSyn);
      expect(l.shape).to.deep.equal([50, 20]);
      expect(
        v.every((x) => x >= 2 && x < 3),
        'v_mem in [2, 3)',
      ).to.equal(true);
      expect(
        i.every((x) => x >= 0 && x < 1),
        'i_syn in [0, 1)',
      ).to.equal(true);
      // uniform: spread over the range, not constant
      expect(Math.min(...v)).to.be.below(2.1);
      expect(Math.max(...v)).to.be.above(2.9);
      expect(new Set(v).size).to.be.greaterThan(900);
      const mean = v.reduce((a, b) => a + b, 0) / v.length;
      expect(mean).to.be.closeTo(2.5, 0.05);
      expect(Math.max(...i)).to.be.above(0.9);
    });
    it('resetStates({randomize: true}) with ranges for both states', function () {
      const l = warm();
      l.resetStates({ randomize: true, valueRanges: { v_mem: [-1, -0.5], i_syn: [4, 4.25] } });
      expect(arr(l.vMem).every((x) => x >= -1 && x < -0.5)).to.equal(true);
      expect(arr(l.iSyn).every((x) => x >= 4 && x < 4.25)).to.equal(true);
      expect(l.pendingCalls).to.equal(0);
    });
    it('the randomised state is used as is by the next call (equals a layer loaded with it)', function () {
      const l = warm();
      l.resetStates({ randomize: true, valueRanges: { v_mem: [0, 0.9] } });
      const other = new LIF(opts);
      other.loadStateDict(l.stateDict());
      const x = inp([3, 5, 4], 64, -0.5, 3);
      expect(l.forward(x).toArray()).to.deep.equal(other.forward(x).toArray());
      expect(arr(l.vMem)).to.deep.equal(arr(other.vMem));
    });
    it('detachStates() keeps the values, discards pending calls, and the next call equals the undetached one', function () {
      const l = warm(),
        twin = warm();
      const v = arr(l.vMem),
        i = arr(l.iSyn);
      expect(l.pendingCalls).to.equal(2);
      l.detachStates();
      expect(arr(l.vMem)).to.deep.equal(v);
      expect(arr(l.iSyn)).to.deep.equal(i);
      expect(l.shape).to.deep.equal([3, 4]);
      expect(l.pendingCalls).to.equal(0);
      const x = inp([3, 5, 4], 65, -0.5, 3),
        g = inp([3, 5, 4], 66, -1, 1);
      expect(l.forward(x).toArray()).to.deep.equal(twin.forward(x).toArray());
      expect(l.pendingCalls).to.equal(1);
      // the last call's own backward is the same; the graph stops there
      expectSameNumbers(arr(l.backward(g)), arr(twin.backward(g)), 'gradInput of the last call');
      expectSameNumbers(arr(l.tauMem!.grad), arr(twin.tauMem!.grad), 'tau_mem.grad of the last call');
      expect(l.pendingCalls).to.equal(0);
      expect(twin.pendingCalls).to.equal(2);
    });
    it('zeroGrad() zeroes the parameter grads (tensors of zeros), detaches, keeps the state', function () {
      const l = new LIF({ ...opts, minVMem: -1 });
      l.forward(inp([3, 5, 4], 61, 0, 3));
      l.backward(inp([3, 5, 4], 67, -1, 1));
      expect(
        arr(l.tauMem!.grad).some((v) => v !== 0),
        'tau_mem.grad non-zero',
      ).to.equal(true);
      expect(
        arr(l.tauSyn!.grad).some((v) => v !== 0),
        'tau_syn.grad non-zero',
      ).to.equal(true);
      l.forward(inp([3, 5, 4], 62, 0, 3));
      const v = arr(l.vMem);
      l.zeroGrad();
      expect(arr(l.tauMem!.grad)).to.deep.equal([0]);
      expect(l.tauMem!.grad!.shape).to.deep.equal([]);
      expect(arr(l.tauSyn!.grad)).to.deep.equal([0]);
      expect(l.spikeThreshold!.grad, 'threshold never gets a grad').to.equal(null);
      expect(l.minVMem!.grad, 'minVMem never gets a grad').to.equal(null);
      expect(arr(l.vMem)).to.deep.equal(v);
      expect(l.pendingCalls).to.equal(0);
    });
    it('grads accumulate across backward calls until zeroGrad()', function () {
      const mk = (): LIF => new LIF({ tauMem: Tensor.from([5, 9, 14, 30], [4]), seed: 1 });
      const x1 = inp([3, 5, 4], 71, 0, 3),
        x2 = inp([3, 5, 4], 72, 0, 3);
      const g1 = inp([3, 5, 4], 73, -1, 1),
        g2 = inp([3, 5, 4], 74, -1, 1);
      const a = mk();
      a.forward(x1);
      a.backward(g1);
      const first = arr(a.tauMem!.grad);
      a.detachStates();
      const st = a.stateDict();
      a.forward(x2);
      a.backward(g2);
      const b = mk();
      b.loadStateDict(st);
      b.forward(x2);
      b.backward(g2);
      const second = arr(b.tauMem!.grad);
      expectClose(
        arr(a.tauMem!.grad),
        first.map((v, k) => v + second[k]!),
        'accumulated grad',
        1e-6,
      );
      a.zeroGrad();
      a.loadStateDict(st);
      a.forward(x2);
      a.backward(g2);
      expectSameNumbers(arr(a.tauMem!.grad), second, 'after zeroGrad the grad starts from zero');
    });
  });

  describe('recordings', function () {
    it('recordStates with tauSyn: vMem and iSyn of shape (B, T, ...N), step t = state after step t, last = final state', function () {
      const opts: LIFOptions = { tauMem: 5, tauSyn: 2, minVMem: -0.2, recordStates: true };
      const x = inp([2, 6, 2, 3], 81, -1, 3);
      const l = new LIF(opts);
      l.forward(x);
      const r = l.recordings;
      expect(Object.keys(r).sort()).to.deep.equal(['iSyn', 'vMem']);
      expect(r.vMem!.shape).to.deep.equal([2, 6, 2, 3]);
      expect(r.iSyn!.shape).to.deep.equal([2, 6, 2, 3]);
      expect(arr(sliceT(r.vMem!, 5, 6))).to.deep.equal(arr(l.vMem));
      expect(arr(sliceT(r.iSyn!, 5, 6))).to.deep.equal(arr(l.iSyn));
      // post-clip: nothing below minVMem
      expect(arr(r.vMem).every((v) => v >= f(-0.2))).to.equal(true);
      expect(
        arr(r.vMem).some((v) => v === f(-0.2)),
        'some values clipped (precondition)',
      ).to.equal(true);
      // step by step: a layer run one step per call has the recorded state after each call
      const s = new LIF(opts);
      for (let t = 0; t < 6; ++t) {
        s.forward(sliceT(x, t, t + 1));
        expect(arr(sliceT(r.vMem!, t, t + 1)).join(), `recorded v at step ${t}`).to.equal(arr(s.vMem).join());
        expect(arr(sliceT(r.iSyn!, t, t + 1)).join(), `recorded i at step ${t}`).to.equal(arr(s.iSyn).join());
      }
    });
    it('no iSyn key without tauSyn', function () {
      const l = new LIF({ tauMem: 5, recordStates: true });
      l.forward(inp([2, 4, 3], 82));
      expect(Object.keys(l.recordings)).to.deep.equal(['vMem']);
      expect('iSyn' in l.recordings).to.equal(false);
      expect(arr(sliceT(l.recordings.vMem!, 3, 4))).to.deep.equal(arr(l.vMem));
    });
    it('recordings are {} after every forward when recordStates is false', function () {
      const l = new LIF({ tauMem: 5, tauSyn: 3 });
      l.forward(inp([2, 4, 3], 83));
      expect(l.recordings).to.deep.equal({});
      l.forward(inp([2, 4, 3], 84));
      expect(l.recordings).to.deep.equal({});
    });
    it('recordings are replaced by each forward', function () {
      const l = new LIF({ tauMem: 5, recordStates: true });
      l.forward(inp([2, 4, 3], 85));
      l.forward(inp([2, 7, 3], 86));
      expect(l.recordings.vMem!.shape).to.deep.equal([2, 7, 3]);
    });
  });

  describe('firingRate', function () {
    it('equals the mean of the output (including multi-spike counts)', function () {
      const l = new LIF({ tauMem: 3, normInput: false });
      expect(l.firingRate, 'before the first forward').to.equal(null);
      for (const [shape, seed, hi] of [
        [[2, 7, 5], 91, 4],
        [[3, 4, 2, 2], 92, 1.2],
        [[1, 9, 5], 93, 0.1],
      ] as [number[], number, number][]) {
        const o = l.forward(inp(shape, seed, -1, hi));
        const a = o.toArray();
        const mean = a.reduce((s, v) => s + v, 0) / a.length;
        expect(l.firingRate!, `shape [${shape}]`).to.be.closeTo(mean, 1e-6 * Math.max(1, mean));
      }
      expect(l.firingRate, 'an all-zero output gives 0').to.equal(0);
    });
  });

  describe('stateDict and loadStateDict', function () {
    it('default keys in sinabs names and order: tau_mem, spike_threshold, v_mem', function () {
      const l = new LIF({ tauMem: 10 });
      const sd = l.stateDict();
      expect(Object.keys(sd)).to.deep.equal(['tau_mem', 'spike_threshold', 'v_mem']);
      expect(sd.tau_mem!.shape).to.deep.equal([]);
      expect(arr(sd.tau_mem)).to.deep.equal([10]);
      expect(sd.spike_threshold!.shape).to.deep.equal([]);
      expect(arr(sd.spike_threshold)).to.deep.equal([1]);
    });
    it('with tauSyn and minVMem: tau_mem, tau_syn, min_v_mem, spike_threshold, v_mem, i_syn', function () {
      const l = new LIF({ tauMem: Tensor.from([10, 20], [2]), tauSyn: 3, minVMem: -1, spikeThreshold: 2 });
      l.forward(inp([3, 2, 2], 1));
      const sd = l.stateDict();
      expect(Object.keys(sd)).to.deep.equal(['tau_mem', 'tau_syn', 'min_v_mem', 'spike_threshold', 'v_mem', 'i_syn']);
      expect(sd.tau_mem!.shape).to.deep.equal([2]);
      expect(arr(sd.tau_mem)).to.deep.equal([10, 20]);
      expect(arr(sd.tau_syn)).to.deep.equal([3]);
      expect(arr(sd.min_v_mem)).to.deep.equal([-1]);
      expect(arr(sd.spike_threshold)).to.deep.equal([2]);
      expect(sd.v_mem!.shape).to.deep.equal([3, 2]);
      expect(arr(sd.v_mem)).to.deep.equal(arr(l.vMem));
      expect(arr(sd.i_syn)).to.deep.equal(arr(l.iSyn));
    });
    it('with trainAlphas: alpha_mem, alpha_syn, spike_threshold, v_mem, i_syn; tauMem/tauSyn are null', function () {
      const l = new LIF({ tauMem: 10, tauSyn: 4, trainAlphas: true });
      expect(Object.keys(l.stateDict())).to.deep.equal(['alpha_mem', 'alpha_syn', 'spike_threshold', 'v_mem', 'i_syn']);
      expect(l.tauMem).to.equal(null);
      expect(l.tauSyn).to.equal(null);
      expect(l.alphaMem).to.be.instanceOf(Tensor);
      expect(l.alphaSyn).to.be.instanceOf(Tensor);
      const l2 = new LIF({ tauMem: 10, trainAlphas: true, minVMem: 0 });
      expect(Object.keys(l2.stateDict())).to.deep.equal(['alpha_mem', 'min_v_mem', 'spike_threshold', 'v_mem']);
      expect(l2.alphaSyn).to.equal(null);
    });
    const rt: [string, LIFOptions, LIFOptions][] = [
      [
        'taus',
        { tauMem: Tensor.from([4, 9, 20], [3]), tauSyn: 3, minVMem: -0.5, spikeThreshold: 1.5, recordStates: true },
        { tauMem: Tensor.from([30, 2, 7], [3]), tauSyn: 8, minVMem: -2, spikeThreshold: 1, recordStates: true },
      ],
      [
        'trainAlphas',
        { tauMem: Tensor.from([4, 9, 20], [3]), tauSyn: 3, trainAlphas: true, spikeThreshold: 0.7 },
        { tauMem: Tensor.from([30, 2, 7], [3]), tauSyn: 8, trainAlphas: true },
      ],
    ];
    for (const [name, oa, ob] of rt) {
      it(`round trip between two layers reproduces outputs exactly (${name})`, function () {
        const a = new LIF(oa),
          b = new LIF(ob);
        a.forward(inp([2, 6, 3], 101, -0.5, 3));
        b.forward(inp([5, 2, 3], 102, -0.5, 3)); // b has some other state first
        b.loadStateDict(a.stateDict());
        expect(b.shape).to.deep.equal([2, 3]);
        const x = inp([2, 8, 3], 103, -0.5, 3);
        expect(b.forward(x).toArray(), 'spikes').to.deep.equal(a.forward(x).toArray());
        expect(arr(b.vMem)).to.deep.equal(arr(a.vMem));
        expect(arr(b.iSyn)).to.deep.equal(arr(a.iSyn));
        const sa = a.stateDict(),
          sb = b.stateDict();
        expect(Object.keys(sb)).to.deep.equal(Object.keys(sa));
        for (const k of Object.keys(sa)) expect(arr(sb[k]), k).to.deep.equal(arr(sa[k]));
        if (oa.recordStates) expect(arr(b.recordings.vMem)).to.deep.equal(arr(a.recordings.vMem));
      });
    }
    it('loading a lazy (empty) state into an initialised layer makes it lazy again', function () {
      const lazy = new LIF({ tauMem: 7 });
      const l = new LIF({ tauMem: 7 });
      l.forward(inp([2, 4, 3], 104));
      l.loadStateDict(lazy.stateDict());
      expect(l.shape).to.equal(null);
      const x = inp([4, 5, 2], 105, -0.5, 3);
      expect(l.forward(x).toArray()).to.deep.equal(lazy.forward(x).toArray());
    });
  });

  describe('trainAlphas and the *Calculated properties', function () {
    for (const tau of [10, 4, 20, 7, 2.5, 123.4]) {
      it(`tau ${tau}: alphaMemCalculated = exp(-1/tau) in float32, tauMemCalculated = -1/log(alpha)`, function () {
        const expAlpha = f(Math.exp(f(-1 / f(tau))));
        const a = new LIF({ tauMem: tau, tauSyn: tau, trainAlphas: true });
        const t = new LIF({ tauMem: tau, tauSyn: tau });
        for (const [what, v] of [
          ['alphaMemCalculated (alphas)', a.alphaMemCalculated.item()],
          ['alphaSynCalculated (alphas)', a.alphaSynCalculated!.item()],
          ['alphaMemCalculated (taus)', t.alphaMemCalculated.item()],
          ['alphaSynCalculated (taus)', t.alphaSynCalculated!.item()],
          ['alphaMem parameter', a.alphaMem!.item()],
        ] as [string, number][]) {
          expect(v, what).to.equal(f(v));
          // kernels.md: exp on the host in double, rounded to float; may differ by 1 ulp from torch's float32 exp
          expect(ulps(v, expAlpha), `${what} = ${v}, float32 exp gives ${expAlpha}`).to.be.at.most(1);
        }
        const alpha = a.alphaMem!.item();
        const expTau = f(-1 / f(Math.log(alpha)));
        for (const [what, v] of [
          ['tauMemCalculated', a.tauMemCalculated.item()],
          ['tauSynCalculated', a.tauSynCalculated!.item()],
        ] as [string, number][]) {
          expect(v, what).to.equal(f(v));
          expect(ulps(v, expTau), `${what} = ${v}, float32 -1/log(alpha) gives ${expTau}`).to.be.at.most(1);
        }
        // in tau mode the calculated tau is the parameter itself
        expect(t.tauMemCalculated.item()).to.equal(f(tau));
        expect(t.tauSynCalculated!.item()).to.equal(f(tau));
      });
    }
    it("tau 10 with trainAlphas recomputes to 10.000000953674316 (the spec's example)", function () {
      expect(new LIF({ tauMem: 10, trainAlphas: true }).tauMemCalculated.item()).to.equal(10.000000953674316);
    });
    it('no tauSyn: alphaSynCalculated and tauSynCalculated are null', function () {
      for (const trainAlphas of [false, true]) {
        const l = new LIF({ tauMem: 10, trainAlphas });
        expect(l.alphaSynCalculated).to.equal(null);
        expect(l.tauSynCalculated).to.equal(null);
      }
    });
    it('per-neuron taus keep their shape through alpha', function () {
      const l = new LIF({ tauMem: Tensor.from([2, 4, 8, 16, 32, 64], [2, 3]), trainAlphas: true });
      expect(l.alphaMem!.shape).to.deep.equal([2, 3]);
      expect(l.tauMemCalculated.shape).to.deep.equal([2, 3]);
      l.alphaMem!.toArray().forEach((v, k) =>
        expect(ulps(v, f(Math.exp(f(-1 / [2, 4, 8, 16, 32, 64][k]!))))).to.be.at.most(1),
      );
    });
    it('with trainAlphas the forward uses alpha (same spikes as the tau layer when alpha = exp(-1/tau) exactly)', function () {
      const x = inp([2, 9, 3], 111, -0.5, 3);
      const a = new LIF({ tauMem: 4, tauSyn: 2, trainAlphas: true });
      const t = new LIF({ tauMem: 4, tauSyn: 2 });
      expect(a.forward(x).toArray()).to.deep.equal(t.forward(x).toArray());
      expect(arr(a.vMem)).to.deep.equal(arr(t.vMem));
      // backward: gradients land on alpha_mem / alpha_syn; d tau = d alpha * alpha / tau^2 (spec §7)
      const g = inp([2, 9, 3], 112, -1, 1);
      expectSameNumbers(arr(a.backward(g)), arr(t.backward(g)), 'gradInput');
      const am = f(Math.exp(-1 / 4));
      expectClose(
        arr(t.tauMem!.grad),
        [f((a.alphaMem!.grad!.item() * am) / 16)],
        'tau_mem.grad = alpha_mem.grad * alpha / tau^2',
        1e-5,
      );
      expect(a.tauMem).to.equal(null);
    });
  });

  describe('parameters', function () {
    it('order per semantics §2: tau_mem, tau_syn, min_v_mem, spike_threshold; requiresGrad only for the taus', function () {
      const l = new LIF({ tauMem: 10, tauSyn: 3, minVMem: -1 });
      const p = l.parameters();
      expect(p.length).to.equal(4);
      expect(p[0]).to.equal(l.tauMem);
      expect(p[1]).to.equal(l.tauSyn);
      expect(p[2]).to.equal(l.minVMem);
      expect(p[3]).to.equal(l.spikeThreshold);
      expect(l.namedParameters().map(([n]) => n)).to.deep.equal(['tau_mem', 'tau_syn', 'min_v_mem', 'spike_threshold']);
      expect(p.map((t) => t.requiresGrad)).to.deep.equal([true, true, false, false]);
    });
    it('minimal layer: tau_mem, spike_threshold', function () {
      const l = new LIF({ tauMem: 10 });
      expect(l.namedParameters().map(([n]) => n)).to.deep.equal(['tau_mem', 'spike_threshold']);
      expect(l.parameters().map((t) => t.requiresGrad)).to.deep.equal([true, false]);
      expect(l.minVMem).to.equal(null);
      expect(l.tauSyn).to.equal(null);
    });
    it('trainAlphas: alpha_mem, alpha_syn, min_v_mem, spike_threshold', function () {
      const l = new LIF({ tauMem: 10, tauSyn: 3, minVMem: -1, trainAlphas: true });
      const p = l.parameters();
      expect(l.namedParameters().map(([n]) => n)).to.deep.equal([
        'alpha_mem',
        'alpha_syn',
        'min_v_mem',
        'spike_threshold',
      ]);
      expect(p[0]).to.equal(l.alphaMem);
      expect(p[1]).to.equal(l.alphaSyn);
      expect(p.map((t) => t.requiresGrad)).to.deep.equal([true, true, false, false]);
    });
    it("after backward only the trainable parameters have grads, of the parameter's shape", function () {
      const l = new LIF({ tauMem: Tensor.from([5, 10, 20], [3, 1]), tauSyn: 3, minVMem: -1 });
      l.forward(inp([2, 6, 3, 2], 121, -0.5, 3));
      l.backward(inp([2, 6, 3, 2], 122, -1, 1));
      expect(l.tauMem!.grad!.shape).to.deep.equal([3, 1]);
      expect(l.tauSyn!.grad!.shape).to.deep.equal([]);
      expect(l.spikeThreshold!.grad).to.equal(null);
      expect(l.minVMem!.grad).to.equal(null);
    });
  });

  describe('multi-call backward', function () {
    it('pendingCalls counts forwards waiting for backward; backward goes in reverse order', function () {
      const l = new LIF({ tauMem: 6, tauSyn: 3 });
      expect(l.pendingCalls).to.equal(0);
      l.forward(inp([2, 4, 3], 131));
      expect(l.pendingCalls).to.equal(1);
      l.forward(inp([2, 7, 3], 132));
      expect(l.pendingCalls).to.equal(2);
      // the first call's gradient shape does not fit: backward is for the most recent call
      let err: unknown;
      try {
        l.backward(Tensor.zeros([2, 4, 3]));
      } catch (e) {
        err = e;
      }
      expect(err).to.be.instanceOf(RangeError);
      expect(l.pendingCalls).to.equal(2);
      expect(l.backward(Tensor.zeros([2, 7, 3])).shape).to.deep.equal([2, 7, 3]);
      expect(l.pendingCalls).to.equal(1);
      expect(l.backward(Tensor.zeros([2, 4, 3])).shape).to.deep.equal([2, 4, 3]);
      expect(l.pendingCalls).to.equal(0);
    });
    for (const [name, opts] of [
      ['defaults', { tauMem: 6 }],
      ['tauSyn, per-neuron tauMem, minVMem', { tauMem: Tensor.from([3, 8, 25], [3]), tauSyn: 2, minVMem: -0.3 }],
      [
        'trainAlphas, MembraneSubtract through many spikes',
        { tauMem: 5, tauSyn: 3, trainAlphas: true, normInput: false },
      ],
    ] as [string, LIFOptions][]) {
      it(`two calls backwarded in reverse order equal one call's backward (${name})`, function () {
        const x = inp([2, 10, 3], 141, -0.5, 3),
          g = inp([2, 10, 3], 142, -1, 1);
        const one = new LIF(opts),
          two = new LIF(opts);
        one.forward(x);
        const gi = one.backward(g);
        two.forward(sliceT(x, 0, 4));
        two.forward(sliceT(x, 4, 10));
        const gb = two.backward(sliceT(g, 4, 10));
        const ga = two.backward(sliceT(g, 0, 4));
        expectClose(arr(catT(ga, gb)), arr(gi), 'gradInput', 1e-5);
        for (const [n, p] of one.namedParameters()) {
          if (!p.requiresGrad) continue;
          expectClose(arr(gradOf(two, n)), arr(p.grad), `${n}.grad`, 1e-5);
        }
      });
    }
    it("a gradient on the second call only reaches the first call's input through the carried state", function () {
      const x = inp([2, 10, 3], 151, -0.5, 3);
      const gOnly2 = Tensor.from(
        [...new Array(2 * 10 * 3)].map((_, k) => (Math.floor(k / 3) % 10 >= 5 ? 1 : 0)),
        [2, 10, 3],
      );
      const one = new LIF({ tauMem: 6, tauSyn: 3 }),
        two = new LIF({ tauMem: 6, tauSyn: 3 });
      one.forward(x);
      const gi = one.backward(gOnly2);
      two.forward(sliceT(x, 0, 5));
      two.forward(sliceT(x, 5, 10));
      two.backward(sliceT(gOnly2, 5, 10));
      const ga = two.backward(Tensor.zeros([2, 5, 3]));
      expect(
        arr(ga).some((v) => v !== 0),
        'first call gets a gradient',
      ).to.equal(true);
      expectClose(arr(ga), arr(sliceT(gi, 0, 5)), 'first call gradInput', 1e-5);
    });
  });
});
