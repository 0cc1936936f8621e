// A seeded fuzz test of the public API. It throws random valid and invalid call sequences at
// layers (LIF, IAF, ExpLeak with random options, including garbage ones) and tensors: forward and
// backward (sync and async) with random shapes, wrong ranks, zero dims, disposed tensors, bad
// options, non-broadcasting taus, NaN/Inf in the input; resetStates / detachStates / zeroGrad /
// loadStateDict / train / eval / manualSeed in random order; user spike and surrogate functions
// that fail; sync calls while an async call is in flight.
//
// For every call it checks:
//  * valid calls: the result equals a plain float64 reference of sinabs' forward (docs/semantics.md
//    §3.1-§3.3: state rules, one step, spikes, resets, clip) within tolerance; spikes compare
//    exactly except where the membrane lies within 1e-4 of a spike boundary (from that step on the
//    neuron is left out); batch resampling is checked by finding, for each new row, old rows that
//    reproduce it. The same call made synchronously on a twin layer gives bit-identical results.
//  * invalid calls: the documented error class (TypeError / RangeError, or an Error with a stable
//    `code`), a message naming the argument, async variants reject instead of throwing, and the
//    layer's observable state (snapshot below) is unchanged and still equals the twin's.
//  * the layer's parameters, state shape and pending-call count follow a model of the rules.
//
// SPIKELAYERS_FUZZ_ITERATIONS (default 2000) sets the number of calls, SPIKELAYERS_FUZZ_SEED the
// seed. Failures are collected (one example per kind, at most 20 kinds) and reported at the end
// with the seed, the episode and the calls leading to it.
import { expect } from 'chai';
import {
  LIF,
  IAF,
  ExpLeak,
  Tensor,
  MultiSpike,
  SingleSpike,
  MaxSpike,
  MembraneSubtract,
  MembraneReset,
  SingleExponential,
  Heaviside,
  Gaussian,
  MultiGaussian,
  PeriodicExponential,
  backendInfo,
} from '../lib/index.js';
import { rng, prod } from './support/random.js';
import { refStep, type RefStepRules } from './support/lif-reference.js';

const ITERATIONS = Number(process.env.SPIKELAYERS_FUZZ_ITERATIONS ?? 2000);
const SEED = Number(process.env.SPIKELAYERS_FUZZ_SEED ?? 0x5eed1);
const f32 = Math.fround;

// ---- random numbers -------------------------------------------------------------------------------

class Rand {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = rng(seed);
  }
  next(): number {
    return this.#next();
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** integer in [lo, hi] */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
  weighted<T>(items: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of items) total += w;
    let r = this.next() * total;
    for (const [w, v] of items) {
      if ((r -= w) < 0) return v;
    }
    return items[items.length - 1]![1];
  }
}

const esc = (s: string): RegExp => new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((v, k) => v === b[k]);

// ---- expectations ---------------------------------------------------------------------------------

type ErrKind = 'TypeError' | 'RangeError' | 'Error';
interface Bad {
  cls: ErrKind;
  re: RegExp;
  code?: string;
  /** a user function's own error, passed through unchanged */
  user?: Error;
}
const TE = (re: RegExp | string): Bad => ({ cls: 'TypeError', re: typeof re === 'string' ? esc(re) : re });
const RE = (re: RegExp | string, code?: string): Bad => ({
  cls: 'RangeError',
  re: typeof re === 'string' ? esc(re) : re,
  code,
});
const CE = (code: string, re: RegExp | string): Bad => ({
  cls: 'Error',
  re: typeof re === 'string' ? esc(re) : re,
  code,
});
const DISPOSED = 'ERR_TENSOR_DISPOSED';

class Failure extends Error {}
function fail(msg: string): never {
  throw new Failure(msg);
}
function checkError(e: unknown, bad: Bad, what: string): void {
  if (bad.user) {
    if (e !== bad.user) fail(`${what}: expected the user function's own error, got ${String(e)}`);
    return;
  }
  if (!(e instanceof Error)) fail(`${what}: expected a ${bad.cls}, got a non-Error ${String(e)}`);
  const err = e as Error & { code?: unknown };
  const okClass =
    bad.cls === 'TypeError' ? err instanceof TypeError : bad.cls === 'RangeError' ? err instanceof RangeError : true;
  if (!okClass)
    fail(
      `${what}: expected a ${bad.cls}${bad.code ? ` (${bad.code})` : ''} matching ${bad.re}, got ${err.constructor.name}${err.code ? ` (${String(err.code)})` : ''}: ${err.message}`,
    );
  if (bad.code !== undefined && err.code !== bad.code)
    fail(`${what}: expected code ${bad.code}, got ${String(err.code)} (${err.constructor.name}: ${err.message})`);
  if (bad.cls === 'Error' && typeof err.code !== 'string')
    fail(`${what}: a plain Error must carry a code: ${err.message}`);
  if (!bad.re.test(err.message)) fail(`${what}: message does not name the argument (${bad.re}): ${err.message}`);
}
function expectThrowSync(fn: () => unknown, bad: Bad, what: string): void {
  let threw = false;
  try {
    fn();
  } catch (e) {
    threw = true;
    checkError(e, bad, what);
  }
  if (!threw) fail(`${what}: expected a ${bad.cls} matching ${bad.re}, nothing was thrown`);
}
async function expectRejectAsync(fn: () => Promise<unknown>, bad: Bad, what: string): Promise<void> {
  let p: Promise<unknown>;
  try {
    p = fn();
  } catch (e) {
    fail(`${what}: threw synchronously instead of rejecting: ${String(e)}`);
  }
  if (!(p instanceof Promise)) fail(`${what}: did not return a Promise`);
  let resolved = false;
  try {
    await p;
    resolved = true;
  } catch (e) {
    checkError(e, bad, what);
  }
  if (resolved) fail(`${what}: expected a rejection with a ${bad.cls} matching ${bad.re}, it resolved`);
}

// ---- snapshots ------------------------------------------------------------------------------------

function bitsOf(t: Tensor | null | undefined): string {
  if (!t) return 'null';
  const d = t.toFloat32Array();
  return (
    `[${t.shape.join(',')}]` +
    Array.from(new Uint32Array(d.buffer, d.byteOffset, d.length), (x) => x.toString(16)).join(' ')
  );
}
const numKey = (x: number | null): string => (x === null ? 'null' : Object.is(x, -0) ? '-0' : String(x));
/** Everything observable about a layer, exactly (bit patterns). */
function snapshot(l: LIF): string {
  const parts: string[] = [];
  parts.push(
    `shape=${JSON.stringify(l.shape)} pending=${l.pendingCalls} training=${l.training} rate=${numKey(l.firingRate)}`,
  );
  for (const [k, t] of Object.entries(l.stateDict())) parts.push(`sd.${k}=${bitsOf(t)}`);
  for (const [n, p] of l.namedParameters()) parts.push(`grad.${n}=${bitsOf(p.grad)} rg=${p.requiresGrad}`);
  const rec = l.recordings;
  for (const k of Object.keys(rec).sort()) parts.push(`rec.${k}=${bitsOf(rec[k as 'vMem'])}`);
  parts.push(`v=${bitsOf(l.vMem)} i=${bitsOf(l.iSyn)}`);
  return parts.join('\n');
}
function firstLineDiff(a: string, b: string): string {
  const x = a.split('\n'),
    y = b.split('\n');
  for (let k = 0; k < Math.max(x.length, y.length); ++k)
    if (x[k] !== y[k]) return `${(x[k] ?? '<none>').slice(0, 160)}  vs  ${(y[k] ?? '<none>').slice(0, 160)}`;
  return '';
}
function assertBitsEqual(a: Tensor, b: Tensor, what: string): void {
  if (!sameShape(a.shape, b.shape)) fail(`${what}: shape [${a.shape}] vs [${b.shape}]`);
  const x = a.toFloat32Array(),
    y = b.toFloat32Array();
  const u = new Uint32Array(x.buffer),
    v = new Uint32Array(y.buffer);
  for (let k = 0; k < u.length; ++k) if (u[k] !== v[k]) fail(`${what}: element ${k}: ${x[k]} vs ${y[k]}`);
}

// ---- layer specs and the model ----------------------------------------------------------------------

type Kind = 'LIF' | 'IAF' | 'ExpLeak';
type SpikeModel = 'multi' | 'single' | 'none' | 'custom';
type FaultMode = null | 'throw' | 'length' | 'type';

interface Spec {
  kind: Kind;
  homeN: number[];
  opts: Record<string, unknown> | undefined;
  spike: SpikeModel;
  maxSpikes: number;
  reset: 'sub' | 'reset' | 'none';
  subtractValue: number | null;
  resetValue: number;
  normInput: boolean;
  trainAlphas: boolean;
  recordStates: boolean;
  hasSyn: boolean;
  customSurrogate: boolean;
  fault: { mode: FaultMode; error: Error | null };
}

interface Param {
  shape: number[];
  data: Float32Array;
}
interface Model {
  params: Map<string, Param>;
  pending: { shape: number[]; input: Tensor }[];
  stateShape: number[] | null;
  training: boolean;
}

function customSpikeFn(fault: Spec['fault']) {
  return {
    forward(v: Float32Array, theta: number): Float32Array | ArrayLike<number> {
      if (fault.mode === 'throw') throw (fault.error = new Error('fuzz: user spike function failed'));
      if (fault.mode === 'length') return new Float32Array(v.length + 1);
      if (fault.mode === 'type') return null as unknown as Float32Array;
      return v.map((u) => (u >= theta ? 1 : 0));
    },
  };
}
function customSurrogateFn(fault: Spec['fault']) {
  return (v: Float32Array, theta: number): Float32Array => {
    if (fault.mode === 'throw') throw (fault.error = new Error('fuzz: user surrogate failed'));
    if (fault.mode === 'length') return new Float32Array(Math.max(0, v.length - 1));
    if (fault.mode === 'type') return 7 as unknown as Float32Array;
    return v.map((u) => 1 / (1 + Math.abs(u - theta)));
  };
}

