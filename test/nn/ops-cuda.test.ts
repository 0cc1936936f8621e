// The tensor operations on a GPU against the CPU path: pooling, readouts, losses, optimizers and
// clipGradNorm. The elementwise and fixed-order reductions run the same per-thread code, so the
// results are bit-identical except where the device's exp/log (cross-entropy) may round a last
// bit differently. Skipped (with the reason) where no GPU is usable.
import { expect } from 'chai';
import {
  Adam,
  AdamW,
  AvgPool2d,
  LastStep,
  MaxOverTime,
  SGD,
  SumOverTime,
  SumPool2d,
  Tensor,
  backendInfo,
  clipGradNorm,
  crossEntropyLoss,
  mseLoss,
  type Optimizer,
} from '../../lib/index.js';
import { rng, uniform } from '../support/random.js';
import { maxAbs, maxAbsDiff } from '../support/reference.js';

const info = backendInfo();
const gpu = info.cuda.available && info.cuda.devices.some((d) => d.usable);

describe('tensor operations on CUDA vs the CPU path', function () {
  before(function () {
    if (!gpu) {
      console.log(`      skipped: no usable GPU (${info.cuda.code}: ${info.cuda.reason})`);
      this.skip();
    }
  });

  it('pooling forward/backward (AvgPool2d, SumPool2d) and the readouts are bit-identical; results stay on the device', () => {
    const shape = [3, 4, 11, 9];
    const n = shape.reduce((a, b) => a * b, 1);
    const r = rng(1);
    const xs = Float32Array.from({ length: n }, () => (r() < 0.6 ? 0 : Math.floor(r() * 3) - 0.5));
    for (const make of [() => new AvgPool2d({ kernelSize: 2 }), () => new SumPool2d({ kernelSize: 3, stride: 2 })]) {
      const cpu = make(),
        dev = make().to('cuda');
      const yc = cpu.forward(Tensor.from(xs, shape)),
        yd = dev.forward(Tensor.from(xs, shape, { device: 'cuda' }));
      expect(yd.device).to.equal('cuda:0');
      expect(yd.toArray()).to.deep.equal(yc.toArray());
      const g = uniform(2, yc.size, -1, 1);
      const dc = cpu.backward(Tensor.from(g, yc.shape)),
        dd = dev.backward(Tensor.from(g, yc.shape, { device: 'cuda' }));
      expect(dd.device).to.equal('cuda:0');
      expect(dd.toArray()).to.deep.equal(dc.toArray());
    }
    const x = uniform(3, 5 * 7 * 6, -1, 1),
      g = uniform(4, 5 * 6, -1, 1);
    for (const make of [() => new SumOverTime(), () => new MaxOverTime(), () => new LastStep()]) {
      const cpu = make(),
        dev = make().to('cuda');
      expect(dev.forward(Tensor.from(x, [5, 7, 6], { device: 'cuda' })).toArray()).to.deep.equal(
        cpu.forward(Tensor.from(x, [5, 7, 6])).toArray(),
      );
      expect(dev.backward(Tensor.from(g, [5, 6], { device: 'cuda' })).toArray()).to.deep.equal(
        cpu.backward(Tensor.from(g, [5, 6])).toArray(),
      );
    }
  });

  it('mseLoss is bit-identical; crossEntropyLoss agrees to 1e-12 (device exp/log)', () => {
    const n = 70_001;
    const o = uniform(5, n, -1, 1),
      t = uniform(6, n, -1, 1);
    const mc = mseLoss(Tensor.from(o, [n]), Tensor.from(t, [n]));
    const md = mseLoss(Tensor.from(o, [n], { device: 'cuda' }), Tensor.from(t, [n], { device: 'cuda' }));
    expect(md.loss).to.equal(mc.loss);
    expect(md.grad.device).to.equal('cuda:0');
    expect(md.grad.toArray()).to.deep.equal(mc.grad.toArray());
    const B = 257,
      C = 10;
    const z = uniform(7, B * C, -5, 5);
    const r = rng(8);
    const labels = Array.from({ length: B }, () => Math.floor(r() * C));
    const cc = crossEntropyLoss(Tensor.from(z, [B, C]), labels);
    const cd = crossEntropyLoss(Tensor.from(z, [B, C], { device: 'cuda' }), labels);
    expect(Math.abs(cd.loss - cc.loss)).to.be.at.most(1e-12 * Math.abs(cc.loss));
    expect(cd.grad.device).to.equal('cuda:0');
    expect(maxAbsDiff(cd.grad.toFloat32Array(), cc.grad.toFloat32Array())).to.be.at.most(
      1e-7 * maxAbs(cc.grad.toFloat32Array()),
    );
  });

  it('SGD, Adam, AdamW and clipGradNorm on device parameters: state on the device, bit-identical to the CPU', () => {
    const n = 40_003;
    for (const make of [
      (ps: Tensor[]) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 }) as Optimizer,
      (ps: Tensor[]) => new Adam(ps, { lr: 0.01, weightDecay: 0.01, min: -0.9 }),
      (ps: Tensor[]) => new AdamW(ps, { lr: 0.01 }),
    ]) {
      const runOn = (device: string) => {
        const p = Tensor.from(uniform(9, n, -1, 1), [n], { device });
        p.requiresGrad = true;
        const opt = make([p]);
        const norms: number[] = [];
        for (let s = 0; s < 4; ++s) {
          p.grad = Tensor.from(uniform(10 + s, n, -2, 2), [n], { device });
          norms.push(clipGradNorm([p], 100));
          opt.step();
        }
        const st = opt.stateDict().state[0]!;
        for (const v of Object.values(st))
          if (v instanceof Tensor) expect(v.device).to.equal(device === 'cpu' ? 'cpu' : 'cuda:0');
        return { p: p.toArray(), norms };
      };
      const c = runOn('cpu'),
        d = runOn('cuda');
      expect(d.norms).to.deep.equal(c.norms);
      expect(d.p).to.deep.equal(c.p);
    }
  });
});
