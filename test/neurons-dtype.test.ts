// Neuron layers with float16 / bfloat16 inputs and gradients and uint8 spikes (spikeDtype): every
// result equals, bit for bit, the float32 run on the same values (the 16-bit inputs widened
// exactly, float32 spikes as their counts), on the CPU kernel's own 16-bit/uint8 path (eval), the
// widened path (training), the async calls and the emulated CUDA launch; a spike count uint8
// cannot hold is a RangeError naming the first such element (for any thread count) that leaves
// the layer unchanged; and the native contract refuses mismatched arrays.
import { expect } from 'chai';
import {
  IAF,
  IAFSqueeze,
  LIF,
  MaxSpike,
  MembraneReset,
  SingleSpike,
  Tensor,
  ExpLeak,
  getNumThreads,
  setNumThreads,
  type Dtype,
  type LIFOptions,
} from '../lib/index.js';
import { _setCudaLaunchEmulation, native } from '../lib/backend.js';
import { uniform } from './support/random.js';

const bits = (t: Tensor | null): number[] => Array.from(new Uint32Array(t!.toFloat32Array().buffer));
const half = (x: Float32Array, shape: number[], dtype: Dtype): Tensor => Tensor.from(x, shape, { dtype });
/** The values (-0, which float32 spike counts can be, as 0: a uint8 count has no sign). */
const counts = (t: Tensor): number[] => Array.from(t.toFloat32Array(), (v) => v + 0);

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  expect.fail('expected an exception');
}

const CONFIGS: [string, () => LIFOptions][] = [
  ['LIF, MultiSpike', () => ({ tauMem: 8 })],
  [
    'LIF, tauSyn, minVMem, MembraneReset',
    () => ({ tauMem: 5, tauSyn: 3, minVMem: -0.5, resetFn: new MembraneReset() }),
  ],
  [
    'LIF, SingleSpike, threshold 0.75, no normInput',
    () => ({ tauMem: 12, spikeFn: SingleSpike, spikeThreshold: 0.75, normInput: false }),
  ],
  ['LIF, MaxSpike(3)', () => ({ tauMem: 4, spikeFn: new MaxSpike({ maxNumSpikesPerBin: 3 }) })],
];

