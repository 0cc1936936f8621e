// The LIF family on the Module base (lib/nn/module.ts): parameters and states are registered
// with sinabs' names, so that a container holding layers derives dotted names, state dicts,
// loads (with errors naming the full key), train/eval, zeroGrad and to() from the base.
import { expect } from 'chai';
import { ExpLeak, IAF, IAFSqueeze, LIF, Tensor } from '../lib/index.js';
import { Module } from '../lib/nn/module.js';
import { prod, uniform } from './support/random.js';

/** A minimal container: children '0', '1', ... run in order (what Sequential will do). */
class Chain extends Module {
  readonly layers: LIF[];
  constructor(...layers: LIF[]) {
    super();
    this.layers = layers;
    layers.forEach((l, k) => this.registerModule(String(k), l));
  }
  forward(x: Tensor): Tensor {
    return this.layers.reduce((y, l) => l.forward(y), x);
  }
  backward(g: Tensor): Tensor {
    return this.layers.reduceRight((d, l) => l.backward(d), g);
  }
}

const inp = (shape: number[], seed: number): Tensor => Tensor.from(uniform(seed, prod(shape), 0, 2), shape);
const arr = (t: Tensor | null | undefined): number[] => (t ? t.toArray() : []);

describe('LIF family on the Module base', function () {
  it("LIF, IAF, ExpLeak and the squeeze variants are Modules; typeName is sinabs' class name", function () {
    const layers = [new LIF({ tauMem: 5 }), new IAF(), new ExpLeak({ tauMem: 5 }), new IAFSqueeze({ batchSize: 2 })];
    for (const l of layers) expect(l).to.be.instanceOf(Module);
    expect(layers.map((l) => l.typeName)).to.deep.equal(['LIF', 'IAF', 'ExpLeak', 'IAFSqueeze']);
    expect(String(layers[1])).to.equal('IAF(spike_threshold=1)');
    expect(String(layers[3])).to.equal('IAFSqueeze(spike_threshold=1)');
  });

  it('buffers: v_mem (and i_syn) with shape [0] before the first forward, then the state', function () {
    const l = new LIF({ tauMem: 5, tauSyn: 2 });
    expect(l.namedBuffers().map(([k, t]) => [k, t.shape])).to.deep.equal([
      ['v_mem', [0]],
      ['i_syn', [0]],
    ]);
    l.forward(inp([2, 3, 4], 1));
    expect(l.namedBuffers().map(([k, t]) => [k, t.shape])).to.deep.equal([
      ['v_mem', [2, 4]],
      ['i_syn', [2, 4]],
    ]);
    expect(arr(l.namedBuffers()[0]![1])).to.deep.equal(arr(l.vMem));
  });

  it('a container derives dotted names for parameters and states', function () {
    const c = new Chain(new LIF({ tauMem: 5, tauSyn: 2 }), new IAF({ minVMem: -1 }));
    expect(c.namedParameters().map(([k]) => k)).to.deep.equal([
      '0.tau_mem',
      '0.tau_syn',
      '0.spike_threshold',
      '1.min_v_mem',
      '1.spike_threshold',
    ]);
    c.forward(inp([2, 6, 3], 2));
    expect(Object.keys(c.stateDict())).to.deep.equal([
      '0.tau_mem',
      '0.tau_syn',
      '0.spike_threshold',
      '0.v_mem',
      '0.i_syn',
      '1.min_v_mem',
      '1.spike_threshold',
      '1.v_mem',
    ]);
  });

  it("a container's state dict round trip reproduces the outputs bit for bit", function () {
    const a = new Chain(new LIF({ tauMem: Tensor.from([3, 7, 11], [3]), tauSyn: 2 }), new LIF({ tauMem: 4 }));
    const b = new Chain(new LIF({ tauMem: Tensor.from([9, 9, 9], [3]), tauSyn: 5 }), new LIF({ tauMem: 8 }));
    a.forward(inp([2, 5, 3], 3));
    b.loadStateDict(a.stateDict());
    const x = inp([2, 7, 3], 4);
    expect(b.forward(x).toArray()).to.deep.equal(a.forward(x).toArray());
    expect(arr(b.layers[0]!.iSyn)).to.deep.equal(arr(a.layers[0]!.iSyn));
  });

  it('load errors name the full key and leave every layer unchanged', function () {
    const c = new Chain(new LIF({ tauMem: 5, tauSyn: 2 }), new LIF({ tauMem: 6 }));
    c.forward(inp([2, 4, 3], 5));
    const before = JSON.stringify(Object.entries(c.stateDict()).map(([k, t]) => [k, t.toArray()]));
    const good = c.stateDict();
    const cases: [Record<string, Tensor>, ErrorConstructor, RegExp][] = [
      [
        { ...good, '0.i_syn': Tensor.zeros([3, 3]) },
        RangeError,
        /'0\.v_mem' \[2, 3\] and '0\.i_syn' \[3, 3\] must have the same shape/,
      ],
      [{ ...good, '1.tau_mem': Tensor.scalar(0) }, RangeError, /'1\.tau_mem' must be positive/],
      [{ ...good, '1.v_mem': Tensor.scalar(1) }, RangeError, /'1\.v_mem' must have a batch dimension/],
      [{ ...good, '1.tau_syn': Tensor.scalar(1) }, TypeError, /unexpected key '1\.tau_syn'/],
    ];
    for (const [dict, cls, re] of cases) {
      expect(() => c.loadStateDict(dict)).to.throw(cls, re);
      expect(
        JSON.stringify(Object.entries(c.stateDict()).map(([k, t]) => [k, t.toArray()])),
        `unchanged after ${re}`,
      ).to.equal(before);
      expect(
        c.layers.map((l) => l.pendingCalls),
        'pending calls kept',
      ).to.deep.equal([1, 1]);
    }
    c.loadStateDict(good);
    expect(
      c.layers.map((l) => l.pendingCalls),
      'a load cuts the gradient paths',
    ).to.deep.equal([0, 0]);
  });

  it('train/eval and zeroGrad reach the layers through the container', function () {
    const c = new Chain(new LIF({ tauMem: 5 }), new LIF({ tauMem: 6 }));
    c.eval();
    expect(c.layers.map((l) => l.training)).to.deep.equal([false, false]);
    c.forward(inp([1, 3, 2], 6));
    expect(
      c.layers.map((l) => l.pendingCalls),
      'eval keeps nothing',
    ).to.deep.equal([0, 0]);
    c.train();
    c.forward(inp([1, 3, 2], 7));
    c.backward(Tensor.from(uniform(8, 6, -1, 1), [1, 3, 2]));
    const g = c.layers[0]!.tauMem!.grad!;
    expect(g.toArray()[0]).to.not.equal(0);
    c.forward(inp([1, 3, 2], 9));
    c.zeroGrad();
    expect(g.toArray(), 'the same grad tensor, zeroed in place').to.deep.equal([0]);
    expect(c.layers[0]!.tauMem!.grad).to.equal(g);
    expect(
      c.layers.map((l) => l.pendingCalls),
      'zeroGrad detaches the states',
    ).to.deep.equal([0, 0]);
  });
});