/** A tau tensor shape that broadcasts against neuron shape N (aligned from the right). */
function broadcastingShape(r: Rand, N: number[]): number[] {
  const L = r.int(N.length + 1);
  const s: number[] = [];
  for (let k = N.length - L; k < N.length; ++k) s.push(r.chance(0.6) ? N[k]! : 1);
  if (r.chance(0.15)) s.unshift(1);
  return s;
}
/** Per-neuron index into a parameter of shape p for neuron shape N, or null when p does not broadcast. */
function broadcastIndex(p: readonly number[], N: readonly number[]): Int32Array | null {
  const size = prod(p);
  const n = prod(N);
  if (size === 1) return new Int32Array(n);
  let q = p.slice();
  while (q.length > N.length && q[0] === 1) q = q.slice(1);
  if (q.length > N.length) return null;
  const off = N.length - q.length;
  for (let k = 0; k < q.length; ++k) if (q[k] !== 1 && q[k] !== N[off + k]) return null;
  const idx = new Int32Array(n);
  for (let m = 0; m < n; ++m) {
    // coordinates of m in N, then the row-major index in q
    let rem = m,
      pi = 0,
      stride = 1;
    for (let k = N.length - 1; k >= 0; --k) {
      const c = rem % N[k]!;
      rem = Math.floor(rem / N[k]!);
      const qk = k - off;
      if (qk >= 0) {
        if (q[qk] !== 1) pi += c * stride;
        stride *= q[qk]!;
      }
    }
    idx[m] = pi;
  }
  return idx;
}

function positiveValues(r: Rand, n: number, lo: number, hi: number): number[] {
  return Array.from({ length: n }, () => r.range(lo, hi));
}

/** Random valid constructor options for a kind, and the model of the layer they make. */
function genSpec(r: Rand): { spec: Spec; model: Model } {
  const kind: Kind = r.weighted([
    [7, 'LIF'],
    [1.5, 'IAF'],
    [1.5, 'ExpLeak'],
  ] as const);
  const rank = r.weighted([
    [1, 0],
    [4, 1],
    [3, 2],
    [1, 3],
  ] as const);
  const homeN = Array.from({ length: rank }, () => r.between(1, 4));
  const o: Record<string, unknown> = {};
  const params = new Map<string, Param>();
  const fault: Spec['fault'] = { mode: null, error: null };
  const trainAlphas = kind !== 'IAF' && r.chance(0.25);
  if (kind !== 'IAF' && (trainAlphas || r.chance(0.5))) o.trainAlphas = trainAlphas;
  const tauParam = (name: 'tauMem' | 'tauSyn', lo: number, hi: number): Param => {
    let p: Param;
    if (r.chance(0.6)) {
      const v = r.range(lo, hi);
      o[name] = v;
      p = { shape: [], data: Float32Array.of(v) };
    } else {
      const shape = broadcastingShape(r, homeN);
      const vals = positiveValues(r, prod(shape), lo, hi);
      o[name] = Tensor.from(vals, shape);
      p = { shape, data: Float32Array.from(vals) };
    }
    if (trainAlphas) p = { shape: p.shape, data: p.data.map((t) => Math.exp(-1 / t)) };
    return p;
  };
  if (kind !== 'IAF') params.set(trainAlphas ? 'alpha_mem' : 'tau_mem', tauParam('tauMem', 1.5, 40));
  let hasSyn = false;
  if (kind !== 'ExpLeak') {
    const c = r.int(4);
    if (c === 1) o.tauSyn = null;
    if (c >= 2) {
      hasSyn = true;
      params.set(trainAlphas ? 'alpha_syn' : 'tau_syn', tauParam('tauSyn', 1.5, 10));
    }
  }
  const mc = r.int(5);
  if (mc === 1) o.minVMem = null;
  if (mc >= 3) {
    const minV = f32(r.range(-2, 0));
    o.minVMem = mc === 3 ? minV : Tensor.from([minV], r.chance(0.5) ? [] : [1]);
    params.set('min_v_mem', { shape: [], data: Float32Array.of(minV) });
  }
  let spike: SpikeModel = 'none',
    maxSpikes = Infinity,
    reset: Spec['reset'] = 'none',
    subtractValue: number | null = null,
    resetValue = 0;
  let customSurrogate = false;
  if (kind !== 'ExpLeak') {
    let theta = 1;
    if (r.chance(0.6)) {
      theta = f32(r.range(0.5, 2));
      o.spikeThreshold = r.chance(0.7) ? theta : Tensor.from([theta], r.chance(0.5) ? [] : [1]);
    }
    params.set('spike_threshold', { shape: [], data: Float32Array.of(theta) });
    const sc = r.weighted([
      [3, 'default'],
      [1, 'MultiSpike'],
      [1, 'multi()'],
      [2, 'SingleSpike'],
      [1, 'single()'],
      [2, 'MaxSpike'],
      [1, 'null'],
      [1, 'custom'],
    ] as const);
    spike = 'multi';
    if (sc === 'MultiSpike') o.spikeFn = MultiSpike;
    if (sc === 'multi()') o.spikeFn = new MultiSpike();
    if (sc === 'SingleSpike') ((o.spikeFn = SingleSpike), (spike = 'single'));
    if (sc === 'single()') ((o.spikeFn = new SingleSpike()), (spike = 'single'));
    if (sc === 'MaxSpike') {
      const k = r.weighted([
        [1, null],
        [1, 0],
        [3, 1],
        [3, 2],
        [1, 1.5],
      ] as const);
      o.spikeFn = k === null && r.chance(0.5) ? new MaxSpike() : new MaxSpike({ maxNumSpikesPerBin: k });
      maxSpikes = k ?? Infinity;
    }
    if (sc === 'null') ((o.spikeFn = null), (spike = 'none'));
    if (sc === 'custom') ((o.spikeFn = customSpikeFn(fault)), (spike = 'custom'));
    if (spike !== 'none') {
      const rc = r.int(5);
      reset = rc < 3 ? 'sub' : 'reset';
      if (rc === 1) o.resetFn = new MembraneSubtract();
      if (rc === 2) {
        subtractValue = r.chance(0.3) ? null : f32(r.range(0.3, 2));
        o.resetFn = new MembraneSubtract({ subtractValue });
      }
      if (rc === 3) o.resetFn = new MembraneReset();
      if (rc === 4) {
        resetValue = f32(r.range(-0.5, 0.5));
        o.resetFn = new MembraneReset({ resetValue });
      }
    } else if (r.chance(0.3)) o.resetFn = new MembraneReset(); // ignored without spikes
    const su = r.int(8);
    if (su === 1) o.surrogateGradFn = new SingleExponential({ gradWidth: r.range(0.2, 1), gradScale: r.range(0.5, 2) });
    if (su === 2) o.surrogateGradFn = new Heaviside({ window: r.range(0.2, 1.5) });
    if (su === 3) o.surrogateGradFn = new Gaussian({ sigma: r.range(0.2, 1) });
    if (su === 4) o.surrogateGradFn = new MultiGaussian();
    if (su === 5) o.surrogateGradFn = new PeriodicExponential({ gradWidth: r.range(0.2, 1) });
    if (su === 6) ((o.surrogateGradFn = customSurrogateFn(fault)), (customSurrogate = true));
  }
  const normInput =
    kind === 'IAF' ? false : r.chance(0.3) ? ((o.normInput = r.chance(0.5)) as boolean) : kind === 'LIF';
  const recordStates = r.chance(0.3);
  if (recordStates || r.chance(0.3)) o.recordStates = recordStates;
  let stateShape: number[] | null = null;
  if (r.chance(0.2)) o.shape = stateShape = [r.between(1, 3), ...homeN];
  else if (r.chance(0.1)) o.shape = null;
  if (r.chance(0.2)) o.device = 'cpu';
  if (r.chance(0.7)) o.seed = r.int(1000);
  // the constructor takes the float32 values of everything
  for (const p of params.values()) p.data = Float32Array.from(p.data);
  const spec: Spec = {
    kind,
    homeN,
    opts: kind === 'IAF' && Object.keys(o).length === 0 && r.chance(0.5) ? undefined : o,
    spike,
    maxSpikes,
    reset,
    subtractValue,
    resetValue,
    normInput,
    trainAlphas,
    recordStates,
    hasSyn,
    customSurrogate,
    fault,
  };
  return { spec, model: { params, pending: [], stateShape, training: true } };
}

function construct(spec: Spec): LIF {
  if (spec.kind === 'LIF') return new LIF(spec.opts as never);
  if (spec.kind === 'IAF') return new IAF(spec.opts as never);
  return new ExpLeak(spec.opts as never);
}

const ALLOWED: Record<Kind, string[]> = {
  LIF: [
    'tauMem',
    'tauSyn',
    'spikeThreshold',
    'spikeFn',
    'resetFn',
    'surrogateGradFn',
    'minVMem',
    'trainAlphas',
    'shape',
    'normInput',
    'recordStates',
    'device',
    'seed',
  ],
  IAF: [
    'spikeThreshold',
    'spikeFn',
    'resetFn',
    'surrogateGradFn',
    'tauSyn',
    'minVMem',
    'shape',
    'recordStates',
    'device',
    'seed',
  ],
  ExpLeak: ['tauMem', 'shape', 'trainAlphas', 'minVMem', 'normInput', 'recordStates', 'device', 'seed'],
};

function disposedTensor(shape: number[] = [2]): Tensor {
  const t = Tensor.zeros(shape);
  t.dispose();
  return t;
}

