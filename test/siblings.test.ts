// IAF, ExpLeak and the squeeze variants (the golden suite covers IAF and ExpLeak against sinabs).
import { expect } from 'chai';
import { ExpLeak, ExpLeakSqueeze, IAF, IAFSqueeze, LIF, LIFSqueeze, Tensor } from '../lib/index.js';
import { uniform } from './support/random.js';

const data = (seed: number, n: number, lo: number, hi: number): Float32Array => uniform(seed, n, lo, hi);

describe('sibling layers', function () {
  it('IAF has no tau_mem parameter and never leaks', function () {
    const l = new IAF();
    expect(l.kind).to.equal('IAF');
    expect(l.namedParameters().map(([n]) => n)).to.deep.equal(['spike_threshold']);
    expect(l.tauMem).to.equal(null);
    expect(l.alphaMem).to.equal(null);
    expect(l.alphaMemCalculated.item()).to.equal(1);
    // 0.3 per step, no leak, no normalisation: spikes at steps 3 (0.9+0.3=1.2 -> 1, rest 0.2)...
    const out = l.forward(Tensor.full([1, 4, 1], 0.3)).toArray();
    expect(out).to.deep.equal([0, 0, 0, 1]);
    expect(l.vMem!.item()).to.be.closeTo(0.2, 1e-6);
    expect(String(l)).to.match(/^IAF\(/);
  });

  it('IAF with tauSyn trains tau_syn only', function () {
    const l = new IAF({ tauSyn: 5 });
    expect(l.namedParameters().map(([n]) => n)).to.deep.equal(['tau_syn', 'spike_threshold']);
    l.forward(Tensor.from(data(1, 60, 0, 2), [2, 10, 3]));
    l.backward(Tensor.from(data(2, 60, -1, 1), [2, 10, 3]));
    expect(l.tauSyn!.grad).to.be.instanceOf(Tensor);
  });

  it('IAF rejects LIF-only options', function () {
    expect(() => new IAF({ tauMem: 20 } as never)).to.throw(TypeError, /tauMem/);
    expect(() => new IAF({ normInput: true } as never)).to.throw(TypeError, /normInput/);
  });

  it('ExpLeak: no spikes, normInput false by default, output unclipped while the state is clipped', function () {
    const l = new ExpLeak({ tauMem: 10, minVMem: -0.1 });
    expect(l.normInput).to.equal(false);
    expect(l.spikeThreshold).to.equal(null);
    expect(l.namedParameters().map(([n]) => n)).to.deep.equal(['tau_mem', 'min_v_mem']);
    const out = l.forward(Tensor.from([-1, 0.5], [1, 2, 1])).toArray();
    const a = Math.fround(Math.exp(-0.1));
    expect(out[0]).to.equal(-1); // u_0 = x_0, below min_v_mem, not clipped in the output
    expect(out[1]).to.equal(Math.fround(Math.fround(a * Math.fround(-0.1)) + 0.5)); // v_0 was clipped to -0.1
    expect(() => new ExpLeak({ tauMem: 10, spikeThreshold: 1 } as never)).to.throw(TypeError, /spikeThreshold/);
  });

  for (const [name, make, ref] of [
    [
      'LIFSqueeze',
      () => new LIFSqueeze({ tauMem: 8, tauSyn: 3, batchSize: 3 }),
      () => new LIF({ tauMem: 8, tauSyn: 3 }),
    ],
    ['IAFSqueeze', () => new IAFSqueeze({ numTimesteps: 10 }), () => new IAF()],
    [
      'ExpLeakSqueeze',
      () => new ExpLeakSqueeze({ tauMem: 6, batchSize: 3, numTimesteps: 10 }),
      () => new ExpLeak({ tauMem: 6 }),
    ],
  ] as const) {
    it(`${name}: (B*T, ...) input gives the (B, T, ...) results, flattened`, function () {
      const sq = make(),
        l = ref();
      const x = data(3, 3 * 10 * 4, -0.5, 2),
        g = data(4, 3 * 10 * 4, -1, 1);
      const y1 = sq.forward(Tensor.from(x, [30, 4]));
      const y2 = l.forward(Tensor.from(x, [3, 10, 4]));
      expect(y1.shape).to.deep.equal([30, 4]);
      expect(y1.toArray()).to.deep.equal(y2.toArray());
      const g1 = sq.backward(Tensor.from(g, [30, 4]));
      const g2 = l.backward(Tensor.from(g, [3, 10, 4]));
      expect(g1.shape).to.deep.equal([30, 4]);
      expect(g1.toArray()).to.deep.equal(g2.toArray());
    });
  }

  it('squeeze variants need batchSize or numTimesteps and a divisible first dimension', function () {
    expect(() => new LIFSqueeze({ tauMem: 5 })).to.throw(TypeError, /batchSize or numTimesteps/);
    expect(() => new LIFSqueeze({ tauMem: 5, batchSize: 0 })).to.throw(RangeError, /batchSize/);
    const l = new LIFSqueeze({ tauMem: 5, batchSize: 4 });
    expect(() => l.forward(Tensor.zeros([10, 3]))).to.throw(RangeError, /multiple of batchSize 4/);
    expect(l.shape).to.equal(null);
  });
});
