// Results must not depend on the OpenMP thread count (kernels.md: fixed reduction order, no
// float atomics). Every output of forward and backward is compared bit for bit (the bytes of the
// Float32Arrays) between 1, 2 and 3 threads, on sizes spanning several neuron chunks
// (N = 200, B = 5) and T = 70, which is not a multiple of the checkpoint interval.
import { expect } from 'chai';
import {
  CHECKPOINT_INTERVAL,
  Gaussian,
  LIF,
  MaxSpike,
  MembraneReset,
  MembraneSubtract,
  PeriodicExponential,
  SingleExponential,
  SingleSpike,
  Tensor,
  getNumThreads,
  setNumThreads,
  type LIFOptions,
} from '../lib/index.js';
import { uniform } from './support/random.js';

const B = 5,
  T = 70,
  N = 200;

/** Everything a run produces, as named Float32Arrays. */
type Snapshot = Map<string, Float32Array>;

/**
 * Two forward calls carrying state (training mode, recordStates), then backward of both in
 * reverse order; a third call in eval mode. All outputs, states, recordings, input gradients and
 * parameter gradients are collected. `async` uses forwardAsync/backwardAsync.
 */
async function runAll(make: () => LIFOptions, seed: number, useAsync: boolean): Promise<Snapshot> {
  const layer = new LIF({ ...make(), recordStates: true });
  const snap: Snapshot = new Map();
  const grads: Tensor[] = [];
  for (let c = 0; c < 2; ++c) {
    const x = Tensor.from(uniform(seed + c, B * T * N, -1.5, 6), [B, T, N]);
    const out = useAsync ? await layer.forwardAsync(x) : layer.forward(x);
    snap.set(`call${c}.output`, out.toFloat32Array());
    snap.set(`call${c}.vMem`, layer.vMem!.toFloat32Array());
    if (layer.iSyn) snap.set(`call${c}.iSyn`, layer.iSyn.toFloat32Array());
    const rec = layer.recordings;
    snap.set(`call${c}.recordings.vMem`, rec.vMem!.toFloat32Array());
    if (rec.iSyn) snap.set(`call${c}.recordings.iSyn`, rec.iSyn.toFloat32Array());
    grads.push(Tensor.from(uniform(seed + 100 + c, B * T * N, -1, 1), [B, T, N]));
  }
  for (let c = 1; c >= 0; --c) {
    const gi = useAsync ? await layer.backwardAsync(grads[c]!) : layer.backward(grads[c]!);
    snap.set(`call${c}.gradInput`, gi.toFloat32Array());
  }
  for (const [name, p] of layer.namedParameters()) if (p.grad) snap.set(`${name}.grad`, p.grad.toFloat32Array());
  layer.eval();
  const x = Tensor.from(uniform(seed + 7, B * T * N, -1.5, 6), [B, T, N]);
  snap.set('eval.output', layer.forward(x).toFloat32Array());
  snap.set('eval.vMem', layer.vMem!.toFloat32Array());
  return snap;
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function expectIdentical(ref: Snapshot, got: Snapshot, what: string): void {
  expect([...got.keys()].sort(), `${what}: same set of results`).to.deep.equal([...ref.keys()].sort());
  for (const [k, a] of ref) {
    const b = got.get(k)!;
    expect(b.length, `${what}: ${k} length`).to.equal(a.length);
    if (!bytes(a).equals(bytes(b))) {
      let first = -1;
      const ai = new Int32Array(a.buffer, a.byteOffset, a.length),
        bi = new Int32Array(b.buffer, b.byteOffset, b.length);
      for (let q = 0; q < a.length; ++q)
        if (ai[q] !== bi[q]) {
          first = q;
          break;
        }
      expect.fail(`${what}: ${k} differs at element ${first}: ${a[first]} vs ${b[first]}`);
    }
  }
}

const perNeuron = (seed: number, lo: number, hi: number): Tensor => Tensor.from(uniform(seed, N, lo, hi), [N]);

const CONFIGS: { name: string; make: () => LIFOptions; needsParamGrad: string[] }[] = [
  {
    name: 'scalar tauMem, tauSyn, MultiSpike + MembraneSubtract, minVMem',
    make: () => ({ tauMem: 12, tauSyn: 6, minVMem: -0.5 }),
    needsParamGrad: ['tau_mem', 'tau_syn'],
  },
  {
    name: 'per-neuron tauMem and tauSyn Tensors, MembraneReset(0.1), minVMem, Gaussian',
    make: () => ({
      tauMem: perNeuron(11, 2, 40),
      tauSyn: perNeuron(12, 1.5, 20),
      resetFn: new MembraneReset({ resetValue: 0.1 }),
      minVMem: -0.8,
      surrogateGradFn: new Gaussian({ sigma: 0.6 }),
      spikeThreshold: 1.3,
    }),
    needsParamGrad: ['tau_mem', 'tau_syn'],
  },
  {
    name: 'per-neuron tauMem, no tauSyn, MaxSpike(3), PeriodicExponential, normInput false',
    make: () => ({
      tauMem: perNeuron(21, 3, 60),
      spikeFn: new MaxSpike({ maxNumSpikesPerBin: 3 }),
      normInput: false,
      surrogateGradFn: new PeriodicExponential(),
      spikeThreshold: 2.5,
    }),
    needsParamGrad: ['tau_mem'],
  },
  {
    name: 'scalar tauMem, trainAlphas, SingleSpike, MembraneSubtract(0.7), tauSyn',
    make: () => ({
      tauMem: 25,
      tauSyn: 4,
      trainAlphas: true,
      spikeFn: SingleSpike,
      resetFn: new MembraneSubtract({ subtractValue: 0.7 }),
      surrogateGradFn: new SingleExponential({ gradWidth: 0.3 }),
    }),
    needsParamGrad: ['alpha_mem', 'alpha_syn'],
  },
  {
    name: 'custom spikeFn and surrogate callables (MultiSpike + MembraneReset)',
    make: () => ({
      tauMem: perNeuron(31, 5, 30),
      tauSyn: 8,
      resetFn: new MembraneReset(),
      minVMem: -1,
      spikeFn: {
        forward: (v: Float32Array, th: number) =>
          Float32Array.from(v, (u) => (u > 0 ? Math.trunc(Math.fround(u / th)) : 0)),
      },
      surrogateGradFn: (v: Float32Array, th: number) =>
        Float32Array.from(v, (u) => 2 * Math.exp(-2 * Math.abs(u - th))),
    }),
    needsParamGrad: ['tau_mem', 'tau_syn'],
  },
];

describe('determinism: results do not depend on the thread count', function () {
  let saved = 0;
  before(function () {
    saved = getNumThreads();
  });
  after(function () {
    setNumThreads(saved);
    expect(getNumThreads()).to.equal(saved);
  });

  it('the test sizes span several checkpoint chunks with a partial last one', function () {
    expect(T % CHECKPOINT_INTERVAL, `T = ${T} must not be a multiple of ${CHECKPOINT_INTERVAL}`).to.not.equal(0);
    expect(T).to.be.greaterThan(2 * CHECKPOINT_INTERVAL);
  });

  it('setNumThreads / getNumThreads round-trip', function () {
    for (const n of [1, 2, 3]) {
      setNumThreads(n);
      expect(getNumThreads()).to.equal(n);
    }
    setNumThreads(saved);
  });

  for (const cfg of CONFIGS) {
    it(cfg.name, async function () {
      const snaps: Snapshot[] = [];
      for (const n of [1, 2, 3]) {
        setNumThreads(n);
        snaps.push(await runAll(cfg.make, 4242, false));
      }
      setNumThreads(saved);
      const ref = snaps[0]!;
      // the comparison must be meaningful: spikes occur, gradients are non-trivial
      const spikes = ref.get('call0.output')!.reduce((s, v) => s + v, 0);
      expect(spikes, 'the data produces spikes').to.be.greaterThan(100);
      for (const p of cfg.needsParamGrad) {
        const g = ref.get(`${p}.grad`);
        expect(g, `${p}.grad present`).to.not.equal(undefined);
        expect(
          g!.some((v) => v !== 0),
          `${p}.grad non-zero`,
        ).to.equal(true);
      }
      expect(
        ref.get('call0.gradInput')!.some((v) => v !== 0),
        'gradInput non-zero',
      ).to.equal(true);
      expectIdentical(ref, snaps[1]!, '1 vs 2 threads');
      expectIdentical(ref, snaps[2]!, '1 vs 3 threads');
    });
  }

  it('async calls give the same bits as sync calls, with 2 threads', async function () {
    const cfg = CONFIGS[1]!;
    setNumThreads(1);
    const sync1 = await runAll(cfg.make, 777, false);
    setNumThreads(2);
    const async2 = await runAll(cfg.make, 777, true);
    setNumThreads(saved);
    expectIdentical(sync1, async2, 'sync (1 thread) vs async (2 threads)');
  });

  it('a result computed on more threads is unchanged by the thread count of a later call', function () {
    // forward on 3 threads, backward on 1: the backward replays checkpoints written by the forward
    const make = CONFIGS[0]!.make;
    const x = Tensor.from(uniform(5, B * T * N, -1.5, 6), [B, T, N]);
    const g = Tensor.from(uniform(6, B * T * N, -1, 1), [B, T, N]);
    const run = (nf: number, nb: number): [Float32Array, Float32Array, Float32Array] => {
      const layer = new LIF(make());
      setNumThreads(nf);
      const out = layer.forward(x).toFloat32Array();
      setNumThreads(nb);
      const gi = layer.backward(g).toFloat32Array();
      setNumThreads(saved);
      return [out, gi, layer.tauMem!.grad!.toFloat32Array()];
    };
    const a = run(1, 1),
      b = run(3, 1),
      c = run(1, 3);
    for (let k = 0; k < 3; ++k) {
      expect(bytes(a[k]!).equals(bytes(b[k]!)), `result ${k}: forward 3 threads, backward 1`).to.equal(true);
      expect(bytes(a[k]!).equals(bytes(c[k]!)), `result ${k}: forward 1 thread, backward 3`).to.equal(true);
    }
  });
});