/** One defect applied to valid options: [name, options to pass, expected error]. */
function ctorDefect(r: Rand, kind: Kind, o: Record<string, unknown>): [string, unknown, Bad] {
  const has = (k: string) => ALLOWED[kind].includes(k);
  const cands: [string, () => [unknown, Bad]][] = [
    ['options null', () => [null, TE(/option/)]],
    ['options a number', () => [20, TE(/option/)]],
    ['options a string', () => ['tauMem', TE(/option/)]],
    ['options an array', () => [[20], TE(/option/)]],
    [
      'unknown option',
      () => {
        const k = r.pick([
          'tau_mem',
          'tauMEM',
          'recordState',
          'spike_fn',
          'foo',
          'min_v_mem',
          'normInputs',
          'Seed',
          'threshold',
          ...['tauMem', 'tauSyn', 'spikeFn', 'trainAlphas', 'normInput', 'spikeThreshold'].filter((x) => !has(x)),
        ]);
        return [{ ...o, [k]: 1 }, TE(k)];
      },
    ],
    ['recordStates not a boolean', () => [{ ...o, recordStates: r.pick([1, 'yes', null]) }, TE('recordStates')]],
    ['seed not an integer', () => [{ ...o, seed: r.pick([1.5, '3', NaN]) }, TE('seed')]],
    ['device gpu', () => [{ ...o, device: 'gpu' }, RE('device')]],
    ['device a number', () => [{ ...o, device: 7 }, TE('device')]],
    ['shape a number', () => [{ ...o, shape: 4 }, TE('shape')]],
    [
      'shape bad dims',
      () => [{ ...o, shape: r.pick([[2, -1], [2, 1.5], [], [2, 0], [0], [2 ** 20, 2 ** 20], [3, NaN]]) }, RE('shape')],
    ],
    ['shape with a string dim', () => [{ ...o, shape: [2, '3'] }, TE('shape')]],
    ['minVMem not finite', () => [{ ...o, minVMem: r.pick([NaN, Infinity, -Infinity]) }, RE('minVMem')]],
    ['minVMem a string', () => [{ ...o, minVMem: '0' }, TE('minVMem')]],
    ['minVMem two elements', () => [{ ...o, minVMem: Tensor.from([0, 1], [2]) }, RE('minVMem')]],
    ['minVMem disposed', () => [{ ...o, minVMem: disposedTensor([1]) }, CE(DISPOSED, 'minVMem')]],
  ];
  if (!backendInfo().cuda.available)
    cands.push([
      'device cuda without CUDA',
      () => [
        { ...o, device: 'cuda' },
        { cls: 'Error', re: /device/ },
      ],
    ]);
  if (has('tauMem')) {
    cands.push(
      [
        'tauMem missing',
        () => {
          const p = { ...o };
          delete p.tauMem;
          return [p, TE('tauMem')];
        },
      ],
      ['tauMem null', () => [{ ...o, tauMem: null }, TE('tauMem')]],
      ['tauMem not positive/finite', () => [{ ...o, tauMem: r.pick([0, -3, NaN, Infinity, -Infinity]) }, RE('tauMem')]],
      [
        'tauMem wrong type',
        () => [{ ...o, tauMem: r.pick(['20', true, new Float32Array([20]), {}, [20]]) }, TE('tauMem')],
      ],
      [
        'tauMem Tensor with a bad element',
        () => [{ ...o, tauMem: Tensor.from([10, r.pick([0, -1, NaN, Infinity])], [2]) }, RE('tauMem')],
      ],
      ['tauMem empty Tensor', () => [{ ...o, tauMem: Tensor.zeros([0]) }, RE('tauMem')]],
      ['tauMem disposed', () => [{ ...o, tauMem: disposedTensor([3]) }, CE(DISPOSED, 'tauMem')]],
      ['trainAlphas not a boolean', () => [{ ...o, trainAlphas: r.pick([0, 'true', null]) }, TE('trainAlphas')]],
      ['normInput not a boolean', () => [{ ...o, normInput: r.pick([1, 'no', null]) }, TE('normInput')]],
    );
  }
  if (has('tauSyn')) {
    cands.push(
      ['tauSyn not positive/finite', () => [{ ...o, tauSyn: r.pick([0, -1, NaN, Infinity]) }, RE('tauSyn')]],
      ['tauSyn wrong type', () => [{ ...o, tauSyn: r.pick(['3', false, {}]) }, TE('tauSyn')]],
      ['tauSyn Tensor with NaN', () => [{ ...o, tauSyn: Tensor.from([NaN], [1]) }, RE('tauSyn')]],
      [
        'spikeThreshold not positive/finite',
        () => [{ ...o, spikeThreshold: r.pick([0, -1, NaN, Infinity]) }, RE('spikeThreshold')],
      ],
      ['spikeThreshold wrong type', () => [{ ...o, spikeThreshold: r.pick(['1', null, [1]]) }, TE('spikeThreshold')]],
      ['spikeThreshold two elements', () => [{ ...o, spikeThreshold: Tensor.from([1, 2], [2]) }, RE('spikeThreshold')]],
      [
        'spikeThreshold disposed',
        () => [{ ...o, spikeThreshold: disposedTensor([1]) }, CE(DISPOSED, 'spikeThreshold')],
      ],
      ['spikeFn garbage', () => [{ ...o, spikeFn: r.pick(['MultiSpike', 1, {}, MaxSpike, () => 1]) }, TE('spikeFn')]],
      [
        'resetFn garbage',
        () => [{ ...o, resetFn: r.pick([{}, MembraneSubtract, 'subtract', null, new SingleSpike()]) }, TE('resetFn')],
      ],
      [
        'surrogateGradFn garbage',
        () => [
          { ...o, surrogateGradFn: r.pick([5, {}, null, new MultiSpike(), SingleExponential]) },
          TE('surrogateGradFn'),
        ],
      ],
    );
  }
  const [name, make] = r.pick(cands);
  const [opts, bad] = make();
  return [name, opts, bad];
}

/** Invalid activation constructors (and a few valid ones). */
function activationCall(r: Rand): [string, () => unknown, Bad | null] {
  const cases: [string, () => unknown, Bad | null][] = [
    ['MaxSpike(-1)', () => new MaxSpike({ maxNumSpikesPerBin: -1 }), RE('maxNumSpikesPerBin')],
    ['MaxSpike("2")', () => new MaxSpike({ maxNumSpikesPerBin: '2' as never }), TE('maxNumSpikesPerBin')],
    ['MaxSpike(NaN)', () => new MaxSpike({ maxNumSpikesPerBin: NaN }), RE('maxNumSpikesPerBin')],
    [
      'MaxSpike sinabs spelling',
      () => new MaxSpike({ max_num_spikes_per_bin: 2 } as never),
      TE('max_num_spikes_per_bin'),
    ],
    ['MaxSpike(3)', () => new MaxSpike({ maxNumSpikesPerBin: 3 }), null],
    [
      'SingleExponential gradWidth bad',
      () => new SingleExponential({ gradWidth: r.pick([0, -1, NaN, Infinity]) }),
      RE('gradWidth'),
    ],
    ['SingleExponential gradScale string', () => new SingleExponential({ gradScale: '1' as never }), TE('gradScale')],
    ['SingleExponential ok', () => new SingleExponential({ gradWidth: 0.3 }), null],
    ['Heaviside typo', () => new Heaviside({ windows: 1 } as never), TE('windows')],
    ['Gaussian sigma bad', () => new Gaussian({ sigma: r.pick([0, -1, NaN]) }), RE('sigma')],
    ['MultiGaussian h string', () => new MultiGaussian({ h: 'x' as never }), TE(/\bh\b/)],
    ['PeriodicExponential options a number', () => new PeriodicExponential(5 as never), TE(/option/)],
    [
      'MembraneSubtract subtractValue Infinity',
      () => new MembraneSubtract({ subtractValue: Infinity }),
      RE('subtractValue'),
    ],
    ['MembraneReset resetValue string', () => new MembraneReset({ resetValue: '0' as never }), TE('resetValue')],
    ['MembraneReset sinabs spelling', () => new MembraneReset({ reset_value: 0 } as never), TE('reset_value')],
  ];
  return r.pick(cases);
}

// ---- the float64 reference --------------------------------------------------------------------------

interface RefParams {
  alphaM: Float64Array;
  alphaS: Float64Array | null;
  c: Float64Array;
  theta: number;
  thetaSub: number;
  resetValue: number;
  minV: number | null;
  spike: SpikeModel;
  maxSpikes: number;
  reset: Spec['reset'];
}
interface RowResult {
  out: Float64Array; // T x N
  v: Float64Array;
  i: Float64Array | null;
  recV: Float64Array;
  recI: Float64Array | null;
  /** first step whose membrane is within the margin of a spike boundary (T: none) */
  limit: Int32Array;
  /** magnitude scale per neuron for tolerances */
  scale: Float64Array;
}
const MARGIN = 1e-4;

/** One batch row through T steps of docs/semantics.md §3.2, in float64. x: (T, N) slice of the input. */
function refRow(
  P: RefParams,
  x: Float32Array,
  xOff: number,
  T: number,
  N: number,
  v0: ArrayLike<number>,
  i0: ArrayLike<number> | null,
): RowResult {
  const out = new Float64Array(T * N),
    recV = new Float64Array(T * N);
  const recI = P.alphaS ? new Float64Array(T * N) : null;
  const v = new Float64Array(N),
    i = P.alphaS ? new Float64Array(N) : null;
  const limit = new Int32Array(N).fill(T),
    scale = new Float64Array(N);
  for (let n = 0; n < N; ++n) {
    let vn = v0[n]!,
      inn = i0 ? i0[n]! : 0;
    let sc = 1 + (Number.isFinite(vn) ? Math.abs(vn) : 0);
    const rules: RefStepRules = {
      alphaMem: P.alphaM[n]!,
      alphaSyn: P.alphaS ? P.alphaS[n]! : null,
      c: P.c[n]!,
      theta: P.theta,
      spike: P.spike === 'custom' ? 'single' : P.spike,
      maxSpikes: P.maxSpikes,
      reset: P.reset === 'sub' ? 'subtract' : P.reset,
      thetaSub: P.thetaSub,
      resetValue: P.resetValue,
      minV: P.minV,
    };
    for (let t = 0; t < T; ++t) {
      const st = refStep(rules, vn, inn, x[xOff + t * N + n]!);
      if (P.alphaS) inn = st.i;
      const { u, s } = st;
      if (Number.isFinite(u)) sc = Math.max(sc, 1 + Math.abs(u));
      // the first step near a spike boundary: float32 and float64 may count differently from there on
      if (limit[n] === T) {
        if (P.spike === 'multi') {
          if (Number.isFinite(u) && u > 0) {
            const k = Math.round(u / P.theta);
            if (k >= 1 && Math.abs(u - k * P.theta) <= MARGIN * (1 + Math.abs(u))) limit[n] = t;
          }
        } else if (P.spike === 'single' || P.spike === 'custom') {
          if (Math.abs(u - P.theta) <= MARGIN * (1 + Math.abs(u))) limit[n] = t;
        }
      }
      vn = st.v;
      out[t * N + n] = s;
      recV[t * N + n] = vn;
      if (recI) recI[t * N + n] = inn;
    }
    v[n] = vn;
    if (i) i[n] = inn;
    scale[n] = sc;
  }
  return { out, v, i, recV, recI, limit, scale };
}

const sameNum = (a: number, b: number): boolean => (Number.isNaN(a) && Number.isNaN(b)) || a === b;
const closeNum = (a: number, b: number, scale: number): boolean =>
  sameNum(a, b) ||
  (Number.isFinite(a) && Number.isFinite(b) && Math.abs(a - b) <= MARGIN * Math.max(scale, 1 + Math.abs(b)));

