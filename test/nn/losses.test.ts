// mseLoss, crossEntropyLoss and the time readouts against closed-form values, float64 references
// and finite differences; the golden network cases (cross-entropy of spike counts, pool outputs);
// the emulated CUDA launch and thread counts (bit-identical); bad input.
import { expect } from 'chai';
import {
  AvgPool2d,
  LastStep,
  MaxOverTime,
  SumOverTime,
  SumPool2d,
  Tensor,
  crossEntropyLoss,
  getNumThreads,
  mseLoss,
  setNumThreads,
} from '../../lib/index.js';
import { _setCudaLaunchEmulation, native } from '../../lib/backend.js';
import { rng, uniform } from '../support/random.js';
import { maxAbs, maxAbsDiff } from '../support/reference.js';
import { loadNetworkGolden } from '../support/network-golden.js';

/** Float64 cross-entropy (mean over rows) and its gradient. */
function ceRef(z: ArrayLike<number>, B: number, C: number, labels: number[]): { loss: number; grad: number[] } {
  let loss = 0;
  const grad: number[] = [];
  for (let b = 0; b < B; ++b) {
    const row = Array.from({ length: C }, (_, c) => z[b * C + c]!);
    const m = Math.max(...row);
    const s = row.reduce((a, v) => a + Math.exp(v - m), 0);
    loss += m + Math.log(s) - row[labels[b]!]!;
    for (let c = 0; c < C; ++c) grad.push((Math.exp(row[c]! - m) / s - (c === labels[b] ? 1 : 0)) / B);
  }
  return { loss: loss / B, grad };
}

/** Central finite difference of f at element k of x (using the float32 values actually taken). */
function fd(f: (x: Float32Array) => number, x: Float32Array, k: number, h: number): number {
  const xp = x.slice(),
    xm = x.slice();
  xp[k] = x[k]! + h;
  xm[k] = x[k]! - h;
  return (f(xp) - f(xm)) / (xp[k]! - xm[k]!);
}

function withModes(fn: () => number[]): { base: number[]; others: number[][] } {
  const before = getNumThreads();
  try {
    setNumThreads(1);
    const base = fn();
    const others: number[][] = [];
    setNumThreads(2);
    others.push(fn());
    setNumThreads(3);
    others.push(fn());
    _setCudaLaunchEmulation(true);
    others.push(fn());
    setNumThreads(1);
    others.push(fn());
    return { base, others };
  } finally {
    _setCudaLaunchEmulation(false);
    setNumThreads(before);
  }
}

describe('losses: mseLoss', () => {
  it('closed form: mean of squared differences, grad 2 (o - t) / n', () => {
    const { loss, grad } = mseLoss(Tensor.from([1, 2, 3, 4], [2, 2]), Tensor.from([1, 0, 0, 8], [2, 2]));
    expect(loss).to.equal((0 + 4 + 9 + 16) / 4);
    expect(grad.shape).to.deep.equal([2, 2]);
    expect(grad.toArray()).to.deep.equal([0, 1, 1.5, -2]);
  });

  it('matches a float64 reference and finite differences', () => {
    const n = 3 * 5 * 7;
    const o = uniform(1, n, -2, 2),
      t = uniform(2, n, -2, 2);
    let ref = 0;
    for (let k = 0; k < n; ++k) ref += (o[k]! - t[k]!) ** 2;
    ref /= n;
    const T = Tensor.from(t, [3, 5, 7]);
    const { loss, grad } = mseLoss(Tensor.from(o, [3, 5, 7]), T);
    expect(Math.abs(loss - ref)).to.be.at.most(1e-12 * ref);
    const g = grad.toFloat32Array();
    const f = (x: Float32Array) => mseLoss(Tensor.from(x, [3, 5, 7]), T).loss;
    for (const k of [0, 17, 50, n - 1]) expect(g[k]!).to.be.closeTo(fd(f, o, k, 1e-2), 1e-6);
  });

  it('is bit-identical for every thread count and through the emulated CUDA launch (several partial sums)', () => {
    const n = 100_003;
    const o = uniform(3, n, -1, 1),
      t = uniform(4, n, -1, 1);
    const { base, others } = withModes(() => {
      const r = mseLoss(Tensor.from(o, [n]), Tensor.from(t, [n]));
      return [r.loss, ...r.grad.toFloat32Array()];
    });
    for (const x of others) expect(x).to.deep.equal(base);
  });

  it('bad input', () => {
    expect(() => mseLoss(Tensor.zeros([2]), Tensor.zeros([3]))).to.throw(RangeError, /target must have the shape/);
    expect(() => mseLoss([1] as never, Tensor.zeros([1]))).to.throw(TypeError, /output/);
    expect(() => mseLoss(Tensor.zeros([1]), null as never)).to.throw(TypeError, /target/);
    expect(() => mseLoss(Tensor.zeros([0]), Tensor.zeros([0]))).to.throw(RangeError, /no elements/);
    expect(() =>
      native().mseLoss({ n: 4, output: new Float32Array(4), target: new Float32Array(3), grad: new Float32Array(4) }),
    ).to.throw(RangeError, /'target'/);
  });
});

