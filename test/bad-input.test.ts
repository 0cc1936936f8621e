// Bad input: every rejected argument gives the documented error class (TypeError for a wrong
// type or an unknown name, RangeError for a bad value or shape, Error with a stable `code` for
// runtime conditions), a message naming the argument, and leaves the layer exactly as it was,
// both in what it reports (snapshot) and in how it behaves afterwards (compared with a twin
// layer that never saw the bad call). The async variants must reject, never throw synchronously.
import { expect } from 'chai';
import {
  LIF,
  Tensor,
  MaxSpike,
  MultiSpike,
  SingleExponential,
  MembraneSubtract,
  MembraneReset,
  Heaviside,
  Gaussian,
  MultiGaussian,
  PeriodicExponential,
  setNumThreads,
  getNumThreads,
  type LIFOptions,
} from '../lib/index.js';
import { uniformNumbers } from './support/random.js';

// ---- helpers ----------------------------------------------------------------------------------

const values = (n: number, seed: number, lo = -0.5, hi = 2.5): number[] => uniformNumbers(seed, n, lo, hi);
function inp(shape: number[], seed: number, lo?: number, hi?: number): Tensor {
  return Tensor.from(
    values(
      shape.reduce((a, b) => a * b, 1),
      seed,
      lo,
      hi,
    ),
    shape,
  );
}
const dump = (t: Tensor | null | undefined) => (t ? { shape: t.shape, data: t.toArray() } : null);

/** Everything observable about a layer's state. */
export function snapshot(layer: LIF) {
  return {
    stateDict: Object.fromEntries(Object.entries(layer.stateDict()).map(([k, t]) => [k, dump(t)])),
    shape: layer.shape,
    pendingCalls: layer.pendingCalls,
    grads: layer.namedParameters().map(([n, p]) => [n, dump(p.grad), p.requiresGrad]),
    recordings: Object.fromEntries(Object.entries(layer.recordings).map(([k, t]) => [k, dump(t as Tensor)])),
    firingRate: layer.firingRate,
    training: layer.training,
    vMem: dump(layer.vMem),
    iSyn: dump(layer.iSyn),
  };
}

type ErrClass = typeof TypeError | typeof RangeError | typeof Error;
function checkErr(err: unknown, cls: ErrClass, re: RegExp, code?: string): void {
  expect(err, 'an error').to.be.instanceOf(Error);
  const e = err as Error & { code?: string };
  expect(e, `error class (got ${e.constructor.name}: ${e.message})`).to.be.instanceOf(cls);
  if (cls === Error && !code) expect.fail('internal: a plain Error must have a code');
  if (code) expect(e.code, `error code (message: ${e.message})`).to.equal(code);
  expect(e.message, 'message names the argument').to.match(re);
}
function expectThrow(fn: () => unknown, cls: ErrClass, re: RegExp, code?: string): void {
  let err: unknown = undefined;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (err === undefined) expect.fail(`expected a ${cls.name} matching ${re}, nothing was thrown`);
  checkErr(err, cls, re, code);
}
async function expectReject(fn: () => Promise<unknown>, cls: ErrClass, re: RegExp, code?: string): Promise<void> {
  let p: Promise<unknown>;
  try {
    p = fn();
  } catch (e) {
    expect.fail(`threw synchronously instead of rejecting: ${(e as Error).constructor.name}: ${(e as Error).message}`);
  }
  expect(p!, 'returns a Promise').to.be.instanceOf(Promise);
  let err: unknown = undefined,
    resolved = false;
  try {
    await p!;
    resolved = true;
  } catch (e) {
    err = e;
  }
  if (resolved) expect.fail(`expected a rejection with a ${cls.name} matching ${re}, it resolved`);
  checkErr(err, cls, re, code);
}

// A layer in a non-trivial state: per-neuron tauMem, tauSyn, minVMem, recordings, two forwards,
// one backward (so grads are set, one call is pending and a state adjoint is carried).
const SHAPE = [2, 6, 4];
function makeScenario(): LIF {
  const layer = new LIF({
    tauMem: Tensor.from([5, 8, 12, 20], [4]),
    tauSyn: 3,
    minVMem: -0.5,
    recordStates: true,
    seed: 11,
  });
  layer.forward(inp(SHAPE, 1));
  layer.forward(inp(SHAPE, 2));
  layer.backward(inp(SHAPE, 3, -1, 1));
  return layer;
}

/**
 * Runs the same valid continuation on `layer` and on `twin` (built the same way, never given the
 * bad call): backward of every pending call, a forward with a batch change (uses the generator),
 * its backward, then a plain forward. Results, gradients and snapshots must be identical.
 */