interface Got {
  out: Float32Array;
  v: Float32Array;
  i: Float32Array | null;
  recV: Float32Array | null;
  recI: Float32Array | null;
}
/** Compares row b of the layer's results with a reference row; returns a mismatch description or null. */
function compareRow(
  got: Got,
  ref: RowResult,
  b: number,
  T: number,
  N: number,
  spiking: boolean,
  stats: Stats,
): string | null {
  let checked = 0,
    skipped = 0;
  for (let n = 0; n < N; ++n) {
    const lim = ref.limit[n]!;
    const sc = ref.scale[n]!;
    for (let t = 0; t < T; ++t) {
      if (t >= lim) {
        skipped += 1;
        continue;
      }
      const a = got.out[(b * T + t) * N + n]!,
        e = ref.out[t * N + n]!;
      const ok = spiking ? sameNum(a, e) : closeNum(a, e, sc);
      if (!ok) return `output (b=${b}, t=${t}, n=${n}) is ${a}, the reference gives ${e}`;
      if (got.recV) {
        const rv = got.recV[(b * T + t) * N + n]!;
        if (!closeNum(rv, ref.recV[t * N + n]!, sc))
          return `recordings.vMem (b=${b}, t=${t}, n=${n}) is ${rv}, the reference gives ${ref.recV[t * N + n]}`;
      }
      if (got.recI && ref.recI) {
        const ri = got.recI[(b * T + t) * N + n]!;
        if (!closeNum(ri, ref.recI[t * N + n]!, sc))
          return `recordings.iSyn (b=${b}, t=${t}, n=${n}) is ${ri}, the reference gives ${ref.recI[t * N + n]}`;
      }
      checked += 1;
    }
    if (lim === T) {
      if (!closeNum(got.v[b * N + n]!, ref.v[n]!, sc))
        return `v_mem (b=${b}, n=${n}) is ${got.v[b * N + n]}, the reference gives ${ref.v[n]}`;
      if (got.i && ref.i && !closeNum(got.i[b * N + n]!, ref.i[n]!, sc))
        return `i_syn (b=${b}, n=${n}) is ${got.i[b * N + n]}, the reference gives ${ref.i[n]}`;
    }
  }
  stats.refChecked += checked;
  stats.refSkipped += skipped;
  return null;
}

interface Stats {
  calls: number;
  valid: number;
  invalid: number;
  episodes: number;
  constructorsRejected: number;
  refChecked: number;
  refSkipped: number;
  resampledRows: number;
  byKind: Map<string, number>;
}

// ---- one episode: a layer and a random call sequence --------------------------------------------------

interface Ctx {
  r: Rand;
  stats: Stats;
  log: string[];
  /** counts a call; returns false when the budget is spent */
  spend(valid: boolean, what: string): void;
  left(): number;
}

class Episode {
  readonly A: LIF;
  readonly B: LIF;
  constructor(
    readonly ctx: Ctx,
    readonly spec: Spec,
    readonly model: Model,
  ) {
    this.A = construct(spec);
    this.B = construct(spec);
  }
  get r(): Rand {
    return this.ctx.r;
  }

  // -- model checks --
  checkModel(what: string): void {
    const A = this.A;
    if (!sameShape(A.shape ?? [-1], this.model.stateShape ?? [-1]))
      fail(
        `${what}: layer.shape is ${JSON.stringify(A.shape)}, the model says ${JSON.stringify(this.model.stateShape)}`,
      );
    if (A.pendingCalls !== this.model.pending.length)
      fail(`${what}: pendingCalls is ${A.pendingCalls}, the model says ${this.model.pending.length}`);
    if (A.training !== this.model.training) fail(`${what}: training is ${A.training}`);
    const names = A.namedParameters().map(([n]) => n);
    const want = ['tau_mem', 'alpha_mem', 'tau_syn', 'alpha_syn', 'min_v_mem', 'spike_threshold'].filter((n) =>
      this.model.params.has(n),
    );
    if (names.join() !== want.join()) fail(`${what}: parameters ${names.join()} but the model has ${want.join()}`);
    for (const [n, p] of A.namedParameters()) {
      const m = this.model.params.get(n)!;
      if (!sameShape(p.shape, m.shape)) fail(`${what}: parameter ${n} has shape [${p.shape}], the model [${m.shape}]`);
      const d = p.toFloat32Array();
      for (let k = 0; k < d.length; ++k)
        if (!Object.is(d[k], m.data[k])) fail(`${what}: parameter ${n}[${k}] is ${d[k]}, the model ${m.data[k]}`);
    }
  }
  checkTwin(what: string): void {
    const a = snapshot(this.A),
      b = snapshot(this.B);
    if (a !== b)
      fail(
        `${what}: the layer differs from its twin (which got only the valid calls, synchronously): ${firstLineDiff(a, b)}`,
      );
  }

  // -- inputs --
  data(n: number, scale = 1): Float32Array {
    const theta = this.model.params.get('spike_threshold')?.data[0] ?? 1;
    const d = new Float32Array(n);
    for (let k = 0; k < n; ++k) d[k] = this.r.range(-1, 3) * theta * scale;
    if (this.r.chance(0.06)) {
      const m = this.r.between(1, 2);
      for (let k = 0; k < m; ++k) d[this.r.int(n)] = this.r.pick([NaN, Infinity, -Infinity]);
    }
    return d;
  }
  /** A valid forward input shape: mostly the home neuron shape, sometimes another one. */
  inputShape(): number[] {
    const r = this.r;
    const B = r.between(1, 3);
    const T = r.chance(0.08) ? r.between(30, 70) : r.between(1, 10);
    let N = this.spec.homeN;
    if (r.chance(0.15)) N = Array.from({ length: r.int(3) }, () => r.between(1, 4));
    else if (r.chance(0.1) && this.model.stateShape) N = this.model.stateShape.slice(1);
    return [B, T, ...N];
  }
  paramsBroadcast(N: number[]): Bad | null {
    for (const [name, api] of [
      ['tau_mem', 'tauMem'],
      ['alpha_mem', 'alphaMem'],
      ['tau_syn', 'tauSyn'],
      ['alpha_syn', 'alphaSyn'],
    ] as const) {
      const p = this.model.params.get(name);
      if (p && broadcastIndex(p.shape, N) === null) return RE(/tau|alpha/);
      void api;
    }
    return null;
  }

  refParams(N: number[]): RefParams {
    const n = prod(N);
    const s = this.spec,
      P = this.model.params;
    const alphaM = new Float64Array(n).fill(1),
      c = new Float64Array(n).fill(1);
    const per = (p: Param, tauMode: boolean): Float64Array => {
      const idx = broadcastIndex(p.shape, N)!;
      return Float64Array.from(idx, (k) => (tauMode ? Math.exp(-1 / p.data[k]!) : p.data[k]!));
    };
    if (s.kind !== 'IAF') alphaM.set(per(P.get(s.trainAlphas ? 'alpha_mem' : 'tau_mem')!, !s.trainAlphas));
    if (s.normInput) for (let k = 0; k < n; ++k) c[k] = 1 - alphaM[k]!;
    const synP = P.get(s.trainAlphas ? 'alpha_syn' : 'tau_syn');
    const theta = P.get('spike_threshold')?.data[0] ?? 1;
    return {
      alphaM,
      c,
      alphaS: synP ? per(synP, !s.trainAlphas) : null,
      theta,
      thetaSub: s.subtractValue ?? theta,
      resetValue: s.resetValue,
      minV: P.get('min_v_mem')?.data[0] ?? null,
      spike: s.spike,
      maxSpikes: s.maxSpikes,
      reset: s.reset,
    };
  }

  // -- calls --
  async step(): Promise<void> {
    const r = this.r;
    const pend = this.model.pending.length;
    const action = r.weighted([
      [30, 'forward'],
      [10, 'forward-bad'],
      [pend ? 18 : 2, 'backward'],
      [7, 'backward-bad'],
      [4, 'reset'],
      [2, 'reset-bad'],
      [2, 'detach'],
      [2, 'zeroGrad'],
      [2, 'train'],
      [1, 'manualSeed'],
      [4, 'load'],
      [4, 'load-bad'],
      [2, 'busy'],
      [1, 'to'],
      [this.spec.spike === 'custom' ? 3 : 0, 'spike-fault'],
      [this.spec.customSurrogate && this.spec.spike !== 'none' && pend ? 3 : 0, 'surrogate-fault'],
      [2, 'dispose-during-async'],
    ] as const);
    await this[
      action === 'forward'
        ? 'forward'
        : action === 'forward-bad'
          ? 'forwardBad'
          : action === 'backward'
            ? 'backward'
            : action === 'backward-bad'
              ? 'backwardBad'
              : action === 'reset'
                ? 'reset'
                : action === 'reset-bad'
                  ? 'resetBad'
                  : action === 'detach'
                    ? 'detach'
                    : action === 'zeroGrad'
                      ? 'zeroGrad'
                      : action === 'train'
                        ? 'train'
                        : action === 'manualSeed'
                          ? 'manualSeed'
                          : action === 'load'
                            ? 'load'
                            : action === 'load-bad'
                              ? 'loadBad'
                              : action === 'busy'
                                ? 'busy'
                                : action === 'to'
                                  ? 'to'
                                  : action === 'spike-fault'
                                    ? 'spikeFault'
                                    : action === 'surrogate-fault'
                                      ? 'surrogateFault'
                                      : 'disposeDuringAsync'
    ]();
  }

  /** Runs an invalid call on A (sync or async) and checks it is rejected and changes nothing. */
  async rejected(
    what: string,
    bad: Bad,
    sync: (() => unknown) | null,
    async: (() => Promise<unknown>) | null,
  ): Promise<void> {
    const useAsync = async !== null && (sync === null || this.r.chance(0.4));
    const name = `${what}${useAsync ? ' (async)' : ''}`;
    this.ctx.spend(false, name);
    const before = snapshot(this.A);
    if (useAsync) await expectRejectAsync(async!, bad, name);
    else expectThrowSync(sync!, bad, name);
    const after = snapshot(this.A);
    if (after !== before) fail(`${name}: the rejected call changed the layer: ${firstLineDiff(after, before)}`);
    this.checkTwin(name);
    this.checkModel(name);
  }

  readState(): { shape: number[] | null; v: Float32Array | null; i: Float32Array | null } {
    const v = this.A.vMem,
      i = this.A.iSyn;
    return { shape: this.A.shape, v: v ? v.toFloat32Array() : null, i: i ? i.toFloat32Array() : null };
  }