describe('losses: crossEntropyLoss', () => {
  it('closed form: uniform logits give log C; the gradient is (softmax - onehot) / B', () => {
    const { loss, grad } = crossEntropyLoss(Tensor.from([0, 0, 0, 0, 5, 5, 5, 5], [2, 4]), [3, 0]);
    expect(loss).to.be.closeTo(Math.log(4), 1e-15);
    expect(grad.toArray()).to.deep.equal([0.125, 0.125, 0.125, -0.375, -0.375, 0.125, 0.125, 0.125]);
  });

  it('is stable for large logits (computed with the maximum subtracted, in double)', () => {
    const { loss, grad } = crossEntropyLoss(Tensor.from([1000, 0, -1000, 3000], [2, 2]), Int32Array.of(1, 0));
    expect(loss).to.equal((1000 + 4000) / 2);
    expect(grad.toArray()).to.deep.equal([0.5, -0.5, -0.5, 0.5]);
  });

  it('matches a float64 reference and finite differences; labels as Int32Array, number[] or Tensor', () => {
    const B = 5,
      C = 7;
    const z = uniform(5, B * C, -3, 3);
    const labels = [0, 6, 3, 3, 1];
    const ref = ceRef(z, B, C, labels);
    const Z = Tensor.from(z, [B, C]);
    for (const lab of [labels, Int32Array.from(labels), Tensor.from(labels, [B])]) {
      const { loss, grad } = crossEntropyLoss(Z, lab);
      expect(Math.abs(loss - ref.loss)).to.be.at.most(1e-12 * ref.loss);
      expect(maxAbsDiff(grad.toFloat32Array(), ref.grad)).to.be.at.most(1e-7 * maxAbs(ref.grad));
    }
    const g = crossEntropyLoss(Z, labels).grad.toFloat32Array();
    const f = (x: Float32Array) => crossEntropyLoss(Tensor.from(x, [B, C]), labels).loss;
    for (const k of [0, 6, 13, 20, 34]) expect(g[k]!).to.be.closeTo(fd(f, z, k, 1e-2), 2e-6);
  });

  it('is bit-identical for every thread count and through the emulated CUDA launch', () => {
    const B = 300,
      C = 11;
    const z = uniform(6, B * C, -4, 4);
    const r = rng(7);
    const labels = Array.from({ length: B }, () => Math.floor(r() * C));
    const { base, others } = withModes(() => {
      const o = crossEntropyLoss(Tensor.from(z, [B, C]), labels);
      return [o.loss, ...o.grad.toFloat32Array()];
    });
    for (const x of others) expect(x).to.deep.equal(base);
  });

  it('bad labels: a RangeError naming the index and value; nothing else is accepted', () => {
    const Z = Tensor.zeros([3, 4]);
    expect(() => crossEntropyLoss(Z, [0, 4, 1])).to.throw(RangeError, /labels\[1\] = 4 .*\[0, 4\)/);
    expect(() => crossEntropyLoss(Z, [0, -1, 1])).to.throw(RangeError, /labels\[1\] = -1/);
    expect(() => crossEntropyLoss(Z, [0, 1, 1.5])).to.throw(RangeError, /labels\[2\] = 1.5/);
    expect(() => crossEntropyLoss(Z, [0, 1, NaN])).to.throw(RangeError, /labels\[2\] = NaN/);
    expect(() => crossEntropyLoss(Z, Tensor.from([0, 2.5, 1], [3]))).to.throw(RangeError, /labels\[1\] = 2.5/);
    expect(() => crossEntropyLoss(Z, [0, 1])).to.throw(RangeError, /one class index per batch row \(3\), got 2/);
    expect(() => crossEntropyLoss(Z, Tensor.zeros([3, 1]))).to.throw(RangeError, /1-d tensor/);
    expect(() => crossEntropyLoss(Z, [0, '1', 2] as never)).to.throw(TypeError, /labels\[1\]/);
    expect(() => crossEntropyLoss(Z, Float32Array.of(0, 1, 2) as never)).to.throw(TypeError, /labels must be/);
    expect(() => crossEntropyLoss(Tensor.zeros([3]), [0, 1, 2])).to.throw(RangeError, /\(B, C\)/);
    // the native kernel reads nothing out of range for a bad label: NaN
    const n = native();
    expect(
      n.crossEntropyLoss({
        B: 1,
        C: 2,
        logits: new Float32Array(2),
        labels: Float32Array.of(7),
        grad: new Float32Array(2),
      }),
    ).to.be.NaN;
    expect(() =>
      n.crossEntropyLoss({
        B: 2,
        C: 2,
        logits: new Float32Array(4),
        labels: Float32Array.of(0),
        grad: new Float32Array(4),
      }),
    ).to.throw(RangeError, /'labels'/);
  });
});

