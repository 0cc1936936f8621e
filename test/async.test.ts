// forwardAsync / backwardAsync: bit-identical to the sync calls, the event loop keeps turning,
// calls on one layer run in issue order, sync calls on a layer with an async call in flight are
// refused with ERR_LAYER_BUSY, many layers in flight at once, and a rejected call does not block
// the queue.
import { expect } from 'chai';
import { LIF, Tensor, MaxSpike, MembraneReset, SingleSpike, Gaussian, type LIFOptions } from '../lib/index.js';
import { uniform, prod } from './support/random.js';

// ---- helpers ----------------------------------------------------------------------------------

const values = (n: number, seed: number, lo = -0.5, hi = 2.5): Float32Array => uniform(seed, n, lo, hi);
function inp(shape: number[], seed: number, lo?: number, hi?: number): Tensor {
  return Tensor.from(values(prod(shape), seed, lo, hi), shape);
}

/** Bitwise equality of two tensors (distinguishes -0 and +0; NaN equal to the same NaN). */
function expectBits(a: Tensor | null | undefined, b: Tensor | null | undefined, what: string): void {
  if (a === null || a === undefined || b === null || b === undefined) {
    expect(a ?? null, `${what}: presence`).to.equal(b ?? null);
    return;
  }
  expect(a.shape, `${what}: shape`).to.deep.equal(b.shape);
  const x = new Uint32Array(a.toFloat32Array().buffer),
    y = new Uint32Array(b.toFloat32Array().buffer);
  for (let k = 0; k < x.length; ++k)
    if (x[k] !== y[k])
      expect.fail(
        `${what}: element ${k} differs (${new Float32Array(x.buffer)[k]} vs ${new Float32Array(y.buffer)[k]})`,
      );
}

/** Everything observable about a layer, compared bitwise. */
function expectSameLayer(a: LIF, b: LIF, what: string): void {
  expect(a.shape, `${what}: shape`).to.deep.equal(b.shape);
  expect(a.pendingCalls, `${what}: pendingCalls`).to.equal(b.pendingCalls);
  expect(Object.is(a.firingRate, b.firingRate), `${what}: firingRate ${a.firingRate} vs ${b.firingRate}`).to.equal(
    true,
  );
  const sa = a.stateDict(),
    sb = b.stateDict();
  expect(Object.keys(sa), `${what}: stateDict keys`).to.deep.equal(Object.keys(sb));
  for (const k of Object.keys(sa)) expectBits(sa[k], sb[k], `${what}: stateDict.${k}`);
  const pa = a.namedParameters(),
    pb = b.namedParameters();
  pa.forEach(([n, p], k) => expectBits(p.grad, pb[k]![1].grad, `${what}: ${n}.grad`));
  const ra = a.recordings,
    rb = b.recordings;
  expect(Object.keys(ra).sort(), `${what}: recordings keys`).to.deep.equal(Object.keys(rb).sort());
  expectBits(ra.vMem, rb.vMem, `${what}: recordings.vMem`);
  expectBits(ra.iSyn, rb.iSyn, `${what}: recordings.iSyn`);
}

type Op = { kind: 'f'; x: Tensor } | { kind: 'b'; g: Tensor };
/** A call sequence: forwards with batch changes (from 1, then a resample), then backwards in reverse order. */
function sequence(N: number[], seed: number): Op[] {
  const x1 = inp([1, 7, ...N], seed + 1),
    x2 = inp([3, 5, ...N], seed + 2),
    x3 = inp([2, 40, ...N], seed + 3);
  return [
    { kind: 'f', x: x1 },
    { kind: 'f', x: x2 },
    { kind: 'f', x: x3 },
    { kind: 'b', g: inp([2, 40, ...N], seed + 4, -1, 1) },
    { kind: 'b', g: inp([3, 5, ...N], seed + 5, -1, 1) },
    { kind: 'b', g: inp([1, 7, ...N], seed + 6, -1, 1) },
  ];
}
const runSync = (l: LIF, ops: Op[]): Tensor[] => ops.map((o) => (o.kind === 'f' ? l.forward(o.x) : l.backward(o.g)));
const issueAsync = (l: LIF, ops: Op[]): Promise<Tensor>[] =>
  ops.map((o) => (o.kind === 'f' ? l.forwardAsync(o.x) : l.backwardAsync(o.g)));