  /** Checks a valid forward's result against the reference. */
  verifyForward(
    x: Float32Array,
    shape: number[],
    before: ReturnType<Episode['readState']>,
    out: Tensor,
    what: string,
  ): void {
    const [B, T, ...Nsh] = shape as [number, number, ...number[]];
    const N = prod(Nsh);
    const P = this.refParams(Nsh);
    const st = this.readState();
    const rec = this.A.recordings;
    const got: Got = {
      out: out.toFloat32Array(),
      v: st.v!,
      i: this.spec.hasSyn ? st.i : null,
      recV: this.spec.recordStates ? (rec.vMem?.toFloat32Array() ?? fail(`${what}: recordings.vMem missing`)) : null,
      recI:
        this.spec.recordStates && this.spec.hasSyn
          ? (rec.iSyn?.toFloat32Array() ?? fail(`${what}: recordings.iSyn missing`))
          : null,
    };
    if (!this.spec.recordStates && Object.keys(rec).length) fail(`${what}: recordings present without recordStates`);
    if (!sameShape(st.shape ?? [], [B, ...Nsh]))
      fail(`${what}: state shape ${JSON.stringify(st.shape)} after a forward of [${shape}]`);
    const spiking = this.spec.spike !== 'none';
    const zeros = new Float64Array(N);
    const bs = before.shape;
    const fresh = !bs || !before.v || !sameShape(bs.slice(1), Nsh);
    const Bold = bs ? bs[0]! : 0;
    const row = (a: Float32Array | null, k: number): ArrayLike<number> => (a ? a.subarray(k * N, (k + 1) * N) : zeros);
    for (let b = 0; b < B; ++b) {
      const xOff = b * T * N;
      if (fresh || Bold === B || Bold === 1) {
        const k = fresh ? -1 : Bold === B ? b : 0;
        const ref = refRow(
          P,
          x,
          xOff,
          T,
          N,
          k < 0 ? zeros : row(before.v, k),
          P.alphaS ? (k < 0 ? zeros : row(before.i, k)) : null,
        );
        const m = compareRow(got, ref, b, T, N, spiking, this.ctx.stats);
        if (m)
          fail(`${what}: ${m} (start state: ${fresh ? 'zeros' : Bold === B ? 'carried' : 'broadcast from batch 1'})`);
      } else {
        // resampled from Bold > 1 rows: some (v row, i row) pair must reproduce this row
        let found = false;
        const dummy: Stats = { ...this.ctx.stats, byKind: new Map() };
        for (let rv = 0; rv < Bold && !found; ++rv) {
          for (let ri = 0; ri < (P.alphaS ? Bold : 1) && !found; ++ri) {
            const ref = refRow(P, x, xOff, T, N, row(before.v, rv), P.alphaS ? row(before.i, ri) : null);
            if (compareRow(got, ref, b, T, N, spiking, dummy) === null) found = true;
          }
        }
        if (!found)
          fail(`${what}: row ${b} after a batch change ${Bold} -> ${B} matches no resampling of the old rows`);
        this.ctx.stats.resampledRows += 1;
      }
    }
    // firingRate = mean of the output
    const o = got.out;
    let sum = 0,
      abs = 0;
    for (let k = 0; k < o.length; ++k) {
      sum += o[k]!;
      abs += Number.isFinite(o[k]!) ? Math.abs(o[k]!) : 0;
    }
    const mean = sum / o.length,
      fr = this.A.firingRate!;
    if (!(sameNum(fr, mean) || Math.abs(fr - mean) <= 1e-4 * (1 + abs / o.length)))
      fail(`${what}: firingRate ${fr}, mean of the output ${mean}`);
  }

  modelForward(shape: number[], input: Tensor): void {
    const Nsh = shape.slice(2);
    const st = this.model.stateShape;
    if (st && !sameShape(st.slice(1), Nsh)) this.model.pending = [];
    this.model.stateShape = [shape[0]!, ...Nsh];
    if (this.model.training) this.model.pending.push({ shape, input });
  }

  async forward(): Promise<void> {
    const r = this.r;
    const shape = this.inputShape();
    const bad = this.paramsBroadcast(shape.slice(2));
    const x = this.data(prod(shape));
    const tA = Tensor.from(x, shape);
    const useOut = r.chance(0.15);
    const outA = useOut ? Tensor.zeros(shape) : undefined,
      outB = useOut ? Tensor.zeros(shape) : undefined;
    const optsA = useOut ? { out: outA } : r.chance(0.1) ? {} : undefined;
    const optsB = useOut ? { out: outB } : undefined;
    const isAsync = r.chance(0.35);
    if (bad) {
      await this.rejected(
        `forward [${shape}] (taus do not broadcast)`,
        bad,
        () => this.A.forward(tA, optsA),
        () => this.A.forwardAsync(tA, optsA),
      );
      return;
    }
    const what = `${isAsync ? 'forwardAsync' : 'forward'} [${shape}]${useOut ? ' with out' : ''}`;
    this.ctx.spend(true, what);
    const before = this.readState();
    const res = isAsync ? await this.A.forwardAsync(tA, optsA) : this.A.forward(tA, optsA);
    const resB = this.B.forward(tA, optsB);
    if (useOut && res !== outA) fail(`${what}: did not return the out tensor`);
    assertBitsEqual(res, resB, `${what}: result vs the twin's sync forward`);
    this.modelForward(shape, tA);
    this.verifyForward(x, shape, before, res, what);
    this.checkTwin(what);
    this.checkModel(what);
  }

  async forwardBad(): Promise<void> {
    const r = this.r;
    const shape = [r.between(1, 3), r.between(1, 6), ...this.spec.homeN];
    const good = Tensor.from(this.data(prod(shape)), shape);
    const pendingInput = this.model.pending.find((p) => !p.input.disposed)?.input;
    const cases: [string, () => unknown, () => unknown, Bad][] = [
      [
        'input not a Tensor',
        () =>
          r.pick([null, undefined, new Float32Array(8), [[1, 2]], { shape, data: new Float32Array(prod(shape)) }, 3]),
        () => undefined,
        TE(/input/),
      ],
      ['input disposed', () => disposedTensor(shape), () => undefined, CE(DISPOSED, /input/)],
      ['input rank 0', () => Tensor.scalar(1), () => undefined, RE(/input/)],
      ['input rank 1', () => Tensor.zeros([r.between(1, 5)]), () => undefined, RE(/input/)],
      ['B = 0', () => Tensor.zeros([0, ...shape.slice(1)]), () => undefined, RE(/input/)],
      ['T = 0', () => Tensor.zeros([shape[0]!, 0, ...shape.slice(2)]), () => undefined, RE(/input/)],
      [
        'a zero neuron dim',
        () => Tensor.zeros([...shape.slice(0, 2), ...this.spec.homeN, 0]),
        () => undefined,
        RE(/input/),
      ],
      ['options not an object', () => good, () => r.pick([5, null, 'out', true]), TE(/option/)],
      [
        'unknown option',
        () => good,
        () => ({ [r.pick(['outt', 'output', 'inplace'])]: Tensor.zeros(shape) }),
        TE(/outt|output|inplace/),
      ],
      ['out not a Tensor', () => good, () => ({ out: r.pick([new Float32Array(prod(shape)), [], 0]) }), TE(/out/)],
      ['out disposed', () => good, () => ({ out: disposedTensor(shape) }), CE(DISPOSED, /out/)],
      [
        'out of another shape',
        () => good,
        () => ({ out: Tensor.zeros([shape[0]!, shape[1]! + 1, ...shape.slice(2)]) }),
        RE(/out/),
      ],
      ['out is the input', () => good, () => ({ out: good }), RE(/out/)],
    ];
    if (pendingInput) {
      const ps = pendingInput.shape;
      cases.push([
        'out is the input of a pending call',
        () => Tensor.from(this.data(prod(ps)), ps),
        () => ({ out: pendingInput }),
        RE(/out/),
      ]);
    }
    const [name, mkInput, mkOpts, bad] = r.pick(cases);
    const input = mkInput() as Tensor,
      opts = mkOpts() as never;
    // the only defect must be the intended one: a pending input as out with a shape whose taus do not broadcast is still that defect
    await this.rejected(
      `forward: ${name}`,
      bad,
      () => this.A.forward(input, opts),
      () => this.A.forwardAsync(input, opts),
    );
  }

  gradFor(shape: number[]): Tensor {
    const n = prod(shape);
    const d = new Float32Array(n);
    for (let k = 0; k < n; ++k) d[k] = this.r.range(-1, 1);
    return Tensor.from(d, shape);
  }

  async backward(): Promise<void> {
    const r = this.r;
    const top = this.model.pending[this.model.pending.length - 1];
    if (!top) {
      const g = this.gradFor(this.inputShape());
      await this.rejected(
        'backward with nothing pending',
        RE(/pending/, 'ERR_NOTHING_PENDING'),
        () => this.A.backward(g),
        () => this.A.backwardAsync(g),
      );
      return;
    }
    const g = this.gradFor(top.shape);
    const useOut = r.chance(0.15);
    const outA = useOut ? Tensor.zeros(top.shape) : undefined,
      outB = useOut ? Tensor.zeros(top.shape) : undefined;
    const isAsync = r.chance(0.35);
    const what = `${isAsync ? 'backwardAsync' : 'backward'} [${top.shape}]${useOut ? ' with out' : ''}`;
    this.ctx.spend(true, what);
    const res = isAsync
      ? await this.A.backwardAsync(g, useOut ? { out: outA } : undefined)
      : this.A.backward(g, useOut ? { out: outA } : undefined);
    const resB = this.B.backward(g, useOut ? { out: outB } : undefined);
    if (useOut && res !== outA) fail(`${what}: did not return the out tensor`);
    if (!sameShape(res.shape, top.shape)) fail(`${what}: gradient shape [${res.shape}]`);
    assertBitsEqual(res, resB, `${what}: result vs the twin's sync backward`);
    this.model.pending.pop();
    for (const [n, p] of this.A.namedParameters())
      if (p.requiresGrad && !p.grad) fail(`${what}: parameter ${n} has no grad after a backward`);
    this.checkTwin(what);
    this.checkModel(what);
  }

