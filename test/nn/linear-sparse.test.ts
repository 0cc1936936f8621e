// Linear's event-driven path on the CSR index its forward builds (forward and weight gradient
// thresholds, reuse of the index by the backward, snapshot safety, thread-count independence,
// the native CSR entry points' checks) and the `inputGrad: false` option of Linear.backward and
// Sequential.backward.
import { expect } from 'chai';
import {
  LIF,
  LINEAR_SPARSE_FORWARD_THRESHOLD,
  LINEAR_SPARSE_WEIGHT_GRAD_THRESHOLD,
  Linear,
  Sequential,
  Tensor,
  getNumThreads,
  setNumThreads,
} from '../../lib/index.js';
import { native } from '../../lib/backend.js';
import { rng, uniform } from '../support/random.js';
import { assertClose, linearBackRef, linearRef } from '../support/reference-nn.js';
import { spikes } from '../support/spike-data.js';

const data = (t: Tensor): Float32Array => t.toFloat32Array();
const same = (a: Float32Array, b: Float32Array): boolean => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

/** `count` nonzeros (values 1 or 2) at seeded random positions of an n-element array. */
function withNonzeros(seed: number, n: number, count: number): Float32Array {
  const x = new Float32Array(n);
  const r = rng(seed);
  let placed = 0;
  while (placed < count) {
    const q = Math.floor(r() * n);
    if (x[q] === 0) {
      x[q] = 1 + Math.floor(r() * 2);
      ++placed;
    }
  }
  return x;
}

/** Dense CSR of x (M x K), built here in plain TypeScript. */
function csrOf(x: Float32Array, M: number, K: number) {
  const rowPtr = new Int32Array(M + 1),
    cols: number[] = [],
    vals: number[] = [];
  for (let m = 0; m < M; ++m) {
    for (let k = 0; k < K; ++k) if (x[m * K + k] !== 0) (cols.push(k), vals.push(x[m * K + k]!));
    rowPtr[m + 1] = cols.length;
  }
  return { rowPtr, cols: Int32Array.from(cols), vals: Float32Array.from(vals) };
}

