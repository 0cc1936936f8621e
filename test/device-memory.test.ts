// Device memory owned by reference, tested without a GPU: 'cuda:0' is the stand-in device of the
// native test memory (host pages behind the same reference-counted handles and caching allocator
// as CUDA memory; memory given back to the cache is filled with NaN, memory freed for good is made
// inaccessible, so that a call still using released memory computes garbage or faults). Calls on
// it run the CPU kernels on those pages.
//
// Shown here: the allocator's size classes, reuse, cache limit, emptying and out-of-memory retry;
// the external memory reported to V8 going down as well as up; a still-referenced buffer's memory
// never reused; unchanged decay factors kept on the device; and (test/support/device-memory.ts)
// inputs, outputs, gradients and layers disposed or dropped while async calls are in flight, with
// results bit-identical to the CPU's and every block back with the allocator afterwards, once with
// the cache limit at 0 (a block given back is freed and made inaccessible at once) and once with
// the cache on (a block given back is poisoned and handed to the next allocation). A worker
// terminated with calls in flight runs in a child process (a use after free would be a fault).
import { expect } from 'chai';
import type { NativeDeviceBuffer, NativeDeviceMemoryStats } from '#binding';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import {
  LIF,
  Tensor,
  deviceCacheLimit,
  deviceMemoryStats,
  emptyDeviceCache,
  setDeviceCacheLimit,
} from '../lib/index.js';
import { _setTestDevice, native } from '../lib/backend.js';
import {
  collect,
  defineOwnershipScenarios,
  expectBits,
  gate,
  tick,
  until,
  untilWaiting,
} from './support/device-memory.js';
import { prod, uniform } from './support/random.js';

const SELF = fileURLToPath(import.meta.url);
const SCENARIO_ENV = 'SPIKELAYERS_DEVMEM_SCENARIO';
const DEV = 'cuda:0';
const MiB = 1024 * 1024;

/** The size class of a request, from its definition: 512 bytes, then four classes per power of two. */
function sizeClass(bytes: number): number {
  let c = 512;
  while (c < bytes) c += 2 ** Math.floor(Math.log2(c)) / 4;
  return c;
}

const buffer = (n: number): NativeDeviceBuffer => new (native().DeviceBuffer)(n, 0);
const stats = (): ReturnType<typeof deviceMemoryStats> => deviceMemoryStats(DEV);

// ---- the worker-termination scenario (child process and its worker) ------------------------------

const FLOOD_SHAPE = [2, 40, 3, 700];

async function floodWorker(): Promise<void> {
  _setTestDevice(true);
  const x = Tensor.from(uniform(3, prod(FLOOD_SHAPE), -0.5, 2.5), FLOOD_SHAPE, { device: DEV });
  const layers = [
    new LIF({ tauMem: 5, device: DEV }),
    new LIF({ tauMem: 9, tauSyn: 3, device: DEV }),
    new LIF({ tauMem: 20, device: DEV }),
  ];
  const out = Tensor.zeros(FLOOD_SHAPE, { device: DEV });
  void layers[0]!.forwardAsync(x);
  void layers[1]!.forwardAsync(x);
  void layers[2]!.forwardAsync(x, { out });
  await untilWaiting(3);
  x.dispose(); // released with the calls held: only the calls own this memory now
  out.dispose();
  parentPort!.postMessage('issued');
}

