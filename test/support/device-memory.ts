// Scenarios of device memory owned by reference, shared by the test-memory suite
// (test/device-memory.test.ts: host pages standing in for a GPU) and the CUDA suite
// (test/device-memory-cuda.test.ts). Each scenario disposes or drops tensors while async calls are
// provably in flight (the native gate holds them on the libuv thread until the test opens it) and
// checks that the results are bit-identical to the same computation on the CPU, and that every
// block the scenario allocated is back with the allocator afterwards.
import { expect } from 'chai';
import {
  LIF,
  Linear,
  Sequential,
  Tensor,
  deviceMemoryStats,
  hostMemoryStats,
  type LIFOptions,
} from '../../lib/index.js';
import { native } from '../../lib/backend.js';
import { prod, uniform } from './random.js';

export const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Full GCs with turns of the event loop between them (finalizers run in between). */
export async function collect(rounds = 3): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('this suite needs node --expose-gc (set in .mocharc.json)');
  for (let k = 0; k < rounds; ++k) {
    gc();
    await tick(k === rounds - 1 ? 2 : 0);
  }
}

export function gate(cmd: 'close' | 'open' | 'status'): { waiting: number; passed: number } {
  return native().deviceMemory._gate(cmd);
}

/** Waits (bounded) until `n` async calls wait at the closed gate. */
export async function untilWaiting(n: number): Promise<void> {
  for (let k = 0; k < 20000; ++k) {
    if (gate('status').waiting >= n) return;
    await tick(1);
  }
  throw new Error(`fewer than ${n} async calls reached the gate (${gate('status').waiting} waiting)`);
}

/** Collects until `cond` holds (bounded); returns whether it did. */
export async function until(cond: () => boolean, rounds = 200): Promise<boolean> {
  for (let k = 0; k < rounds; ++k) {
    if (cond()) return true;
    await collect(2);
  }
  return cond();
}

/** Runs `f` with the gate closed, opening it however `f` ends. */
export async function withGateClosed<R>(f: () => Promise<R>): Promise<R> {
  gate('close');
  try {
    return await f();
  } finally {
    gate('open');
  }
}

/** First element whose bits differ, or -1. */
function firstDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let k = 0; k < x.length; ++k) if (x[k] !== y[k]) return k;
  return -1;
}
export function expectBits(got: Float32Array, want: Float32Array, what: string): void {
  const k = firstDiff(got, want);
  if (k >= 0)
    expect.fail(
      `${what}: not bit-identical (length ${got.length} vs ${want.length}, first difference at ${k}: ${got[k]} vs ${want[k]})`,
    );
}

const CONFIGS: [string, LIFOptions][] = [
  ['tauMem', { tauMem: 12 }],
  ['tauMem + tauSyn, trainAlphas', { tauMem: 9, tauSyn: 4, trainAlphas: true, recordStates: true }],
];
const SHAPE = [2, 40, 3, 700]; // 168,000 elements: a call takes long enough to overlap the test's actions

const data = (seed: number, lo = -0.5, hi = 2.5): Float32Array => uniform(seed, prod(SHAPE), lo, hi);

/** Fills the freed blocks' size classes with other data, so that memory given back too early shows. */
function churn(device: string, n: number): void {
  for (let k = 0; k < n; ++k) Tensor.from(uniform(900 + k, prod(SHAPE), -9, 9), SHAPE, { device }).dispose();
}

/** Blocks in use by the pool that `device`'s tensors come from ('cpu': the pooled host memory). */
export function blocksInUse(device: string): number {
  return device === 'cpu' ? hostMemoryStats().blocksInUse : deviceMemoryStats(device).blocksInUse;
}