function continueAndCompare(layer: LIF, twin: LIF, neuronShape: number[]): void {
  const res = (l: LIF): unknown[] => {
    const r: unknown[] = [];
    if (!l.training) l.train();
    let s = 100;
    while (l.pendingCalls > 0) {
      const st = l.shape!;
      // pending calls here have T = 6 and the state's batch
      r.push(dump(l.backward(inp([st[0]!, 6, ...neuronShape], s++, -1, 1))));
      r.push(snapshot(l));
    }
    r.push(dump(l.forward(inp([3, 4, ...neuronShape], 200))));
    r.push(snapshot(l));
    r.push(dump(l.backward(inp([3, 4, ...neuronShape], 201, -1, 1))));
    r.push(snapshot(l));
    r.push(dump(l.forward(inp([3, 2, ...neuronShape], 202))));
    r.push(snapshot(l));
    return r;
  };
  expect(res(layer), 'behaviour after the rejected call equals a twin that never saw it').to.deep.equal(res(twin));
}

interface CallCase {
  name: string;
  /** Builds the layer (default makeScenario); must be deterministic. */
  make?: () => LIF;
  neuronShape?: number[];
  cls: ErrClass;
  re: RegExp;
  code?: string;
  sync: (l: LIF) => unknown;
  async: (l: LIF) => Promise<unknown>;
}

function fwdCase(
  name: string,
  input: () => unknown,
  cls: ErrClass,
  re: RegExp,
  extra: Partial<CallCase> & { opts?: () => unknown } = {},
): CallCase {
  return {
    name,
    cls,
    re,
    ...extra,
    sync: (l) => l.forward(input() as Tensor, extra.opts?.() as never),
    async: (l) => l.forwardAsync(input() as Tensor, extra.opts?.() as never),
  };
}
function bwdCase(
  name: string,
  grad: () => unknown,
  cls: ErrClass,
  re: RegExp,
  extra: Partial<CallCase> & { opts?: () => unknown } = {},
): CallCase {
  return {
    name,
    cls,
    re,
    ...extra,
    sync: (l) => l.backward(grad() as Tensor, extra.opts?.() as never),
    async: (l) => l.backwardAsync(grad() as Tensor, extra.opts?.() as never),
  };
}
const disposed = (shape: number[]): Tensor => {
  const t = Tensor.zeros(shape);
  t.dispose();
  return t;
};

// Layers whose taus do not broadcast against a later input: a valid first call with neurons
// [2, 3] (a [3] tau broadcasts against the last dim), then neurons [5].
const makeTauMem3 = (): LIF => {
  const l = new LIF({ tauMem: Tensor.from([4, 8, 16], [3]), seed: 3 });
  l.forward(inp([2, 6, 2, 3], 9));
  return l;
};
const makeTauSyn3 = (): LIF => {
  const l = new LIF({ tauMem: 10, tauSyn: Tensor.from([2, 3, 4], [3]), seed: 3 });
  l.forward(inp([2, 6, 2, 3], 9));
  return l;
};

const forwardCases: CallCase[] = [
  fwdCase('input is a Float32Array', () => new Float32Array(48), TypeError, /input/),
  fwdCase(
    'input is an array',
    () => [
      [1, 2],
      [3, 4],
    ],
    TypeError,
    /input/,
  ),
  fwdCase('input is null', () => null, TypeError, /input/),
  fwdCase('input is undefined', () => undefined, TypeError, /input/),
  fwdCase(
    'input is a plain object with a shape',
    () => ({ shape: SHAPE, data: new Float32Array(48) }),
    TypeError,
    /input/,
  ),
  fwdCase('rank-1 input', () => inp([4], 5), RangeError, /input/),
  fwdCase('rank-0 input', () => Tensor.scalar(1), RangeError, /input/),
  fwdCase('T = 0 (shape [2, 0, 4])', () => Tensor.zeros([2, 0, 4]), RangeError, /input/),
  fwdCase(
    'T = 0 with another neuron shape ([2, 0, 5]): the state is not re-initialised',
    () => Tensor.zeros([2, 0, 5]),
    RangeError,
    /input/,
  ),
  fwdCase(
    'T = 0 with another batch ([3, 0, 4]): the state is not resampled',
    () => Tensor.zeros([3, 0, 4]),
    RangeError,
    /input/,
  ),
  fwdCase('B = 0 (shape [0, 6, 4])', () => Tensor.zeros([0, 6, 4]), RangeError, /input/),
  fwdCase('a zero neuron dim ([2, 6, 0])', () => Tensor.zeros([2, 6, 0]), RangeError, /input/),
  fwdCase('a zero inner neuron dim ([2, 6, 4, 0])', () => Tensor.zeros([2, 6, 4, 0]), RangeError, /input/),
  fwdCase('disposed input', () => disposed(SHAPE), Error, /input/, { code: 'ERR_TENSOR_DISPOSED' }),
  fwdCase('unknown forward option', () => inp(SHAPE, 4), TypeError, /outt/, {
    opts: () => ({ outt: Tensor.zeros(SHAPE) }),
  }),
  fwdCase('forward options not an object', () => inp(SHAPE, 4), TypeError, /option/, { opts: () => 5 }),
  fwdCase('forward options null', () => inp(SHAPE, 4), TypeError, /option/, { opts: () => null }),
  fwdCase('out of the wrong shape', () => inp(SHAPE, 4), RangeError, /out/, {
    opts: () => ({ out: Tensor.zeros([2, 6, 5]) }),
  }),
  fwdCase('out of the same size but another shape', () => inp(SHAPE, 4), RangeError, /out/, {
    opts: () => ({ out: Tensor.zeros([2, 4, 6]) }),
  }),
  fwdCase('out not a Tensor', () => inp(SHAPE, 4), TypeError, /out/, { opts: () => ({ out: new Float32Array(48) }) }),
  fwdCase('out disposed', () => inp(SHAPE, 4), Error, /out/, {
    code: 'ERR_TENSOR_DISPOSED',
    opts: () => ({ out: disposed(SHAPE) }),
  }),
  fwdCase(
    'out with a wrong shape and a batch change (no resampling happens)',
    () => inp([3, 6, 4], 4),
    RangeError,
    /out/,
    { opts: () => ({ out: Tensor.zeros([2, 6, 4]) }) },
  ),
  fwdCase('tauMem [3] against neurons [5]', () => inp([2, 6, 5], 4), RangeError, /tauMem/, {
    make: makeTauMem3,
    neuronShape: [2, 3],
  }),
  fwdCase(
    'tauMem [3] against neurons [5] on a fresh layer (stays lazy)',
    () => inp([2, 6, 5], 4),
    RangeError,
    /tauMem/,
    { make: () => new LIF({ tauMem: Tensor.from([4, 8, 16], [3]), seed: 3 }), neuronShape: [3] },
  ),
  fwdCase('tauMem [3] against neurons [3, 5]', () => inp([2, 6, 3, 5], 4), RangeError, /tauMem/, {
    make: makeTauMem3,
    neuronShape: [2, 3],
  }),
  fwdCase('tauSyn [3] against neurons [5]', () => inp([2, 6, 5], 4), RangeError, /tauSyn/, {
    make: makeTauSyn3,
    neuronShape: [2, 3],
  }),
];