async function terminateScenario(): Promise<void> {
  const raw = (): NativeDeviceMemoryStats => native().deviceMemory.stats(0, true);
  _setTestDevice(true);
  setDeviceCacheLimit(0); // every block given back is freed at once, and made inaccessible
  await collect();
  const handles0 = raw().handles;
  gate('close');
  const w = new Worker(SELF, { workerData: { role: 'flood' } });
  await new Promise<void>((res, rej) => {
    w.once('message', () => res());
    w.once('error', rej);
  });
  const held = raw();
  let terminated = false;
  const done = w.terminate().then(() => (terminated = true));
  // Give the teardown a chance to finalize the worker's buffer objects while the calls are held
  // (Node 20 waits for the in-flight work before it does: then this ends after 1 s).
  let dropped = false;
  for (let k = 0; k < 200 && !dropped && !terminated; ++k) {
    dropped = raw().handles === handles0;
    if (!dropped) await tick(5);
  }
  const during = raw();
  gate('open');
  await done;
  const back = await until(() => raw().blocksInUse === 0 && raw().rawBlocks === 0);
  const after = raw();
  process.stdout.write(
    JSON.stringify({
      heldHandles: held.handles - handles0,
      heldBlocks: held.blocksInUse,
      dropped,
      duringBlocks: during.blocksInUse,
      back,
      afterHandles: after.handles - handles0,
      afterBlocks: after.blocksInUse,
      afterRaw: after.rawBlocks,
      rawAllocs: after.rawAllocs,
      rawFrees: after.rawFrees,
    }) + '\n',
  );
}