/** The scenarios on `device` ('cuda:0' with the test memory, a real GPU, or 'cpu'). */
export function defineOwnershipScenarios(device: string): void {
  let baseline = 0;
  beforeEach(async function () {
    await collect();
    baseline = blocksInUse(device);
  });
  afterEach(async function () {
    gate('open');
    const back = await until(() => blocksInUse(device) === baseline);
    expect(back, `blocks in use ${blocksInUse(device)}, baseline ${baseline}`).to.equal(true);
  });

  for (const [name, cfg] of CONFIGS) {
    it(`${name}: the input disposed while forwardAsync runs; forward and backward equal the CPU's`, async function () {
      const ref = new LIF({ ...cfg, device: 'cpu' });
      const want = ref.forward(Tensor.from(data(1), SHAPE)).toFloat32Array();
      const wantGx = ref.backward(Tensor.from(data(2, -1, 1), SHAPE)).toFloat32Array();
      const layer = new LIF({ ...cfg, device });
      const got = await withGateClosed(async () => {
        const x = Tensor.from(data(1), SHAPE, { device });
        const p = layer.forwardAsync(x);
        await untilWaiting(1);
        x.dispose();
        await collect();
        churn(device, 3);
        gate('open');
        const y = await p;
        const r = y.toFloat32Array();
        y.dispose();
        return r;
      });
      expectBits(got, want, 'output');
      // the pending call kept its own share of the input: the backward replays it
      const gx = layer.backward(Tensor.from(data(2, -1, 1), SHAPE, { device }));
      expectBits(gx.toFloat32Array(), wantGx, 'input gradient');
      gx.dispose();
    });

    it(`${name}: gradOutput, the forward's input and output disposed while backwardAsync runs`, async function () {
      const ref = new LIF({ ...cfg, device: 'cpu' });
      ref.forward(Tensor.from(data(3), SHAPE));
      const wantGx = ref.backward(Tensor.from(data(4, -1, 1), SHAPE)).toFloat32Array();
      const wantGrads = ref.parameters().map((p) => p.grad?.toFloat32Array() ?? null);
      const layer = new LIF({ ...cfg, device });
      const x = Tensor.from(data(3), SHAPE, { device });
      const y = layer.forward(x);
      const gx = await withGateClosed(async () => {
        const g = Tensor.from(data(4, -1, 1), SHAPE, { device });
        const p = layer.backwardAsync(g);
        await untilWaiting(1);
        g.dispose();
        x.dispose();
        y.dispose();
        await collect();
        churn(device, 3);
        gate('open');
        return p;
      });
      expectBits(gx.toFloat32Array(), wantGx, 'input gradient');
      gx.dispose();
      const grads = layer.parameters().map((p) => p.grad?.toFloat32Array() ?? null);
      expect(grads.length).to.equal(wantGrads.length);
      grads.forEach((g, k) => {
        if (wantGrads[k] === null) expect(g).to.equal(null);
        else expectBits(g!, wantGrads[k]!, `gradient of parameter ${k}`);
      });
    });
  }

  it('`out` and the input disposed while forwardAsync writes into out: a view taken before sees the result', async function () {
    const cfg = CONFIGS[1]![1];
    const want = new LIF({ ...cfg, device: 'cpu' })
      .eval()
      .forward(Tensor.from(data(5), SHAPE))
      .toFloat32Array();
    const layer = new LIF({ ...cfg, device }).eval();
    const got = await withGateClosed(async () => {
      const x = Tensor.from(data(5), SHAPE, { device });
      const out = Tensor.zeros(SHAPE, { device });
      const view = out._view(SHAPE); // another owner of out's memory
      const p = layer.forwardAsync(x, { out });
      await untilWaiting(1);
      out.dispose();
      x.dispose();
      await collect();
      churn(device, 3);
      gate('open');
      await p;
      const r = view.toFloat32Array();
      view.dispose();
      return r;
    });
    expectBits(got, want, 'output');
  });

  // Here the call is the only owner of the memory it writes: were it given back early, the tensors
  // allocated meanwhile could get it (and the call's writes would land in them), or (cache limit
  // 0) it would be freed and the write would fault.
  it('`out` of forwardAsync and of backwardAsync disposed while the call writes into it: tensors allocated meanwhile are untouched', async function () {
    const cfg = CONFIGS[1]![1];
    const layer = new LIF({ ...cfg, device });
    const fills = [0, 1, 2, 3].map((k) => uniform(950 + k, prod(SHAPE), -9, 9));
    const check = (ts: Tensor[]): void =>
      ts.forEach((t, k) => {
        expectBits(t.toFloat32Array(), fills[k]!, `tensor ${k} allocated while the call ran`);
        t.dispose();
      });
    await withGateClosed(async () => {
      const x = Tensor.from(data(6), SHAPE, { device });
      const out = Tensor.zeros(SHAPE, { device });
      const p = layer.forwardAsync(x, { out });
      await untilWaiting(1);
      out.dispose();
      x.dispose();
      await collect();
      const others = fills.map((f) => Tensor.from(f, SHAPE, { device }));
      gate('open');
      await p;
      check(others);
    });
    await withGateClosed(async () => {
      const g = Tensor.from(data(7, -1, 1), SHAPE, { device });
      const out = Tensor.zeros(SHAPE, { device });
      const p = layer.backwardAsync(g, { out });
      await untilWaiting(1);
      out.dispose();
      g.dispose();
      await collect();
      const others = fills.map((f) => Tensor.from(f, SHAPE, { device }));
      gate('open');
      await p;
      check(others);
    });
  });

  it('calls queued on 4 layers, every input disposed as soon as it is issued: all results equal the CPU', async function () {
    const cfgs = [0, 1, 0, 1].map((k) => CONFIGS[k]![1]);
    const wants = cfgs.map((cfg, k) => {
      const l = new LIF({ ...cfg, device: 'cpu' });
      return [0, 1, 2].map((c) => l.forward(Tensor.from(data(10 * k + c), SHAPE)).toFloat32Array());
    });
    const layers = cfgs.map((cfg) => new LIF({ ...cfg, device }));
    const promises = await withGateClosed(async () => {
      const ps = layers.flatMap((l, k) =>
        [0, 1, 2].map((c) => {
          const x = Tensor.from(data(10 * k + c), SHAPE, { device });
          const p = l.forwardAsync(x);
          x.dispose(); // before the call is even parsed: the layer took its own share
          return p;
        }),
      );
      await untilWaiting(4); // the first call of each layer is in the native call
      await collect();
      churn(device, 2);
      return ps;
    });
    const outs = await Promise.all(promises);
    outs.forEach((y, q) => {
      expectBits(y.toFloat32Array(), wants[Math.floor(q / 3)]![q % 3]!, `layer ${Math.floor(q / 3)} call ${q % 3}`);
      y.dispose();
    });
  });

  it('Sequential(Linear, LIF).forwardAsync with the input disposed mid-flight equals the CPU', async function () {
    const make = (dev: string): Sequential =>
      new Sequential(
        new Linear({ inFeatures: 700, outFeatures: 300, seed: 7, device: dev }),
        new LIF({ tauMem: 6, device: dev }),
      );
    const shape = [2, 40, 700];
    const xs = uniform(77, prod(shape), -1, 1);
    const ref = make('cpu');
    const want = ref.forward(Tensor.from(xs, shape)).toFloat32Array();
    const net = make(device);
    const got = await withGateClosed(async () => {
      const x = Tensor.from(xs, shape, { device });
      const p = net.forwardAsync(x);
      await untilWaiting(1); // the LIF's call, after the Linear ran
      x.dispose();
      await collect();
      churn(device, 2);
      gate('open');
      const y = await p;
      const r = y.toFloat32Array();
      y.dispose();
      return r;
    });
    expectBits(got, want, 'output');
  });

  it('the caller drops the layer and its input while the call runs (only the call holds them); the promise resolves correctly', async function () {
    const cfg = CONFIGS[1]![1];
    const want = new LIF({ ...cfg, device: 'cpu' }).forward(Tensor.from(data(8), SHAPE)).toFloat32Array();
    const got = await withGateClosed(async () => {
      // the layer and its input are reachable from the call only
      const issue = (): Promise<Float32Array> =>
        new LIF({ ...cfg, device }).forwardAsync(Tensor.from(data(8), SHAPE, { device })).then((y) => {
          const r = y.toFloat32Array();
          y.dispose();
          return r;
        });
      const p = issue();
      await untilWaiting(1);
      await collect();
      churn(device, 2);
      gate('open');
      return p;
    });
    expectBits(got, want, 'output');
  });
}