describe('neuron layers with dtypes', function () {
  // B = 3, N = 1100: several neuron chunks and a partial one; T = 37, not a multiple of the checkpoint interval
  const B = 3,
    T = 37,
    N = 1100,
    shape = [B, T, N];

  for (const [name, make] of CONFIGS)
    for (const dtype of ['float16', 'bfloat16'] as Dtype[])
      it(`${name}: a ${dtype} input (eval) gives the float32 run's spikes, states and recordings`, function () {
        const raw = uniform(11, B * T * N, -1, 4);
        const xh = half(raw, shape, dtype);
        const xf = xh.to('float32'); // the same values, exactly
        const a = new LIF({ ...make(), recordStates: true }).eval();
        const b = new LIF({ ...make(), recordStates: true }).eval();
        for (let call = 0; call < 2; ++call) {
          const ya = a.forward(xh),
            yb = b.forward(xf);
          expect(ya.dtype).to.equal('float32');
          expect(bits(ya)).to.deep.equal(bits(yb));
          expect(bits(a.vMem)).to.deep.equal(bits(b.vMem));
          expect(bits(a.recordings.vMem!)).to.deep.equal(bits(b.recordings.vMem!));
          if (b.hasSynapse) expect(bits(a.iSyn)).to.deep.equal(bits(b.iSyn));
          expect(a.firingRate).to.equal(b.firingRate);
        }
      });

  for (const [name, make] of CONFIGS)
    it(`${name}: uint8 spikes (float32, bfloat16 and float16 input) are the float32 spike counts`, function () {
      const raw = uniform(12, B * T * N, -1, 3);
      const ref = new LIF(make()).eval();
      const want = ref.forward(Tensor.from(raw, shape).to('bfloat16').to('float32'));
      const wantF = new LIF(make()).eval().forward(Tensor.from(raw, shape));
      for (const [dtype, wanted] of [
        ['float32', wantF],
        ['bfloat16', want],
      ] as [Dtype, Tensor][]) {
        const layer = new LIF({ ...make(), spikeDtype: 'uint8' }).eval();
        const y = layer.forward(Tensor.from(raw, shape).to(dtype));
        expect(y.dtype).to.equal('uint8');
        expect(y.nbytes).to.equal(B * T * N);
        expect(Array.from(y.toFloat32Array())).to.deep.equal(counts(wanted));
        expect(layer.firingRate).to.equal(ref.firingRate === null ? null : layer.firingRate);
      }
      const f16 = new LIF({ ...make(), spikeDtype: 'uint8' }).eval().forward(Tensor.from(raw, shape).to('float16'));
      const f16Want = new LIF(make()).eval().forward(Tensor.from(raw, shape).to('float16').to('float32'));
      expect(Array.from(f16.toFloat32Array())).to.deep.equal(counts(f16Want));
    });

  it('uint8 spikes into a given uint8 out tensor; a float32 out is refused', function () {
    const raw = uniform(13, 2 * 5 * 300, 0, 3);
    const x = Tensor.from(raw, [2, 5, 300]);
    const want = new IAF().eval().forward(x);
    const layer = new IAF({ spikeDtype: 'uint8' }).eval();
    const out = Tensor.zeros([2, 5, 300], { dtype: 'uint8' });
    expect(layer.forward(x, { out })).to.equal(out);
    expect(Array.from(out.toFloat32Array())).to.deep.equal(counts(want));
    let e = thrown(() => layer.forward(x, { out: Tensor.zeros([2, 5, 300]) }));
    expect(e).to.be.instanceOf(TypeError);
    expect(e.message).to.match(/forward: out must be a uint8 tensor, got a float32 tensor/);
    e = thrown(() => layer.forward(x, { out: Tensor.zeros([2, 5, 299], { dtype: 'uint8' }) }));
    expect(e).to.be.instanceOf(RangeError);
    expect(e.message).to.match(/forward: out must have the input's shape \[2, 5, 300\], got \[2, 5, 299\]/);
    layer.train(); // the widened path checks the same
    e = thrown(() => layer.forward(x, { out: Tensor.zeros([2, 5, 301], { dtype: 'uint8' }) }));
    expect(e).to.be.instanceOf(RangeError);
  });

  it('training: bfloat16/float16 input and gradient give the float32 run bit for bit (gradients included)', function () {
    const sh = [2, 40, 333];
    const n = 2 * 40 * 333;
    for (const dtype of ['bfloat16', 'float16'] as Dtype[]) {
      const xh = Tensor.from(uniform(14, n, -1, 4), sh).to(dtype);
      const gh = Tensor.from(uniform(15, n, -1, 1), sh).to(dtype);
      const a = new LIF({ tauMem: 6, tauSyn: 4, spikeDtype: 'uint8' });
      const b = new LIF({ tauMem: 6, tauSyn: 4 });
      const ya = a.forward(xh),
        yb = b.forward(xh.to('float32'));
      expect(Array.from(ya.toFloat32Array())).to.deep.equal(counts(yb));
      const da = a.backward(gh),
        db = b.backward(gh.to('float32'));
      expect(bits(da)).to.deep.equal(bits(db));
      expect(bits(a.tauMem!.grad)).to.deep.equal(bits(b.tauMem!.grad));
      expect(bits(a.tauSyn!.grad)).to.deep.equal(bits(b.tauSyn!.grad));
    }
  });

  it('forwardAsync and the emulated CUDA launch give the same uint8 spikes as the sync CPU call', async function () {
    const sh = [2, 20, 500];
    const x = Tensor.from(uniform(16, 2 * 20 * 500, -1, 3), sh).to('bfloat16');
    const sync = new LIF({ tauMem: 7, spikeDtype: 'uint8' }).eval().forward(x);
    const asy = await new LIF({ tauMem: 7, spikeDtype: 'uint8' }).eval().forwardAsync(x);
    expect(Array.from(asy._hostData())).to.deep.equal(Array.from(sync._hostData()));
    _setCudaLaunchEmulation(true);
    try {
      const emu = new LIF({ tauMem: 7, spikeDtype: 'uint8' }).eval().forward(x);
      expect(emu.dtype).to.equal('uint8');
      expect(Array.from(emu._hostData())).to.deep.equal(Array.from(sync._hostData()));
    } finally {
      _setCudaLaunchEmulation(false);
    }
  });

  it('bfloat16 -> uint8: the same bytes and firing rate for 1, 2 and 3 threads', function () {
    const before = getNumThreads();
    try {
      const x = Tensor.from(uniform(19, 5 * 30 * 2100, -1, 3), [5, 30, 2100]).to('bfloat16');
      const runs = [1, 2, 3].map((t) => {
        setNumThreads(t);
        const l = new LIF({ tauMem: 9, tauSyn: 5, spikeDtype: 'uint8' }).eval();
        const y = l.forward(x);
        return { bytes: Array.from(y._hostData()), rate: l.firingRate, v: bits(l.vMem) };
      });
      for (const r of runs.slice(1)) expect(r).to.deep.equal(runs[0]);
    } finally {
      setNumThreads(before);
    }
  });

  it('a stream of bfloat16 chunks gives the uint8 spikes of one call over the whole input', async function () {
    const x = Tensor.from(uniform(20, 2 * 60 * 300, -1, 3), [2, 60, 300]);
    const xb = x.to('bfloat16');
    const whole = new LIF({ tauMem: 5, spikeDtype: 'uint8' }).eval().forward(xb);
    const raw = xb._hostData();
    const chunk = (t0: number, t1: number): Tensor => {
      const bits = new Uint16Array(2 * (t1 - t0) * 300);
      for (let b = 0; b < 2; ++b) bits.set(raw.subarray((b * 60 + t0) * 300, (b * 60 + t1) * 300), b * (t1 - t0) * 300);
      return Tensor.from(bits, [2, t1 - t0, 300], { dtype: 'bfloat16' });
    };
    const pieces: Uint8Array[] = [];
    const layer = new LIF({ tauMem: 5, spikeDtype: 'uint8' });
    for await (const y of layer.iterate([chunk(0, 7), chunk(7, 40), chunk(40, 60)])) {
      expect(y.dtype).to.equal('uint8');
      pieces.push(y._hostData() as Uint8Array);
    }
    const w = whole._hostData();
    const bounds = [0, 7, 40, 60];
    pieces.forEach((p, k) => {
      const t0 = bounds[k]!,
        len = bounds[k + 1]! - t0;
      for (let b = 0; b < 2; ++b)
        expect(Array.from(p.subarray(b * len * 300, (b + 1) * len * 300))).to.deep.equal(
          Array.from(w.subarray((b * 60 + t0) * 300, (b * 60 + t0 + len) * 300)),
        );
    });
  });

  it('IAFSqueeze takes a float16 (B*T, N) input and returns uint8 spikes of that shape', function () {
    const x = Tensor.from(uniform(17, 6 * 50, 0, 2), [6, 50]);
    const want = new IAFSqueeze({ batchSize: 2 }).eval().forward(x);
    const y = new IAFSqueeze({ batchSize: 2, spikeDtype: 'uint8' }).eval().forward(x.to('float16'));
    const wantH = new IAFSqueeze({ batchSize: 2 }).eval().forward(x.to('float16').to('float32'));
    expect(y.shape).to.deep.equal([6, 50]);
    expect(Array.from(y.toFloat32Array())).to.deep.equal(counts(wantH));
    expect(want.shape).to.deep.equal([6, 50]);
  });

  describe('spike counts beyond uint8', function () {
    let threads = 0;
    before(() => (threads = getNumThreads()));
    after(() => setNumThreads(threads));

    // IAF with MultiSpike: the count of a step is floor(v / 1), so an input of 300 at one element
    // makes a count of 300 there
    const make = (training: boolean): IAF => {
      const l = new IAF({ spikeDtype: 'uint8' });
      return training ? l.train() : l.eval();
    };
    const input = (at: number[]): Tensor => {
      const x = new Float32Array(2 * 3 * 2048);
      for (const k of at) x[k] = 300;
      return Tensor.from(x, [2, 3, 2048]);
    };

    for (const training of [false, true])
      for (const t of [1, 2, 3])
        it(`${training ? 'training' : 'eval'}, ${t} thread(s): a RangeError naming the first element; the state is unchanged`, function () {
          setNumThreads(t);
          const layer = make(training);
          layer.forward(Tensor.from(uniform(18, 2 * 3 * 2048, 0, 0.9), [2, 3, 2048]));
          const v = bits(layer.vMem),
            rate = layer.firingRate,
            pending = layer.pendingCalls;
          // in the second batch entry, at the last step of the first neurons (the first job to run),
          // and at the first step of the last neurons: the first in memory order (2000) is named
          const e = thrown(() => layer.forward(input([3 * 2048 + 5, 2 * 2048 + 100, 2000])));
          expect(e).to.be.instanceOf(RangeError);
          expect(e.message).to.match(/forward: spike output element 2000 is 300, which spikeDtype 'uint8' cannot hold/);
          expect(bits(layer.vMem)).to.deep.equal(v);
          expect(layer.firingRate).to.equal(rate);
          expect(layer.pendingCalls).to.equal(pending);
        });

    it('a count of exactly 255 is fine', function () {
      const x = new Float32Array(10);
      x[4] = 255.5;
      const y = new IAF({ spikeDtype: 'uint8' }).eval().forward(Tensor.from(x, [1, 1, 10]));
      expect(Array.from(y._hostData())).to.deep.equal([0, 0, 0, 0, 255, 0, 0, 0, 0, 0]);
    });
  });

  describe('bad options and inputs', function () {
    it('spikeDtype: a TypeError for other dtypes, a RangeError without a spike function, unknown for ExpLeak', function () {
      let e = thrown(() => new LIF({ tauMem: 5, spikeDtype: 'float16' as never }));
      expect(e).to.be.instanceOf(TypeError);
      expect(e.message).to.match(/LIF: spikeDtype must be 'float32', 'uint8'; got 'float16'/);
      e = thrown(() => new LIF({ tauMem: 5, spikeFn: null, spikeDtype: 'uint8' }));
      expect(e).to.be.instanceOf(RangeError);
      expect(e.message).to.match(/spikeDtype 'uint8' needs a spike function/);
      e = thrown(() => new ExpLeak({ tauMem: 5, spikeDtype: 'uint8' } as never));
      expect(e).to.be.instanceOf(TypeError);
      expect(e.message).to.match(/unknown option 'spikeDtype'/);
      expect(new LIF({ tauMem: 5 }).spikeDtype).to.equal('float32');
    });

    it('a uint8 input is a TypeError naming the input; so is a uint8 gradient', function () {
      const layer = new LIF({ tauMem: 5 });
      let e = thrown(() => layer.forward(Tensor.zeros([1, 2, 3], { dtype: 'uint8' })));
      expect(e).to.be.instanceOf(TypeError);
      expect(e.message).to.match(/forward: input must be a float32 or float16 or bfloat16 tensor, got a uint8 tensor/);
      layer.forward(Tensor.zeros([1, 2, 3]));
      e = thrown(() => layer.backward(Tensor.zeros([1, 2, 3], { dtype: 'uint8' })));
      expect(e).to.be.instanceOf(TypeError);
      expect(e.message).to.match(/backward: gradOutput must be/);
    });

    it('the native contract: wrong array types and lengths for xType/outType are refused', function () {
      const n = native();
      const K = n.constants;
      const base = {
        B: 1,
        T: 2,
        N: 3,
        spike: K.spike.multi,
        reset: K.reset.subtract,
        surr: K.surrogate.singleExponential,
        hasSyn: false,
        theta: 1,
        hasMin: false,
        normInput: false,
        K: 32,
        alphaMem: Float32Array.of(0.5),
        v0: new Float32Array(3),
        v1: new Float32Array(3),
      };
      const call = (o: Record<string, unknown>): Error => thrown(() => n.lifForward({ ...base, ...o } as never));
      let e = call({ x: new Float32Array(6), xType: 1, out: new Float32Array(6) });
      expect(e).to.be.instanceOf(TypeError);
      expect(e.message).to.match(/'x' must be a Uint16Array/);
      e = call({ x: new Uint16Array(5), xType: 2, out: new Float32Array(6) });
      expect(e).to.be.instanceOf(RangeError);
      expect(e.message).to.match(/'x' has 5 elements, needs 6/);
      e = call({ x: new Float32Array(6), xType: 3, out: new Float32Array(6) });
      expect(e).to.be.instanceOf(RangeError);
      e = call({ x: new Float32Array(6), outType: 3, out: new Uint8Array(6) });
      expect(e).to.be.instanceOf(TypeError);
      expect(e.message).to.match(/'ioStatus' is required/);
      e = call({ x: new Float32Array(6), outType: 3, out: new Float32Array(6), ioStatus: new Float64Array(2) });
      expect(e.message).to.match(/'out' must be a Uint8Array/);
      e = call({ x: new Float32Array(6), outType: 1, out: new Float32Array(6) });
      expect(e).to.be.instanceOf(RangeError);
      e = call({ x: new Uint16Array(6), xType: 1, out: new Float32Array(6), emulate: true });
      expect(e).to.be.instanceOf(TypeError);
      expect(e.message).to.match(/CPU forward only/);
      // a correct call works and reports no overflow
      const status = Float64Array.of(7, 7);
      const out = new Uint8Array(6);
      n.lifForward({
        ...base,
        x: Uint16Array.of(0x4000, 0, 0, 0x3c00, 0, 0),
        xType: 1,
        outType: 3,
        out,
        ioStatus: status,
      } as never);
      expect(Array.from(out)).to.deep.equal([2, 0, 0, 1, 0, 0]);
      expect(Array.from(status)).to.deep.equal([-1, 0]);
    });
  });
});
