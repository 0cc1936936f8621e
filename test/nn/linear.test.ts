// Linear against an independent float64 reference (test/support/reference-nn.ts): forward, input
// gradient, weight and bias gradients; pending calls; thread-count independence (dense and
// event-driven paths); the path choice; PyTorch's default init; state dict keys; bad input; the
// first Linear of the golden network cases.
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import {
  ErrorCodes,
  Linear,
  LINEAR_SPARSE_FORWARD_THRESHOLD,
  Tensor,
  getNumThreads,
  manualSeed,
  setNumThreads,
} from '../../lib/index.js';
import { native, _setCudaLaunchEmulation } from '../../lib/backend.js';
import { goldenFile } from '../support/golden-dir.js';
import { rng, uniform } from '../support/random.js';
import { assertClose, linearBackRef, linearRef } from '../support/reference-nn.js';
import { spikes } from '../support/spike-data.js';

function data(t: Tensor): Float32Array {
  return t.toFloat32Array();
}

function nonzeros(a: Float32Array): number {
  let c = 0;
  for (const v of a) if (v !== 0) ++c;
  return c;
}

/** Forward and backward of one call; returns the output, input gradient and parameter gradients. */
function run(layer: Linear, x: Float32Array, shape: number[], g: Float32Array) {
  layer.zeroGrad();
  const y = layer.forward(Tensor.from(x, shape));
  const outShape = [...shape.slice(0, -1), layer.outFeatures];
  const dx = layer.backward(Tensor.from(g, outShape));
  return {
    y: data(y),
    dx: data(dx),
    dW: data(layer.weight.grad!),
    db: layer.bias ? data(layer.bias.grad!) : null,
    path: layer._lastPath,
  };
}

function checkAgainstRef(layer: Linear, x: Float32Array, shape: number[], g: Float32Array, what: string) {
  const K = layer.inFeatures,
    N = layer.outFeatures,
    M = x.length / K;
  const W = data(layer.weight),
    b = layer.bias ? data(layer.bias) : null;
  const r = run(layer, x, shape, g);
  assertClose(r.y, linearRef(x, M, K, W, N, b), `${what}: output`);
  const ref = linearBackRef(g, x, M, K, W, N);
  assertClose(r.dx, ref.dx, `${what}: input gradient`);
  assertClose(r.dW, ref.dW, `${what}: weight gradient`);
  if (r.db) assertClose(r.db, ref.db, `${what}: bias gradient`);
  return r;
}