describe('Linear event-driven path (CSR index)', () => {
  const M = 100,
    K = 64,
    N = 40; // 6400 input elements

  function train(layer: Linear, x: Float32Array, g: Float32Array) {
    layer.zeroGrad();
    const y = layer.forward(Tensor.from(x, [M, K]));
    const fwd = layer._lastPath;
    const dx = layer.backward(Tensor.from(g, [M, N]));
    return {
      y: data(y),
      dx: data(dx),
      dW: data(layer.weight.grad!),
      db: data(layer.bias!.grad!),
      fwd,
      wgrad: layer._lastWeightGradPath,
    };
  }

  function checkRef(layer: Linear, x: Float32Array, g: Float32Array, what: string) {
    const W = data(layer.weight),
      b = data(layer.bias!);
    const r = train(layer, x, g);
    assertClose(r.y, linearRef(x, M, K, W, N, b), `${what}: output`);
    const ref = linearBackRef(g, x, M, K, W, N);
    assertClose(r.dx, ref.dx, `${what}: input gradient`);
    assertClose(r.dW, ref.dW, `${what}: weight gradient`);
    assertClose(r.db, ref.db, `${what}: bias gradient`);
    return r;
  }

  it('the forward and the weight gradient each switch at their own threshold (exact nonzero counts)', () => {
    const layer = new Linear({ inFeatures: K, outFeatures: N, seed: 3 });
    const fLimit = Math.floor(LINEAR_SPARSE_FORWARD_THRESHOLD * M * K);
    const gLimit = Math.floor(LINEAR_SPARSE_WEIGHT_GRAD_THRESHOLD * M * K);
    for (const count of [0, 1, fLimit, fLimit + 1, gLimit, gLimit + 1]) {
      const r = checkRef(
        layer,
        withNonzeros(count + 11, M * K, count),
        uniform(count, M * N, -1, 1),
        `${count} nonzeros`,
      );
      expect(r.fwd, `forward, ${count} nonzeros`).to.equal(count <= fLimit ? 'sparse' : 'dense');
      expect(r.wgrad, `weight gradient, ${count} nonzeros`).to.equal(count <= gLimit ? 'sparse' : 'dense');
    }
  });

  it('in eval mode, the forward alone decides (no index kept)', () => {
    const layer = new Linear({ inFeatures: K, outFeatures: N, seed: 3 }).eval() as Linear;
    const fLimit = Math.floor(LINEAR_SPARSE_FORWARD_THRESHOLD * M * K);
    for (const count of [fLimit, fLimit + 1]) {
      const x = withNonzeros(count, M * K, count);
      const y = data(layer.forward(Tensor.from(x, [M, K])));
      expect(layer._lastPath).to.equal(count <= fLimit ? 'sparse' : 'dense');
      assertClose(y, linearRef(x, M, K, data(layer.weight), N, data(layer.bias!)), `eval, ${count} nonzeros`);
      expect(layer.pendingCalls).to.equal(0);
    }
  });

  it('the kept index is a snapshot: writing the input in place after the forward changes no gradient', () => {
    const x = spikes(21, M * K, 0.02);
    const g = uniform(22, M * N, -1, 1);
    const layer = new Linear({ inFeatures: K, outFeatures: N, seed: 5 });
    const xt = Tensor.from(x, [M, K]);
    layer.forward(xt);
    expect(layer._lastPath).to.equal('sparse');
    xt._writeHost(uniform(23, M * K, -1, 1)); // dense garbage where the spikes were
    layer.backward(Tensor.from(g, [M, N]));
    expect(layer._lastWeightGradPath).to.equal('sparse');
    assertClose(
      data(layer.weight.grad!),
      linearBackRef(g, x, M, K, data(layer.weight), N).dW,
      'weight gradient of the original input',
    );
  });

  it('several pending sparse calls: each backward uses its own index', () => {
    const layer = new Linear({ inFeatures: K, outFeatures: N, seed: 6 });
    const xs = [spikes(31, M * K, 0.01), spikes(32, M * K, 0.03)];
    const gs = [uniform(33, M * N, -1, 1), uniform(34, M * N, -1, 1)];
    for (const x of xs) layer.forward(Tensor.from(x, [M, K]));
    const W = data(layer.weight);
    const dx1 = data(layer.backward(Tensor.from(gs[1]!, [M, N])));
    const dx0 = data(layer.backward(Tensor.from(gs[0]!, [M, N])));
    assertClose(dx1, linearBackRef(gs[1]!, xs[1]!, M, K, W, N).dx, 'input gradient of call 1');
    assertClose(dx0, linearBackRef(gs[0]!, xs[0]!, M, K, W, N).dx, 'input gradient of call 0');
    const r0 = linearBackRef(gs[0]!, xs[0]!, M, K, W, N).dW,
      r1 = linearBackRef(gs[1]!, xs[1]!, M, K, W, N).dW;
    assertClose(
      data(layer.weight.grad!),
      r0.map((v, k) => v + r1[k]!),
      'summed weight gradient',
    );
  });

  it('the CSR kernels give bit for bit what the dense-scan event-driven kernels give (same sums, same order)', () => {
    const Mx = 77,
      Kx = 53,
      Nx = 37; // odd sizes: partial blocks, event runs not a multiple of 4
    const x = spikes(41, Mx * Kx, 0.2);
    const wT = uniform(42, Kx * Nx, -1, 1),
      bias = uniform(43, Nx, -1, 1),
      dY = uniform(44, Mx * Nx, -1, 1);
    const csr = csrOf(x, Mx, Kx);
    const y0 = new Float32Array(Mx * Nx),
      y1 = new Float32Array(Mx * Nx);
    native().linearSparseForward({ M: Mx, N: Nx, K: Kx, x, wT, bias, y: y0 });
    native().linearCsrForward({ M: Mx, N: Nx, K: Kx, ...csr, wT, bias, y: y1 });
    expect(same(y0, y1), 'forward').to.equal(true);
    const g0 = uniform(45, Nx * Kx, -1, 1),
      g1 = g0.slice();
    native().linearSparseWeightGrad({ M: Mx, N: Nx, K: Kx, accumulate: true, x, gradOut: dY, gradWeight: g0 });
    native().linearCsrWeightGrad({ M: Mx, N: Nx, K: Kx, accumulate: true, ...csr, gradOut: dY, gradWeight: g1 });
    expect(same(g0, g1), 'weight gradient').to.equal(true);
    // and the index csrBuild makes is the one built here; null over maxNnz
    const built = native().csrBuild({ M: Mx, K: Kx, x, maxNnz: csr.cols.length })!;
    expect([...built.rowPtr]).to.deep.equal([...csr.rowPtr]);
    expect([...built.cols]).to.deep.equal([...csr.cols]);
    expect(same(built.vals, csr.vals)).to.equal(true);
    expect(native().csrBuild({ M: Mx, K: Kx, x, maxNnz: csr.cols.length - 1 })).to.equal(null);
  });

  describe('threads', () => {
    let saved = 1;
    before(() => (saved = getNumThreads()));
    after(() => setNumThreads(saved));

    it('CSR index, forward and weight gradient are bit-identical for 1, 2 and 3 threads', () => {
      const Mx = 300,
        Kx = 70,
        Nx = 301;
      const x = spikes(
        51,
        Mx * Kx,
        Math.min(LINEAR_SPARSE_FORWARD_THRESHOLD, LINEAR_SPARSE_WEIGHT_GRAD_THRESHOLD) * 0.8,
      );
      const g = uniform(52, Mx * Nx, -1, 1);
      const runs = [1, 2, 3].map((t) => {
        setNumThreads(t);
        const l = new Linear({ inFeatures: Kx, outFeatures: Nx, seed: 9 });
        const y = data(l.forward(Tensor.from(x, [Mx, Kx])));
        expect(l._lastPath).to.equal('sparse');
        l.backward(Tensor.from(g, [Mx, Nx]), { inputGrad: false });
        expect(l._lastWeightGradPath).to.equal('sparse');
        return { y, dW: data(l.weight.grad!), db: data(l.bias!.grad!) };
      });
      for (const r of runs.slice(1)) {
        expect(same(r.y, runs[0]!.y), 'output').to.equal(true);
        expect(same(r.dW, runs[0]!.dW), 'weight gradient').to.equal(true);
        expect(same(r.db, runs[0]!.db), 'bias gradient').to.equal(true);
      }
    });
  });

  it('native CSR entry points check their index', () => {
    const b = native();
    const x = new Float32Array([0, 1, 2, 0]); // 2 x 2
    const wT = new Float32Array(6),
      y = new Float32Array(6),
      gW = new Float32Array(6),
      dY = new Float32Array(6);
    const good = { rowPtr: new Int32Array([0, 1, 2]), cols: new Int32Array([1, 0]), vals: new Float32Array([1, 2]) };
    expect(() => b.linearCsrForward({ M: 2, N: 3, K: 2, ...good, wT, y })).to.not.throw();
    expect(() => b.linearCsrForward({ M: 2, N: 3, K: 2, ...good, cols: new Int32Array([1, 2]), wT, y })).to.throw(
      RangeError,
      /'cols'/,
    );
    expect(() => b.linearCsrForward({ M: 2, N: 3, K: 2, ...good, rowPtr: new Int32Array([0, 2, 1]), wT, y })).to.throw(
      RangeError,
      /'rowPtr'/,
    );
    expect(() => b.linearCsrForward({ M: 2, N: 3, K: 2, ...good, rowPtr: new Int32Array([1, 1, 2]), wT, y })).to.throw(
      RangeError,
      /'rowPtr'/,
    );
    expect(() => b.linearCsrForward({ M: 2, N: 3, K: 2, ...good, rowPtr: new Int32Array([0, 1, 3]), wT, y })).to.throw(
      RangeError,
      /'cols'/,
    );
    expect(() => b.linearCsrForward({ M: 2, N: 3, K: 2, ...good, wT, y: new Float32Array(5) })).to.throw(
      RangeError,
      /'y'/,
    );
    expect(() =>
      b.linearCsrWeightGrad({ M: 2, N: 3, K: 2, ...good, gradOut: dY, gradWeight: new Float32Array(5) }),
    ).to.throw(RangeError, /'gradWeight'/);
    expect(() =>
      b.linearCsrWeightGrad({ M: 2, N: 3, K: 2, ...good, cols: new Int32Array([-1, 0]), gradOut: dY, gradWeight: gW }),
    ).to.throw(RangeError, /'cols'/);
    expect(() => b.csrBuild({ M: 2, K: 3, x, maxNnz: 4 })).to.throw(RangeError, /'x'/);
    expect(() => b.csrBuild({ M: 2, K: 2, x, maxNnz: -1 })).to.throw(RangeError, /maxNnz/);
    expect(() => b.csrBuild({ M: 2, K: 2, x: new Int32Array(4) as unknown as Float32Array, maxNnz: 4 })).to.throw(
      TypeError,
      /'x'/,
    );
    const z = b.csrBuild({ M: 2, K: 2, x: new Float32Array(4), maxNnz: 0 })!;
    expect([...z.rowPtr]).to.deep.equal([0, 0, 0]);
    expect(z.cols.length).to.equal(0);
  });
});

