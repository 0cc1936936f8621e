// The caching allocators seen from JavaScript: their counters, emptying their caches, and the
// limits on what they keep. Device tensors take their memory from the device allocator, the
// neuron layers' large CPU outputs from the pooled host memory; both give it back on dispose()
// (or collection) once no call in flight uses it any more.
import type { NativeDeviceMemoryStats } from '#binding';
import { _testDevice, native } from './backend.js';
import { drainRecycled, recycledHostBytes } from './storage.js';

/** The counters of the device-memory cache of one device. */
export interface DeviceMemoryStats {
  /** Bytes of the blocks that have owners (tensors, their shares, calls in flight), by size class. */
  bytesInUse: number;
  /** Bytes of the blocks kept for reuse (no owner). */
  bytesCached: number;
  /** Blocks with owners. */
  blocksInUse: number;
  /** Blocks kept for reuse. */
  blocksCached: number;
  /** Allocations from the device (cudaMalloc) still alive: in use, cached or being freed. */
  rawBlocks: number;
  /** Their bytes. */
  rawBytes: number;
  /** Allocations from the device made so far. */
  rawAllocs: number;
  /** Frees to the device made so far (done on a background thread). */
  rawFrees: number;
  /** Allocations served from the cache so far. */
  cacheHits: number;
  /** Cache hits that had to wait for the block's last use on another stream to finish. */
  fenceWaits: number;
}

function cudaIndex(device: unknown, what: string): number {
  if (device === undefined) return 0;
  if (typeof device !== 'string') throw new TypeError(`${what}: device must be a string such as 'cuda:0'`);
  const m = /^cuda(?::(\d+))?$/.exec(device);
  if (!m) throw new RangeError(`${what}: device must be 'cuda' or 'cuda:N', got '${device}'`);
  const idx = m[1] === undefined ? 0 : Number(m[1]);
  if (idx >= 1024) throw new RangeError(`${what}: device index must be below 1024, got ${idx}`);
  return idx;
}

/** Counters of the device-memory cache of `device` ('cuda' = 'cuda:0'; zeros before first use). */
export function deviceMemoryStats(device?: string): DeviceMemoryStats {
  return toStats(native().deviceMemory.stats(cudaIndex(device, 'deviceMemoryStats'), _testDevice()));
}

function toStats(s: NativeDeviceMemoryStats): DeviceMemoryStats {
  return {
    bytesInUse: s.bytesInUse,
    bytesCached: s.bytesCached,
    blocksInUse: s.blocksInUse,
    blocksCached: s.blocksCached,
    rawBlocks: s.rawBlocks,
    rawBytes: s.rawBytes,
    rawAllocs: s.rawAllocs,
    rawFrees: s.rawFrees,
    cacheHits: s.cacheHits,
    fenceWaits: s.fenceWaits,
  };
}

/**
 * Frees the cached (unused) device memory of `device`, or of every device when omitted, and
 * returns once it is freed. Memory in use by tensors or calls in flight is not touched.
 */
export function emptyDeviceCache(device?: string): void {
  const idx = device === undefined ? -1 : cudaIndex(device, 'emptyDeviceCache');
  native().deviceMemory.emptyCache(idx, _testDevice());
}

/**
 * Sets how many bytes of unused device memory each device may keep cached for reuse (default
 * 4 GiB; `Infinity` for no limit; 0 frees every block as soon as its last owner lets go).
 * Also the release threshold of the CUDA memory pool the kernels' scratch comes from, for
 * devices first used after the call.
 */
export function setDeviceCacheLimit(bytes: number): void {
  native().deviceMemory.setCacheLimit(limitArg(bytes, 'setDeviceCacheLimit'));
}

/** The current cache limit in bytes (see {@link setDeviceCacheLimit}). */
export function deviceCacheLimit(): number {
  return native().deviceMemory.cacheLimit();
}

// ---- pooled host memory -----------------------------------------------------------------------

function limitArg(bytes: unknown, what: string): number {
  if (typeof bytes !== 'number') throw new TypeError(`${what}: bytes must be a number, got ${typeof bytes}`);
  if (!(bytes >= 0) || (bytes !== Infinity && !Number.isSafeInteger(bytes)))
    throw new RangeError(`${what}: bytes must be a non-negative integer or Infinity, got ${bytes}`);
  return bytes;
}

/**
 * Counters of the pooled host memory: the large CPU outputs, final states, checkpoints and
 * gradients of the neuron layers' default path (`forward(x)`, `backward(g)` without `out`), from
 * 64 KiB on. A block given back (the tensor disposed or collected) is kept warm for the next call
 * of its size class; an array disposed by its only owner is kept as it is for the next output of
 * its length (counted here as cached, not in use; it makes no `cacheHits`). `rawAllocs`/`rawFrees`
 * count the blocks taken from and returned to the operating system; `fenceWaits` is always 0 on
 * the host.
 */
export function hostMemoryStats(): DeviceMemoryStats {
  const s = toStats(native().hostMemory.stats());
  // arrays kept for reuse as they are (lib/storage.ts) are in use for the allocator, cached for users
  const r = recycledHostBytes();
  s.bytesInUse -= r.bytes;
  s.blocksInUse -= r.blocks;
  s.bytesCached += r.bytes;
  s.blocksCached += r.blocks;
  return s;
}

/**
 * Returns the cached (unused) pooled host memory, the arrays kept for reuse included, to the
 * operating system; blocks in use stay.
 */
export function emptyHostCache(): void {
  drainRecycled();
  native().hostMemory.emptyCache();
}

/**
 * Sets the limit of the pooled host memory in bytes: at most this much is kept cached, and at
 * most this much is handed out at a time (beyond it, outputs are ordinary V8 arrays, so that a
 * synchronous loop that drops its outputs without `dispose()` cannot hold unbounded memory until
 * their finalizers run). The default is 1 GiB, or an eighth of the physical memory where that is
 * less; 0 turns the pool off. A lower limit applies as blocks come back; {@link emptyHostCache}
 * frees the cache at once.
 */
export function setHostCacheLimit(bytes: number): void {
  native().hostMemory.setCacheLimit(limitArg(bytes, 'setHostCacheLimit'));
  drainRecycled();
}

/** The current limit of the pooled host memory in bytes (see {@link setHostCacheLimit}). */
export function hostCacheLimit(): number {
  return native().hostMemory.cacheLimit();
}
