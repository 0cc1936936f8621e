// Memory lifetime (run with --expose-gc, which .mocharc.json passes): dropped tensors and layers
// are collected and their memory returned, dispose() is idempotent and a disposed tensor is a
// clear error, the data kept for a pending backward is freed by every cut that discards it, a
// long training loop does not grow, and huge requests are a RangeError instead of an abort.
//
// Measurements: `arrayBuffers` (process.memoryUsage) counts the bytes of live ArrayBuffers, i.e.
// all tensor data on the host, exactly; it is the leak detector for data. v8.queryObjects counts
// the live Tensor/LIF objects (leak detector for the objects). RSS is the coarse check:
// after a GC V8 keeps some heap pages and glibc keeps freed chunks in its arenas, so RSS does not
// fall back to the baseline; the bounds below are a fixed allowance (48 MB) far below what a leak
// of the churned data would add (100 MB in CI, 1 GB in the full variant). The loops run a full
// GC now and then so that RSS measures what is retained, not how much garbage V8 let pile up.
//
// CI sizes by default; SPIKELAYERS_MEMORY_FULL=1 runs the full variant (a million tensors and a
// million layers, 10,000 training steps): `npm run test:memory:full`.
import { expect } from 'chai';
import { LIF, Tensor, SGD, MAX_ELEMENTS, ErrorCodes } from '../lib/index.js';
import { native } from '../lib/backend.js';
import v8 from 'node:v8';
import { uniform } from './support/random.js';

const FULL = process.env.SPIKELAYERS_MEMORY_FULL === '1';
const MB = 1024 * 1024;

function gcAvailable(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('memory.test needs node --expose-gc (set in .mocharc.json)');
  return g;
}
const tick = (ms = 0): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Full GCs with turns of the event loop between them (weak callbacks and the ArrayBuffer sweeper run in between). */
async function collect(rounds = 3): Promise<void> {
  const gc = gcAvailable();
  for (let k = 0; k < rounds; ++k) {
    gc();
    await tick(k === rounds - 1 ? 5 : 0);
  }
}
interface Mem {
  rss: number;
  heapUsed: number;
  arrayBuffers: number;
  external: number;
}
function mem(): Mem {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, external: m.external };
}
const fmt = (b: number): string => `${(b / MB).toFixed(1)} MB`;

/**
 * Live instances of a class (v8.queryObjects, Node >= 20.13; it collects garbage first). Used
 * instead of a FinalizationRegistry: on Node 20 some registry callbacks of layers that ran async
 * calls never fire although the layers are gone (checked with this count), so the registry would
 * report a leak that is not there.
 */
function live(ctor: object): number {
  const q = (v8 as unknown as { queryObjects?: (c: unknown, o: { format: 'count' }) => number }).queryObjects;
  if (!q) throw new Error('memory.test needs v8.queryObjects (Node >= 20.13)');
  return q(ctor, { format: 'count' });
}
/** Lets the ArrayBuffer sweeper free the backing stores of collected arrays. */
async function settle(): Promise<void> {
  for (let k = 0; k < 5; ++k) await collect(2);
}

const values = (n: number, seed: number, lo = -0.5, hi = 2.5): Float32Array => uniform(seed, n, lo, hi);

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error('expected an exception, nothing was thrown');
}

