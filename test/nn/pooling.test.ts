// AvgPool2d and SumPool2d against an independent float64 reference (test/support/reference.ts):
// forward and backward on odd sizes (leftover rows/columns), overlapping and rectangular windows,
// sinabs' SumPool2d zero-window gradient rule, the pending-call stack, eval, the emulated CUDA
// launch and thread counts (bit-identical), and bad input.
import { expect } from 'chai';
import { AvgPool2d, SumPool2d, Tensor, ErrorCodes, setNumThreads, getNumThreads } from '../../lib/index.js';
import { _setCudaLaunchEmulation, native } from '../../lib/backend.js';
import { uniform, rng } from '../support/random.js';
import { maxAbs, maxAbsDiff, poolBackwardRef, poolRef } from '../support/reference.js';

type Geo = { shape: number[]; k: [number, number]; s: [number, number] };
const GEOS: Geo[] = [
  { shape: [2, 3, 7, 5], k: [2, 2], s: [2, 2] }, // odd sizes: 7 -> 3, 5 -> 2, leftovers
  { shape: [1, 2, 9, 8], k: [3, 3], s: [2, 2] }, // overlapping windows
  { shape: [3, 1, 6, 7], k: [2, 3], s: [1, 2] }, // rectangular kernel and stride
  { shape: [1, 1, 4, 4], k: [4, 4], s: [4, 4] }, // one window
  { shape: [2, 2, 5, 5], k: [1, 1], s: [1, 1] }, // identity windows
];

const make = (sum: boolean, g: Geo) =>
  sum ? new SumPool2d({ kernelSize: g.k, stride: g.s }) : new AvgPool2d({ kernelSize: g.k, stride: g.s });
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** Spike-like input: integers 0..2 with many zero windows, some windows summing to 0 from +/- values. */
function spikes(seed: number, n: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() < 0.7 ? 0 : Math.floor(r() * 3)));
}

