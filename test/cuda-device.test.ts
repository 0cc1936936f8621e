// CUDA device tests: run only where a usable GPU is present (skipped with the probe's reason
// otherwise). The golden suite on 'cuda', CPU-vs-CUDA comparisons on the benchmark workloads and
// on every spike/reset/surrogate kind (tauSyn on and off, several calls), device tensors, and
// mixing devices.
import { expect } from 'chai';
import {
  Gaussian,
  Heaviside,
  LIF,
  MaxSpike,
  MembraneReset,
  MultiGaussian,
  PeriodicExponential,
  SingleSpike,
  Tensor,
  backendInfo,
  type LIFOptions,
} from '../lib/index.js';
import { loadGolden, runGoldenCase } from './support/golden.js';
import { uniform } from './support/random.js';

const cuda = backendInfo().cuda;

/** Two training calls, backward of both, an eval call; all outputs as host arrays. */
function run(opts: LIFOptions, device: string, shape: number[], seed: number): Map<string, Float32Array> {
  const layer = new LIF({ ...opts, device, recordStates: true });
  const n = shape.reduce((a, b) => a * b, 1);
  const res = new Map<string, Float32Array>();
  const gs: Tensor[] = [];
  for (let c = 0; c < 2; ++c) {
    const x = Tensor.from(uniform(seed + c, n, -0.5, 3), shape, { device });
    res.set(`out${c}`, layer.forward(x).toFloat32Array());
    res.set(`v${c}`, layer.vMem!.toFloat32Array());
    if (layer.iSyn) res.set(`i${c}`, layer.iSyn.toFloat32Array());
    res.set(`recV${c}`, layer.recordings.vMem!.toFloat32Array());
    gs.push(Tensor.from(uniform(seed + 9 + c, n, -1, 1), shape, { device }));
  }
  for (let c = 1; c >= 0; --c) res.set(`gx${c}`, layer.backward(gs[c]!).toFloat32Array());
  for (const [name, p] of layer.namedParameters()) if (p.grad) res.set(`grad:${name}`, p.grad.toFloat32Array());
  layer.eval();
  res.set('eval', layer.forward(Tensor.from(uniform(seed + 20, n, -0.5, 3), shape, { device })).toFloat32Array());
  return res;
}

function expectSame(cpu: Map<string, Float32Array>, gpu: Map<string, Float32Array>): void {
  expect([...gpu.keys()]).to.deep.equal([...cpu.keys()]);
  for (const [k, a] of cpu) {
    const b = gpu.get(k)!;
    for (let q = 0; q < a.length; ++q)
      if (!Object.is(a[q], b[q]) && !(a[q] === b[q])) expect.fail(`${k}[${q}]: cpu ${a[q]} vs cuda ${b[q]}`);
  }
}

const kinds: [string, LIFOptions][] = [
  ['defaults', { tauMem: 20 }],
  ['tauSyn', { tauMem: 20, tauSyn: 10 }],
  [
    'SingleSpike + MembraneReset + minVMem',
    { tauMem: 10, spikeFn: SingleSpike, resetFn: new MembraneReset({ resetValue: 0.1 }), minVMem: -0.2 },
  ],
  [
    'MaxSpike + Heaviside',
    { tauMem: 8, spikeFn: new MaxSpike({ maxNumSpikesPerBin: 2 }), surrogateGradFn: new Heaviside() },
  ],
  ['Gaussian, tauSyn', { tauMem: 15, tauSyn: 5, surrogateGradFn: new Gaussian() }],
  ['MultiGaussian, trainAlphas', { tauMem: 12, trainAlphas: true, surrogateGradFn: new MultiGaussian() }],
  [
    'PeriodicExponential, normInput false',
    { tauMem: 25, normInput: false, surrogateGradFn: new PeriodicExponential() },
  ],
];

describe('CUDA device', function () {
  before(function () {
    if (!cuda.available) {
      console.log(`      skipped: no usable GPU (${cuda.code}: ${cuda.reason})`);
      this.skip();
    }
  });

  it('device tensors: from, to, toFloat32Array, dispose', function () {
    const a = Tensor.from([1, 2, 3, 4], [2, 2], { device: 'cuda' });
    expect(a.device).to.equal('cuda:0');
    expect(Array.from(a.toFloat32Array())).to.deep.equal([1, 2, 3, 4]);
    const b = a.to('cpu');
    expect(b.device).to.equal('cpu');
    a.dispose();
    a.dispose();
    expect(() => a.toFloat32Array()).to.throw(/disposed/);
    expect(Array.from(b.to('cuda').toFloat32Array())).to.deep.equal([1, 2, 3, 4]);
  });

  it('mixing devices in one call is a TypeError naming both devices', function () {
    const layer = new LIF({ tauMem: 20, device: 'cuda' });
    expect(() => layer.forward(Tensor.zeros([1, 2, 3]))).to.throw(TypeError, /cpu.*cuda:0/);
  });

  for (const [name, opts] of kinds) {
    it(`cpu and cuda agree bit for bit: ${name}`, function () {
      expectSame(run(opts, 'cpu', [3, 70, 50], 5), run(opts, 'cuda', [3, 70, 50], 5));
    });
  }
  for (const [name, shape] of [
    ['mlp', [64, 100, 1024]],
    ['conv', [16, 50, 16, 32, 32]],
    ['long', [8, 1000, 512]],
  ] as const) {
    it(`cpu and cuda agree on the ${name} workload`, function () {
      this.timeout(600000);
      expectSame(run({ tauMem: 20 }, 'cpu', [...shape], 1), run({ tauMem: 20 }, 'cuda', [...shape], 1));
    });
  }

  it('layer.to moves state and pending calls', function () {
    const x = (d: string) => Tensor.from(uniform(3, 2 * 10 * 4, 0, 2), [2, 10, 4], { device: d });
    const g = (d: string) => Tensor.from(uniform(4, 2 * 10 * 4, -1, 1), [2, 10, 4], { device: d });
    const ref = new LIF({ tauMem: 5 });
    ref.forward(x('cpu'));
    const r = ref.backward(g('cpu')).toFloat32Array();
    const l = new LIF({ tauMem: 5 });
    l.forward(x('cpu'));
    l.to('cuda');
    expect(Array.from(l.backward(g('cuda')).toFloat32Array())).to.deep.equal(Array.from(r));
  });

  it('forwardAsync on cuda matches forward', async function () {
    const layer = new LIF({ tauMem: 20, device: 'cuda' });
    const x = Tensor.from(uniform(8, 4 * 50 * 300, 0, 2), [4, 50, 300], { device: 'cuda' });
    const a = (await layer.forwardAsync(x)).toFloat32Array();
    const ref = new LIF({ tauMem: 20 }).forward(x.to('cpu')).toFloat32Array();
    expect(Array.from(a)).to.deep.equal(Array.from(ref));
  });

  const golden = loadGolden();
  describe('golden suite on cuda', function () {
    for (const c of golden ?? []) it(`${c.name} (${c.layer})`, () => runGoldenCase(c, undefined, 'cuda'));
  });
});