describe('memory lifetime', function () {
  this.timeout(FULL ? 1800000 : 120000);

  describe('create and drop', function () {
    const NT = FULL ? 1_000_000 : 100_000;
    it(`${NT.toLocaleString('en')} tensors of 256 floats (${fmt(NT * 1024)} of data) are collected; arrayBuffers returns to the baseline, RSS grows < 48 MB`, async function () {
      const gc = gcAvailable();
      await settle();
      const live0 = live(Tensor);
      const m0 = mem();
      const src = values(256, 1);
      let sum = 0;
      for (let k = 0; k < NT; ++k) {
        // four ways to make a tensor; only every 4th is tracked (registering costs time)
        const t =
          k % 4 === 0
            ? Tensor.from(src, [4, 64])
            : k % 4 === 1
              ? Tensor.zeros([16, 16])
              : k % 4 === 2
                ? Tensor.full([256], k)
                : Tensor.from(src, [256]).reshape([2, 128]);
        if (k % 1000 === 0) sum += t.toFloat32Array()[0]!;
        if (k % 7 === 0) t.dispose();
        // A full GC now and then: otherwise V8 lets tens of MB of garbage arrays pile up before it
        // collects them, and the malloc heap keeps that peak in RSS (freed, but not returned).
        if (k % 10000 === 9999) gc();
      }
      expect(sum).to.be.a('number');
      await settle();
      const left = live(Tensor) - live0;
      const m1 = mem();
      console.log(
        `      ${NT} tensors: ${left} still alive; arrayBuffers ${fmt(m0.arrayBuffers)} -> ${fmt(m1.arrayBuffers)}, rss ${fmt(m0.rss)} -> ${fmt(m1.rss)}, heapUsed ${fmt(m0.heapUsed)} -> ${fmt(m1.heapUsed)}`,
      );
      expect(left, 'tensors still alive').to.be.at.most(2);
      expect(m1.arrayBuffers - m0.arrayBuffers, 'arrayBuffers growth').to.be.below(1 * MB);
      expect(m1.rss - m0.rss, 'RSS growth').to.be.below(48 * MB);
    });

    const NL = FULL ? 1_000_000 : 20_000;
    it(`${NL.toLocaleString('en')} layers, each with a forward and a backward (every 8th async), are collected with their state and pending data`, async function () {
      const gc = gcAvailable();
      const x = Tensor.from(values(2 * 5 * 16, 2), [2, 5, 16]);
      const g = Tensor.from(values(2 * 5 * 16, 3, -1, 1), [2, 5, 16]);
      const tau = Tensor.from([5, 10, 20, 40], [4, 1, 1]);
      await settle();
      const live0 = live(LIF),
        t0 = live(Tensor);
      const m0 = mem();
      for (let k = 0; k < NL; ++k) {
        const l = new LIF(
          k % 3 === 0
            ? { tauMem: 10 }
            : k % 3 === 1
              ? { tauMem: 8, tauSyn: 3, recordStates: true }
              : { tauMem: tau, minVMem: -1 },
        );
        const xi = k % 3 === 2 ? x.reshape([2, 5, 4, 2, 2]) : x;
        const gi = k % 3 === 2 ? g.reshape([2, 5, 4, 2, 2]) : g;
        if (k % 8 === 0) {
          await l.forwardAsync(xi);
          await l.backwardAsync(gi);
          l.forward(xi); // left pending when the layer is dropped
        } else {
          l.forward(xi);
          l.backward(gi);
          if (k % 2 === 0) l.forward(xi);
        }
        if (k % 2000 === 1999) gc();
      }
      await settle();
      const left = live(LIF) - live0,
        leftT = live(Tensor) - t0;
      const m1 = mem();
      console.log(
        `      ${NL} layers: ${left} layers and ${leftT} tensors still alive; arrayBuffers ${fmt(m0.arrayBuffers)} -> ${fmt(m1.arrayBuffers)}, rss ${fmt(m0.rss)} -> ${fmt(m1.rss)}`,
      );
      // the last layer (with its parameters, grads and recordings, ~8 tensors) may still be
      // referenced from the last async continuation
      expect(left, 'layers still alive').to.be.at.most(2);
      expect(leftT, 'tensors still alive').to.be.at.most(20);
      expect(m1.arrayBuffers - m0.arrayBuffers, 'arrayBuffers growth').to.be.below(1 * MB);
      expect(m1.rss - m0.rss, 'RSS growth').to.be.below(48 * MB);
    });
  });

  describe('dispose', function () {
    it('dispose() twice (and on a tensor whose copies live on) is harmless', function () {
      const t = Tensor.from([1, 2, 3, 4], [2, 2]);
      const c = t.clone();
      t.dispose();
      t.dispose();
      expect(t.disposed).to.equal(true);
      expect(c.toArray()).to.deep.equal([1, 2, 3, 4]);
      c.dispose();
      c.dispose();
    });
    it('every use of a disposed tensor is an Error with code ERR_TENSOR_DISPOSED; shape, rank, size, toString still work', function () {
      const t = Tensor.from([1, 2, 3, 4, 5, 6], [1, 2, 3]);
      t.dispose();
      const l = new LIF({ tauMem: 10 });
      l.forward(Tensor.zeros([1, 2, 3]));
      const uses: [string, () => unknown][] = [
        ['toFloat32Array', () => t.toFloat32Array()],
        ['toArray', () => t.toArray()],
        ['item', () => t.item()],
        ['clone', () => t.clone()],
        ['reshape', () => t.reshape([6])],
        ['to', () => t.to('cpu')],
        ['forward input', () => l.forward(t)],
        ['forward out', () => l.forward(Tensor.zeros([1, 2, 3]), { out: t })],
        ['backward gradOutput', () => l.backward(t)],
        ['backward out', () => l.backward(Tensor.zeros([1, 2, 3]), { out: t })],
        ['loadStateDict value', () => l.loadStateDict({ ...l.stateDict(), v_mem: t })],
        ['constructor tauMem', () => new LIF({ tauMem: t })],
        ['constructor minVMem', () => new LIF({ tauMem: 10, minVMem: t })],
      ];
      for (const [what, fn] of uses) {
        const e = thrown(fn);
        expect(e, `${what}: ${e.message}`).to.be.instanceOf(Error);
        expect(e.code, `${what}: code (${e.message})`).to.equal(ErrorCodes.DISPOSED);
      }
      expect(l.pendingCalls, 'the layer was not changed by the rejected calls').to.equal(1);
      expect(t.shape).to.deep.equal([1, 2, 3]);
      expect(t.rank).to.equal(3);
      expect(t.size).to.equal(6);
      expect(String(t)).to.match(/disposed/);
    });
    it('disposing a tensor returned by the layer (output, vMem, stateDict entry, recording) does not affect the layer', function () {
      const x = Tensor.from(values(2 * 6 * 3, 4), [2, 6, 3]);
      const a = new LIF({ tauMem: 6, tauSyn: 2, recordStates: true }),
        b = new LIF({ tauMem: 6, tauSyn: 2, recordStates: true });
      a.forward(x).dispose();
      b.forward(x);
      a.vMem!.dispose();
      a.iSyn!.dispose();
      for (const t of Object.values(a.stateDict())) t.dispose();
      a.recordings.vMem!.dispose();
      for (const p of a.parameters()) p.clone().dispose();
      expect(a.forward(x).toArray()).to.deep.equal(b.forward(x).toArray());
      expect(a.backward(x).toArray()).to.deep.equal(b.backward(x).toArray());
      expect(a.backward(x).toArray()).to.deep.equal(b.backward(x).toArray());
    });
  });

  describe('pending backward data is freed by the cuts that discard it', function () {
    // Each forward in training mode keeps its input (16 MB here) and checkpoints until its backward.
    const shape = [2, 512, 4096];
    const BYTES = 2 * 512 * 4096 * 4;
    const fresh = (): Tensor => Tensor.from(values(shape[0]! * shape[1]! * shape[2]!, 5), shape);
    const cuts: [string, (l: LIF) => void][] = [
      ['detachStates()', (l) => l.detachStates()],
      ['resetStates()', (l) => l.resetStates()],
      ['resetStates({ randomize: true })', (l) => l.resetStates({ randomize: true })],
      ['zeroGrad()', (l) => l.zeroGrad()],
      ['loadStateDict(stateDict())', (l) => l.loadStateDict(l.stateDict())],
      ['a forward with another neuron shape (state re-zeroed)', (l) => l.forward(Tensor.zeros([2, 3, 5])).dispose()],
      [
        'backward of both pending calls',
        (l) => {
          l.backward(Tensor.zeros(shape)).dispose();
          l.backward(Tensor.zeros(shape)).dispose();
        },
      ],
    ];
    for (const [name, cut] of cuts) {
      it(`${name}: two pending calls (${fmt(2 * BYTES)} of inputs) are released`, async function () {
        const l = new LIF({ tauMem: 10, tauSyn: 3 });
        l.forward(Tensor.zeros([2, 1, 4096])); // allocate the state first
        await collect();
        const m0 = mem();
        l.forward(fresh()).dispose();
        l.forward(fresh()).dispose();
        await collect();
        const m1 = mem();
        expect(l.pendingCalls).to.equal(3);
        expect(m1.arrayBuffers - m0.arrayBuffers, 'precondition: the pending calls hold their inputs').to.be.at.least(
          2 * BYTES,
        );
        cut(l);
        await collect();
        const m2 = mem();
        expect(l.pendingCalls, 'pending calls after the cut').to.be.at.most(1);
        expect(
          m2.arrayBuffers - m0.arrayBuffers,
          `after the cut (held: ${fmt(m1.arrayBuffers - m0.arrayBuffers)})`,
        ).to.be.below(1 * MB);
      });
    }
    it('dropping a layer with pending calls releases them', async function () {
      await collect();
      const m0 = mem();
      let l: LIF | null = new LIF({ tauMem: 10 });
      l.forward(fresh()).dispose();
      l.forward(fresh()).dispose();
      await collect();
      expect(mem().arrayBuffers - m0.arrayBuffers).to.be.at.least(2 * BYTES);
      expect(l.pendingCalls).to.equal(2);
      l = null; // eslint-disable-line no-useless-assignment -- drops the last reference for the GC
      await collect();
      expect(mem().arrayBuffers - m0.arrayBuffers).to.be.below(1 * MB);
    });
    it('eval() forwards keep nothing', async function () {
      const l = new LIF({ tauMem: 10, tauSyn: 3 }).eval();
      l.forward(Tensor.zeros([2, 1, 4096]));
      await collect();
      const m0 = mem();
      for (let k = 0; k < 4; ++k) l.forward(fresh()).dispose();
      await collect();
      expect(l.pendingCalls).to.equal(0);
      expect(mem().arrayBuffers - m0.arrayBuffers).to.be.below(1 * MB);
    });
    it('an async forward keeps its input only until its backward', async function () {
      const l = new LIF({ tauMem: 10 });
      l.forward(Tensor.zeros([2, 1, 4096]));
      l.detachStates();
      await collect();
      const m0 = mem();
      (await l.forwardAsync(fresh())).dispose();
      await collect();
      expect(mem().arrayBuffers - m0.arrayBuffers).to.be.at.least(BYTES);
      (await l.backwardAsync(Tensor.zeros(shape))).dispose();
      await collect();
      expect(mem().arrayBuffers - m0.arrayBuffers).to.be.below(1 * MB);
    });
  });

  describe('long runs', function () {
    const STEPS = FULL ? 10_000 : 2_000;
    it(`a training loop of ${STEPS.toLocaleString('en')} steps (forward, backward, SGD step, zeroGrad; every 4th step async) does not grow`, async function () {
      const B = 8,
        T = 32,
        N = 256;
      const l = new LIF({ tauMem: Tensor.from(values(N, 6, 5, 30), [N]), tauSyn: 4, recordStates: true });
      const opt = new SGD(
        l.parameters().filter((p) => p.requiresGrad),
        { lr: 1e-3 },
      );
      const x = Tensor.from(values(B * T * N, 7, 0, 1.5), [B, T, N]);
      const target = values(B * T * N, 8, 0, 1);
      const grad = new Float32Array(B * T * N);
      const samples: Mem[] = [];
      let peakRss = 0,
        base: Mem | null = null;
      const t0 = performance.now();
      for (let s = 0; s < STEPS; ++s) {
        const out = s % 4 === 0 ? await l.forwardAsync(x) : l.forward(x);
        const o = out.toFloat32Array();
        for (let k = 0; k < o.length; ++k) grad[k] = (o[k]! - target[k]!) / o.length;
        const g = Tensor.from(grad, [B, T, N]);
        (s % 4 === 0 ? await l.backwardAsync(g) : l.backward(g)).dispose();
        opt.step();
        l.zeroGrad();
        if (s % 200 === 199) {
          const m = mem();
          peakRss = Math.max(peakRss, m.rss);
          if (s + 1 === STEPS / 10) {
            await collect();
            base = mem();
          }
        }
      }
      const ms = performance.now() - t0;
      await collect();
      const end = mem();
      samples.push(end);
      peakRss = Math.max(peakRss, end.rss);
      console.log(
        `      ${STEPS} steps in ${(ms / 1000).toFixed(1)} s; after step ${STEPS / 10} -> end: arrayBuffers ${fmt(base!.arrayBuffers)} -> ${fmt(end.arrayBuffers)}, heapUsed ${fmt(base!.heapUsed)} -> ${fmt(end.heapUsed)}, rss ${fmt(base!.rss)} -> ${fmt(end.rss)}; peak RSS ${fmt(peakRss)}`,
      );
      expect(l.pendingCalls).to.equal(0);
      expect(end.arrayBuffers - base!.arrayBuffers, 'arrayBuffers growth').to.be.below(256 * 1024);
      expect(end.heapUsed - base!.heapUsed, 'heapUsed growth').to.be.below(4 * MB);
      expect(end.rss - base!.rss, 'RSS growth').to.be.below(32 * MB);
    });
  });

  describe('huge requests are a RangeError, not an abort', function () {
    const cases: [string, () => unknown][] = [
      ['Tensor.zeros([2 ** 40])', () => Tensor.zeros([2 ** 40])],
      ['Tensor.zeros([2 ** 20, 2 ** 20])', () => Tensor.zeros([2 ** 20, 2 ** 20])],
      [
        'Tensor.zeros([2 ** 16, 2 ** 16]) (2^32 elements, one more than MAX_ELEMENTS)',
        () => Tensor.zeros([2 ** 16, 2 ** 16]),
      ],
      [
        'Tensor.zeros([2 ** 1000, 2 ** 1000]) (the count overflows to Infinity)',
        () => Tensor.zeros([2 ** 1000, 2 ** 1000]),
      ],
      ['Tensor.full([2 ** 33], 1)', () => Tensor.full([2 ** 33], 1)],
      ['Tensor.from([], [2 ** 40])', () => Tensor.from([], [2 ** 40])],
      ['Tensor.from(data, [2 ** 53, 2 ** 53])', () => Tensor.from(new Float32Array(4), [2 ** 53, 2 ** 53])],
      ['reshape to [2 ** 40]', () => Tensor.zeros([4]).reshape([2 ** 40])],
      ['LIF shape [2 ** 20, 2 ** 20]', () => new LIF({ tauMem: 10, shape: [2 ** 20, 2 ** 20] })],
      ['LIF shape [2 ** 16, 2 ** 16]', () => new LIF({ tauMem: 10, shape: [2 ** 16, 2 ** 16] })],
    ];
    for (const [name, fn] of cases) {
      it(`${name} -> RangeError naming the shape`, function () {
        const e = thrown(fn);
        expect(e, e.message).to.be.instanceOf(RangeError);
        expect(e.message).to.match(/shape/);
      });
    }
    it(`MAX_ELEMENTS is 2^32 - 1 (${MAX_ELEMENTS})`, function () {
      expect(MAX_ELEMENTS).to.equal(2 ** 32 - 1);
    });
    // The native contract, below the TypeScript checks: counts whose product overflows are refused
    // before any pointer arithmetic.
    const base = () => ({
      spike: 0,
      reset: 0,
      surr: 0,
      hasSyn: false,
      theta: 1,
      K: 32,
      alphaMem: new Float32Array([0.9]),
      x: new Float32Array(8),
      v0: new Float32Array(8),
      v1: new Float32Array(8),
      out: new Float32Array(8),
    });
    const nativeCases: [string, Record<string, unknown>, RegExp][] = [
      ['B*T*N = 2^60', { B: 2 ** 20, T: 2 ** 20, N: 2 ** 20 }, /too large/],
      ['B*T*N = 2^63 (int64 overflow)', { B: 2 ** 21, T: 2 ** 21, N: 2 ** 21 }, /too large/],
      ['B = 2^41', { B: 2 ** 41, T: 1, N: 1 }, /'B'/],
      ['N = 2^53', { B: 1, T: 1, N: 2 ** 53 }, /'N'/],
      ['T = Infinity', { B: 1, T: Infinity, N: 1 }, /'T'/],
      ['B*N = 2^40 with arrays of 8 elements', { B: 2 ** 20, T: 1, N: 2 ** 20 }, /'x' has 8 elements/],
    ];
    for (const [name, dims, re] of nativeCases) {
      it(`native lifForward with ${name} -> RangeError ${re}`, function () {
        const e = thrown(() => native().lifForward({ ...base(), ...dims } as never));
        expect(e, e.message).to.be.instanceOf(RangeError);
        expect(e.message).to.match(re);
      });
    }
    it('native DeviceBuffer of 2^40 floats -> RangeError', function () {
      const e = thrown(() => new (native().DeviceBuffer)(2 ** 40, 0));
      expect(e, e.message).to.be.instanceOf(RangeError);
    });
  });
});
