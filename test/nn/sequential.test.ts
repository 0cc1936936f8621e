// Sequential with neuron and reshaping children, against the float64 reference in test/support/lif-ref-simple.ts:
// forward in order, backward in reverse, several forwards then backwards, state dicts with
// PyTorch keys, errors that name the layer (or key) and leave the network unchanged.
import { expect } from 'chai';
import {
  ErrorCodes,
  Flatten,
  FlattenTime,
  LIF,
  LIFSqueeze,
  Sequential,
  SpikelayersError,
  Tensor,
  UnflattenTime,
  getNumThreads,
  setNumThreads,
} from '../../lib/index.js';
import { uniform } from '../support/random.js';
import { refBackward, refForward, relErr, type RefLif } from '../support/lif-ref-simple.js';

const B = 2,
  T = 12,
  C = 2,
  H = 3,
  N = C * H;
const tauB = [3, 4.5, 5, 6.25, 7, 8];
const refA: RefLif = { tau: [6], theta: 1 };
const refB: RefLif = { tau: tauB, theta: 0.25 };

function net(): Sequential {
  return new Sequential(
    new LIF({ tauMem: 6 }),
    new Flatten({ startDim: 2 }),
    new LIF({ tauMem: Tensor.from(tauB, [N]), spikeThreshold: 0.25 }),
  );
}

const xData = uniform(11, B * T * N, 0, 3);
const gData = uniform(12, B * T * N, -1, 1);

/** The reference network over the whole (B, T, N) sequence. */
function reference(x: ArrayLike<number>, g: ArrayLike<number>, steps = T) {
  const fa = refForward(refA, x, B, steps, N);
  const fb = refForward(refB, fa.out, B, steps, N);
  const bb = refBackward(refB, fa.out, fb, g, B, steps, N);
  const ba = refBackward(refA, x, fa, bb.gx, B, steps, N);
  return {
    out: fb.out,
    gx: ba.gx,
    gTauA: ba.gTau,
    gTauB: bb.gTau,
    margin: Math.min(fa.margin, fb.margin),
    vA: fa.vEnd,
    vB: fb.vEnd,
  };
}

/** Steps [t0, t1) of a (B, T, N) array. */
function steps(a: ArrayLike<number>, t0: number, t1: number): Float32Array {
  const out = new Float32Array(B * (t1 - t0) * N);
  for (let b = 0; b < B; ++b)
    for (let t = t0; t < t1; ++t)
      for (let n = 0; n < N; ++n) out[(b * (t1 - t0) + t - t0) * N + n] = a[(b * T + t) * N + n]!;
  return out;
}

function grad(m: Sequential, key: string): Float32Array {
  const p = m.namedParameters().find(([k]) => k === key);
  expect(p, key).to.not.equal(undefined);
  return p![1].grad!.toFloat32Array();
}

function snapshot(m: Sequential): Record<string, number[]> {
  return Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, [...t.shape, NaN, ...t.toArray()]]));
}

