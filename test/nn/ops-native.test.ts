// The native tensor-op entry points (native/napi/ops_napi.cc) re-check everything they get: wrong
// types, missing arrays, short arrays, sizes out of range or overflowing, arrays on two devices.
// Every violation is a TypeError or RangeError, never a crash. Non-finite values flow through
// the kernels as IEEE arithmetic does (NaN in, NaN out), without reading out of bounds.
import { expect } from 'chai';
import { AvgPool2d, SumPool2d, Tensor, crossEntropyLoss, mseLoss } from '../../lib/index.js';
import { native } from '../../lib/backend.js';

type Entry = (args: unknown) => unknown;

describe('native tensor operations: argument checks', () => {
  const n = native() as unknown as Record<string, Entry>;
  const f = (k: number) => new Float32Array(k);
  const valid: Record<string, Record<string, unknown>> = {
    poolForward: { N: 1, C: 1, H: 4, W: 4, kH: 2, kW: 2, sH: 2, sW: 2, sum: false, x: f(16), y: f(4) },
    poolBackward: {
      N: 1,
      C: 1,
      H: 4,
      W: 4,
      kH: 2,
      kW: 2,
      sH: 2,
      sW: 2,
      sum: true,
      gradOut: f(4),
      out: f(4),
      gradIn: f(16),
    },
    timeForward: { B: 2, T: 3, F: 2, mode: 1, x: f(12), y: f(4), arg: f(4) },
    timeBackward: { B: 2, T: 3, F: 2, mode: 1, gradOut: f(4), arg: f(4), gradIn: f(12) },
    mseLoss: { n: 3, output: f(3), target: f(3), grad: f(3) },
    crossEntropyLoss: { B: 2, C: 3, logits: f(6), labels: f(2), grad: f(6) },
    sumSquares: { n: 3, x: f(3) },
    scaleInPlace: { n: 3, x: f(3), s: 2 },
    sgdStep: {
      n: 3,
      p: f(3),
      g: f(3),
      buf: f(3),
      lr: 0.1,
      weightDecay: 0,
      momentum: 0.9,
      dampening: 0,
      nesterov: false,
      first: true,
      hasMin: false,
    },
    adamStep: {
      n: 3,
      p: f(3),
      g: f(3),
      m: f(3),
      v: f(3),
      lr: 0.1,
      weightDecay: 0,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      step: 1,
      decoupled: false,
      hasMin: false,
    },
  };

  for (const [name, args] of Object.entries(valid)) {
    it(`${name}: the valid call runs; broken arguments are rejected with a TypeError or RangeError, never a crash`, () => {
      n[name]!(args);
      const broken: unknown[] = [undefined, null, 7, [args]];
      for (const [k, v] of Object.entries(args)) {
        broken.push({ ...args, [k]: undefined });
        if (v instanceof Float32Array) {
          broken.push({ ...args, [k]: new Float32Array(Math.max(0, v.length - 1)) });
          broken.push({ ...args, [k]: new Float64Array(v.length) });
          broken.push({ ...args, [k]: Array.from(v) });
        } else if (typeof v === 'number') {
          for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 60, '3']) broken.push({ ...args, [k]: bad });
        } else if (typeof v === 'boolean') {
          broken.push({ ...args, [k]: 'yes' });
        }
      }
      let rejected = 0;
      for (const b of broken) {
        try {
          n[name]!(b);
        } catch (e) {
          expect(
            e instanceof TypeError || e instanceof RangeError,
            `${name}(${JSON.stringify(b)}): ${String(e)}`,
          ).to.equal(true);
          ++rejected;
        }
      }
      // every array and size variant is rejected (some number variants, e.g. a negative lr, are valid math)
      expect(rejected).to.be.greaterThan(Object.keys(args).length);
    });
  }

  it('sizes whose product overflows are a RangeError', () => {
    expect(() => n.poolForward!({ ...valid.poolForward, N: 2 ** 30, C: 2 ** 30, H: 4, W: 4 })).to.throw(
      RangeError,
      /too large/,
    );
    expect(() => n.timeForward!({ ...valid.timeForward, B: 2 ** 30, T: 2 ** 30 })).to.throw(RangeError, /too large/);
    expect(() => n.crossEntropyLoss!({ ...valid.crossEntropyLoss, B: 2 ** 30, C: 2 ** 30 })).to.throw(
      RangeError,
      /too large/,
    );
  });
});

describe('tensor operations: non-finite values', () => {
  it('NaN and Inf propagate through the pools and losses (no crash, no out-of-range read)', () => {
    const x = Float32Array.from([NaN, 1, Infinity, 3, 2, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    const y = new AvgPool2d({ kernelSize: 2 }).forward(Tensor.from(x, [1, 1, 4, 4])).toArray();
    expect(y[0]).to.be.NaN;
    expect(y[1]).to.equal(Infinity);
    expect(y.slice(2)).to.deep.equal([0, 0]);
    const sp = new SumPool2d({ kernelSize: 2 });
    const ys = sp.forward(Tensor.from(x, [1, 1, 4, 4])).toArray();
    expect(ys[0]).to.be.NaN;
    // a NaN window is not exactly 0: its gradient passes; the zero windows block theirs
    expect(sp.backward(Tensor.from([1, 1, 1, 1], [1, 1, 2, 2])).toArray()).to.deep.equal([
      1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expect(mseLoss(Tensor.from([NaN, 1], [2]), Tensor.from([0, 1], [2])).loss).to.be.NaN;
    const ce = crossEntropyLoss(Tensor.from([NaN, 0, 1, 2], [2, 2]), [0, 1]);
    expect(ce.loss).to.be.NaN;
    const g = ce.grad.toArray();
    expect(g[2]).to.be.closeTo(1 / (1 + Math.E) / 2, 1e-7);
  });
});
