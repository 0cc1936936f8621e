// The README's network example at its real size (700 -> 256 -> 20, LIF, spike counts as logits):
// a training step with crossEntropyLoss and Adam, and the state dict through a safetensors file.
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  Adam,
  LIF,
  Linear,
  Sequential,
  SumOverTime,
  Tensor,
  crossEntropyLoss,
  loadSafetensors,
  saveSafetensors,
} from '../../lib/index.js';
import { rng } from '../support/random.js';

const B = 2,
  T = 25,
  F = 700;

function shd(seed: number): { snn: Sequential; net: Sequential } {
  const snn = new Sequential(
    new Linear({ inFeatures: F, outFeatures: 256, seed }),
    new LIF({ tauMem: 20 }),
    new Linear({ inFeatures: 256, outFeatures: 20, seed: seed + 1 }),
    new LIF({ tauMem: 20 }),
  );
  return { snn, net: new Sequential(snn, new SumOverTime()) };
}

/** Sparse event counts (about 10% of the entries are 1 or 2). */
function events(seed: number): Tensor {
  const r = rng(seed);
  return Tensor.from(
    Float32Array.from({ length: B * T * F }, () => (r() < 0.1 ? (r() < 0.8 ? 1 : 2) : 0)),
    [B, T, F],
  );
}

describe('README network example (SHD-shaped)', function () {
  it('a training step: logits (B, 20), a finite loss, gradients for every trainable parameter, Adam moves them', function () {
    const { snn, net } = shd(3);
    expect(Object.keys(snn.stateDict())).to.deep.equal([
      '0.weight',
      '0.bias',
      '1.tau_mem',
      '1.spike_threshold',
      '1.v_mem',
      '2.weight',
      '2.bias',
      '3.tau_mem',
      '3.spike_threshold',
      '3.v_mem',
    ]);
    const opt = new Adam(net.parameters(), { lr: 1e-3 });
    net.resetStates();
    net.zeroGrad();
    const x = events(5);
    const logits = net.forward(x);
    expect(logits.shape).to.deep.equal([B, 20]);
    const { loss, grad } = crossEntropyLoss(logits, Int32Array.from([3, 17]));
    expect(Number.isFinite(loss)).to.equal(true);
    const gx = net.backward(grad);
    expect(gx.shape).to.deep.equal([B, T, F]);
    const trainable = net.namedParameters().filter(([, p]) => p.requiresGrad);
    expect(trainable.map(([k]) => k)).to.deep.equal([
      '0.0.weight',
      '0.0.bias',
      '0.1.tau_mem',
      '0.2.weight',
      '0.2.bias',
      '0.3.tau_mem',
    ]);
    const before = trainable.map(([, p]) => p.toArray());
    for (const [k, p] of trainable) expect(p.grad, `${k}.grad`).to.be.instanceOf(Tensor);
    opt.step();
    trainable.forEach(([k, p], i) => {
      const g = p.grad!.toArray();
      const moved = p.toArray().some((v, j) => v !== before[i]![j]);
      // Adam moves every element with a nonzero gradient
      if (g.some((v) => v !== 0)) expect(moved, `${k} updated`).to.equal(true);
    });
  });

  it('stateDict -> safetensors -> loadStateDict into a fresh network gives the same outputs', function () {
    const a = shd(11),
      b = shd(99);
    const x = events(8);
    a.net.forward(x);
    const dir = mkdtempSync(path.join(tmpdir(), 'spikelayers-shd-'));
    try {
      const file = path.join(dir, 'shd.safetensors');
      saveSafetensors(file, a.snn.stateDict());
      b.snn.loadStateDict(loadSafetensors(file));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // the state came along too: the next call continues from it in both networks
    const x2 = events(9);
    expect(b.net.forward(x2).toArray()).to.deep.equal(a.net.forward(x2).toArray());
  });
});
