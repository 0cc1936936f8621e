// Export of models that were never imported: built with Sequential from the layers NIR maps (with
// the settings NIR means, so nothing is lost), trained a few SGD steps, exported with toNir, written
// with writeNir in both layouts, read back with readNir and rebuilt with fromNir. The rebuilt model
// holds the trained parameters bit for bit and gives the trained model's outputs exactly (spikes,
// and the ExpLeak membrane, which runs through the same kernels) on a new input.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  Conv2d,
  ExpLeakSqueeze,
  Flatten,
  IAFSqueeze,
  LIFSqueeze,
  Linear,
  SGD,
  Sequential,
  SumPool2d,
  Tensor,
  fromNir,
  mseLoss,
  readNir,
  toNir,
  writeNir,
} from '../../lib/index.js';
import { Rng } from '../../lib/rng.js';
import { checkNirStructure } from './structure.js';

/** Spike counts compared as numbers: -0 equals 0. */
const plain = (xs: ArrayLike<number>): number[] => Array.from(xs, (x) => (x === 0 ? 0 : x));

function uniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const r = new Rng(seed);
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * r.next());
}

/** A few SGD steps on the MSE between the output and a random target; returns the parameters before. */
function train(net: Sequential, x: Tensor, steps: number, seed: number): Record<string, number[]> {
  const before = Object.fromEntries(
    Object.entries(net.stateDict()).map(([k, v]) => [k, Array.from(v.toFloat32Array())]),
  );
  const params = net.parameters().filter((p) => p.requiresGrad);
  const opt = new SGD(params, { lr: 0.05, momentum: 0.5 });
  net.train();
  for (let s = 0; s < steps; ++s) {
    net.resetStates();
    const y = net.forward(x);
    const target = Tensor.from(uniform(y.size, seed + s, 0, 1), y.shape);
    const { grad } = mseLoss(y, target);
    net.backward(grad);
    opt.step();
    opt.zeroGrad();
  }
  net.eval();
  net.resetStates();
  return before;
}

const cases = [
  {
    name: 'Conv2d -> IAFSqueeze -> SumPool2d -> Flatten -> Linear -> LIFSqueeze (spikes out)',
    B: 2,
    T: 6,
    sample: [2, 8, 8],
    build: (B: number): Sequential =>
      new Sequential(
        new Conv2d({ inChannels: 2, outChannels: 4, kernelSize: 3, padding: 1, seed: 11 }),
        new IAFSqueeze({ spikeThreshold: 0.5, minVMem: -0.5, batchSize: B }),
        new SumPool2d({ kernelSize: 2 }),
        new Flatten(),
        new Linear({ inFeatures: 64, outFeatures: 6, seed: 12 }),
        new LIFSqueeze({
          tauMem: Tensor.from([4, 6, 8, 10, 12, 14], [6]),
          spikeThreshold: 0.4,
          normInput: false,
          batchSize: B,
        }),
      ),
  },
  {
    name: 'Linear -> LIFSqueeze -> Linear -> ExpLeakSqueeze (a membrane out)',
    B: 3,
    T: 8,
    sample: [5],
    build: (B: number): Sequential =>
      new Sequential(
        new Linear({ inFeatures: 5, outFeatures: 7, seed: 21 }),
        new LIFSqueeze({ tauMem: 8, spikeThreshold: 0.6, normInput: false, batchSize: B }),
        new Linear({ inFeatures: 7, outFeatures: 3, bias: false, seed: 22 }),
        new ExpLeakSqueeze({ tauMem: Tensor.from([3, 5, 9], [3]), batchSize: B }),
      ),
  },
];

describe('NIR export of models built and trained here', function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'spikelayers-nir-trained-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  for (const c of cases) {
    it(`${c.name}: trained with SGD, exported, written (both layouts) and read back, the same parameters and outputs`, async function () {
      const net = c.build(c.B);
      const rows = c.B * c.T;
      const n = c.sample.reduce((a, b) => a * b, 1);
      const xTrain = Tensor.from(uniform(rows * n, 5, -0.5, 1.5), [rows, ...c.sample]);
      const before = train(net, xTrain, 4, 100);
      const after = net.stateDict();
      // training changed the weights (and the trainable taus)
      for (const k of Object.keys(after).filter((k) => k.endsWith('weight') || k.endsWith('tau_mem')))
        expect(Array.from(after[k]!.toFloat32Array()), k).to.not.deep.equal(before[k]);

      const x = Tensor.from(uniform(rows * n, 6, -0.5, 1.5), [rows, ...c.sample]);
      const want = net.forward(x).toFloat32Array();
      expect(
        want.some((v) => v !== 0),
        'the output is not all zero',
      ).to.equal(true);
      const g = toNir(net, { inputShape: c.sample });
      expect(g.lost).to.deep.equal([]);
      for (const layout of ['current', '1.0.4'] as const) {
        const file = path.join(dir, `${layout}.nir`);
        await writeNir(file, g, { nirVersion: layout });
        await checkNirStructure(file, layout);
        const back = fromNir(await readNir(file), { batchSize: c.B });
        back.eval();
        // the parameters: the trained ones, bit for bit (fromNir's Linear always has a bias)
        const sd = back.stateDict();
        for (const [k, v] of Object.entries(after)) {
          if (k.endsWith('v_mem') || k.endsWith('i_syn')) continue;
          expect(Array.from(sd[k]!.toFloat32Array()), `${layout}: ${k}`).to.deep.equal(Array.from(v.toFloat32Array()));
        }
        const y = back.forward(x).toFloat32Array();
        expect(plain(y), `${layout}: outputs`).to.deep.equal(plain(want));
        // and a second run of the rebuilt model continues as the original does
        net.resetStates();
        back.resetStates();
        expect(plain(back.forward(x).toFloat32Array())).to.deep.equal(plain(net.forward(x).toFloat32Array()));
      }
    });
  }
});