describe('pooling: AvgPool2d / SumPool2d', () => {
  for (const sum of [false, true]) {
    const name = sum ? 'SumPool2d' : 'AvgPool2d';
    for (const [gi, g] of GEOS.entries()) {
      it(`${name} forward and backward match the float64 reference (${g.shape.join('x')}, k ${g.k}, s ${g.s})`, () => {
        const pool = make(sum, g);
        const xs = sum ? spikes(10 + gi, size(g.shape)) : uniform(10 + gi, size(g.shape), -2, 2);
        const ref = poolRef(xs, g.shape, g.k, g.s, sum);
        const y = pool.forward(Tensor.from(xs, g.shape));
        expect(y.shape).to.deep.equal(ref.shape);
        const yv = y.toFloat32Array();
        expect(maxAbsDiff(yv, ref.y)).to.be.at.most(1e-6 * Math.max(1, maxAbs(ref.y)));
        const go = uniform(20 + gi, size(ref.shape), -1, 1);
        const dx = pool.backward(Tensor.from(go, ref.shape)).toFloat32Array();
        const dref = poolBackwardRef(go, ref.y, g.shape, g.k, g.s, sum);
        expect(maxAbsDiff(dx, dref)).to.be.at.most(1e-6 * Math.max(1e-30, maxAbs(dref)));
        expect(pool.pendingCalls).to.equal(0);
      });
    }
  }

  it('AvgPool2d gives zero gradient to the rows and columns no window covers', () => {
    const pool = new AvgPool2d({ kernelSize: 2 });
    const y = pool.forward(Tensor.from(uniform(1, 7 * 5, 0, 1), [1, 1, 7, 5]));
    expect(y.shape).to.deep.equal([1, 1, 3, 2]);
    const dx = pool.backward(Tensor.from(new Float32Array(6).fill(1), [1, 1, 3, 2])).toFloat32Array();
    for (let r = 0; r < 7; ++r)
      for (let c = 0; c < 5; ++c) expect(dx[r * 5 + c], `(${r}, ${c})`).to.equal(r < 6 && c < 4 ? 0.25 : 0);
  });

  it('SumPool2d: every element of a window whose sum is exactly 0 gets zero gradient, the others the window gradient', () => {
    // windows (2x2): all zeros; +1/-1 cancelling (sum exactly 0); one spike; 0.5 + 0.5
    const x = Float32Array.from([0, 0, 1, -1, 1, 0, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0.5]);
    // layout (1, 1, 2, 8): window j covers columns 2j, 2j+1 of both rows
    const pool = new SumPool2d({ kernelSize: 2 });
    const y = pool.forward(Tensor.from(x, [1, 1, 2, 8]));
    expect(y.toArray()).to.deep.equal([0, 0, 1, 1]);
    const dx = pool.backward(Tensor.from([3, 5, 7, 11], [1, 1, 1, 4])).toArray();
    expect(dx).to.deep.equal([0, 0, 0, 0, 7, 7, 11, 11, 0, 0, 0, 0, 7, 7, 11, 11]);
  });

  it('SumPool2d of spikes is exact (integer window sums)', () => {
    const shape = [2, 4, 10, 10];
    const xs = spikes(5, size(shape));
    const y = new SumPool2d({ kernelSize: 2 }).eval().forward(Tensor.from(xs, shape)).toFloat32Array();
    expect(Array.from(y)).to.deep.equal(poolRef(xs, shape, [2, 2], [2, 2], true).y);
  });

  it('backward pops the most recent pending forward; eval keeps nothing', () => {
    const pool = new AvgPool2d({ kernelSize: 2 });
    pool.forward(Tensor.from(uniform(1, 16, 0, 1), [1, 1, 4, 4]));
    pool.forward(Tensor.from(uniform(2, 2 * 36, 0, 1), [2, 1, 6, 6]));
    expect(pool.pendingCalls).to.equal(2);
    expect(() => pool.backward(Tensor.zeros([1, 1, 2, 2]))).to.throw(RangeError, /\[2, 1, 3, 3\]/);
    expect(pool.pendingCalls).to.equal(2);
    expect(pool.backward(Tensor.zeros([2, 1, 3, 3])).shape).to.deep.equal([2, 1, 6, 6]);
    expect(pool.backward(Tensor.zeros([1, 1, 2, 2])).shape).to.deep.equal([1, 1, 4, 4]);
    try {
      pool.backward(Tensor.zeros([1, 1, 2, 2]));
      expect.fail('no throw');
    } catch (e) {
      expect((e as { code?: string }).code).to.equal(ErrorCodes.NOTHING_PENDING);
    }
    pool.eval();
    pool.forward(Tensor.from(uniform(1, 16, 0, 1), [1, 1, 4, 4]));
    expect(pool.pendingCalls).to.equal(0);
    pool.train();
    pool.forward(Tensor.from(uniform(1, 16, 0, 1), [1, 1, 4, 4]));
    pool.resetStates();
    expect(pool.pendingCalls).to.equal(0);
  });

  it('_discardLastForward (a failed network call) drops only the most recent pending forward', () => {
    const pool = new SumPool2d({ kernelSize: 2 });
    pool.forward(Tensor.from(uniform(1, 16, 0, 1), [1, 1, 4, 4]));
    pool.forward(Tensor.from(uniform(2, 36, 0, 1), [1, 1, 6, 6]));
    pool._discardLastForward();
    expect(pool.pendingCalls).to.equal(1);
    expect(pool.backward(Tensor.zeros([1, 1, 2, 2])).shape).to.deep.equal([1, 1, 4, 4]);
  });

  it('the emulated CUDA launch and every thread count give bit-identical results', () => {
    const before = getNumThreads();
    const run = (sum: boolean) => {
      const g = GEOS[1]!;
      const pool = make(sum, g);
      const y = pool.forward(Tensor.from(uniform(3, size(g.shape), -1, 1), g.shape));
      const dx = pool.backward(Tensor.from(uniform(4, y.size, -1, 1), y.shape));
      return [...y.toFloat32Array(), ...dx.toFloat32Array()];
    };
    try {
      for (const sum of [false, true]) {
        setNumThreads(1);
        const base = run(sum);
        setNumThreads(3);
        expect(run(sum)).to.deep.equal(base);
        _setCudaLaunchEmulation(true);
        expect(run(sum)).to.deep.equal(base);
        setNumThreads(1);
        expect(run(sum)).to.deep.equal(base);
        _setCudaLaunchEmulation(false);
      }
    } finally {
      _setCudaLaunchEmulation(false);
      setNumThreads(before);
    }
  });

  it('toString prints the options as PyTorch does', () => {
    expect(String(new AvgPool2d({ kernelSize: 2 }))).to.equal('AvgPool2d(kernel_size=2, stride=2, padding=0)');
    expect(String(new SumPool2d({ kernelSize: [2, 3], stride: 1 }))).to.equal(
      'SumPool2d(kernel_size=(2, 3), stride=1, padding=0)',
    );
  });

  it('bad input: errors name the argument and change nothing', () => {
    expect(() => new AvgPool2d(undefined as never)).to.throw(TypeError, /AvgPool2d/);
    expect(() => new AvgPool2d({} as never)).to.throw(TypeError, /kernelSize/);
    expect(() => new SumPool2d({ kernelSize: 0 })).to.throw(RangeError, /kernelSize/);
    expect(() => new SumPool2d({ kernelSize: 2.5 })).to.throw(RangeError, /kernelSize/);
    expect(() => new SumPool2d({ kernelSize: 2, stride: [1, 0] })).to.throw(RangeError, /stride\[1\]/);
    expect(() => new AvgPool2d({ kernel_size: 2 } as never)).to.throw(TypeError, /did you mean 'kernelSize'/);
    const pool = new AvgPool2d({ kernelSize: 3 });
    expect(() => pool.forward(Tensor.zeros([1, 4, 4]))).to.throw(RangeError, /\(N, C, H, W\)/);
    expect(() => pool.forward(Tensor.zeros([1, 1, 2, 4]))).to.throw(RangeError, /smaller than the kernel/);
    expect(() => pool.forward([1, 2] as never)).to.throw(TypeError, /input/);
    expect(pool.pendingCalls).to.equal(0);
    pool.forward(Tensor.zeros([1, 1, 3, 3]));
    expect(() => pool.backward(Tensor.zeros([1, 1, 2, 1]))).to.throw(RangeError, /gradOutput/);
    expect(pool.pendingCalls).to.equal(1);
  });

  it('the native entry points re-check every length', () => {
    const n = native();
    const geo = { N: 1, C: 1, H: 4, W: 4, kH: 2, kW: 2, sH: 2, sW: 2, sum: true };
    expect(() => n.poolForward({ ...geo, x: new Float32Array(15), y: new Float32Array(4) })).to.throw(
      RangeError,
      /'x'/,
    );
    expect(() => n.poolForward({ ...geo, x: new Float32Array(16), y: new Float32Array(3) })).to.throw(
      RangeError,
      /'y'/,
    );
    expect(() => n.poolForward({ ...geo, kH: 5, x: new Float32Array(16), y: new Float32Array(4) })).to.throw(
      RangeError,
      /'kH'/,
    );
    expect(() => n.poolBackward({ ...geo, gradOut: new Float32Array(4), gradIn: new Float32Array(16) })).to.throw(
      TypeError,
      /'out'/,
    );
    expect(() =>
      n.poolBackward({ ...geo, gradOut: new Float32Array(4), out: new Float32Array(4), gradIn: new Float32Array(15) }),
    ).to.throw(RangeError, /'gradIn'/);
    expect(() => n.poolForward({ ...geo, sH: 0, x: new Float32Array(16), y: new Float32Array(4) } as never)).to.throw(
      RangeError,
      /'sH'/,
    );
  });
});