  async backwardBad(): Promise<void> {
    const r = this.r;
    const top = this.model.pending[this.model.pending.length - 1];
    const shape = top?.shape ?? this.inputShape();
    const good = this.gradFor(shape);
    const noPending = RE(/pending/, 'ERR_NOTHING_PENDING');
    const cases: [string, () => unknown, () => unknown, Bad][] = [
      [
        'gradOutput not a Tensor',
        () => r.pick([null, undefined, new Float32Array(4), [1, 2], 1]),
        () => undefined,
        TE(/gradOutput/),
      ],
      ['gradOutput disposed', () => disposedTensor(shape), () => undefined, CE(DISPOSED, /gradOutput/)],
    ];
    if (!top) {
      cases.push(['nothing pending', () => good, () => undefined, noPending]);
    } else {
      cases.push(
        [
          'gradOutput of another shape',
          () =>
            this.gradFor(
              r.chance(0.5)
                ? [shape[0]! + 1, ...shape.slice(1)]
                : [...shape.slice(0, -1), (shape[shape.length - 1] ?? 1) + 1],
            ),
          () => undefined,
          RE(/gradOutput/),
        ],
        [
          'gradOutput of the same size, another shape',
          () => this.gradFor([prod(shape), 1]),
          () => undefined,
          shape.length === 2 && shape[1] === 1 ? null! : RE(/gradOutput/),
        ],
        ['options not an object', () => good, () => r.pick([5, null, 'x']), TE(/option/)],
        ['unknown option', () => good, () => ({ gradInput: Tensor.zeros(shape) }), TE(/gradInput/)],
        ['out of another shape', () => good, () => ({ out: Tensor.zeros([...shape, 1]) }), RE(/out/)],
        ['out not a Tensor', () => good, () => ({ out: [] }), TE(/out/)],
        ['out disposed', () => good, () => ({ out: disposedTensor(shape) }), CE(DISPOSED, /out/)],
      );
    }
    const [name, mkG, mkOpts, bad] = r.pick(cases.filter((c) => c[3] !== null));
    const g = mkG() as Tensor,
      opts = mkOpts() as never;
    await this.rejected(
      `backward: ${name}`,
      bad,
      () => this.A.backward(g, opts),
      () => this.A.backwardAsync(g, opts),
    );
  }

  async reset(): Promise<void> {
    const r = this.r;
    const c = r.int(5);
    let opts: Record<string, unknown> | undefined;
    let lo = 0,
      hi = 1;
    if (c === 1) opts = {};
    if (c === 2) opts = { randomize: false };
    if (c >= 3) {
      opts = { randomize: true };
      if (c === 4) {
        lo = r.range(-2, 1);
        hi = lo + r.range(0, 2);
        opts.valueRanges = r.chance(0.5) ? { v_mem: [lo, hi] } : { v_mem: [lo, hi], i_syn: [lo, hi] };
      }
    }
    const what = `resetStates(${JSON.stringify(opts)})`;
    this.ctx.spend(true, what);
    this.A.resetStates(opts as never);
    this.B.resetStates(opts as never);
    this.model.pending = [];
    const v = this.A.vMem?.toFloat32Array();
    if (v) {
      const randomize = c >= 3;
      for (const x of v)
        if (randomize ? !(x >= lo && x <= hi) : !Object.is(x, 0))
          fail(`${what}: v_mem value ${x} (expected ${randomize ? `in [${lo}, ${hi}]` : '0'})`);
    }
    this.checkTwin(what);
    this.checkModel(what);
  }

  async resetBad(): Promise<void> {
    const cases: [unknown, Bad][] = [
      [5, TE(/option/)],
      [null, TE(/option/)],
      [{ randomise: true }, TE(/randomise/)],
      [{ value_ranges: {} }, TE(/value_ranges/)],
      [{ randomize: 'yes' }, TE(/randomize/)],
      [{ randomize: true, valueRanges: 5 }, TE(/valueRanges/)],
      [{ randomize: true, valueRanges: { vMem: [0, 1] } }, TE(/vMem/)],
      [{ randomize: true, valueRanges: { v_mem: [0] } }, RE(/v_mem/)],
      [{ randomize: true, valueRanges: { v_mem: [0, NaN] } }, RE(/v_mem/)],
      [{ randomize: true, valueRanges: { i_syn: [-Infinity, 0] } }, RE(/i_syn/)],
      [{ randomize: true, valueRanges: { v_mem: [3, 2] } }, RE(/v_mem/)],
    ];
    const [opts, bad] = this.r.pick(cases);
    await this.rejected(`resetStates(${JSON.stringify(opts)})`, bad, () => this.A.resetStates(opts as never), null);
  }

  async detach(): Promise<void> {
    this.ctx.spend(true, 'detachStates()');
    this.A.detachStates();
    this.B.detachStates();
    this.model.pending = [];
    this.checkTwin('detachStates');
    this.checkModel('detachStates');
  }

  async zeroGrad(): Promise<void> {
    this.ctx.spend(true, 'zeroGrad()');
    this.A.zeroGrad();
    this.B.zeroGrad();
    this.model.pending = [];
    for (const [n, p] of this.A.namedParameters())
      if (p.grad && p.grad.toArray().some((x) => x !== 0)) fail(`zeroGrad: ${n}.grad is not zero`);
    this.checkTwin('zeroGrad');
    this.checkModel('zeroGrad');
  }

  async train(): Promise<void> {
    const r = this.r;
    if (r.chance(0.2)) {
      const m = r.pick([1, 'eval', null]);
      await this.rejected(`train(${JSON.stringify(m)})`, TE(/mode/), () => this.A.train(m as never), null);
      return;
    }
    const mode = r.chance(0.6);
    const what = mode ? 'train()' : 'eval()';
    this.ctx.spend(true, what);
    if (mode) {
      if (this.A.train() !== this.A) fail('train() does not return the layer');
      this.B.train();
    } else {
      if (this.A.eval() !== this.A) fail('eval() does not return the layer');
      this.B.eval();
    }
    this.model.training = mode;
    this.checkTwin(what);
    this.checkModel(what);
  }

  async manualSeed(): Promise<void> {
    const r = this.r;
    if (r.chance(0.3)) {
      const s = r.pick([1.5, '7', NaN, null]);
      await this.rejected(`manualSeed(${String(s)})`, TE(/seed/), () => this.A.manualSeed(s as never), null);
      return;
    }
    const s = r.int(100);
    this.ctx.spend(true, `manualSeed(${s})`);
    this.A.manualSeed(s);
    this.B.manualSeed(s);
    this.checkTwin('manualSeed');
  }

  async to(): Promise<void> {
    const r = this.r;
    const dev = r.pick(['cpu', 'gpu', 'cuda:x', 5, ...(backendInfo().cuda.available ? [] : ['cuda'])]);
    if (dev === 'cpu') {
      this.ctx.spend(true, "to('cpu')");
      if (this.A.to('cpu') !== this.A) fail("to('cpu') does not return the layer");
      this.B.to('cpu');
      this.checkTwin("to('cpu')");
      return;
    }
    const bad = dev === 5 ? TE(/device/) : dev === 'cuda' ? ({ cls: 'Error', re: /device/ } as Bad) : RE(/device/);
    await this.rejected(`to(${JSON.stringify(dev)})`, bad, () => this.A.to(dev as never), null);
  }

  /** A valid state dict for this layer (new values, sometimes a new batch or an empty state). */
  validDict(loose = true): {
    dict: Record<string, Tensor>;
    strict: boolean;
    params: Map<string, Param>;
    stateShape: number[] | null | undefined;
  } {
    const r = this.r;
    const dict: Record<string, Tensor> = {};
    const params = new Map<string, Param>();
    for (const [n, p] of this.model.params) {
      let data = p.data;
      if (r.chance(0.5)) {
        const [lo, hi] = n.startsWith('tau')
          ? [1.5, 40]
          : n.startsWith('alpha')
            ? [0.5, 0.98]
            : n === 'spike_threshold'
              ? [0.5, 2]
              : [-2, 0];
        data = Float32Array.from({ length: data.length }, () => r.range(lo, hi));
      }
      dict[n] = Tensor.from(data, p.shape);
      params.set(n, { shape: p.shape, data: Float32Array.from(data) });
    }
    let stateShape: number[] | null | undefined;
    const st = this.model.stateShape;
    const c = r.int(4);
    if (c === 0 || (!st && c !== 3)) {
      const own = this.A.stateDict();
      dict.v_mem = own.v_mem!;
      if (own.i_syn) dict.i_syn = own.i_syn;
      stateShape = own.v_mem!.size ? own.v_mem!.shape : null;
    } else if (c === 3) {
      dict.v_mem = Tensor.zeros([0]);
      if (this.spec.hasSyn) dict.i_syn = Tensor.zeros([0]);
      stateShape = null;
    } else {
      const sh = c === 1 ? st!.slice() : [r.between(1, 3), ...st!.slice(1)];
      dict.v_mem = Tensor.from(this.data(prod(sh), 0.5), sh);
      if (this.spec.hasSyn) dict.i_syn = Tensor.from(this.data(prod(sh), 0.5), sh);
      stateShape = sh;
    }
    let strict = true;
    if (loose && r.chance(0.2)) {
      strict = false;
      if (r.chance(0.5)) dict.not_a_key = Tensor.scalar(1);
      if (r.chance(0.5)) {
        const k = r.pick(Object.keys(dict).filter((x) => x !== 'not_a_key'));
        delete dict[k];
        if (this.model.params.has(k)) params.set(k, this.model.params.get(k)!);
        if (k === 'v_mem') stateShape = undefined;
      }
    }
    return { dict, strict, params, stateShape };
  }

  async load(): Promise<void> {
    const { dict, strict, params, stateShape } = this.validDict();
    const what = `loadStateDict(${Object.entries(dict)
      .map(([k, t]) => `${k}[${t.shape}]`)
      .join(', ')}${strict ? '' : ', strict: false'})`;
    this.ctx.spend(true, what);
    this.A.loadStateDict(dict, strict ? undefined : { strict });
    this.B.loadStateDict(dict, strict ? undefined : { strict });
    this.model.params = params;
    if (stateShape !== undefined) this.model.stateShape = stateShape;
    this.model.pending = [];
    if (stateShape) {
      assertBitsEqual(this.A.vMem!, dict.v_mem!, `${what}: vMem after loading`);
      if (this.spec.hasSyn && dict.i_syn?.size)
        assertBitsEqual(this.A.iSyn!, dict.i_syn, `${what}: iSyn after loading`);
    }
    this.checkTwin(what);
    this.checkModel(what);
  }