describe('readouts over time', () => {
  const B = 3,
    T = 5,
    C = 4;
  const x = uniform(8, B * T * C, -1, 1);
  const at = (b: number, t: number, c: number) => x[(b * T + t) * C + c]!;
  const gz = uniform(9, B * C, -1, 1);

  it('SumOverTime: (B, T, C) -> (B, C); backward broadcasts over time; squeezed (B*T, C) with batchSize is the same', () => {
    for (const [layer, shape] of [
      [new SumOverTime(), [B, T, C]],
      [new SumOverTime({ batchSize: B }), [B * T, C]],
    ] as const) {
      const z = layer.forward(Tensor.from(x, [...shape]));
      expect(z.shape).to.deep.equal([B, C]);
      const zv = z.toFloat32Array();
      for (let b = 0; b < B; ++b)
        for (let c = 0; c < C; ++c) {
          let s = 0;
          for (let t = 0; t < T; ++t) s += at(b, t, c);
          expect(zv[b * C + c]).to.equal(Math.fround(s));
        }
      const dx = layer.backward(Tensor.from(gz, [B, C]));
      expect(dx.shape).to.deep.equal([...shape]);
      const d = dx.toFloat32Array();
      for (let b = 0; b < B; ++b)
        for (let t = 0; t < T; ++t) for (let c = 0; c < C; ++c) expect(d[(b * T + t) * C + c]).to.equal(gz[b * C + c]);
    }
  });

  it('MaxOverTime: the maximum over time; backward to the (first) maximal step only', () => {
    const xs = x.slice();
    xs[(1 * T + 3) * C + 2] = xs[(1 * T + 1) * C + 2] = 5; // a tie: the first step (1) gets the gradient
    const layer = new MaxOverTime();
    const z = layer.forward(Tensor.from(xs, [B, T, C])).toFloat32Array();
    const d = layer.backward(Tensor.from(gz, [B, C])).toFloat32Array();
    for (let b = 0; b < B; ++b)
      for (let c = 0; c < C; ++c) {
        let best = -Infinity,
          arg = -1;
        for (let t = 0; t < T; ++t) if (xs[(b * T + t) * C + c]! > best) [best, arg] = [xs[(b * T + t) * C + c]!, t];
        expect(z[b * C + c]).to.equal(best);
        for (let t = 0; t < T; ++t) expect(d[(b * T + t) * C + c]).to.equal(t === arg ? gz[b * C + c] : 0);
      }
    expect(d[(1 * T + 1) * C + 2]).to.equal(gz[1 * C + 2]);
    expect(d[(1 * T + 3) * C + 2]).to.equal(0);
  });

  it('LastStep: the last step; backward to the last step only; extra feature dims are kept', () => {
    const layer = new LastStep({ batchSize: B });
    const z = layer.forward(Tensor.from(x, [B * T, 2, 2]));
    expect(z.shape).to.deep.equal([B, 2, 2]);
    const zv = z.toFloat32Array();
    for (let b = 0; b < B; ++b) for (let c = 0; c < C; ++c) expect(zv[b * C + c]).to.equal(at(b, T - 1, c));
    const d = layer.backward(Tensor.from(gz, [B, 2, 2])).toFloat32Array();
    for (let b = 0; b < B; ++b)
      for (let t = 0; t < T; ++t)
        for (let c = 0; c < C; ++c) expect(d[(b * T + t) * C + c]).to.equal(t === T - 1 ? gz[b * C + c] : 0);
  });

  it('readouts are bit-identical for every thread count and through the emulated launch', () => {
    const xs = uniform(10, 7 * 9 * 33, -1, 1),
      g = uniform(11, 7 * 33, -1, 1);
    const { base, others } = withModes(() => {
      const out: number[] = [];
      for (const l of [new SumOverTime(), new MaxOverTime(), new LastStep()]) {
        out.push(...l.forward(Tensor.from(xs, [7, 9, 33])).toFloat32Array());
        out.push(...l.backward(Tensor.from(g, [7, 33])).toFloat32Array());
      }
      return out;
    });
    for (const o of others) expect(o).to.deep.equal(base);
  });

  it('bad input', () => {
    expect(() => new SumOverTime({ batchSize: 0 })).to.throw(RangeError, /batchSize/);
    expect(() => new SumOverTime({ batch_size: 2 } as never)).to.throw(TypeError, /did you mean 'batchSize'/);
    expect(() => new SumOverTime({ batchSize: 2 }).forward(Tensor.zeros([5, 3]))).to.throw(
      RangeError,
      /multiple of batchSize 2/,
    );
    expect(() => new MaxOverTime().forward(Tensor.zeros([5]))).to.throw(RangeError, /\(B, T, \.\.\.features\)/);
    const l = new LastStep();
    expect(() => l.backward(Tensor.zeros([1, 1]))).to.throw(RangeError, /no forward call is pending/);
    l.forward(Tensor.zeros([2, 3, 4]));
    expect(() => l.backward(Tensor.zeros([2, 3]))).to.throw(RangeError, /\[2, 4\]/);
    expect(l.pendingCalls).to.equal(1);
    expect(() =>
      native().timeForward({ B: 2, T: 3, F: 4, mode: 1, x: new Float32Array(24), y: new Float32Array(8) }),
    ).to.throw(TypeError, /'arg'/);
    expect(() =>
      native().timeForward({ B: 2, T: 3, F: 4, mode: 3, x: new Float32Array(24), y: new Float32Array(8) }),
    ).to.throw(RangeError, /'mode'/);
  });
});

