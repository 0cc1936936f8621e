// Small CUDA workloads that reach every LIF kernel variant, the async path and a two-layer network
// in a few seconds: the part of the CUDA suites that the GPU check (scripts/gpu-check.sh) runs
// under compute-sanitizer memcheck and initcheck, where each launch is slowed down many times.
// Skipped, saying why, where no usable GPU exists. Every result is compared with the CPU path
// bit for bit (the LIF kernels round exactly as the CPU does), or, for the GEMM of a Linear layer,
// with a float64 reference.
import { expect } from 'chai';
import {
  LIF,
  Linear,
  MaxSpike,
  MembraneReset,
  Sequential,
  Tensor,
  backendInfo,
  type LIFOptions,
} from '../lib/index.js';
import { uniform } from './support/random.js';
import { assertClose, linearRef } from './support/reference-nn.js';

const cuda = backendInfo().cuda;

function sameBits(what: string, a: Float32Array, b: Float32Array): void {
  expect(b.length, `${what}: length`).to.equal(a.length);
  for (let k = 0; k < a.length; ++k)
    if (!Object.is(a[k], b[k])) expect.fail(`${what}[${k}]: cpu ${a[k]} vs cuda ${b[k]}`);
}

/** Two training calls of `shape` (odd sizes: partial blocks), their backward in reverse, then an eval call. */
function run(opts: LIFOptions, device: string, shape: number[], seed: number): Map<string, Float32Array> {
  const layer = new LIF({ ...opts, device, recordStates: true });
  const n = shape.reduce((a, b) => a * b, 1);
  const res = new Map<string, Float32Array>();
  const grads: Tensor[] = [];
  for (let c = 0; c < 2; ++c) {
    const x = Tensor.from(uniform(seed + c, n, -0.5, 3), shape, { device });
    res.set(`out${c}`, layer.forward(x).toFloat32Array());
    res.set(`vMem${c}`, layer.vMem!.toFloat32Array());
    if (layer.iSyn) res.set(`iSyn${c}`, layer.iSyn.toFloat32Array());
    grads.push(Tensor.from(uniform(seed + 10 + c, n, -1, 1), shape, { device }));
  }
  for (let c = 1; c >= 0; --c) res.set(`gradIn${c}`, layer.backward(grads[c]!).toFloat32Array());
  for (const [name, p] of layer.namedParameters()) if (p.grad) res.set(`grad:${name}`, p.grad.toFloat32Array());
  layer.eval();
  res.set('eval', layer.forward(Tensor.from(uniform(seed + 20, n, -0.5, 3), shape, { device })).toFloat32Array());
  return res;
}

describe('CUDA, small workloads (the sanitizer subset of the GPU check)', function () {
  before(function () {
    if (!cuda.available) {
      console.log(`      skipped: no usable GPU (${cuda.code}: ${cuda.reason})`);
      this.skip();
    }
  });

  const kinds: [string, LIFOptions][] = [
    ['defaults', { tauMem: 20 }],
    ['tauSyn, minVMem', { tauMem: 10, tauSyn: 5, minVMem: -1 }],
    [
      'MaxSpike, MembraneReset, trainAlphas',
      {
        tauMem: 8,
        spikeFn: new MaxSpike({ maxNumSpikesPerBin: 2 }),
        resetFn: new MembraneReset({ resetValue: 0 }),
        trainAlphas: true,
      },
    ],
  ];
  for (const [name, opts] of kinds)
    it(`LIF ${name}: forward, recordings, backward and parameter gradients equal the CPU's bit for bit`, () => {
      const shape = [3, 70, 13]; // T = 70: more than two checkpoint chunks
      const cpu = run(opts, 'cpu', shape, 5);
      const gpu = run(opts, 'cuda', shape, 5);
      expect([...gpu.keys()]).to.deep.equal([...cpu.keys()]);
      for (const [k, a] of cpu) sameBits(k, a, gpu.get(k)!);
    });

  it('forwardAsync and backwardAsync on device tensors give what the synchronous calls give', async () => {
    const shape = [2, 40, 33];
    const n = 2 * 40 * 33;
    const x = uniform(31, n, 0, 2.5),
      g = uniform(32, n, -1, 1);
    const sync = new LIF({ tauMem: 12, tauSyn: 4, device: 'cuda' });
    const ySync = sync.forward(Tensor.from(x, shape, { device: 'cuda' })).toFloat32Array();
    const gSync = sync.backward(Tensor.from(g, shape, { device: 'cuda' })).toFloat32Array();
    const layer = new LIF({ tauMem: 12, tauSyn: 4, device: 'cuda' });
    const y = await layer.forwardAsync(Tensor.from(x, shape, { device: 'cuda' }));
    expect(y.device).to.equal('cuda:0');
    const gi = await layer.backwardAsync(Tensor.from(g, shape, { device: 'cuda' }));
    sameBits('output', ySync, y.toFloat32Array());
    sameBits('gradInput', gSync, gi.toFloat32Array());
  });

  it('Linear -> LIF -> Linear -> LIF on the device: the first Linear matches the float64 reference, two runs are identical', () => {
    const B = 4,
      T = 25,
      IN = 37,
      HID = 65,
      OUT = 7;
    const build = (): Sequential =>
      new Sequential(
        new Linear({ inFeatures: IN, outFeatures: HID, seed: 1, device: 'cuda' }),
        new LIF({ tauMem: 10, device: 'cuda' }),
        new Linear({ inFeatures: HID, outFeatures: OUT, seed: 2, device: 'cuda' }),
        new LIF({ tauMem: 10, device: 'cuda' }),
      );
    const x = uniform(41, B * T * IN, 0, 1),
      g = uniform(42, B * T * OUT, -1, 1);
    const once = (): Map<string, Float32Array> => {
      const net = build();
      const out = net.forward(Tensor.from(x, [B, T, IN], { device: 'cuda' }));
      const gi = net.backward(Tensor.from(g, out.shape, { device: 'cuda' }));
      const res = new Map<string, Float32Array>([
        ['out', out.toFloat32Array()],
        ['gradIn', gi.toFloat32Array()],
      ]);
      for (const [name, p] of net.namedParameters()) if (p.grad) res.set(`grad:${name}`, p.grad.toFloat32Array());
      return res;
    };
    const a = once(),
      b = once();
    for (const [k, v] of a) sameBits(`second run ${k}`, v, b.get(k)!);

    const first = new Linear({ inFeatures: IN, outFeatures: HID, seed: 1, device: 'cuda' });
    const y = first.forward(Tensor.from(x, [B * T, IN], { device: 'cuda' })).toFloat32Array();
    const ref = linearRef(x, B * T, IN, first.weight.toFloat32Array(), HID, first.bias!.toFloat32Array());
    assertClose(y, ref, 'first Linear output');
  });
});
