// The device-memory ownership scenarios of test/device-memory.test.ts on a real GPU (skipped with
// the probe's reason where none is usable): inputs, outputs, gradients and layers disposed or
// dropped while async calls are in flight, results bit-identical to the CPU, every block back
// with the caching allocator; once with the cache limit at 0 (a block given back is cudaFree'd at
// once, so that a kernel still using it would fault under compute-sanitizer memcheck) and once
// with the cache on (a block given back is handed to the next allocation, which overwrites it).
// Also: a steady-state training loop makes no cudaMalloc, and emptyDeviceCache gives the memory
// back.
import { expect } from 'chai';
import {
  LIF,
  Tensor,
  backendInfo,
  deviceCacheLimit,
  deviceMemoryStats,
  emptyDeviceCache,
  setDeviceCacheLimit,
} from '../lib/index.js';
import { collect, defineOwnershipScenarios, gate } from './support/device-memory.js';
import { prod, uniform } from './support/random.js';

const cuda = backendInfo().cuda;
const DEV = 'cuda:0';

describe('CUDA device memory owned by reference', function () {
  let limit0 = 0;
  before(function () {
    if (!cuda.available) {
      console.log(`      skipped: no usable GPU (${cuda.code}: ${cuda.reason})`);
      this.skip();
    }
    limit0 = deviceCacheLimit();
  });
  after(function () {
    gate('open');
    if (cuda.available) setDeviceCacheLimit(limit0);
  });

  it('a training loop makes no cudaMalloc after its first steps; emptyDeviceCache frees the cache', async function () {
    const shape = [4, 50, 2048];
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
    const s0 = deviceMemoryStats(DEV);
    for (let k = 2; k < 6; ++k) step(k);
    const s1 = deviceMemoryStats(DEV);
    expect(s1.rawAllocs - s0.rawAllocs).to.equal(0);
    expect(s1.cacheHits).to.be.greaterThan(s0.cacheHits);
    await collect();
    emptyDeviceCache(DEV);
    const s2 = deviceMemoryStats(DEV);
    expect(s2.bytesCached).to.equal(0);
    expect(s2.rawBlocks).to.equal(s2.blocksInUse);
  });

  describe('disposing while async calls are in flight, cache limit 0 (given back = cudaFree)', function () {
    before(function () {
      if (cuda.available) setDeviceCacheLimit(0);
    });
    after(function () {
      if (cuda.available) setDeviceCacheLimit(limit0);
    });
    defineOwnershipScenarios(DEV);
  });

  describe('disposing while async calls are in flight, cache on (given back = reused)', function () {
    defineOwnershipScenarios(DEV);
  });
});