const customSpike = {
  forward(v: Float32Array, theta: number): Float32Array {
    // floor(u/theta) for u > 0, capped at 2
    return v.map((u) => (u > 0 ? Math.min(2, Math.floor(u / theta)) : 0));
  },
};
const customSurrogate = (v: Float32Array, theta: number): Float32Array =>
  v.map((u) => 1 / (1 + Math.abs(u - theta) * 4));

const configs: [string, LIFOptions, number[]][] = [
  ['defaults', { tauMem: 10 }, [6]],
  [
    'tauSyn, minVMem, per-neuron tauMem, recordings, MaxSpike, MembraneReset',
    {
      tauMem: Tensor.from([3, 7, 15, 40], [4, 1]),
      tauSyn: 4,
      minVMem: -0.3,
      recordStates: true,
      spikeFn: new MaxSpike({ maxNumSpikesPerBin: 2 }),
      resetFn: new MembraneReset({ resetValue: 0.1 }),
    },
    [4, 3],
  ],
  [
    'trainAlphas, SingleSpike, Gaussian, normInput false, threshold 1.5',
    {
      tauMem: 5,
      tauSyn: 2,
      trainAlphas: true,
      spikeFn: SingleSpike,
      surrogateGradFn: new Gaussian({ sigma: 0.3 }),
      normInput: false,
      spikeThreshold: 1.5,
    },
    [2, 2, 2],
  ],
  [
    'custom spike function and custom surrogate',
    { tauMem: 6, spikeFn: customSpike, surrogateGradFn: customSurrogate, recordStates: true },
    [5],
  ],
  ['no spike function (leaky integrator)', { tauMem: 6, spikeFn: null, minVMem: -1 }, [5]],
];

const settle = <T>(p: Promise<T>): Promise<{ ok: true; v: T } | { ok: false; e: unknown }> =>
  p.then(
    (v) => ({ ok: true as const, v }),
    (e: unknown) => ({ ok: false as const, e }),
  );
const nextTick = (): Promise<void> => new Promise((r) => setImmediate(r));

// ---- tests ------------------------------------------------------------------------------------