describe('losses and pools on the golden network cases', () => {
  const cases = loadNetworkGolden();
  before(function () {
    if (!cases) {
      console.log('      (skipped: the network golden file network_cases.json is not beside the repository)');
      this.skip();
    }
  });

  it('SumOverTime + crossEntropyLoss reproduce every cross-entropy call loss (within loss_rtol)', () => {
    let checked = 0;
    for (const c of cases!.filter((k) => k.loss?.type === 'cross_entropy_time_sum')) {
      const rtol = c.suggested_tolerance.loss_rtol ?? 2e-5;
      const B = c.batch_size;
      for (const call of c.calls.filter((k) => k.op === 'forward')) {
        const out = call.output!;
        const squeezed = out.shape.length === 2;
        const readout = squeezed ? new SumOverTime({ batchSize: B }) : new SumOverTime();
        const z = readout.forward(Tensor.from(Float32Array.from(out.f64), out.shape));
        const { loss } = crossEntropyLoss(z, call.labels!);
        const ref = call.loss!.f64[0]!;
        expect(Math.abs(loss - ref), `${c.name}`).to.be.at.most(rtol * Math.max(1, Math.abs(ref)));
        ++checked;
      }
    }
    expect(checked).to.be.greaterThan(5);
  });

  it('AvgPool2d / SumPool2d reproduce the pool intermediates (within forward_rtol)', () => {
    let checked = 0;
    for (const c of cases!) {
      c.modules.forEach((m, i) => {
        if (m.type !== 'AvgPool2d' && m.type !== 'SumPool2d') return;
        for (const call of c.calls.filter((k) => k.op === 'forward')) {
          const inp = call.intermediate?.[String(i - 1)],
            out = call.intermediate?.[String(i)];
          if (!inp || !out || inp.shape.length !== 4) continue;
          const opts = { kernelSize: m.kernel_size as number, stride: (m.stride ?? m.kernel_size) as number };
          const pool = m.type === 'AvgPool2d' ? new AvgPool2d(opts) : new SumPool2d(opts);
          const y = pool.forward(Tensor.from(Float32Array.from(inp.f64), inp.shape));
          expect(y.shape, c.name).to.deep.equal(out.shape);
          const tol = c.suggested_tolerance.forward_rtol * Math.max(1, maxAbs(out.f64));
          expect(maxAbsDiff(y.toFloat32Array(), out.f64), c.name).to.be.at.most(tol);
          ++checked;
        }
      });
    }
    expect(checked).to.be.greaterThan(0);
  });
});