const backwardCases: CallCase[] = [
  bwdCase('gradOutput is a Float32Array', () => new Float32Array(48), TypeError, /gradOutput/),
  bwdCase('gradOutput is null', () => null, TypeError, /gradOutput/),
  bwdCase('gradOutput is an array', () => values(48, 1), TypeError, /gradOutput/),
  bwdCase('gradOutput of the wrong shape ([2, 5, 4])', () => Tensor.zeros([2, 5, 4]), RangeError, /gradOutput/),
  bwdCase('gradOutput with the wrong batch ([1, 6, 4])', () => Tensor.zeros([1, 6, 4]), RangeError, /gradOutput/),
  bwdCase(
    'gradOutput of the same size but another shape ([2, 4, 6])',
    () => Tensor.zeros([2, 4, 6]),
    RangeError,
    /gradOutput/,
  ),
  bwdCase('gradOutput disposed', () => disposed(SHAPE), Error, /gradOutput/, { code: 'ERR_TENSOR_DISPOSED' }),
  bwdCase('unknown backward option', () => Tensor.zeros(SHAPE), TypeError, /gradInput/, {
    opts: () => ({ gradInput: Tensor.zeros(SHAPE) }),
  }),
  bwdCase('backward out of the wrong shape', () => Tensor.zeros(SHAPE), RangeError, /out/, {
    opts: () => ({ out: Tensor.zeros([2, 6, 3]) }),
  }),
  bwdCase('backward out not a Tensor', () => Tensor.zeros(SHAPE), TypeError, /out/, { opts: () => ({ out: [] }) }),
];

// backward with nothing pending, for every way of having nothing pending
const NOTHING = { code: 'ERR_NOTHING_PENDING' };
const nothingPendingLayers: [string, () => LIF, number[]][] = [
  ['a fresh layer', () => new LIF({ tauMem: 10, tauSyn: 3, seed: 1 }), [4]],
  [
    'after an eval() forward',
    () => {
      const l = new LIF({ tauMem: 10, tauSyn: 3, seed: 1, recordStates: true }).eval();
      l.forward(inp(SHAPE, 1));
      return l;
    },
    [4],
  ],
  [
    'after resetStates()',
    () => {
      const l = makeScenario();
      l.forward(inp(SHAPE, 5));
      l.resetStates();
      return l;
    },
    [4],
  ],
  [
    'after detachStates()',
    () => {
      const l = makeScenario();
      l.forward(inp(SHAPE, 5));
      l.detachStates();
      return l;
    },
    [4],
  ],
  [
    'after zeroGrad()',
    () => {
      const l = makeScenario();
      l.forward(inp(SHAPE, 5));
      l.zeroGrad();
      return l;
    },
    [4],
  ],
  [
    'after every pending call was backwarded',
    () => {
      const l = makeScenario();
      l.backward(inp(SHAPE, 6));
      return l;
    },
    [4],
  ],
];
for (const [when, make, ns] of nothingPendingLayers) {
  backwardCases.push(
    bwdCase(`nothing pending: ${when}`, () => Tensor.zeros(SHAPE), RangeError, /pending/, {
      ...NOTHING,
      make,
      neuronShape: ns,
    }),
  );
}