function runChild(scenario: string): Promise<{ code: number | null; signal: string | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--expose-gc', SELF], {
      env: { ...process.env, [SCENARIO_ENV]: scenario },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '',
      err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('exit', (code, signal) => resolve({ code, signal, out, err }));
  });
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === 'flood') {
  void floodWorker();
} else if (isMainThread && process.env[SCENARIO_ENV] === 'terminate') {
  terminateScenario().then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(String((e as Error)?.stack ?? e) + '\n');
      process.exit(1);
    },
  );
} else if (isMainThread && process.env[SCENARIO_ENV] === undefined) {
  // ---- the suite ----------------------------------------------------------------------------------
  describe('device memory owned by reference (test memory standing in for a GPU)', function () {
    let limit0 = 0;
    before(function () {
      limit0 = deviceCacheLimit();
      _setTestDevice(true);
    });
    after(function () {
      gate('open');
      _setTestDevice(false);
      setDeviceCacheLimit(limit0);
      native().deviceMemory._setTestMemoryLimit(Infinity);
    });

    describe('the caching allocator', function () {
      it('a disposed buffer goes to the cache and serves the next request of its size class; another class allocates', async function () {
        const s0 = stats();
        const a = buffer(1000); // 4000 bytes
        const s1 = stats();
        expect(s1.rawAllocs - s0.rawAllocs).to.equal(1);
        expect(s1.bytesInUse - s0.bytesInUse).to.equal(sizeClass(4000));
        expect(s1.blocksInUse - s0.blocksInUse).to.equal(1);
        a.dispose();
        const s2 = stats();
        expect(s2.bytesInUse).to.equal(s0.bytesInUse);
        expect(s2.bytesCached - s0.bytesCached).to.equal(sizeClass(4000));
        expect(s2.rawFrees).to.equal(s0.rawFrees);
        expect(sizeClass(3600)).to.equal(sizeClass(4000));
        const b = buffer(900); // 3600 bytes: same class
        const s3 = stats();
        expect(s3.rawAllocs).to.equal(s1.rawAllocs);
        expect(s3.cacheHits - s2.cacheHits).to.equal(1);
        expect(s3.bytesCached).to.equal(s0.bytesCached);
        expect(sizeClass(4400)).to.not.equal(sizeClass(4000));
        const c = buffer(1100); // 4400 bytes: the next class
        const s4 = stats();
        expect(s4.rawAllocs - s3.rawAllocs).to.equal(1);
        expect(s4.bytesInUse - s0.bytesInUse).to.equal(sizeClass(4000) + sizeClass(4400));
        b.dispose();
        c.dispose();
        b.dispose(); // twice: harmless
        expect(stats().bytesInUse).to.equal(s0.bytesInUse);
      });

      it('size classes: 512 bytes at least, at most 25% above the request', function () {
        const s0 = stats();
        const sizes = [1, 128, 129, 1000, 4097, 100000, 1234567];
        const bufs = sizes.map((n) => buffer(n));
        const want = sizes.reduce((a, n) => a + sizeClass(4 * n), 0);
        expect(stats().bytesInUse - s0.bytesInUse).to.equal(want);
        for (const n of sizes) expect(sizeClass(4 * n)).to.be.at.most(Math.max(512, 1.25 * 4 * n));
        bufs.forEach((b) => b.dispose());
      });

      it('shares own the memory too: disposing one leaves the others intact; owners counts them', function () {
        const a = buffer(2000);
        const v = uniform(11, 2000, -3, 3);
        a.upload(v);
        const s = a.share();
        expect(a.owners).to.equal(2);
        expect(s.sameMemory(a)).to.equal(true);
        a.dispose();
        expect(a.disposed).to.equal(true);
        expect(a.owners).to.equal(0);
        expect(s.owners).to.equal(1);
        expect(s.sameMemory(a)).to.equal(false);
        const r = new Float32Array(2000);
        s.download(r);
        expectBits(r, v, 'shared data');
        s.dispose();
      });

      it('a buffer still referenced never has its memory reused: churn of its size class leaves it intact; once released, it is poisoned and reused', function () {
        const n = 5000;
        const a = buffer(n);
        const v = uniform(12, n, -3, 3);
        a.upload(v);
        const s = a.share();
        a.dispose(); // one owner left
        for (let k = 0; k < 20; ++k) {
          const b = buffer(n);
          expect(b.sameMemory(s)).to.equal(false);
          b.upload(uniform(100 + k, n, -9, 9));
          b.dispose();
        }
        const r = new Float32Array(n);
        s.download(r);
        expectBits(r, v, 'the referenced buffer');
        const before = stats();
        s.dispose();
        // the next buffers of the class come from the cache, s's block among them, NaN-filled
        const next = Array.from({ length: stats().blocksCached }, () => buffer(n));
        expect(stats().cacheHits - before.cacheHits).to.be.at.least(1);
        const all = next.map((b) => {
          const d = new Float32Array(n);
          b.download(d);
          return d;
        });
        expect(all.some((d) => d.every((x) => Number.isNaN(x)))).to.equal(true);
        next.forEach((b) => b.dispose());
      });

      it('the external memory accounted to V8 goes up on creation and down on dispose, by the same bytes', function () {
        const n = 4 * MiB; // 16 MiB
        const e0 = native().deviceMemory._externalMemory();
        const a = buffer(n);
        const e1 = native().deviceMemory._externalMemory();
        const s = a.share();
        const e2 = native().deviceMemory._externalMemory();
        a.dispose();
        const e3 = native().deviceMemory._externalMemory();
        s.dispose();
        const e4 = native().deviceMemory._externalMemory();
        expect(e1 - e0).to.equal(4 * n);
        expect(e2 - e1).to.equal(4 * n);
        expect(e3 - e2).to.equal(-4 * n);
        expect(e4).to.equal(e0);
      });

      it('the cache limit: a released block evicts the longest-cached ones (freed off the JS thread); emptyDeviceCache frees the rest', async function () {
        emptyDeviceCache(DEV);
        const cls = sizeClass(4 * 3000);
        setDeviceCacheLimit(2 * cls);
        try {
          const s0 = stats();
          const bufs = [buffer(3000), buffer(3000), buffer(3000)];
          bufs.forEach((b) => b.dispose());
          const s1 = stats();
          expect(s1.blocksCached - s0.blocksCached).to.equal(2);
          expect(s1.bytesCached).to.equal(2 * cls);
          // the first one released is evicted and freed by the background thread
          expect(await until(() => stats().rawFrees - s0.rawFrees === 1)).to.equal(true);
          // a block larger than the limit is not cached at all
          buffer(4 * cls).dispose();
          expect(stats().blocksCached).to.equal(2);
          expect(await until(() => stats().rawFrees - s0.rawFrees === 2)).to.equal(true);
          emptyDeviceCache(DEV);
          const s2 = stats();
          expect(s2.blocksCached).to.equal(0);
          expect(s2.bytesCached).to.equal(0);
          expect(s2.rawFrees - s0.rawFrees).to.equal(4);
          expect(s2.rawBlocks).to.equal(s0.rawBlocks - s0.blocksCached);
        } finally {
          setDeviceCacheLimit(limit0);
        }
      });

      it('out of memory: the cache is emptied and the allocation retried; beyond that, ERR_CUDA_OUT_OF_MEMORY and nothing held', async function () {
        await collect();
        emptyDeviceCache(DEV);
        expect(stats().rawBlocks, 'no test memory alive before the test').to.equal(0);
        native().deviceMemory._setTestMemoryLimit(MiB);
        try {
          const s0 = stats();
          buffer(600 * 256).dispose(); // 600 KiB, cached
          expect(stats().blocksCached).to.equal(1);
          const b = buffer(800 * 256); // 800 KiB: does not fit next to the cached block
          const s1 = stats();
          expect(s1.blocksCached).to.equal(0);
          expect(s1.rawFrees - s0.rawFrees).to.equal(1);
          expect(s1.rawAllocs - s0.rawAllocs).to.equal(2);
          let err: (Error & { code?: string }) | null = null;
          try {
            Tensor.zeros([512 * 1024], { device: DEV }); // 2 MiB
          } catch (e) {
            err = e as Error & { code?: string };
          }
          expect(err?.code).to.equal('ERR_CUDA_OUT_OF_MEMORY');
          expect(stats().blocksInUse).to.equal(1);
          b.dispose();
        } finally {
          native().deviceMemory._setTestMemoryLimit(Infinity);
          emptyDeviceCache(DEV);
        }
      });

      it('bad arguments are TypeError/RangeError naming the argument, and change nothing', function () {
        const lim = deviceCacheLimit();
        expect(() => setDeviceCacheLimit(-1)).to.throw(RangeError, /bytes/);
        expect(() => setDeviceCacheLimit(1.5)).to.throw(RangeError, /bytes/);
        expect(() => setDeviceCacheLimit(NaN)).to.throw(RangeError, /bytes/);
        expect(() => setDeviceCacheLimit('1' as unknown as number)).to.throw(TypeError, /bytes/);
        expect(deviceCacheLimit()).to.equal(lim);
        expect(() => deviceMemoryStats('gpu')).to.throw(RangeError, /device/);
        expect(() => deviceMemoryStats(0 as unknown as string)).to.throw(TypeError, /device/);
        expect(() => emptyDeviceCache('cuda:x')).to.throw(RangeError, /device/);
        const dm = native().deviceMemory as unknown as Record<string, (...a: unknown[]) => unknown>;
        expect(() => dm.stats!('0')).to.throw(TypeError, /device/);
        expect(() => dm.stats!(-1)).to.throw(RangeError, /device/);
        expect(() => dm.stats!(0, 1)).to.throw(TypeError, /test/);
        expect(() => dm.setCacheLimit!(-5)).to.throw(RangeError, /bytes/);
        expect(() => dm._gate!('shut')).to.throw(RangeError, /command/);
        expect(() => dm._useTestMemory!(1)).to.throw(TypeError, /on/);
        expect(deviceCacheLimit()).to.equal(lim);
        const a = buffer(10);
        expect(() => a.sameMemory({} as never)).to.throw(TypeError, /DeviceBuffer/);
        a.dispose();
      });
    });

    describe('layers on the device', function () {
      it('an unchanged decay factor stays on the device: 2 allocations per eval forward (out, v1); a changed one is used at once', async function () {
        const shape = [2, 5, 300];
        const xs = (k: number): Float32Array => uniform(40 + k, prod(shape), -0.5, 2.5);
        const ref = new LIF({ tauMem: 12 }).eval();
        const layer = new LIF({ tauMem: 12, device: DEV }).eval();
        const inputs = [2, 3, 4].map((k) => Tensor.from(xs(k), shape, { device: DEV }));
        for (let k = 0; k < 2; ++k) {
          ref.forward(Tensor.from(xs(k), shape));
          const x = Tensor.from(xs(k), shape, { device: DEV });
          layer.forward(x).dispose();
          x.dispose();
        }
        const s0 = stats();
        for (const x of inputs) layer.forward(x).dispose();
        const s1 = stats();
        expect(s1.rawAllocs + s1.cacheHits - (s0.rawAllocs + s0.cacheHits)).to.equal(3 * 2);
        expect(s1.rawAllocs - s0.rawAllocs, 'steady state: no raw allocation').to.equal(0);
        for (const k of [2, 3, 4]) ref.forward(Tensor.from(xs(k), shape));
        inputs.forEach((x) => x.dispose());
        ref.tauMem!._assign(Float32Array.of(20));
        layer.tauMem!._writeHost(Float32Array.of(20));
        const want = ref.forward(Tensor.from(xs(5), shape)).toFloat32Array();
        const got = layer.forward(Tensor.from(xs(5), shape, { device: DEV })).toFloat32Array();
        expectBits(got, want, 'output after tauMem changed');
      });

      it('the input of a pending call is recognised through the share the call keeps: passing it as out is a RangeError', function () {
        const shape = [2, 10, 300];
        const l = new LIF({ tauMem: 10, device: DEV });
        const x = Tensor.from(uniform(23, prod(shape), -0.5, 2.5), shape, { device: DEV });
        void l.forward(x);
        const view = x._view(shape);
        x.dispose(); // the pending call still owns the data; the view sees the same memory
        const z = Tensor.from(uniform(24, prod(shape), -0.5, 2.5), shape, { device: DEV });
        expect(() => l.forward(z, { out: view })).to.throw(RangeError, /out is the input of a call still waiting/);
        expect(() => l.forward(view, { out: view })).to.throw(RangeError, /out must not be the input/);
        view.dispose();
      });

      it('a training loop makes no raw allocation after its first step', function () {
        const shape = [2, 20, 500];
        const layer = new LIF({ tauMem: 10, tauSyn: 4, device: DEV });
        const step = (k: number): void => {
          const x = Tensor.from(uniform(60 + k, prod(shape), -0.5, 2.5), shape, { device: DEV });
          const y = layer.forward(x);
          const g = Tensor.from(uniform(70 + k, prod(shape), -1, 1), shape, { device: DEV });
          const gx = layer.backward(g);
          for (const t of [x, y, g, gx]) t.dispose();
          layer.zeroGrad();
        };
        step(0);
        step(1);
        const s0 = stats();
        for (let k = 2; k < 6; ++k) step(k);
        expect(stats().rawAllocs - s0.rawAllocs).to.equal(0);
      });
    });

    describe('disposing while async calls are in flight, cache limit 0 (given back = freed and inaccessible)', function () {
      before(() => setDeviceCacheLimit(0));
      after(() => setDeviceCacheLimit(limit0));
      defineOwnershipScenarios(DEV);
    });

    describe('disposing while async calls are in flight, cache on (given back = poisoned and reused)', function () {
      defineOwnershipScenarios(DEV);
    });

    describe('terminating a worker with async calls in flight', function () {
      it('inputs disposed, then the worker terminated with 3 calls held: the calls keep their memory until they finish, then every block is freed; no fault', async function () {
        const r = await runChild('terminate');
        expect(r.signal, r.err).to.equal(null);
        expect(r.code, r.err).to.equal(0);
        const line = r.out.trim().split('\n').pop()!;
        const m = JSON.parse(line) as Record<string, number | boolean>;
        // 3 calls held at the gate own the input, out, and their outputs, states and decays
        expect(m.heldBlocks as number).to.be.greaterThan(0);
        expect(m.duringBlocks as number, 'blocks still owned by the held calls').to.equal(m.heldBlocks);
        expect(m.back).to.equal(true);
        expect(m.afterHandles).to.equal(0);
        expect(m.afterBlocks).to.equal(0);
        expect(m.rawFrees).to.equal(m.rawAllocs);
        expect(m.afterRaw).to.equal(0);
      });
    });
  });
}
