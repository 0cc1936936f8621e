// Pooled host memory for the neuron layers' default path (forward(x) / backward(g) without
// `out`): outputs, final states, checkpoints and gradients come from a size-binned cache of host
// blocks owned by reference like device memory (core/caching_allocator.h), so that a released
// block is reused warm instead of faulting in fresh pages. Shown here: a tensor still referenced
// never has its memory reused (its data survives any number of calls whose outputs are released,
// and no new output shares its memory), a released output's block serves the next call, a view
// outlives the tensor it was taken from, a released array is detached (nothing in JavaScript can
// reach memory that may have a new owner), the amount of pooled memory out at a time is bounded
// (a synchronous loop that never releases its outputs falls back to V8's own arrays), and the
// in-flight scenarios of test/support/device-memory.ts on 'cpu'.
import { expect } from 'chai';
import os from 'node:os';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { LIF, Tensor, emptyHostCache, hostCacheLimit, hostMemoryStats, setHostCacheLimit } from '../lib/index.js';
import { native } from '../lib/backend.js';
import { allocOutput, share, release } from '../lib/storage.js';
import { collect, defineOwnershipScenarios, expectBits } from './support/device-memory.js';
import { prod, uniform } from './support/random.js';

const host = (): ReturnType<typeof native>['hostMemory'] => native().hostMemory;
const SHAPE = [4, 50, 1024]; // 800 KiB per tensor: pooled