describe('async calls', function () {
  this.timeout(120000);

  describe('forwardAsync / backwardAsync are bit-identical to forward / backward', function () {
    for (const [name, opts, N] of configs) {
      it(`${name}: each call awaited in turn`, async function () {
        const ops = sequence(N, 10);
        const s = new LIF({ ...opts, seed: 4 }),
          a = new LIF({ ...opts, seed: 4 });
        for (let k = 0; k < ops.length; ++k) {
          const o = ops[k]!;
          const rs = o.kind === 'f' ? s.forward(o.x) : s.backward(o.g);
          const ra = await (o.kind === 'f' ? a.forwardAsync(o.x) : a.backwardAsync(o.g));
          expectBits(ra, rs, `call ${k} (${o.kind}) result`);
          expectSameLayer(a, s, `after call ${k}`);
        }
      });
    }
    it('with `out` tensors: the result is written into out and out is returned', async function () {
      const x = inp([2, 9, 5], 21),
        g = inp([2, 9, 5], 22, -1, 1);
      const s = new LIF({ tauMem: 8, tauSyn: 3 }),
        a = new LIF({ tauMem: 8, tauSyn: 3 });
      const out = Tensor.zeros([2, 9, 5]),
        gin = Tensor.zeros([2, 9, 5]);
      const ra = await a.forwardAsync(x, { out });
      expect(ra).to.equal(out);
      expectBits(out, s.forward(x), 'forward out');
      const rb = await a.backwardAsync(g, { out: gin });
      expect(rb).to.equal(gin);
      expectBits(gin, s.backward(g), 'backward out');
      expectSameLayer(a, s, 'after');
    });
    it('eval mode', async function () {
      const x = inp([3, 11, 4], 23);
      const s = new LIF({ tauMem: 8 }).eval(),
        a = new LIF({ tauMem: 8 }).eval();
      expectBits(await a.forwardAsync(x), s.forward(x), 'forward');
      expectBits(await a.forwardAsync(x), s.forward(x), 'second forward');
      expectSameLayer(a, s, 'after');
      expect(a.pendingCalls).to.equal(0);
    });
  });

  describe('the event loop keeps turning during a long async call', function () {
    const shape = [16, 400, 8192];
    let x: Tensor;
    before(function () {
      x = Tensor.full(shape, 0.3);
    });
    after(function () {
      x?.dispose();
    });
    it(`forwardAsync on [${shape.join(', ')}]: setInterval(1 ms) and setImmediate keep firing`, async function () {
      const l = new LIF({ tauMem: 20 });
      let intervals = 0,
        immediates = 0,
        running = true;
      const iv = setInterval(() => ++intervals, 1);
      const spin = (): void => {
        if (!running) return;
        ++immediates;
        setImmediate(spin);
      };
      setImmediate(spin);
      const t0 = performance.now();
      const out = await l.forwardAsync(x);
      const ms = performance.now() - t0;
      running = false;
      clearInterval(iv);
      expect(out.shape).to.deep.equal(shape);
      console.log(
        `      forwardAsync took ${ms.toFixed(0)} ms: ${intervals} interval ticks, ${immediates} setImmediate turns`,
      );
      expect(intervals, 'interval ticks during the call').to.be.greaterThan(0);
      expect(immediates, 'setImmediate turns during the call').to.be.greaterThan(0);
      out.dispose();

      let ticks = 0;
      const iv2 = setInterval(() => ++ticks, 1);
      const t1 = performance.now();
      const gin = await l.backwardAsync(x);
      const ms2 = performance.now() - t1;
      clearInterval(iv2);
      console.log(`      backwardAsync took ${ms2.toFixed(0)} ms: ${ticks} interval ticks`);
      expect(gin.shape).to.deep.equal(shape);
      expect(ticks, 'interval ticks during backwardAsync').to.be.greaterThan(0);
      gin.dispose();
    });
  });

  describe('calls on one layer issued without awaiting run in issue order', function () {
    for (const [name, opts, N] of configs) {
      it(`${name}: equals the sync sequence on a fresh layer`, async function () {
        const ops = sequence(N, 30);
        const s = new LIF({ ...opts, seed: 8 }),
          a = new LIF({ ...opts, seed: 8 });
        const ps = issueAsync(a, ops);
        expect(a.pendingCalls, 'nothing has run synchronously').to.equal(0);
        const ra = await Promise.all(ps);
        const rs = runSync(s, ops);
        ra.forEach((r, k) => expectBits(r, rs[k], `call ${k}`));
        expectSameLayer(a, s, 'after');
      });
    }
    it('forwards interleaved with backwards (forward, backward, forward, backward ...)', async function () {
      const s = new LIF({ tauMem: 7, tauSyn: 2, recordStates: true }),
        a = new LIF({ tauMem: 7, tauSyn: 2, recordStates: true });
      const ops: Op[] = [];
      for (let k = 0; k < 6; ++k) {
        ops.push({ kind: 'f', x: inp([2, 3 + k, 3], 40 + k) });
        ops.push({ kind: 'b', g: inp([2, 3 + k, 3], 50 + k, -1, 1) });
      }
      const ra = await Promise.all(issueAsync(a, ops));
      runSync(s, ops).forEach((r, k) => expectBits(ra[k], r, `call ${k}`));
      expectSameLayer(a, s, 'after');
    });
  });

  describe('sync calls while an async call is in flight', function () {
    const shape = [8, 200, 8192];
    let x: Tensor;
    before(function () {
      x = inp(shape, 61, -0.5, 2.5);
    });
    after(function () {
      x?.dispose();
    });
    const expectBusy = (fn: () => unknown, what: string): void => {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err, `${what} must throw`).to.be.instanceOf(Error);
      expect((err as { code?: string }).code, `${what}: code (${(err as Error).message})`).to.equal('ERR_LAYER_BUSY');
    };

    it('a sync forward while forwardAsync runs throws ERR_LAYER_BUSY and does not disturb the result', async function () {
      const small = inp([8, 3, 8192], 62);
      const a = new LIF({ tauMem: 9, tauSyn: 3 });
      let settled = false;
      const p = a.forwardAsync(x).finally(() => (settled = true));
      await nextTick();
      expect(settled, 'precondition: the async call is still running').to.equal(false);
      expectBusy(() => a.forward(small), 'forward');
      expectBusy(() => a.backward(small), 'backward');
      expectBusy(() => a.resetStates(), 'resetStates');
      expectBusy(() => a.detachStates(), 'detachStates');
      expectBusy(() => a.zeroGrad(), 'zeroGrad');
      expectBusy(() => a.loadStateDict(new LIF({ tauMem: 9, tauSyn: 3 }).stateDict()), 'loadStateDict');
      // another layer is not busy
      const other = new LIF({ tauMem: 9 });
      expect(other.forward(small).shape).to.deep.equal([8, 3, 8192]);
      const out = await p;
      const ref = new LIF({ tauMem: 9, tauSyn: 3 });
      expectBits(out, ref.forward(x), 'async result');
      expectSameLayer(a, ref, 'layer after the async call');
      // once settled, sync calls work again
      expectBits(a.forward(small), ref.forward(small), 'sync forward afterwards');
    });

    it('a sync forward right after forwardAsync returns (same tick, call queued) throws ERR_LAYER_BUSY and does not disturb the result', async function () {
      const small = inp([2, 3, 5], 63);
      const x2 = inp([2, 6, 5], 64);
      const a = new LIF({ tauMem: 9, tauSyn: 3 });
      const p = settle(a.forwardAsync(x2));
      let err: unknown;
      try {
        a.forward(small);
      } catch (e) {
        err = e;
      }
      const r = await p;
      expect(r.ok, 'the async call resolves').to.equal(true);
      const ref = new LIF({ tauMem: 9, tauSyn: 3 });
      const refOut = ref.forward(x2);
      expect(err, 'sync forward issued after forwardAsync must throw (it would otherwise run first)').to.be.instanceOf(
        Error,
      );
      expect((err as { code?: string }).code).to.equal('ERR_LAYER_BUSY');
      expectBits((r as { v: Tensor }).v, refOut, 'async result');
      expectSameLayer(a, ref, 'layer after the async call');
    });

    it('a sync forward in the continuation of an earlier async call, while a later one is queued, throws ERR_LAYER_BUSY', async function () {
      const opts: LIFOptions = { tauMem: 2, normInput: false };
      const x1 = inp([2, 5, 3], 68, 0, 1.5),
        x2 = inp([2, 4, 3], 69, 0, 1.5),
        y = inp([2, 3, 3], 70, 0, 1.5);
      const a = new LIF(opts);
      let err: unknown;
      const p1 = a.forwardAsync(x1).then((o) => {
        try {
          a.forward(y);
        } catch (e) {
          err = e;
        }
        return o;
      });
      const p2 = a.forwardAsync(x2);
      const [o1, o2] = await Promise.all([p1, p2]);
      const ref = new LIF(opts);
      const r1 = ref.forward(x1),
        r2 = ref.forward(x2);
      expect(
        err,
        'sync forward while forwardAsync(x2) is queued must throw (it would otherwise run before it)',
      ).to.be.instanceOf(Error);
      expect((err as { code?: string }).code).to.equal('ERR_LAYER_BUSY');
      expectBits(o1, r1, 'first async result');
      expectBits(o2, r2, 'second async result');
      expectSameLayer(a, ref, 'layer after both async calls');
    });

    it('a sync backward while backwardAsync runs throws ERR_LAYER_BUSY', async function () {
      const a = new LIF({ tauMem: 9 });
      const ref = new LIF({ tauMem: 9 });
      a.forward(x);
      a.forward(inp([8, 2, 8192], 65));
      ref.forward(x);
      ref.forward(inp([8, 2, 8192], 65));
      const g2 = inp([8, 2, 8192], 66, -1, 1);
      expectBits(await a.backwardAsync(g2), ref.backward(g2), 'first backward');
      let settled = false;
      const p = a.backwardAsync(x).finally(() => (settled = true));
      await nextTick();
      expect(settled, 'precondition: still running').to.equal(false);
      expectBusy(() => a.backward(x), 'backward');
      expectBusy(() => a.forward(x), 'forward');
      expectBits(await p, ref.backward(x), 'backwardAsync result');
      expectSameLayer(a, ref, 'after');
    });

    it('disposing the input while its forwardAsync runs does not affect the result', async function () {
      const x2 = inp([8, 100, 8192], 67);
      const keep = x2.clone();
      const a = new LIF({ tauMem: 9 });
      const p = a.forwardAsync(x2);
      await nextTick();
      x2.dispose();
      const out = await p;
      expectBits(out, new LIF({ tauMem: 9 }).forward(keep), 'result');
    });
  });

  describe('many layers in flight at once', function () {
    it('8 layers x 4 calls (forward, forward, backward, backward) all resolve correctly', async function () {
      const L = 8;
      const mk = (k: number): LIF => {
        const [, opts] = configs[k % configs.length]!;
        return new LIF({ ...opts, seed: 100 + k });
      };
      const shapes = (k: number): number[] => configs[k % configs.length]![2];
      const plans = Array.from({ length: L }, (_, k) => {
        const N = shapes(k);
        const B = 1 + (k % 3),
          T1 = 20 + 7 * k,
          T2 = 5 + k;
        return [
          { kind: 'f', x: inp([B, T1, ...N], 200 + k) },
          { kind: 'f', x: inp([B + 1, T2, ...N], 300 + k) },
          { kind: 'b', g: inp([B + 1, T2, ...N], 400 + k, -1, 1) },
          { kind: 'b', g: inp([B, T1, ...N], 500 + k, -1, 1) },
        ] as Op[];
      });
      const layers = plans.map((_, k) => mk(k));
      const all = plans.map((ops, k) => issueAsync(layers[k]!, ops));
      const results = await Promise.all(all.map((ps) => Promise.all(ps)));
      plans.forEach((ops, k) => {
        const ref = mk(k);
        runSync(ref, ops).forEach((r, c) => expectBits(results[k]![c], r, `layer ${k}, call ${c}`));
        expectSameLayer(layers[k]!, ref, `layer ${k}`);
      });
    });
    it('large calls on 4 layers in flight at once', async function () {
      const shape = [4, 64, 4096];
      const xs = [0, 1, 2, 3].map((k) => inp(shape, 600 + k));
      const layers = [0, 1, 2, 3].map((k) => new LIF({ tauMem: 5 + 10 * k, tauSyn: 2 }));
      const outs = await Promise.all(layers.map((l, k) => l.forwardAsync(xs[k]!)));
      const grads = await Promise.all(layers.map((l, k) => l.backwardAsync(xs[(k + 1) % 4]!)));
      layers.forEach((l, k) => {
        const ref = new LIF({ tauMem: 5 + 10 * k, tauSyn: 2 });
        expectBits(outs[k], ref.forward(xs[k]!), `layer ${k} forward`);
        expectBits(grads[k], ref.backward(xs[(k + 1) % 4]!), `layer ${k} backward`);
        expectSameLayer(l, ref, `layer ${k}`);
      });
    });
  });

  describe('a rejected async call does not block the queue', function () {
    it('forwardAsync(null) then forwardAsync(x), issued together: the first rejects, the second runs', async function () {
      const x = inp([2, 6, 4], 71);
      const a = new LIF({ tauMem: 6, seed: 1 });
      const p1 = settle(a.forwardAsync(null as unknown as Tensor));
      const p2 = settle(a.forwardAsync(x));
      const [r1, r2] = await Promise.all([p1, p2]);
      expect(r1.ok).to.equal(false);
      expect((r1 as { e: unknown }).e).to.be.instanceOf(TypeError);
      expect(r2.ok, 'second call resolves').to.equal(true);
      const ref = new LIF({ tauMem: 6, seed: 1 });
      expectBits((r2 as { v: Tensor }).v, ref.forward(x), 'second call result');
      expectSameLayer(a, ref, 'after');
      // and the layer is not left busy
      expectBits(a.forward(x), ref.forward(x), 'sync call afterwards');
    });
    it('a bad backwardAsync between good calls: the rest of the queue runs as if it were not there', async function () {
      const x1 = inp([2, 6, 4], 72),
        x2 = inp([2, 3, 4], 73);
      const g1 = inp([2, 6, 4], 74, -1, 1),
        g2 = inp([2, 3, 4], 75, -1, 1);
      const a = new LIF({ tauMem: 6, tauSyn: 2, recordStates: true });
      const ps = [
        settle(a.forwardAsync(x1)),
        settle(a.forwardAsync(x2)),
        settle(a.backwardAsync(g1)), // wrong shape for the pending call: RangeError
        settle(a.backwardAsync(g2)),
        settle(a.forwardAsync(Tensor.zeros([2, 0, 4]))), // T = 0: RangeError
        settle(a.backwardAsync(g1)),
        settle(a.backwardAsync(g1)), // nothing pending
      ];
      const r = await Promise.all(ps);
      expect(r.map((x) => x.ok)).to.deep.equal([true, true, false, true, false, true, false]);
      expect((r[2] as { e: unknown }).e).to.be.instanceOf(RangeError);
      expect((r[4] as { e: unknown }).e).to.be.instanceOf(RangeError);
      expect((r[6] as { e: { code?: string } }).e.code).to.equal('ERR_NOTHING_PENDING');
      const ref = new LIF({ tauMem: 6, tauSyn: 2, recordStates: true });
      const rs = [ref.forward(x1), ref.forward(x2), ref.backward(g2), ref.backward(g1)];
      [0, 1, 3, 5].forEach((k, j) => expectBits((r[k] as { v: Tensor }).v, rs[j], `call ${k}`));
      expectSameLayer(a, ref, 'after');
    });
    it('a user spike function that throws inside forwardAsync rejects with its error; the layer is unchanged and the queue goes on', async function () {
      let failOnce = false;
      const sf = {
        forward(v: Float32Array, theta: number): Float32Array {
          if (failOnce) {
            failOnce = false;
            throw new Error('user spike function failed');
          }
          return v.map((u) => (u >= theta ? 1 : 0));
        },
      };
      const x1 = inp([2, 6, 4], 81),
        x2 = inp([2, 5, 4], 82),
        x3 = inp([2, 4, 4], 83);
      const a = new LIF({ tauMem: 6, spikeFn: sf, recordStates: true });
      const ref = new LIF({ tauMem: 6, spikeFn: sf, recordStates: true });
      expectBits(await a.forwardAsync(x1), ref.forward(x1), 'first call');
      failOnce = true; // the first step of the next call throws
      const bad = settle(a.forwardAsync(x2));
      const good = settle(a.forwardAsync(x3));
      const rb = await bad;
      const rg = await good;
      expect(rb.ok).to.equal(false);
      expect((rb as { e: Error }).e.message).to.match(/user spike function failed/);
      if (!rg.ok) expect.fail(`the next call was rejected: ${(rg.e as Error).message}`);
      expectBits(rg.v, ref.forward(x3), 'call after the failed one');
      expectSameLayer(a, ref, 'after');
    });
  });
});