describe('backward with { inputGrad: false }', () => {
  const B = 4,
    T = 30,
    IN = 50,
    HID = 24,
    OUT = 5;

  for (const kind of ['spikes', 'dense'] as const) {
    it(`Linear (${kind} input): returns null, parameter gradients bit-identical to the default call, which returns dL/dinput`, () => {
      const M = 200,
        K = 40,
        N = 30;
      const x = kind === 'spikes' ? spikes(61, M * K, 0.03) : uniform(61, M * K, -1, 1);
      const g = uniform(62, M * N, -1, 1);
      const a = new Linear({ inFeatures: K, outFeatures: N, seed: 8 });
      const c = new Linear({ inFeatures: K, outFeatures: N, seed: 8 });
      a.forward(Tensor.from(x, [M, K]));
      c.forward(Tensor.from(x, [M, K]));
      const dx = a.backward(Tensor.from(g, [M, N]));
      expect(c.backward(Tensor.from(g, [M, N]), { inputGrad: false })).to.equal(null);
      expect(c.pendingCalls).to.equal(0);
      expect(dx.shape).to.deep.equal([M, K]);
      assertClose(data(dx), linearBackRef(g, x, M, K, data(a.weight), N).dx, 'default input gradient');
      expect(same(data(a.weight.grad!), data(c.weight.grad!)), 'weight gradient').to.equal(true);
      expect(same(data(a.bias!.grad!), data(c.bias!.grad!)), 'bias gradient').to.equal(true);
      // inputGrad: true is the default
      a.forward(Tensor.from(x, [M, K]));
      expect(a.backward(Tensor.from(g, [M, N]), { inputGrad: true })!.shape).to.deep.equal([M, K]);
    });
  }

  function shd(seed: number, first: 'linear' | 'lif'): Sequential {
    const layers = [
      new Linear({ inFeatures: IN, outFeatures: HID, seed }),
      new LIF({ tauMem: 20 }),
      new Linear({ inFeatures: HID, outFeatures: OUT, seed: seed + 1 }),
      new LIF({ tauMem: 20 }),
    ];
    return first === 'linear' ? new Sequential(...layers) : new Sequential(new LIF({ tauMem: 5 }), ...layers);
  }

  for (const first of ['linear', 'lif'] as const) {
    it(`Sequential (first child ${first === 'linear' ? 'Linear' : 'LIF'}): null, and every parameter gradient bit-identical to the default backward`, () => {
      const x = spikes(71, B * T * IN, 0.05).map((v) => (v ? 1.5 : 0));
      const g = uniform(72, B * T * OUT, -1, 1);
      const a = shd(3, first),
        c = shd(3, first);
      a.forward(Tensor.from(x, [B, T, IN]));
      c.forward(Tensor.from(x, [B, T, IN]));
      const dx = a.backward(Tensor.from(g, [B, T, OUT]));
      expect(dx.shape).to.deep.equal([B, T, IN]);
      expect(c.backward(Tensor.from(g, [B, T, OUT]), { inputGrad: false })).to.equal(null);
      expect(c.pendingCalls).to.equal(0);
      const pa = a.namedParameters(),
        pc = c.namedParameters();
      let checked = 0;
      for (const [name, p] of pa) {
        const q = pc.find(([n]) => n === name)![1];
        if (!p.grad) continue;
        expect(same(data(p.grad), data(q.grad!)), name).to.equal(true);
        ++checked;
      }
      expect(checked).to.be.greaterThan(3);
    });
  }

  it('bad options: TypeError naming the option, and nothing consumed', () => {
    const s = shd(5, 'linear');
    const l = new Linear({ inFeatures: 3, outFeatures: 2 });
    s.forward(Tensor.zeros([1, 2, IN]));
    l.forward(Tensor.zeros([2, 3]));
    const gs = Tensor.zeros([1, 2, OUT]),
      gl = Tensor.zeros([2, 2]);
    expect(() => s.backward(gs, { inputGrad: 1 } as never)).to.throw(TypeError, /inputGrad/);
    expect(() => s.backward(gs, { inputgrad: false } as never)).to.throw(TypeError, /inputgrad/);
    expect(() => l.backward(gl, { inputGrad: 'no' } as never)).to.throw(TypeError, /inputGrad/);
    expect(() => l.backward(gl, { foo: 1 } as never)).to.throw(TypeError, /foo/);
    expect(s.pendingCalls).to.equal(1);
    expect(l.pendingCalls).to.equal(1);
  });
});