describe('pooled host memory of the default path', function () {
  it('a tensor still referenced never has its memory reused; released outputs are reused by the next calls', async function () {
    await collect(); // arrays other tests dropped go back to the pool (their finalizers run)
    // pooled arrays other tests still hold count against the limit: leave room for this test's
    const limit = host().cacheLimit();
    host().setCacheLimit(host().stats().bytesInUse + 64 * 1024 * 1024);
    try {
      reuse();
    } finally {
      host().setCacheLimit(limit);
    }
  });

  function reuse(): void {
    const layer = new LIF({ tauMem: 10 }).eval();
    const x = (k: number): Tensor => Tensor.from(uniform(k, prod(SHAPE), -0.5, 2.5), SHAPE);
    const kept = layer.forward(x(1));
    const keptData = kept.toFloat32Array();
    const keptArr = kept._storage() as Float32Array;
    expect(host().sameMemory(keptArr, keptArr), 'the output is pooled').to.equal(true);
    const s0 = host().stats();
    let prev: unknown = null,
      again = 0;
    for (let k = 0; k < 12; ++k) {
      const y = layer.forward(x(2 + k));
      expect(host().sameMemory(y._storage() as Float32Array, keptArr)).to.equal(false);
      if (y._storage() === prev) ++again; // the released array itself, kept for reuse
      prev = y._storage();
      y.dispose();
    }
    const s1 = host().stats();
    expectBits(kept.toFloat32Array(), keptData, 'the kept output');
    // per call one pooled array, the output (v1, 16 KiB, is a V8 array): each released output
    // serves the next call (from the cache, or kept as it is), so at most the first allocates
    expect(s1.cacheHits - s0.cacheHits + again, 'calls served by released outputs').to.be.at.least(11);
    expect(s1.rawAllocs - s0.rawAllocs).to.be.at.most(1);
    kept.dispose();
  }

  it('outputs equal those of the `out` path bit for bit, call after call', function () {
    const a = new LIF({ tauMem: 7, tauSyn: 3 });
    const b = new LIF({ tauMem: 7, tauSyn: 3 });
    const out = Tensor.zeros(SHAPE);
    for (let k = 0; k < 4; ++k) {
      const xs = Tensor.from(uniform(30 + k, prod(SHAPE), -0.5, 2.5), SHAPE);
      const y = a.forward(xs);
      b.forward(xs, { out });
      expectBits(y.toFloat32Array(), out.toFloat32Array(), `call ${k}`);
      y.dispose();
      a.detachStates();
      b.detachStates();
    }
  });

  it('a share outlives the array it was taken from; a released array is detached or, released by its only owner, kept for the next output of its length; release of a plain array does nothing', function () {
    const n = 64 * 1024; // 256 KiB
    const a = allocOutput('cpu', n) as Float32Array;
    const v = uniform(5, n, -1, 1);
    a.set(v);
    const s = share(a) as Float32Array;
    expect(s).to.not.equal(a);
    expect(host().sameMemory(a, s)).to.equal(true);
    release(a);
    expect(a.length, 'released: detached').to.equal(0);
    expectBits(s, v, 'the share');
    release(s); // the only owner now: kept as it is for the next output of this length
    expect(s.length).to.equal(n);
    expect(allocOutput('cpu', n), 'handed out again').to.equal(s);
    release(s);
    release(s); // a second release of a kept array keeps it once: never handed out twice
    const again = allocOutput('cpu', n) as Float32Array;
    const other = allocOutput('cpu', n) as Float32Array;
    expect(again).to.equal(s);
    expect(other).to.not.equal(s);
    expect(host().sameMemory(other, s)).to.equal(false);
    release(other);
    release(s);
    emptyHostCache(); // gives the kept arrays back: detached
    expect(s.length).to.equal(0);
    const plain = new Float32Array(n);
    expect(host().release(plain)).to.equal(false);
    expect(plain.length).to.equal(n);
    expect(share(plain)).to.equal(plain);
  });

  it('the input of a pending call is recognised through the share the call keeps: passing it as out is a RangeError', function () {
    const l1 = new LIF({ tauMem: 10 }).eval();
    const l2 = new LIF({ tauMem: 10 });
    const y = l1.forward(Tensor.from(uniform(21, prod(SHAPE), -0.5, 2.5), SHAPE)); // pooled
    l2.forward(y); // pending: keeps its own share of y
    const z = Tensor.from(uniform(22, prod(SHAPE), -0.5, 2.5), SHAPE);
    expect(() => l2.forward(z, { out: y })).to.throw(RangeError, /out is the input of a call still waiting/);
    expect(() => l1.forward(y, { out: y })).to.throw(RangeError, /out must not be the input/);
    y.dispose();
  });

  it('small arrays are V8 arrays; allocOutput of 0 elements works', function () {
    const a = allocOutput('cpu', 100) as Float32Array;
    expect(host().release(a)).to.equal(false);
    expect((allocOutput('cpu', 0) as Float32Array).length).to.equal(0);
  });

  it('pooled memory out at a time is bounded by the cache limit: a loop that never releases falls back to V8 arrays', async function () {
    await collect();
    const layer = new LIF({ tauMem: 10 }).eval();
    const xs = Tensor.from(uniform(9, prod(SHAPE), -0.5, 2.5), SHAPE);
    const saved = hostCacheLimit();
    const limit = host().stats().bytesInUse + 32 * 1024 * 1024; // room for ~40 outputs of 800 KiB
    setHostCacheLimit(limit);
    const held: Tensor[] = [];
    try {
      for (let k = 0; k < Math.ceil(limit / (4 * prod(SHAPE))) + 20; ++k) held.push(layer.forward(xs));
      expect(host().stats().bytesInUse).to.be.at.most(limit);
      expect(
        held.filter((t) => !host().sameMemory(t._storage() as Float32Array, t._storage() as Float32Array)).length,
      ).to.be.at.least(20);
    } finally {
      held.forEach((t) => t.dispose());
      setHostCacheLimit(saved);
    }
  });

  it('a disposed output whose view is alive is not reused: the view keeps its data through calls that dispose their outputs', async function () {
    await collect();
    const layer = new LIF({ tauMem: 10 }).eval();
    const xs = (k: number): Tensor => Tensor.from(uniform(20 + k, prod(SHAPE), -0.5, 2.5), SHAPE);
    const y = layer.forward(xs(0));
    const view = y.reshape([SHAPE[0]! * SHAPE[1]!, SHAPE[2]!]);
    const want = view.toFloat32Array();
    y.dispose(); // the view still owns the block: not kept for reuse
    for (let k = 1; k <= 6; ++k) {
      layer.resetStates();
      const z = layer.forward(xs(k));
      expect(host().sameMemory(z._storage() as Float32Array, view._storage() as Float32Array)).to.equal(false);
      z.dispose(); // kept for reuse: the next call gets it back
    }
    expectBits(view.toFloat32Array(), want, 'the view');
    view.dispose();
  });

  describe('the public controls: hostMemoryStats, emptyHostCache, setHostCacheLimit, hostCacheLimit', function () {
    it('the default limit is 1 GiB, or an eighth of the physical memory where that is less', function () {
      expect(hostCacheLimit()).to.be.closeTo(Math.min(2 ** 30, os.totalmem() / 8), 1 << 20);
    });

    it('a released output is cached and serves the next call warm (counted as cached while kept for reuse); emptyHostCache returns the cache', async function () {
      await collect();
      const layer = new LIF({ tauMem: 10 }).eval();
      const xs = Tensor.from(uniform(11, prod(SHAPE), -0.5, 2.5), SHAPE);
      layer.forward(xs).dispose(); // the size classes of this call are now cached
      const before = hostMemoryStats();
      const y = layer.forward(xs);
      const during = hostMemoryStats();
      expect(during.rawAllocs, 'no block from the operating system').to.equal(before.rawAllocs);
      expect(during.bytesInUse).to.be.at.least(before.bytesInUse + 4 * prod(SHAPE));
      y.dispose();
      expect(hostMemoryStats().bytesCached).to.be.at.least(4 * prod(SHAPE));
      emptyHostCache();
      const after = hostMemoryStats();
      expect(after.bytesCached).to.equal(0);
      expect(after.blocksCached).to.equal(0);
      expect(after.rawFrees).to.be.above(during.rawFrees);
    });

    it('limit 0 turns the pool off: outputs are V8 arrays', function () {
      const saved = hostCacheLimit();
      setHostCacheLimit(0);
      try {
        expect(hostCacheLimit()).to.equal(0);
        const y = new LIF({ tauMem: 10 }).eval().forward(Tensor.from(uniform(12, prod(SHAPE), -0.5, 2.5), SHAPE));
        const a = y._storage() as Float32Array;
        expect(host().sameMemory(a, a), 'a V8 array').to.equal(false);
        y.dispose();
      } finally {
        setHostCacheLimit(saved);
      }
      expect(hostCacheLimit()).to.equal(saved);
    });

    it('bad limits are TypeError/RangeError naming the function and argument, and change nothing', function () {
      const saved = hostCacheLimit();
      expect(() => setHostCacheLimit('1' as unknown as number)).to.throw(
        TypeError,
        /setHostCacheLimit: bytes must be a number/,
      );
      expect(() => setHostCacheLimit(-1)).to.throw(RangeError, /setHostCacheLimit: bytes/);
      expect(() => setHostCacheLimit(1.5)).to.throw(RangeError, /setHostCacheLimit: bytes/);
      expect(() => setHostCacheLimit(NaN)).to.throw(RangeError, /setHostCacheLimit: bytes/);
      expect(hostCacheLimit()).to.equal(saved);
    });
  });

  // V8 counts an external ArrayBuffer's bytes itself; the pool once reported them a second time
  // (napi_adjust_external_memory), so that a 40 MB output per call crossed V8's limit on external
  // growth between collections (64 MB) and started a full collection per call, whose concurrent
  // marking took a core from the kernels. Allocating and releasing 40 MB arrays must not.
  it('pooled arrays are counted once by V8: allocating and releasing 40 MB arrays starts no full collections', async function () {
    await collect();
    const n = 10 * 1024 * 1024;
    release(allocOutput('cpu', n)); // its size class is cached from here on
    const majors: number[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries())
        if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
          majors.push(e.startTime);
    });
    obs.observe({ entryTypes: ['gc'] });
    try {
      for (let k = 0; k < 40; ++k) {
        const a = allocOutput('cpu', n) as Float32Array;
        expect(host().sameMemory(a, a), 'pooled').to.equal(true);
        a[0] = k;
        await new Promise((r) => setImmediate(r)); // let V8's incremental marking run, as real work would
        release(a);
      }
      await new Promise((r) => setTimeout(r, 50)); // the observer's entries arrive asynchronously
    } finally {
      obs.disconnect();
    }
    expect(majors.length, 'full collections during 40 allocations (8-10 when counted twice)').to.be.at.most(1);
  });

  it('bad arguments of the native pool are TypeError/RangeError naming the argument', function () {
    const h = host() as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => h.alloc!(-1, false)).to.throw(RangeError, /'n'/);
    expect(() => h.alloc!(1.5, false)).to.throw(RangeError, /'n'/);
    expect(() => h.alloc!(10)).to.throw(TypeError, /hostAlloc/);
    expect(() => h.release!([1, 2])).to.throw(TypeError, /Float32Array/);
    expect(() => h.share!(new Float64Array(2))).to.throw(TypeError, /Float32Array/);
    expect(() => h.setCacheLimit!(-1)).to.throw(RangeError, /bytes/);
  });

  describe('disposing while async calls are in flight (pooled host outputs, states, checkpoints)', function () {
    defineOwnershipScenarios('cpu');
  });
});