  async loadBad(): Promise<void> {
    const r = this.r;
    const { dict } = this.validDict(false);
    const keys = Object.keys(dict);
    const pkeys = keys.filter((k) => this.model.params.has(k));
    const cases: [string, () => [unknown, unknown], Bad][] = [
      ['dict null', () => [null, undefined], TE(/dict/)],
      ['dict a number', () => [5, undefined], TE(/dict/)],
      [
        'an unknown key',
        () => {
          const k = r.pick(
            ['foo', 'tauMem', 'vMem', 'alpha_mem', 'tau_mem', 'i_syn', 'min_v_mem'].filter(
              (x) => !(x in dict) && !this.model.params.has(x) && !(x === 'i_syn' && this.spec.hasSyn),
            ),
          );
          return [{ ...dict, [k]: Tensor.scalar(1) }, undefined];
        },
        TE(/foo|tauMem|vMem|alpha_mem|tau_mem|i_syn|min_v_mem/),
      ],
      [
        'a missing key',
        () => {
          const d = { ...dict };
          const k = r.pick(keys);
          delete d[k];
          return [d, undefined];
        },
        TE(/missing/),
      ],
      [
        'a value that is not a Tensor',
        () => [{ ...dict, [r.pick(keys)]: r.pick(['x', [1], null, {}]) }, undefined],
        TE(/'/),
      ],
      ['a disposed value', () => [{ ...dict, [r.pick(keys)]: disposedTensor([1]) }, undefined], CE(DISPOSED, /'/)],
      ['v_mem of rank 0', () => [{ ...dict, v_mem: Tensor.scalar(1) }, undefined], RE(/v_mem/)],
    ];
    if (pkeys.length) {
      const k = r.pick(pkeys);
      const p = this.model.params.get(k)!;
      cases.push(
        [
          `${k} of another shape`,
          () => [{ ...dict, [k]: Tensor.zeros([...p.shape, 2]).reshape([...p.shape, 2]) }, undefined],
          RE(esc(k)),
        ],
        [
          `${k} not finite`,
          () => [{ ...dict, [k]: Tensor.full(p.shape, r.pick([NaN, Infinity, -Infinity])) }, undefined],
          RE(esc(k)),
        ],
      );
      const pos = pkeys.filter((x) => x === 'tau_mem' || x === 'tau_syn' || x === 'spike_threshold');
      if (pos.length) {
        const q = r.pick(pos);
        cases.push([
          `${q} not positive`,
          () => [{ ...dict, [q]: Tensor.full(this.model.params.get(q)!.shape, r.pick([0, -1])) }, undefined],
          RE(esc(q)),
        ]);
      }
    }
    if (this.spec.hasSyn && dict.v_mem!.size > 0) {
      const sh = dict.v_mem!.shape;
      cases.push([
        'i_syn of another shape than v_mem',
        () => [{ ...dict, i_syn: Tensor.zeros([sh[0]! + 1, ...sh.slice(1)]) }, undefined],
        RE(/i_syn/),
      ]);
    }
    cases.push(['options with a typo', () => [dict, { strickt: false }], TE(/strickt/)]);
    cases.push(['options not an object', () => [dict, r.pick([5, 'strict'])], TE(/option/)]);
    cases.push(['strict not a boolean', () => [dict, { strict: 'no' }], TE(/strict/)]);
    const [name, mk, bad] = r.pick(cases);
    const [d, o] = mk();
    await this.rejected(`loadStateDict: ${name}`, bad, () => this.A.loadStateDict(d as never, o as never), null);
  }

  /** An async forward in flight: sync calls on the layer are refused with ERR_LAYER_BUSY. */
  async busy(): Promise<void> {
    const r = this.r;
    const shape = [r.between(1, 3), r.between(1, 8), ...this.spec.homeN];
    if (this.paramsBroadcast(shape.slice(2))) return;
    const x = this.data(prod(shape));
    const t = Tensor.from(x, shape);
    const before = this.readState();
    this.ctx.spend(true, `forwardAsync [${shape}] (in flight)`);
    const p = this.A.forwardAsync(t);
    const g = this.gradFor(shape);
    const sd = this.A.stateDict();
    const calls: [string, () => unknown][] = [
      ['forward', () => this.A.forward(t)],
      ['backward', () => this.A.backward(g)],
      ['resetStates', () => this.A.resetStates()],
      ['detachStates', () => this.A.detachStates()],
      ['zeroGrad', () => this.A.zeroGrad()],
      ['loadStateDict', () => this.A.loadStateDict(sd)],
      ['to', () => this.A.to('cpu')],
    ];
    const [name, fn] = r.pick(calls);
    this.ctx.spend(false, `${name} while forwardAsync is in flight`);
    expectThrowSync(fn, CE('ERR_LAYER_BUSY', esc(name)), `${name} while busy`);
    const res = await p;
    const resB = this.B.forward(t);
    assertBitsEqual(res, resB, 'forwardAsync after the busy call vs the twin');
    this.modelForward(shape, t);
    this.verifyForward(x, shape, before, res, 'forwardAsync (busy)');
    this.checkTwin('busy');
    this.checkModel('busy');
  }

  async disposeDuringAsync(): Promise<void> {
    const shape = [this.r.between(1, 3), this.r.between(1, 8), ...this.spec.homeN];
    if (this.paramsBroadcast(shape.slice(2))) return;
    const x = this.data(prod(shape));
    const t = Tensor.from(x, shape),
      tB = Tensor.from(x, shape);
    const before = this.readState();
    const what = `forwardAsync [${shape}], input disposed right after the call`;
    this.ctx.spend(true, what);
    const p = this.A.forwardAsync(t);
    t.dispose();
    const res = await p;
    assertBitsEqual(res, this.B.forward(tB), `${what}: vs the twin`);
    this.modelForward(shape, t);
    this.verifyForward(x, shape, before, res, what);
    this.checkTwin(what);
    this.checkModel(what);
  }

  /** The user's spike function fails inside a forward: its error (or a TypeError/RangeError naming spikeFn) and no change. */
  async spikeFault(): Promise<void> {
    const r = this.r;
    const shape = [r.between(1, 3), r.between(1, 6), ...this.spec.homeN];
    if (this.paramsBroadcast(shape.slice(2))) return;
    const t = Tensor.from(this.data(prod(shape)), shape);
    const mode = r.pick(['throw', 'length', 'type'] as const);
    const fault = this.spec.fault;
    const bad: Bad =
      mode === 'throw' ? { cls: 'Error', re: /./, user: undefined } : mode === 'length' ? RE(/spikeFn/) : TE(/spikeFn/);
    fault.mode = mode;
    try {
      if (mode === 'throw') {
        // the error object is created inside the call: check identity afterwards
        const useAsync = r.chance(0.4);
        this.ctx.spend(false, `spikeFn throws${useAsync ? ' (async)' : ''}`);
        const before = snapshot(this.A);
        let err: unknown = null;
        try {
          if (useAsync) await this.A.forwardAsync(t);
          else this.A.forward(t);
        } catch (e) {
          err = e;
        }
        if (err === null || err !== fault.error) fail(`spikeFn throws: expected the user's error, got ${String(err)}`);
        if (snapshot(this.A) !== before)
          fail(`spikeFn throws: the layer changed: ${firstLineDiff(snapshot(this.A), before)}`);
        this.checkTwin('spikeFn throws');
        this.checkModel('spikeFn throws');
      } else {
        await this.rejected(
          `spikeFn returns ${mode === 'length' ? 'the wrong length' : 'a non-array'}`,
          bad,
          () => this.A.forward(t),
          () => this.A.forwardAsync(t),
        );
      }
    } finally {
      fault.mode = null;
    }
  }

  async surrogateFault(): Promise<void> {
    const r = this.r;
    const top = this.model.pending[this.model.pending.length - 1]!;
    const g = this.gradFor(top.shape);
    const mode = r.pick(['throw', 'length', 'type'] as const);
    const fault = this.spec.fault;
    fault.mode = mode;
    try {
      if (mode === 'throw') {
        const useAsync = r.chance(0.4);
        this.ctx.spend(false, `surrogateGradFn throws${useAsync ? ' (async)' : ''}`);
        const before = snapshot(this.A);
        let err: unknown = null;
        try {
          if (useAsync) await this.A.backwardAsync(g);
          else this.A.backward(g);
        } catch (e) {
          err = e;
        }
        if (err === null || err !== fault.error)
          fail(`surrogateGradFn throws: expected the user's error, got ${String(err)}`);
        if (snapshot(this.A) !== before) fail('surrogateGradFn throws: the layer changed');
        this.checkTwin('surrogateGradFn throws');
        this.checkModel('surrogateGradFn throws');
      } else {
        await this.rejected(
          `surrogateGradFn returns ${mode === 'length' ? 'the wrong length' : 'a non-array'}`,
          mode === 'length' ? RE(/surrogateGradFn/) : TE(/surrogateGradFn/),
          () => this.A.backward(g),
          () => this.A.backwardAsync(g),
        );
      }
    } finally {
      fault.mode = null;
    }
  }
}

// ---- tensor API calls ---------------------------------------------------------------------------------

function tensorCall(ctx: Ctx): void {
  const r = ctx.r;
  const goodShape = (): number[] => Array.from({ length: r.int(4) }, () => r.between(0, 4));
  const c = r.int(10);
  if (c < 3) {
    // a valid construction
    const shape = goodShape();
    const n = prod(shape);
    const data = Array.from({ length: n }, () => r.range(-5, 5));
    const how = r.pick(['from', 'fromF32', 'zeros', 'full'] as const);
    ctx.spend(true, `Tensor.${how}([${shape}])`);
    const t =
      how === 'from'
        ? Tensor.from(data, shape)
        : how === 'fromF32'
          ? Tensor.from(Float32Array.from(data), shape)
          : how === 'zeros'
            ? Tensor.zeros(shape)
            : Tensor.full(shape, 2.5);
    if (!sameShape(t.shape, shape) || t.size !== n || t.rank !== shape.length)
      fail(`Tensor.${how}: shape [${t.shape}] size ${t.size}`);
    const got = t.toArray();
    const want =
      how === 'zeros' ? new Array<number>(n).fill(0) : how === 'full' ? new Array<number>(n).fill(2.5) : data.map(f32);
    if (got.some((v, k) => !Object.is(v, want[k]))) fail(`Tensor.${how}: data differs`);
    if (r.chance(0.3) && n > 0) {
      const flat = t.reshape([n]);
      if (!sameShape(flat.shape, [n])) fail('reshape');
    }
    if (r.chance(0.5)) {
      t.dispose();
      t.dispose();
      expectThrowSync(() => t.toArray(), CE(DISPOSED, /disposed/), 'toArray of a disposed tensor');
    }
    return;
  }
  const bads: [string, () => unknown, Bad][] = [
    ['shape with a negative dim', () => Tensor.zeros([2, -r.between(1, 3), 4]), RE(/shape/)],
    ['shape with a fraction', () => Tensor.zeros([2, 1.5]), RE(/shape/)],
    ['shape with NaN', () => Tensor.from([1], [NaN]), RE(/shape/)],
    ['shape with Infinity', () => Tensor.full([Infinity], 1), RE(/shape/)],
    ['shape with a string', () => Tensor.zeros([2, '3' as never]), TE(/shape/)],
    ['shape not an array', () => Tensor.zeros(r.pick([6, '2,3', null, { length: 1 }]) as never), TE(/shape/)],
    [
      'shape too large',
      () => Tensor.zeros(r.pick([[2 ** 40], [2 ** 20, 2 ** 20], [2 ** 16, 2 ** 16], [2 ** 1000, 2 ** 1000]])),
      RE(/shape/),
    ],
    ['data length mismatch', () => Tensor.from([1, 2, 3], [2, 2]), RE(/shape|elements/)],
    ['data with a string', () => Tensor.from([1, 'x' as never], [2]), TE(/data/)],
    ['data not an array', () => Tensor.from(r.pick([null, 5, 'abc', {}]) as never, [1]), TE(/data/)],
    ['reshape to another size', () => Tensor.zeros([2, 3]).reshape([4]), RE(/reshape/)],
    ['item of several elements', () => Tensor.zeros([2]).item(), RE(/item/)],
    ['disposed toArray', () => disposedTensor().toArray(), CE(DISPOSED, /disposed/)],
    ['disposed clone', () => disposedTensor().clone(), CE(DISPOSED, /disposed/)],
    ['disposed reshape', () => disposedTensor([2]).reshape([1, 2]), CE(DISPOSED, /disposed/)],
    ['device tpu', () => Tensor.zeros([2], { device: 'tpu' }), RE(/device/)],
    ['unknown tensor option', () => Tensor.from([1], [1], { dev: 'cpu' } as never), TE(/dev/)],
  ];
  const [name, fn, bad] = r.pick(bads);
  ctx.spend(false, `Tensor: ${name}`);
  expectThrowSync(fn, bad, `Tensor: ${name}`);
}

// ---- the run ----------------------------------------------------------------------------------------------

interface FailureRecord {
  kind: string;
  count: number;
  first: string;
}

async function fuzz(iterations: number, seed: number) {
  const master = new Rand(seed);
  const stats: Stats = {
    calls: 0,
    valid: 0,
    invalid: 0,
    episodes: 0,
    constructorsRejected: 0,
    refChecked: 0,
    refSkipped: 0,
    resampledRows: 0,
    byKind: new Map(),
  };
  const failures = new Map<string, FailureRecord>();
  let current = '';
  const log: string[] = [];
  const ctx: Ctx = {
    r: master,
    stats,
    log,
    spend(valid, what) {
      stats.calls += 1;
      if (valid) stats.valid += 1;
      else stats.invalid += 1;
      const kind = `${valid ? 'valid' : 'invalid'} ${
        what
          .replace(/\[[^\]]*\]/g, '[..]')
          .replace(/\(\{.*\}\)/, '(..)')
          .split(' (')[0]
      }`;
      stats.byKind.set(kind, (stats.byKind.get(kind) ?? 0) + 1);
      current = what;
      log.push(`#${stats.calls} ${what}`);
      if (log.length > 12) log.shift();
    },
    left: () => iterations - stats.calls,
  };
  const record = (e: unknown, episode: number, spec: Spec | null): void => {
    const msg = e instanceof Error ? e.message : String(e);
    const kind =
      current
        .replace(/\[[^\]]*\]/g, '[..]')
        .replace(/\d+(\.\d+)?/g, 'N')
        .slice(0, 80) +
      ' :: ' +
      msg.replace(/-?\d+(\.\d+)?(e-?\d+)?/g, 'N').slice(0, 100);
    const f = failures.get(kind);
    if (f) f.count += 1;
    else if (failures.size < 20) {
      const where = `seed ${seed}, episode ${episode}, call #${stats.calls}${spec ? `, ${spec.kind}(${describeOpts(spec.opts)}) neurons [${spec.homeN}]` : ''}`;
      const stack = e instanceof Failure ? '' : `\n${(e as Error)?.stack ?? ''}`;
      failures.set(kind, {
        kind,
        count: 1,
        first: `${msg}\n    at ${where}\n    last calls:\n      ${log.join('\n      ')}${stack}`,
      });
    }
  };

  let episode = 0;
  while (stats.calls < iterations) {
    episode += 1;
    stats.episodes += 1;
    log.length = 0;
    let spec: Spec | null = null;
    try {
      // a few calls on tensors and activations between layers
      while (master.chance(0.3) && stats.calls < iterations) {
        if (master.chance(0.7)) tensorCall(ctx);
        else {
          const [name, fn, bad] = activationCall(master);
          ctx.spend(bad === null, name);
          if (bad) expectThrowSync(fn, bad, name);
          else fn();
        }
      }
      // constructors: some garbage ones first
      const g = genSpec(master);
      spec = g.spec;
      while (master.chance(0.45) && stats.calls < iterations) {
        const [name, opts, bad] = ctorDefect(master, spec.kind, (spec.opts ?? {}) as Record<string, unknown>);
        const what = `new ${spec.kind}: ${name}`;
        ctx.spend(false, what);
        stats.constructorsRejected += 1;
        const make =
          spec.kind === 'LIF'
            ? () => new LIF(opts as never)
            : spec.kind === 'IAF'
              ? () => new IAF(opts as never)
              : () => new ExpLeak(opts as never);
        expectThrowSync(make, bad, what);
      }
      ctx.spend(true, `new ${spec.kind}(${describeOpts(spec.opts)})`);
      const ep = new Episode(ctx, spec, g.model);
      ep.checkModel('constructor');
      ep.checkTwin('constructor');
      // without a seed option each layer seeds its generator at random: give the twins one seed
      if (spec.opts?.seed === undefined) {
        const s = master.int(1 << 30);
        ctx.spend(true, `manualSeed(${s})`);
        ep.A.manualSeed(s);
        ep.B.manualSeed(s);
      }
      const len = master.between(5, 40);
      for (let k = 0; k < len && stats.calls < iterations; ++k) await ep.step();
    } catch (e) {
      record(e, episode, spec);
    }
  }
  return { stats, failures: [...failures.values()] };
}

function describeOpts(o: Record<string, unknown> | undefined): string {
  if (o === undefined) return '';
  return Object.entries(o)
    .map(([k, v]) => {
      let s: string;
      if (v instanceof Tensor) s = `Tensor[${v.shape}]`;
      else if (typeof v === 'function') s = v.name || 'fn';
      else if (v && typeof v === 'object')
        s =
          (v as { kind?: string }).kind ??
          (v.constructor?.name === 'Object' ? 'custom' : (v.constructor?.name ?? 'object'));
      else s = typeof v === 'number' ? String(+v.toPrecision(4)) : JSON.stringify(v);
      return `${k}: ${s}`;
    })
    .join(', ');
}

describe('fuzz: random valid and invalid call sequences', function () {
  this.timeout(Math.max(120000, ITERATIONS * 200));
  it(`${ITERATIONS} calls (seed ${SEED}): no crash, valid calls match the float64 reference and the twin, invalid ones throw the documented error and change nothing`, async function () {
    const t0 = performance.now();
    const { stats, failures } = await fuzz(ITERATIONS, SEED);
    const s = (performance.now() - t0) / 1000;
    console.log(
      `      fuzz: ${stats.calls} calls in ${s.toFixed(1)} s: ${stats.valid} valid, ${stats.invalid} invalid (${stats.constructorsRejected} constructors); ${stats.episodes} episodes`,
    );
    console.log(
      `      reference: ${stats.refChecked} neuron-steps compared, ${stats.refSkipped} left out near a spike boundary, ${stats.resampledRows} resampled rows matched`,
    );
    if (process.env.SPIKELAYERS_FUZZ_VERBOSE)
      for (const [k, n] of [...stats.byKind].sort()) console.log(`        ${String(n).padStart(5)}  ${k}`);
    if (failures.length) {
      const text = failures.map((f, k) => `(${k + 1}) x${f.count} ${f.first}`).join('\n\n');
      expect.fail(
        `${failures.length} kind(s) of failure (rerun with SPIKELAYERS_FUZZ_SEED=${SEED} SPIKELAYERS_FUZZ_ITERATIONS=${ITERATIONS}):\n\n${text}`,
      );
    }
  });
});

// Focused versions of what the fuzz test found, so that each has a test of its own.
describe('fuzz findings, as plain tests', function () {
  const x = (B: number, T = 4, N = 3): Tensor =>
    Tensor.from(
      Array.from({ length: B * T * N }, (_, k) => ((k * 7919) % 13) / 5),
      [B, T, N],
    );

  it('a forward rejected by the user spike function (after a batch change from 3 to 2) does not advance the resampling generator', function () {
    const fault = { on: false };
    const spikeFn = {
      forward(v: Float32Array, theta: number): Float32Array {
        if (fault.on) throw new Error('user spike function failed');
        return v.map((u) => (u >= theta ? 1 : 0));
      },
    };
    const a = new LIF({ tauMem: 10, seed: 1, spikeFn }),
      b = new LIF({ tauMem: 10, seed: 1, spikeFn });
    a.forward(x(3));
    b.forward(x(3));
    fault.on = true;
    expect(() => a.forward(x(2))).to.throw(/user spike function failed/);
    fault.on = false;
    a.forward(x(2));
    b.forward(x(2));
    expect(
      a.vMem!.toArray(),
      'resampled state after the rejected call equals the twin that never saw it',
    ).to.deep.equal(b.vMem!.toArray());
  });

  for (const [name, opts, re] of [
    ['an option with a typo ({ strickt: false })', { strickt: false }, /strickt/],
    ['options that are not an object (5)', 5, /option/],
    ['strict that is not a boolean ({ strict: "no" })', { strict: 'no' }, /strict/],
  ] as [string, unknown, RegExp][]) {
    it(`loadStateDict with ${name} is a TypeError and changes nothing`, function () {
      const l = new LIF({ tauMem: 10, tauSyn: 3 });
      l.forward(x(2));
      const before = snapshot(l);
      const sd = l.stateDict();
      sd.v_mem = Tensor.full([2, 3], 0.5);
      expect(() => l.loadStateDict(sd, opts as never)).to.throw(TypeError, re);
      expect(snapshot(l)).to.equal(before);
    });
  }

  for (const cls of [SingleExponential, Heaviside, Gaussian, MultiGaussian, PeriodicExponential]) {
    it(`surrogateGradFn: the class ${cls.name} instead of an instance is a TypeError naming surrogateGradFn at construction (not a failure at backward)`, function () {
      expect(() => new LIF({ tauMem: 10, surrogateGradFn: cls as never })).to.throw(TypeError, /surrogateGradFn/);
      expect(() => new IAF({ surrogateGradFn: cls as never })).to.throw(TypeError, /surrogateGradFn/);
    });
  }
});