describe('Sequential', function () {
  const ref = reference(xData, gData);

  it('the reference data keep spikes away from the thresholds', function () {
    expect(ref.margin, 'test data margin').to.be.greaterThan(1e-4);
  });

  it('forward runs the children in order, backward in reverse (float64 reference)', function () {
    const m = net();
    const y = m.forward(Tensor.from(xData, [B, T, C, H]));
    expect(y.shape).to.deep.equal([B, T, N]);
    expect(Array.from(y.toFloat32Array())).to.deep.equal(Array.from(ref.out));
    expect(m.pendingCalls).to.equal(1);
    const gx = m.backward(Tensor.from(gData, [B, T, N]));
    expect(gx.shape).to.deep.equal([B, T, C, H]);
    expect(relErr(gx.toFloat32Array(), ref.gx), 'grad input').to.be.at.most(1e-5);
    expect(relErr(grad(m, '0.tau_mem'), ref.gTauA), '0.tau_mem grad').to.be.at.most(1e-4);
    expect(relErr(grad(m, '2.tau_mem'), ref.gTauB), '2.tau_mem grad').to.be.at.most(1e-4);
    expect(m.pendingCalls).to.equal(0);
  });

  it('two forwards, then their backwards in reverse order, carry the state gradient', function () {
    const m = net();
    const t1 = 7;
    const y1 = m.forward(Tensor.from(steps(xData, 0, t1), [B, t1, C, H]));
    const y2 = m.forward(Tensor.from(steps(xData, t1, T), [B, T - t1, C, H]));
    expect(Array.from(y1.toFloat32Array())).to.deep.equal(Array.from(steps(ref.out, 0, t1)));
    expect(Array.from(y2.toFloat32Array())).to.deep.equal(Array.from(steps(ref.out, t1, T)));
    const g2 = m.backward(Tensor.from(steps(gData, t1, T), [B, T - t1, N]));
    const g1 = m.backward(Tensor.from(steps(gData, 0, t1), [B, t1, N]));
    expect(relErr(g2.toFloat32Array(), steps(ref.gx, t1, T)), 'call 2').to.be.at.most(1e-5);
    expect(relErr(g1.toFloat32Array(), steps(ref.gx, 0, t1)), 'call 1, through the carried state').to.be.at.most(1e-5);
    expect(relErr(grad(m, '2.tau_mem'), ref.gTauB)).to.be.at.most(1e-4);
  });

  it('async variants give the same results; sync calls wait for them', async function () {
    const m = net();
    const p = m.forwardAsync(Tensor.from(xData, [B, T, C, H]));
    expect(() => m.forward(Tensor.from(xData, [B, T, C, H])))
      .to.throw(SpikelayersError)
      .with.property('code', ErrorCodes.LAYER_BUSY);
    const y = await p;
    expect(Array.from(y.toFloat32Array())).to.deep.equal(Array.from(ref.out));
    const gx = await m.backwardAsync(Tensor.from(gData, [B, T, N]));
    expect(relErr(gx.toFloat32Array(), ref.gx)).to.be.at.most(1e-5);
    // async calls queue one after another, in order
    const t1 = 7;
    const q = net();
    const [y1, y2] = await Promise.all([
      q.forwardAsync(Tensor.from(steps(xData, 0, t1), [B, t1, C, H])),
      q.forwardAsync(Tensor.from(steps(xData, t1, T), [B, T - t1, C, H])),
    ]);
    expect(Array.from(y1.toFloat32Array())).to.deep.equal(Array.from(steps(ref.out, 0, t1)));
    expect(Array.from(y2.toFloat32Array())).to.deep.equal(Array.from(steps(ref.out, t1, T)));
    const [g2, g1] = await Promise.all([
      q.backwardAsync(Tensor.from(steps(gData, t1, T), [B, T - t1, N])),
      q.backwardAsync(Tensor.from(steps(gData, 0, t1), [B, t1, N])),
    ]);
    expect(relErr(g2.toFloat32Array(), steps(ref.gx, t1, T))).to.be.at.most(1e-5);
    expect(relErr(g1.toFloat32Array(), steps(ref.gx, 0, t1))).to.be.at.most(1e-5);
  });

  it('forward hooks see every child output; a failing child or hook rolls the call back', function () {
    const m = net();
    const seen: [number, number[]][] = [];
    const h = m.registerForwardHook((y, i) => void seen.push([i, y.shape]));
    m.forward(Tensor.from(xData, [B, T, C, H]));
    expect(seen).to.deep.equal([
      [0, [B, T, C, H]],
      [1, [B, T, N]],
      [2, [B, T, N]],
    ]);
    h.remove();
    m.forward(Tensor.from(xData, [B, T, C, H]));
    expect(seen.length).to.equal(3);

    // a child that fails for a reason no shape check can see: the Flatten before it forgets the call
    const boom = {
      forward(): Tensor {
        throw new SpikelayersError('ERR_TEST', 'forward: boom');
      },
      backward(g: Tensor): Tensor {
        return g;
      },
    };
    const f = new Flatten({ startDim: 2 });
    const s = new Sequential(f, boom);
    let err: unknown;
    try {
      s.forward(Tensor.from(xData, [B, T, C, H]));
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(SpikelayersError);
    expect((err as SpikelayersError).code).to.equal('ERR_TEST');
    expect((err as Error).message).to.equal('Sequential layer 1 (Object): forward: boom');
    expect(f.pendingCalls).to.equal(0);
    const f2 = new Flatten({ startDim: 2 });
    const s2 = new Sequential(f2);
    s2.registerForwardHook(() => {
      throw new Error('hook');
    });
    expect(() => s2.forward(Tensor.from(xData, [B, T, C, H]))).to.throw(Error, 'hook');
    expect(f2.pendingCalls).to.equal(0);
    expect(s2.pendingCalls).to.equal(0);
  });

  it('results do not depend on the thread count', function () {
    const before = getNumThreads();
    const run = (n: number) => {
      setNumThreads(n);
      const m = net();
      const y = m.forward(Tensor.from(xData, [B, T, C, H])).toFloat32Array();
      const g = m.backward(Tensor.from(gData, [B, T, N])).toFloat32Array();
      return [Array.from(y), Array.from(g), Array.from(grad(m, '2.tau_mem'))];
    };
    try {
      expect(run(1)).to.deep.equal(run(3));
    } finally {
      setNumThreads(before);
    }
  });

  it("state dict keys are PyTorch's; resetStates reaches every neuron layer", function () {
    const m = net();
    expect(Object.keys(m.stateDict())).to.deep.equal([
      '0.tau_mem',
      '0.spike_threshold',
      '0.v_mem',
      '2.tau_mem',
      '2.spike_threshold',
      '2.v_mem',
    ]);
    m.forward(Tensor.from(xData, [B, T, C, H]));
    const sd = m.stateDict();
    expect(sd['0.v_mem']!.shape).to.deep.equal([B, C, H]);
    const vB = sd['2.v_mem']!.toFloat32Array();
    for (let k = 0; k < vB.length; ++k) expect(vB[k]).to.be.closeTo(ref.vB[k]!, 1e-5);
    m.resetStates();
    expect(m.pendingCalls).to.equal(0);
    for (const l of m) if (l instanceof LIF) expect(l.vMem!.toArray().every((v) => v === 0)).to.equal(true);
  });

  it('loadStateDict round trip; bad keys name the full key and change nothing', function () {
    const m = net();
    m.forward(Tensor.from(xData, [B, T, C, H]));
    const good = m.stateDict();
    const other = net();
    other.loadStateDict(good);
    expect(snapshot(other)).to.deep.equal(snapshot(m));

    const before = snapshot(m);
    const withTau = (k: string, t: Tensor) => ({ ...good, '0.tau_mem': Tensor.from([9], []), [k]: t });
    expect(() => m.loadStateDict(withTau('2.tau_mem', Tensor.from([1, 2, 3, 4, 5], [5])))).to.throw(
      RangeError,
      /'2\.tau_mem' has shape \[5\], expected \[6\]/,
    );
    expect(() =>
      m.loadStateDict({ ...good, '0.tau_mem': Tensor.from([9], []), '2.tau_men': Tensor.from([1], []) }),
    ).to.throw(TypeError, /unexpected key '2\.tau_men'/);
    const missing: Record<string, Tensor> = { ...good, '0.tau_mem': Tensor.from([9], []) };
    delete missing['2.spike_threshold'];
    expect(() => m.loadStateDict(missing)).to.throw(TypeError, /missing key\(s\) '2\.spike_threshold'/);
    expect(() => m.loadStateDict(withTau('2.tau_mem', Tensor.from([1, 2, 3, -4, 5, 6], [6])))).to.throw(
      RangeError,
      /'2\.tau_mem' must be positive/,
    );
    expect(() => m.loadStateDict({ ...good, '5.weight': Tensor.from([1], []) })).to.throw(
      TypeError,
      /unexpected key '5\.weight'/,
    );
    expect(snapshot(m), 'unchanged after the refused loads').to.deep.equal(before);
    expect(m.pendingCalls).to.equal(1);
    expect(() => m.backward(Tensor.from(gData, [B, T, N]))).to.not.throw();
  });

  it('a shape mismatch between layers names the layer index and changes nothing', function () {
    const m = new Sequential(
      new LIF({ tauMem: 6 }),
      new Flatten({ startDim: 2 }),
      new LIF({ tauMem: Tensor.from([1, 2, 3, 4, 5], [5]) }),
    );
    const x = Tensor.from(xData, [B, T, C, H]);
    expect(() => m.forward(x)).to.throw(
      RangeError,
      /^Sequential layer 2 \(LIF\): tauMem of shape \[5\] does not broadcast/,
    );
    expect((m.at(0) as LIF).vMem, 'layer 0 did not run').to.equal(null);
    expect((m.at(0) as LIF).pendingCalls).to.equal(0);
    expect(m.pendingCalls).to.equal(0);

    const u = new Sequential(new LIF({ tauMem: 6 }), new FlattenTime(), new UnflattenTime({ batchSize: 5 }));
    expect(() => u.forward(Tensor.from(xData, [B, T, N]))).to.throw(
      RangeError,
      /^Sequential layer 2 \(UnflattenTime\): forward: input first dimension 24 .* not a multiple of batchSize 5/,
    );
    expect((u.at(0) as LIF).vMem).to.equal(null);

    const s = new Sequential(new Flatten(), new LIFSqueeze({ tauMem: 5, batchSize: 5 }));
    // the type in the prefix is the layer's typeName (what its toString prints)
    const type = (s.at(1) as LIFSqueeze).typeName;
    expect(() => s.forward(Tensor.from(xData, [B * T, C, H]))).to.throw(
      RangeError,
      new RegExp(
        `^Sequential layer 1 \\(${type}\\): forward: input: first dimension 24 is not a multiple of batchSize 5`,
      ),
    );
    expect(() => m.forward(3 as unknown as Tensor)).to.throw(TypeError, /forward: input must be a Tensor/);
  });

  it('errors from a child keep their class and code, with the layer prefixed', function () {
    const m = net();
    m.forward(Tensor.from(xData, [B, T, C, H]));
    (m.at(0) as LIF).detachStates(); // the first layer forgets its pending call
    let err: unknown;
    try {
      m.backward(Tensor.from(gData, [B, T, N]));
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(RangeError);
    expect((err as RangeError).message).to.match(/^Sequential layer 0 \(LIF\): backward: no forward call is pending/);
    expect((err as { code?: string }).code).to.equal(ErrorCodes.NOTHING_PENDING);
    expect(() => m.backward(Tensor.from(gData, [B, T, N]))).to.throw(
      RangeError,
      /^backward: no forward call is pending/,
    );
    m.forward(Tensor.from(xData, [B, T, C, H]));
    expect(() => m.backward(Tensor.from(gData, [B, T, 2, 3]))).to.throw(
      RangeError,
      /gradOutput must have the shape .* \[2, 12, 6\], got \[2, 12, 2, 3\]/,
    );
    expect(m.pendingCalls, 'a refused backward keeps the call').to.equal(1);
  });

  it('length, at, iteration, children names, outputShape, toString', function () {
    const m = net();
    expect(m.length).to.equal(3);
    expect(m.at(1)).to.be.instanceOf(Flatten);
    expect(m.at(-1)).to.be.instanceOf(LIF);
    expect(m.at(3)).to.equal(undefined);
    expect([...m].length).to.equal(3);
    expect(m.namedChildren().map(([k]) => k)).to.deep.equal(['0', '1', '2']);
    expect(m.outputShape([4, 9, 2, 3])).to.deep.equal([4, 9, 6]);
    expect(String(m)).to.match(
      /^Sequential\(\n {2}\(0\): LIF\(tau_mem=6.*\n {2}\(1\): Flatten\(start_dim=2, end_dim=-1\)\n {2}\(2\): LIF\(.*\n\)$/,
    );
    expect(() => new Sequential({} as never)).to.throw(
      TypeError,
      /module 0 must be a module with forward\(\) and backward\(\)/,
    );
  });

  it('nested Sequentials: keys, forward and backward', function () {
    const inner = new Sequential(
      new Flatten({ startDim: 2 }),
      new LIF({ tauMem: Tensor.from(tauB, [N]), spikeThreshold: 0.25 }),
    );
    const m = new Sequential(new LIF({ tauMem: 6 }), inner);
    expect(Object.keys(m.stateDict())).to.deep.equal([
      '0.tau_mem',
      '0.spike_threshold',
      '0.v_mem',
      '1.1.tau_mem',
      '1.1.spike_threshold',
      '1.1.v_mem',
    ]);
    const y = m.forward(Tensor.from(xData, [B, T, C, H]));
    expect(Array.from(y.toFloat32Array())).to.deep.equal(Array.from(ref.out));
    const gx = m.backward(Tensor.from(gData, [B, T, N]));
    expect(relErr(gx.toFloat32Array(), ref.gx)).to.be.at.most(1e-5);
    const sd = m.stateDict();
    const copy = new Sequential(
      new LIF({ tauMem: 6 }),
      new Sequential(new Flatten({ startDim: 2 }), new LIF({ tauMem: Tensor.from(tauB, [N]), spikeThreshold: 0.25 })),
    );
    copy.loadStateDict(sd);
    expect(snapshot(copy)).to.deep.equal(snapshot(m));
    expect(() => copy.loadStateDict({ ...sd, '1.1.tau_mem': Tensor.from([1], [1]) })).to.throw(
      RangeError,
      /'1\.1\.tau_mem' has shape \[1\], expected \[6\]/,
    );
    expect(() => m.forward(Tensor.from(xData, [B, T, N]))).to.not.throw();
  });

  it('fromNamed: children under given names (state-dict keys, toString), run in the order given', function () {
    const named = Sequential.fromNamed([
      ['model', new LIF({ tauMem: 6 })],
      ['7', new LIF({ tauMem: 2, spikeThreshold: 0.5 })],
    ]);
    const plain = new Sequential(new LIF({ tauMem: 6 }), new LIF({ tauMem: 2, spikeThreshold: 0.5 }));
    expect(Object.keys(named.stateDict())).to.deep.equal(
      Object.keys(plain.stateDict()).map((k) => k.replace(/^0\./, 'model.').replace(/^1\./, '7.')),
    );
    expect(String(named)).to.include('(model): LIF').and.include('(7): LIF');
    expect(named.length).to.equal(2);
    const x = Tensor.from(uniform(7, B * T * N, 0, 1.5), [B, T, N]);
    expect(named.forward(x).toArray()).to.deep.equal(plain.forward(x).toArray());
    // the plain constructor is unaffected
    expect(Object.keys(new Sequential(new LIF({ tauMem: 6 })).stateDict())[0]).to.match(/^0\./);
    expect(() =>
      Sequential.fromNamed([
        ['a', new LIF({ tauMem: 6 })],
        ['a', new LIF({ tauMem: 6 })],
      ]),
    ).to.throw(RangeError, "the name 'a' is used twice");
    expect(() => Sequential.fromNamed([['a.b', new LIF({ tauMem: 6 })]])).to.throw(TypeError, "without '.'");
    expect(() => Sequential.fromNamed([['', new LIF({ tauMem: 6 })]])).to.throw(TypeError, 'non-empty');
    expect(() => Sequential.fromNamed([['a', {} as LIF]])).to.throw(TypeError, 'module 0');
    expect(Object.keys(new Sequential(new LIF({ tauMem: 6 })).stateDict())[0]).to.match(/^0\./);
  });
});