describe('Linear', () => {
  describe('against the float64 reference', () => {
    for (const [shape, out, bias] of [
      [[2, 3, 7], 5, true],
      [[13], 1, true],
      [[4, 33], 17, false],
      [[3, 5, 2, 19], 6, true],
      [[150, 70], 300, true], // several 64 x 256 GEMM tiles, partial edges
    ] as [number[], number, boolean][]) {
      it(`input [${shape.join(', ')}] -> ${out} features${bias ? '' : ', no bias'}: forward and all gradients`, () => {
        const K = shape[shape.length - 1]!;
        const layer = new Linear({ inFeatures: K, outFeatures: out, bias, seed: 7 });
        const n = shape.reduce((a, b) => a * b, 1);
        const x = uniform(1, n, -2, 2);
        const g = uniform(2, (n / K) * out, -1, 1);
        const r = checkAgainstRef(layer, x, shape, g, `[${shape.join(', ')}]`);
        expect(r.path).to.equal('dense');
        expect(layer.pendingCalls).to.equal(0);
      });
    }

    it('several pending calls backwarded in reverse: each input gradient, and summed parameter gradients', () => {
      const K = 9,
        N = 4;
      const layer = new Linear({ inFeatures: K, outFeatures: N, seed: 3 });
      const W = data(layer.weight),
        b = data(layer.bias!);
      const xs = [uniform(10, 2 * K, -1, 1), uniform(11, 5 * K, -1, 1), uniform(12, 3 * K, -1, 1)];
      const gs = [uniform(20, 2 * N, -1, 1), uniform(21, 5 * N, -1, 1), uniform(22, 3 * N, -1, 1)];
      const ms = [2, 5, 3];
      const ys = xs.map((x, k) => data(layer.forward(Tensor.from(x, [ms[k]!, K]))));
      expect(layer.pendingCalls).to.equal(3);
      ys.forEach((y, k) => assertClose(y, linearRef(xs[k]!, ms[k]!, K, W, N, b), `call ${k} output`));
      const dW = new Float64Array(N * K),
        db = new Float64Array(N);
      for (let k = 2; k >= 0; --k) {
        const dx = layer.backward(Tensor.from(gs[k]!, [ms[k]!, N]));
        const ref = linearBackRef(gs[k]!, xs[k]!, ms[k]!, K, W, N);
        assertClose(data(dx), ref.dx, `call ${k} input gradient`);
        expect(dx.shape).to.deep.equal([ms[k]!, K]);
        ref.dW.forEach((v, q) => (dW[q]! += v));
        ref.db.forEach((v, q) => (db[q]! += v));
      }
      expect(layer.pendingCalls).to.equal(0);
      assertClose(data(layer.weight.grad!), dW, 'summed weight gradient');
      assertClose(data(layer.bias!.grad!), db, 'summed bias gradient');
    });

    it("to(device) moves the pending calls' arrays: a backward after to() still matches the reference", () => {
      const K = 5,
        N = 3,
        M = 4;
      const layer = new Linear({ inFeatures: K, outFeatures: N, seed: 8 });
      const x = uniform(40, M * K, -1, 1),
        g = uniform(41, M * N, -1, 1);
      const input = Tensor.from(x, [M, K]);
      layer.forward(input);
      layer.to('cpu');
      input.dispose();
      const dx = layer.backward(Tensor.from(g, [M, N]));
      const ref = linearBackRef(g, x, M, K, data(layer.weight), N);
      assertClose(data(dx), ref.dx, 'input gradient');
      assertClose(data(layer.weight.grad!), ref.dW, 'weight gradient');
    });

    it('a pending call keeps a snapshot of its input: writing the input tensor in place later changes no gradient', () => {
      const K = 5,
        N = 3,
        M = 4;
      const layer = new Linear({ inFeatures: K, outFeatures: N, seed: 8 });
      const x = uniform(42, M * K, -1, 1),
        g = uniform(43, M * N, -1, 1);
      const input = Tensor.from(x, [M, K]);
      layer.forward(input);
      input._writeHost(new Float32Array(M * K).fill(7)); // as a layer's `out` option would
      layer.backward(Tensor.from(g, [M, N]));
      assertClose(data(layer.weight.grad!), linearBackRef(g, x, M, K, data(layer.weight), N).dW, 'weight gradient');
    });

    it('requiresGrad false: that parameter gets no gradient, the others do', () => {
      const layer = new Linear({ inFeatures: 3, outFeatures: 2, seed: 1 });
      layer.weight.requiresGrad = false;
      layer.forward(Tensor.from(uniform(1, 6, -1, 1), [2, 3]));
      layer.backward(Tensor.from(uniform(2, 4, -1, 1), [2, 2]));
      expect(layer.weight.grad).to.equal(null);
      expect(layer.bias!.grad).to.not.equal(null);
    });

    it('eval(): forward keeps nothing and backward reports ERR_NOTHING_PENDING', () => {
      const layer = new Linear({ inFeatures: 3, outFeatures: 2, seed: 1 }).eval();
      const y = layer.forward(Tensor.from(uniform(1, 6, -1, 1), [2, 3]));
      expect(layer.pendingCalls).to.equal(0);
      expect(() => layer.backward(Tensor.zeros(y.shape)))
        .to.throw(RangeError, /no forward call is pending/)
        .with.property('code', ErrorCodes.NOTHING_PENDING);
    });
  });

  describe('the golden network cases', () => {
    const file = goldenFile('network_cases.json');
    it('the first Linear of every MLP case matches intermediate["0"] (f64, forward_rtol rule)', function () {
      const p = process.env.SPIKELAYERS_NETWORK_GOLDEN ?? file;
      if (!existsSync(p)) {
        console.log(`      skipped: the golden network file is not present (${p})`);
        this.skip();
      }
      const cases = JSON.parse(readFileSync(p, 'utf8')).cases as any[];
      let checked = 0;
      for (const c of cases) {
        const m0 = c.modules[0];
        if (m0.type !== 'Linear') continue;
        const layer = new Linear({ inFeatures: m0.in_features, outFeatures: m0.out_features, bias: m0.bias, seed: 0 });
        const sd: Record<string, Tensor> = {
          weight: Tensor.from(c.state_dict['0.weight'].data, c.state_dict['0.weight'].shape),
        };
        if (m0.bias) sd.bias = Tensor.from(c.state_dict['0.bias'].data, c.state_dict['0.bias'].shape);
        layer.loadStateDict(sd);
        layer.eval();
        for (const call of c.calls) {
          if (call.op !== 'forward') continue;
          const ref = call.intermediate['0'];
          const y = layer.forward(Tensor.from(call.input.data, call.input.shape));
          expect(y.shape).to.deep.equal(ref.shape);
          let scale = 1,
            err = 0;
          const yd = data(y);
          ref.f64.forEach((v: number, k: number) => {
            scale = Math.max(scale, Math.abs(v));
            err = Math.max(err, Math.abs(yd[k]! - v));
          });
          const tol = c.suggested_tolerance.forward_rtol * scale;
          if (!(err <= tol)) throw new Error(`${c.name}: max |y - f64| = ${err} > ${tol}`);
          ++checked;
        }
      }
      expect(checked).to.be.greaterThan(20);
    });
  });

  describe('threads', () => {
    let saved = 1;
    before(() => (saved = getNumThreads()));
    after(() => setNumThreads(saved));

    for (const [kind, density] of [
      ['dense', 0.5],
      ['event-driven', 0.02],
    ] as const) {
      it(`${kind} path: output and every gradient are bit-identical for 1, 2 and 3 threads`, () => {
        const M = 150,
          K = 70,
          N = 300;
        const x = kind === 'dense' ? uniform(5, M * K, -1, 1) : spikes(5, M * K, density);
        const g = uniform(6, M * N, -1, 1);
        const runs = [1, 2, 3].map((t) => {
          setNumThreads(t);
          return run(new Linear({ inFeatures: K, outFeatures: N, seed: 9 }), x, [M, K], g);
        });
        expect(runs[0]!.path).to.equal(kind === 'dense' ? 'dense' : 'sparse');
        for (const r of runs.slice(1)) {
          expect(Buffer.from(r.y.buffer).equals(Buffer.from(runs[0]!.y.buffer)), 'output').to.equal(true);
          expect(Buffer.from(r.dx.buffer).equals(Buffer.from(runs[0]!.dx.buffer)), 'input gradient').to.equal(true);
          expect(Buffer.from(r.dW.buffer).equals(Buffer.from(runs[0]!.dW.buffer)), 'weight gradient').to.equal(true);
          expect(Buffer.from(r.db!.buffer).equals(Buffer.from(runs[0]!.db!.buffer)), 'bias gradient').to.equal(true);
        }
      });
    }
  });

  describe('event-driven path', () => {
    const M = 100,
      K = 64,
      N = 40; // 6400 input elements: the forward's threshold is 640 nonzeros

    it(`spike input with density <= ${LINEAR_SPARSE_FORWARD_THRESHOLD} takes it, and matches the reference and the dense GEMM`, () => {
      const x = spikes(31, M * K, 0.03);
      const layer = new Linear({ inFeatures: K, outFeatures: N, seed: 4 });
      const g = uniform(32, M * N, -1, 1);
      const r = checkAgainstRef(layer, x, [M, K], g, 'event-driven');
      expect(r.path).to.equal('sparse');
      // the dense GEMM of the same problem (native, directly) agrees within float32 rounding
      const y = new Float32Array(M * N),
        dW = new Float32Array(N * K);
      native().gemm({ M, N, K, transB: true, A: x, B: data(layer.weight), C: y, bias: data(layer.bias!) });
      native().gemm({ M: N, N: K, K: M, transA: true, A: g, B: x, C: dW });
      assertClose(r.y, y, 'event-driven vs dense output');
      assertClose(r.dW, dW, 'event-driven vs dense weight gradient');
    });

    it('the threshold: exactly the limit of nonzeros is event-driven, one more is dense', () => {
      const limit = Math.floor(LINEAR_SPARSE_FORWARD_THRESHOLD * M * K);
      const layer = new Linear({ inFeatures: K, outFeatures: N, seed: 4 });
      for (const [count, expected] of [
        [limit, 'sparse'],
        [limit + 1, 'dense'],
        [0, 'sparse'],
      ] as const) {
        const x = new Float32Array(M * K);
        const r = rng(count + 1);
        let placed = 0;
        while (placed < count) {
          const q = Math.floor(r() * x.length);
          if (x[q] === 0) {
            x[q] = 1 + Math.floor(r() * 2);
            ++placed;
          }
        }
        expect(nonzeros(x)).to.equal(count);
        const res = checkAgainstRef(layer, x, [M, K], uniform(count, M * N, -1, 1), `${count} nonzeros`);
        expect(res.path, `${count} nonzeros`).to.equal(expected);
      }
    });

    it('small inputs (under 4096 elements) always take the dense path', () => {
      const layer = new Linear({ inFeatures: 8, outFeatures: 3, seed: 2 });
      layer.forward(Tensor.zeros([10, 8]));
      expect(layer._lastPath).to.equal('dense');
    });
  });

  describe('CUDA launch emulation', () => {
    it('host tensors through the emulated CUDA kernels match the reference', function () {
      _setCudaLaunchEmulation(true);
      try {
        const layer = new Linear({ inFeatures: 21, outFeatures: 10, seed: 5 });
        const x = uniform(1, 7 * 21, -1, 1);
        try {
          layer.forward(Tensor.from(x, [7, 21]));
          layer.clearPending();
        } catch (e) {
          if (/not implemented/.test(String(e))) {
            console.log('      skipped: the emulated synaptic kernels are not in this build yet');
            this.skip();
          }
          throw e;
        }
        checkAgainstRef(layer, x, [7, 21], uniform(2, 70, -1, 1), 'emulated');
      } finally {
        _setCudaLaunchEmulation(false);
      }
    });
  });

  describe('initialisation and state', () => {
    it('weight and bias are uniform in +-1/sqrt(inFeatures) (PyTorch default)', () => {
      const layer = new Linear({ inFeatures: 50, outFeatures: 200, seed: 123 });
      const bound = Math.fround(1 / Math.sqrt(50));
      for (const [name, t] of [
        ['weight', layer.weight],
        ['bias', layer.bias!],
      ] as const) {
        const d = data(t);
        let lo = Infinity,
          hi = -Infinity,
          sum = 0;
        for (const v of d) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
          sum += v;
        }
        expect(lo, name).to.be.at.least(-bound);
        expect(hi, name).to.be.at.most(bound);
        // 10000 (200) draws: the extremes come close to the bounds and the mean is near 0
        expect(hi - lo, name).to.be.greaterThan(name === 'weight' ? 1.99 * bound : 1.9 * bound);
        expect(Math.abs(sum / d.length), name).to.be.lessThan(name === 'weight' ? 0.03 * bound : 0.25 * bound);
      }
      expect(layer.weight.requiresGrad && layer.bias!.requiresGrad).to.equal(true);
    });

    it('the same seed gives the same parameters, another seed others; manualSeed makes unseeded layers reproducible', () => {
      const a = new Linear({ inFeatures: 6, outFeatures: 4, seed: 77 });
      const b = new Linear({ inFeatures: 6, outFeatures: 4, seed: 77 });
      const c = new Linear({ inFeatures: 6, outFeatures: 4, seed: 78 });
      expect(data(a.weight)).to.deep.equal(data(b.weight));
      expect(data(a.bias!)).to.deep.equal(data(b.bias!));
      expect(data(a.weight)).to.not.deep.equal(data(c.weight));
      manualSeed(5);
      const u1 = [new Linear({ inFeatures: 6, outFeatures: 4 }), new Linear({ inFeatures: 3, outFeatures: 2 })];
      manualSeed(5);
      const u2 = [new Linear({ inFeatures: 6, outFeatures: 4 }), new Linear({ inFeatures: 3, outFeatures: 2 })];
      for (let k = 0; k < 2; ++k) expect(data(u1[k]!.weight)).to.deep.equal(data(u2[k]!.weight));
      expect(data(u1[0]!.weight)).to.not.deep.equal(data(u1[1]!.weight).slice(0, 24));
    });

    it("stateDict keys are PyTorch's ('weight', 'bias'), and loadStateDict round-trips", () => {
      const a = new Linear({ inFeatures: 3, outFeatures: 2, seed: 1 });
      expect(Object.keys(a.stateDict())).to.deep.equal(['weight', 'bias']);
      expect(Object.keys(new Linear({ inFeatures: 3, outFeatures: 2, bias: false }).stateDict())).to.deep.equal([
        'weight',
      ]);
      const b = new Linear({ inFeatures: 3, outFeatures: 2, seed: 2 });
      b.loadStateDict(a.stateDict());
      expect(data(b.weight)).to.deep.equal(data(a.weight));
      expect(String(a)).to.equal('Linear(in_features=3, out_features=2, bias=True)');
    });
  });

  describe('bad input', () => {
    it('bad options: TypeError/RangeError naming the option', () => {
      expect(() => new Linear({ in_features: 3, outFeatures: 2 } as any)).to.throw(
        TypeError,
        /in_features.*inFeatures/,
      );
      expect(() => new Linear({ inFeatures: 3 } as any)).to.throw(TypeError, /outFeatures/);
      expect(() => new Linear({ inFeatures: 2.5, outFeatures: 2 })).to.throw(RangeError, /inFeatures/);
      expect(() => new Linear({ inFeatures: 0, outFeatures: 2 })).to.throw(RangeError, /inFeatures/);
      expect(() => new Linear({ inFeatures: 3, outFeatures: 2, bias: 1 as any })).to.throw(TypeError, /bias/);
      expect(() => new Linear({ inFeatures: 3, outFeatures: 2, seed: -1 })).to.throw(RangeError, /seed/);
      expect(() => new Linear(undefined as any)).to.throw(TypeError, /Linear/);
    });

    it('bad forward and backward arguments throw naming the argument and leave the layer unchanged', () => {
      const layer = new Linear({ inFeatures: 4, outFeatures: 3, seed: 1 });
      layer.forward(Tensor.from(uniform(1, 8, -1, 1), [2, 4]));
      layer.backward(Tensor.from(uniform(2, 6, -1, 1), [2, 3]));
      layer.forward(Tensor.from(uniform(3, 8, -1, 1), [2, 4]));
      const before = {
        w: data(layer.weight),
        gw: data(layer.weight.grad!),
        gb: data(layer.bias!.grad!),
        pending: layer.pendingCalls,
      };
      expect(() => layer.forward(Tensor.scalar(1))).to.throw(
        RangeError,
        /input must have shape \(\.\.\., 4\), got \[\]/,
      );
      expect(() => layer.forward(Tensor.zeros([2, 5]))).to.throw(
        RangeError,
        /input must have shape \(\.\.\., 4\), got \[2, 5\]/,
      );
      expect(() => layer.forward([1, 2, 3, 4] as any)).to.throw(TypeError, /input must be a Tensor/);
      expect(() => layer.backward(Tensor.zeros([2, 4]))).to.throw(
        RangeError,
        /gradOutput must have the shape of the pending call's output \[2, 3\], got \[2, 4\]/,
      );
      expect(() => layer.backward(Tensor.zeros([3, 3]))).to.throw(RangeError, /\[2, 3\]/);
      expect(() => layer.backward(null as any)).to.throw(TypeError, /gradOutput/);
      expect(layer.pendingCalls).to.equal(before.pending);
      expect(data(layer.weight)).to.deep.equal(before.w);
      expect(data(layer.weight.grad!)).to.deep.equal(before.gw);
      expect(data(layer.bias!.grad!)).to.deep.equal(before.gb);
      layer.backward(Tensor.zeros([2, 3]));
      expect(() => layer.backward(Tensor.zeros([2, 3])))
        .to.throw(/no forward call is pending/)
        .with.property('code', ErrorCodes.NOTHING_PENDING);
    });

    it('native entry points re-check every length', () => {
      const b = native();
      const a = new Float32Array(6);
      expect(() => b.gemm({ M: 2, N: 3, K: 4, A: a, B: new Float32Array(12), C: new Float32Array(6) })).to.throw(
        RangeError,
        /'A' has 6 elements, needs 8/,
      );
      expect(() => b.gemm({ M: 2 ** 30, N: 2 ** 30, K: 2 ** 30, A: a, B: a, C: a })).to.throw(RangeError, /more than/);
      expect(() => b.gemm({ M: 1, N: 3, K: 2, A: a, B: a, C: a, bias: new Float32Array(2) })).to.throw(
        RangeError,
        /'bias'/,
      );
      expect(() => b.linearSparseForward({ M: 2, N: 3, K: 2, x: a, wT: a, y: new Float32Array(5) })).to.throw(
        RangeError,
        /'y'/,
      );
      expect(() =>
        b.linearSparseWeightGrad({ M: 2, N: 3, K: 2, x: a, gradOut: a, gradWeight: new Float32Array(5) }),
      ).to.throw(RangeError, /'gradWeight'/);
      expect(() => b.sumRows({ M: 3, N: 3, src: a, dst: a })).to.throw(RangeError, /'src'/);
      expect(() => b.transpose({ batch: 2, rows: 2, cols: 2, src: a, dst: a })).to.throw(RangeError, /'src'/);
      expect(() => b.countNonzero({ n: 7, x: a })).to.throw(RangeError, /'x'/);
      expect(() => b.gemm({ M: 1.5, N: 1, K: 1, A: a, B: a, C: a })).to.throw(RangeError, /'M'/);
      expect(() => b.gemm({ M: 1, N: 1, K: 1, A: [1] as any, B: a, C: a })).to.throw(TypeError, /'A'/);
    });
  });
});