// ---- tests ------------------------------------------------------------------------------------

describe('bad input', function () {
  describe('LIF constructor', function () {
    const T4 = () => Tensor.from([10, 20, 30, 40], [4]);
    const cases: [string, () => unknown, ErrClass, RegExp][] = [
      ['no options', () => new (LIF as unknown as new () => LIF)(), TypeError, /option/],
      ['options is a number', () => new LIF(20 as unknown as LIFOptions), TypeError, /option/],
      ['options is null', () => new LIF(null as unknown as LIFOptions), TypeError, /option/],
      ['options is a string', () => new LIF('tauMem' as unknown as LIFOptions), TypeError, /option/],
      ['options is an array', () => new LIF([20] as unknown as LIFOptions), TypeError, /option/],
      ['tauMem missing', () => new LIF({} as LIFOptions), TypeError, /tauMem/],
      ['tauMem undefined', () => new LIF({ tauMem: undefined } as unknown as LIFOptions), TypeError, /tauMem/],
      ['tauMem 0', () => new LIF({ tauMem: 0 }), RangeError, /tauMem/],
      ['tauMem negative', () => new LIF({ tauMem: -5 }), RangeError, /tauMem/],
      ['tauMem NaN', () => new LIF({ tauMem: NaN }), RangeError, /tauMem/],
      ['tauMem Infinity', () => new LIF({ tauMem: Infinity }), RangeError, /tauMem/],
      ['tauMem a string', () => new LIF({ tauMem: '20' as unknown as number }), TypeError, /tauMem/],
      ['tauMem a boolean', () => new LIF({ tauMem: true as unknown as number }), TypeError, /tauMem/],
      [
        'tauMem a Float32Array',
        () => new LIF({ tauMem: new Float32Array([20]) as unknown as number }),
        TypeError,
        /tauMem/,
      ],
      [
        'tauMem Tensor with a NaN element',
        () => new LIF({ tauMem: Tensor.from([10, NaN, 30], [3]) }),
        RangeError,
        /tauMem/,
      ],
      [
        'tauMem Tensor with a zero element',
        () => new LIF({ tauMem: Tensor.from([10, 0, 30], [3]) }),
        RangeError,
        /tauMem/,
      ],
      [
        'tauMem Tensor with a negative element',
        () => new LIF({ tauMem: Tensor.from([10, 20, -30], [3]) }),
        RangeError,
        /tauMem/,
      ],
      [
        'tauMem Tensor with an Infinity element',
        () => new LIF({ tauMem: Tensor.from([Infinity], [1]) }),
        RangeError,
        /tauMem/,
      ],
      ['tauMem empty Tensor', () => new LIF({ tauMem: Tensor.zeros([0]) }), RangeError, /tauMem/],
      [
        'tauMem disposed Tensor',
        () => {
          const t = T4();
          t.dispose();
          return new LIF({ tauMem: t });
        },
        Error,
        /tauMem/,
      ],
      ['tauSyn negative', () => new LIF({ tauMem: 10, tauSyn: -3 }), RangeError, /tauSyn/],
      ['tauSyn 0', () => new LIF({ tauMem: 10, tauSyn: 0 }), RangeError, /tauSyn/],
      ['tauSyn NaN', () => new LIF({ tauMem: 10, tauSyn: NaN }), RangeError, /tauSyn/],
      ['tauSyn a string', () => new LIF({ tauMem: 10, tauSyn: '3' as unknown as number }), TypeError, /tauSyn/],
      ['spikeThreshold 0', () => new LIF({ tauMem: 10, spikeThreshold: 0 }), RangeError, /spikeThreshold/],
      ['spikeThreshold NaN', () => new LIF({ tauMem: 10, spikeThreshold: NaN }), RangeError, /spikeThreshold/],
      ['spikeThreshold negative', () => new LIF({ tauMem: 10, spikeThreshold: -1 }), RangeError, /spikeThreshold/],
      [
        'spikeThreshold a string',
        () => new LIF({ tauMem: 10, spikeThreshold: '1' as unknown as number }),
        TypeError,
        /spikeThreshold/,
      ],
      ['minVMem NaN', () => new LIF({ tauMem: 10, minVMem: NaN }), RangeError, /minVMem/],
      ['minVMem a string', () => new LIF({ tauMem: 10, minVMem: '-1' as unknown as number }), TypeError, /minVMem/],
      [
        'unknown option tau_mem (sinabs spelling) alone',
        () => new LIF({ tau_mem: 20 } as unknown as LIFOptions),
        TypeError,
        /tau_mem[\s\S]*tauMem/,
      ],
      [
        'unknown option tau_mem beside tauMem',
        () => new LIF({ tauMem: 20, tau_mem: 20 } as unknown as LIFOptions),
        TypeError,
        /tau_mem[\s\S]*tauMem/,
      ],
      [
        'unknown option spike_threshold',
        () => new LIF({ tauMem: 20, spike_threshold: 1 } as unknown as LIFOptions),
        TypeError,
        /spike_threshold[\s\S]*spikeThreshold/,
      ],
      [
        'unknown option record_states',
        () => new LIF({ tauMem: 20, record_states: true } as unknown as LIFOptions),
        TypeError,
        /record_states[\s\S]*recordStates/,
      ],
      [
        'unknown option tau_syn',
        () => new LIF({ tauMem: 20, tau_syn: 5 } as unknown as LIFOptions),
        TypeError,
        /tau_syn[\s\S]*tauSyn/,
      ],
      [
        'unknown option norm_input',
        () => new LIF({ tauMem: 20, norm_input: false } as unknown as LIFOptions),
        TypeError,
        /norm_input[\s\S]*normInput/,
      ],
      ['typo tauMen', () => new LIF({ tauMen: 20 } as unknown as LIFOptions), TypeError, /tauMen/],
      [
        'typo tauMen beside tauMem',
        () => new LIF({ tauMem: 20, tauMen: 20 } as unknown as LIFOptions),
        TypeError,
        /tauMen/,
      ],
      [
        'typo recordState',
        () => new LIF({ tauMem: 20, recordState: true } as unknown as LIFOptions),
        TypeError,
        /recordState/,
      ],
      ['normInput: 1', () => new LIF({ tauMem: 20, normInput: 1 as unknown as boolean }), TypeError, /normInput/],
      [
        'recordStates: "yes"',
        () => new LIF({ tauMem: 20, recordStates: 'yes' as unknown as boolean }),
        TypeError,
        /recordStates/,
      ],
      ['trainAlphas: 0', () => new LIF({ tauMem: 20, trainAlphas: 0 as unknown as boolean }), TypeError, /trainAlphas/],
      [
        'spikeFn "MultiSpike" (a string)',
        () => new LIF({ tauMem: 20, spikeFn: 'MultiSpike' as never }),
        TypeError,
        /spikeFn/,
      ],
      ['spikeFn a number', () => new LIF({ tauMem: 20, spikeFn: 1 as never }), TypeError, /spikeFn/],
      ['spikeFn {} (no forward)', () => new LIF({ tauMem: 20, spikeFn: {} as never }), TypeError, /spikeFn/],
      ['resetFn {}', () => new LIF({ tauMem: 20, resetFn: {} as never }), TypeError, /resetFn/],
      [
        'resetFn the class instead of an instance',
        () => new LIF({ tauMem: 20, resetFn: MembraneSubtract as never }),
        TypeError,
        /resetFn/,
      ],
      ['resetFn "subtract"', () => new LIF({ tauMem: 20, resetFn: 'subtract' as never }), TypeError, /resetFn/],
      ['surrogateGradFn 5', () => new LIF({ tauMem: 20, surrogateGradFn: 5 as never }), TypeError, /surrogateGradFn/],
      ['surrogateGradFn {}', () => new LIF({ tauMem: 20, surrogateGradFn: {} as never }), TypeError, /surrogateGradFn/],
      [
        'surrogateGradFn a spike function',
        () => new LIF({ tauMem: 20, surrogateGradFn: new MultiSpike() as never }),
        TypeError,
        /surrogateGradFn/,
      ],
      ['shape not an array', () => new LIF({ tauMem: 20, shape: 4 as unknown as number[] }), TypeError, /shape/],
      ['shape with a negative dim', () => new LIF({ tauMem: 20, shape: [2, -1] }), RangeError, /shape/],
      ['shape with a fractional dim', () => new LIF({ tauMem: 20, shape: [2, 1.5] }), RangeError, /shape/],
      ['device "gpu"', () => new LIF({ tauMem: 20, device: 'gpu' }), RangeError, /device/],
    ];
    for (const [name, fn, cls, re] of cases) {
      it(`${name} -> ${cls.name} ${re}`, function () {
        if (cls === Error) {
          // a disposed tensor: runtime condition with a stable code
          expectThrow(fn, Error, re, 'ERR_TENSOR_DISPOSED');
        } else expectThrow(fn, cls, re);
      });
    }

    it('a rejected tau Tensor is not modified', function () {
      const t = Tensor.from([10, NaN, 30], [3]);
      expectThrow(() => new LIF({ tauMem: t }), RangeError, /tauMem/);
      expect(t.toArray()).to.deep.equal([10, NaN, 30]);
      expect(t.requiresGrad).to.equal(false);
      expect(t.grad).to.equal(null);
    });
  });

  describe('activation constructors', function () {
    const cases: [string, () => unknown, ErrClass, RegExp][] = [
      [
        'MaxSpike maxNumSpikesPerBin -1',
        () => new MaxSpike({ maxNumSpikesPerBin: -1 }),
        RangeError,
        /maxNumSpikesPerBin/,
      ],
      [
        'MaxSpike maxNumSpikesPerBin NaN',
        () => new MaxSpike({ maxNumSpikesPerBin: NaN }),
        RangeError,
        /maxNumSpikesPerBin/,
      ],
      [
        'MaxSpike maxNumSpikesPerBin "2"',
        () => new MaxSpike({ maxNumSpikesPerBin: '2' as unknown as number }),
        TypeError,
        /maxNumSpikesPerBin/,
      ],
      [
        'MaxSpike max_num_spikes_per_bin (sinabs spelling)',
        () => new MaxSpike({ max_num_spikes_per_bin: 2 } as never),
        TypeError,
        /max_num_spikes_per_bin[\s\S]*maxNumSpikesPerBin/,
      ],
      [
        'MaxSpike maxNumSpikesPerDt (no sinabs release has it)',
        () => new MaxSpike({ maxNumSpikesPerDt: 2 } as never),
        TypeError,
        /maxNumSpikesPerDt/,
      ],
      ['MaxSpike options a number', () => new MaxSpike(2 as never), TypeError, /option/],
      ['SingleExponential gradWidth 0', () => new SingleExponential({ gradWidth: 0 }), RangeError, /gradWidth/],
      ['SingleExponential gradWidth -0.5', () => new SingleExponential({ gradWidth: -0.5 }), RangeError, /gradWidth/],
      ['SingleExponential gradWidth NaN', () => new SingleExponential({ gradWidth: NaN }), RangeError, /gradWidth/],
      [
        'SingleExponential gradScale Infinity',
        () => new SingleExponential({ gradScale: Infinity }),
        RangeError,
        /gradScale/,
      ],
      [
        'SingleExponential gradWidth "0.5"',
        () => new SingleExponential({ gradWidth: '0.5' as unknown as number }),
        TypeError,
        /gradWidth/,
      ],
      [
        'SingleExponential grad_width (sinabs spelling)',
        () => new SingleExponential({ grad_width: 0.5 } as never),
        TypeError,
        /grad_width[\s\S]*gradWidth/,
      ],
      ['SingleExponential unknown option', () => new SingleExponential({ width: 0.5 } as never), TypeError, /width/],
      ['Heaviside unknown option', () => new Heaviside({ windows: 1 } as never), TypeError, /windows/],
      ['Heaviside window NaN', () => new Heaviside({ window: NaN }), RangeError, /window/],
      ['Gaussian sigma 0', () => new Gaussian({ sigma: 0 }), RangeError, /sigma/],
      ['Gaussian grad_scale', () => new Gaussian({ grad_scale: 1 } as never), TypeError, /grad_scale[\s\S]*gradScale/],
      ['MultiGaussian s 0', () => new MultiGaussian({ s: 0 }), RangeError, /\bs\b/],
      ['MultiGaussian sigma -1', () => new MultiGaussian({ sigma: -1 }), RangeError, /sigma/],
      ['PeriodicExponential gradWidth 0', () => new PeriodicExponential({ gradWidth: 0 }), RangeError, /gradWidth/],
      [
        'MembraneSubtract subtract_value',
        () => new MembraneSubtract({ subtract_value: 1 } as never),
        TypeError,
        /subtract_value[\s\S]*subtractValue/,
      ],
      [
        'MembraneSubtract subtractValue NaN',
        () => new MembraneSubtract({ subtractValue: NaN }),
        RangeError,
        /subtractValue/,
      ],
      [
        'MembraneReset resetValue "0"',
        () => new MembraneReset({ resetValue: '0' as unknown as number }),
        TypeError,
        /resetValue/,
      ],
      [
        'MembraneReset reset_value',
        () => new MembraneReset({ reset_value: 0 } as never),
        TypeError,
        /reset_value[\s\S]*resetValue/,
      ],
    ];
    for (const [name, fn, cls, re] of cases) {
      it(`${name} -> ${cls.name} ${re}`, function () {
        expectThrow(fn, cls, re);
      });
    }
  });

  for (const mode of ['sync', 'async'] as const) {
    describe(`${mode === 'sync' ? 'forward' : 'forwardAsync'}: bad input leaves the layer unchanged`, function () {
      for (const c of forwardCases) {
        it(`${c.name} -> ${c.cls.name}${c.code ? ` ${c.code}` : ''} ${c.re}`, async function () {
          const make = c.make ?? makeScenario;
          const layer = make();
          const twin = make();
          const before = snapshot(layer);
          expect(before, 'twin is built identically').to.deep.equal(snapshot(twin));
          if (mode === 'sync') expectThrow(() => c.sync(layer), c.cls, c.re, c.code);
          else await expectReject(() => c.async(layer), c.cls, c.re, c.code);
          expect(snapshot(layer), 'layer unchanged').to.deep.equal(before);
          continueAndCompare(layer, twin, c.neuronShape ?? [4]);
        });
      }
    });
    describe(`${mode === 'sync' ? 'backward' : 'backwardAsync'}: bad input leaves the layer unchanged`, function () {
      for (const c of backwardCases) {
        it(`${c.name} -> ${c.cls.name}${c.code ? ` ${c.code}` : ''} ${c.re}`, async function () {
          const make = c.make ?? makeScenario;
          const layer = make();
          const twin = make();
          const before = snapshot(layer);
          expect(before, 'twin is built identically').to.deep.equal(snapshot(twin));
          if (mode === 'sync') expectThrow(() => c.sync(layer), c.cls, c.re, c.code);
          else await expectReject(() => c.async(layer), c.cls, c.re, c.code);
          expect(snapshot(layer), 'layer unchanged').to.deep.equal(before);
          continueAndCompare(layer, twin, c.neuronShape ?? [4]);
        });
      }
    });
  }

  describe('taus that do broadcast work', function () {
    // expected: each channel (or last-dim index) behaves like a layer with that scalar tau
    function sliceAt(t: Tensor, axis: number, idx: number): Tensor {
      const sh = t.shape;
      const d = t.toFloat32Array();
      const outer = sh.slice(0, axis).reduce((a, b) => a * b, 1);
      const inner = sh.slice(axis + 1).reduce((a, b) => a * b, 1);
      const len = sh[axis]!;
      const r = new Float32Array(outer * inner);
      for (let o = 0; o < outer; ++o)
        r.set(d.subarray((o * len + idx) * inner, (o * len + idx + 1) * inner), o * inner);
      return Tensor.from(r, [...sh.slice(0, axis), ...sh.slice(axis + 1)]);
    }
    it('per-channel tauMem [C, 1, 1] with (B, T, C, H, W) input: channel c acts with tau[c]', function () {
      const taus = [3, 6, 12];
      const x1 = inp([2, 5, 3, 2, 2], 21),
        x2 = inp([2, 4, 3, 2, 2], 22);
      const layer = new LIF({ tauMem: Tensor.from(taus, [3, 1, 1]) });
      const o1 = layer.forward(x1),
        o2 = layer.forward(x2);
      expect(o1.shape).to.deep.equal([2, 5, 3, 2, 2]);
      taus.forEach((tau, c) => {
        const ref = new LIF({ tauMem: tau });
        expect(sliceAt(o1, 2, c).toArray(), `channel ${c}, call 1`).to.deep.equal(
          ref.forward(sliceAt(x1, 2, c)).toArray(),
        );
        expect(sliceAt(o2, 2, c).toArray(), `channel ${c}, call 2`).to.deep.equal(
          ref.forward(sliceAt(x2, 2, c)).toArray(),
        );
        expect(sliceAt(layer.vMem!, 1, c).toArray(), `channel ${c}, vMem`).to.deep.equal(ref.vMem!.toArray());
      });
    });
    it('a [C] tauMem with 5-D input broadcasts against W (aligned from the right), not C', function () {
      const taus = [3, 6, 12];
      const x = inp([2, 5, 3, 2, 3], 23); // C = 3 and W = 3
      const layer = new LIF({ tauMem: Tensor.from(taus, [3]) });
      const o = layer.forward(x);
      taus.forEach((tau, w) => {
        const ref = new LIF({ tauMem: tau });
        expect(sliceAt(o, 4, w).toArray(), `w = ${w}`).to.deep.equal(ref.forward(sliceAt(x, 4, w)).toArray());
      });
    });
    it('per-channel tauSyn [C, 1] with (B, T, C, W) input', function () {
      const taus = [2, 5];
      const x = inp([2, 5, 2, 3], 24);
      const layer = new LIF({ tauMem: 8, tauSyn: Tensor.from(taus, [2, 1]) });
      const o = layer.forward(x);
      taus.forEach((tau, c) => {
        const ref = new LIF({ tauMem: 8, tauSyn: tau });
        expect(sliceAt(o, 2, c).toArray(), `channel ${c}`).to.deep.equal(ref.forward(sliceAt(x, 2, c)).toArray());
        expect(sliceAt(layer.iSyn!, 1, c).toArray(), `channel ${c} iSyn`).to.deep.equal(ref.iSyn!.toArray());
      });
    });
  });

  describe('setNumThreads', function () {
    const cases: [unknown, ErrClass][] = [
      [0, RangeError],
      [1.5, RangeError],
      [-1, RangeError],
      [NaN, RangeError],
      [Infinity, RangeError],
      ['a', TypeError],
      [undefined, TypeError],
      [null, TypeError],
    ];
    for (const [n, cls] of cases) {
      it(`setNumThreads(${typeof n === 'string' ? `'${n}'` : String(n)}) -> ${cls.name}, thread count unchanged`, function () {
        const before = getNumThreads();
        expectThrow(() => setNumThreads(n as number), cls, /setNumThreads[\s\S]*\bn\b/);
        expect(getNumThreads()).to.equal(before);
      });
    }
  });

  describe('resetStates with bad options leaves the layer unchanged', function () {
    const cases: [string, unknown, ErrClass, RegExp][] = [
      ['options a number', 5, TypeError, /option/],
      ['options null', null, TypeError, /option/],
      ['unknown option randomise', { randomise: true }, TypeError, /randomise/],
      ['unknown option value_ranges (sinabs spelling)', { value_ranges: { v_mem: [0, 1] } }, TypeError, /value_ranges/],
      ['randomize "yes"', { randomize: 'yes' }, TypeError, /randomize/],
      ['valueRanges a number', { randomize: true, valueRanges: 5 }, TypeError, /valueRanges/],
      ['valueRanges with an unknown state vMem', { randomize: true, valueRanges: { vMem: [0, 1] } }, TypeError, /vMem/],
      ['valueRanges.v_mem with one value', { randomize: true, valueRanges: { v_mem: [0] } }, RangeError, /v_mem/],
      ['valueRanges.v_mem with NaN', { randomize: true, valueRanges: { v_mem: [0, NaN] } }, RangeError, /v_mem/],
      [
        'valueRanges.i_syn with Infinity',
        { randomize: true, valueRanges: { i_syn: [0, Infinity] } },
        RangeError,
        /i_syn/,
      ],
      // torch's uniform_(from, to) rejects from > to
      ['valueRanges.v_mem reversed [3, 2]', { randomize: true, valueRanges: { v_mem: [3, 2] } }, RangeError, /v_mem/],
    ];
    for (const [name, opts, cls, re] of cases) {
      it(`${name} -> ${cls.name} ${re}`, function () {
        const layer = makeScenario(),
          twin = makeScenario();
        const before = snapshot(layer);
        expectThrow(() => layer.resetStates(opts as never), cls, re);
        expect(snapshot(layer), 'layer unchanged').to.deep.equal(before);
        continueAndCompare(layer, twin, [4]);
      });
    }
  });

  describe('loadStateDict with bad input leaves the layer unchanged', function () {
    const good = (): Record<string, Tensor> => makeScenario().stateDict();
    const without = (k: string): Record<string, Tensor> => {
      const d = good();
      delete d[k];
      return d;
    };
    const cases: [string, () => unknown, ErrClass, RegExp][] = [
      ['dict null', () => null, TypeError, /dict/],
      ['unknown key foo', () => ({ ...good(), foo: Tensor.scalar(1) }), TypeError, /foo/],
      [
        'unknown key tauMem (camelCase)',
        () => ({ ...good(), tauMem: Tensor.from([5, 8, 12, 20], [4]) }),
        TypeError,
        /tauMem/,
      ],
      [
        'unknown key alpha_mem (layer trains taus)',
        () => ({ ...good(), alpha_mem: Tensor.from([0.5, 0.5, 0.5, 0.5], [4]) }),
        TypeError,
        /alpha_mem/,
      ],
      ['missing key v_mem', () => without('v_mem'), TypeError, /v_mem/],
      ['missing key tau_mem', () => without('tau_mem'), TypeError, /tau_mem/],
      ['missing key i_syn', () => without('i_syn'), TypeError, /i_syn/],
      [
        'tau_mem of the wrong size ([5])',
        () => ({ ...good(), tau_mem: Tensor.from([1, 2, 3, 4, 5], [5]) }),
        RangeError,
        /tau_mem/,
      ],
      [
        'tau_mem of the same size but another shape ([2, 2])',
        () => ({ ...good(), tau_mem: Tensor.from([5, 8, 12, 20], [2, 2]) }),
        RangeError,
        /tau_mem/,
      ],
      [
        'spike_threshold of shape [2]',
        () => ({ ...good(), spike_threshold: Tensor.from([1, 1], [2]) }),
        RangeError,
        /spike_threshold/,
      ],
      ['tau_mem with a zero', () => ({ ...good(), tau_mem: Tensor.from([5, 0, 12, 20], [4]) }), RangeError, /tau_mem/],
      ['tau_syn NaN', () => ({ ...good(), tau_syn: Tensor.scalar(NaN) }), RangeError, /tau_syn/],
      ['tau_mem a string', () => ({ ...good(), tau_mem: 'x' }), TypeError, /tau_mem/],
      ['v_mem rank 0', () => ({ ...good(), v_mem: Tensor.scalar(1) }), RangeError, /v_mem/],
      ['v_mem and i_syn of different shapes', () => ({ ...good(), i_syn: Tensor.zeros([3, 4]) }), RangeError, /i_syn/],
    ];
    for (const [name, dict, cls, re] of cases) {
      it(`${name} -> ${cls.name} ${re}`, function () {
        const layer = makeScenario(),
          twin = makeScenario();
        const before = snapshot(layer);
        expectThrow(() => layer.loadStateDict(dict() as never), cls, re);
        expect(snapshot(layer), 'layer unchanged').to.deep.equal(before);
        continueAndCompare(layer, twin, [4]);
      });
    }
  });
});
