// Where a tensor's data lives: a Float32Array on the host, or a device buffer on one CUDA
// device. Internal helpers shared by Tensor and the layers.
import type { NativeArray, NativeDeviceBuffer } from '#binding';
import { native } from './backend.js';
import { fromNative } from './errors.js';

export type Storage = NativeArray;

/** The pooled host arrays made here (others skip the native calls of share/release/sameData). */
const pooled = new WeakSet<Float32Array>();

/** Device string -> CUDA index, or -1 for the host. */
export function deviceIndex(device: string): number {
  if (device === 'cpu') return -1;
  const m = /^cuda:(\d+)$/.exec(device);
  if (!m) throw new RangeError(`internal: unexpected device '${device}'`);
  return Number(m[1]);
}

export function isHost(s: Storage): s is Float32Array {
  return s instanceof Float32Array;
}

/** n floats on `device`: zeros on the host; uninitialised on a GPU unless `zero`. */
export function alloc(device: string, n: number, zero = false): Storage {
  const idx = deviceIndex(device);
  if (idx < 0) return new Float32Array(n);
  return onDevice(() => {
    const b = new (native().DeviceBuffer)(n, idx);
    if (zero) b.zero();
    return b;
  });
}

/**
 * n floats on `device` whose contents are unspecified: for arrays a kernel writes in full (the
 * neuron layers' outputs, final states, checkpoints, gradients). On the host they come from the
 * pooled host memory (large ones; warm pages, reused once released), on a GPU from the device's
 * memory cache.
 */
export function allocOutput(device: string, n: number): Storage {
  if (deviceIndex(device) >= 0) return alloc(device, n);
  const h = native().hostMemory;
  if (4 * n < h.poolMinBytes) return new Float32Array(n);
  const kept = recycled.get(n);
  if (kept !== undefined && kept.length > 0) {
    const a = kept.pop()!;
    recycledBytes -= recycledBlockBytes.get(a) ?? 0;
    recycledBlockBytes.delete(a);
    return a;
  }
  const a = h.alloc(n, false);
  pooled.add(a);
  return a;
}

// ---- recycled pooled arrays -----------------------------------------------------------------
// A pooled array given up by its only owner (no share, no call in flight: the native count of
// owners says so) is kept as it is, ArrayBuffer and all, for the next output of the same length,
// instead of being detached and made anew. V8 counts an ArrayBuffer's bytes while it exists: a
// new one per output made a training step's two new 52 MB arrays exceed V8's 64 MB of external
// growth between collections, so that it started a collection per step whose concurrent marking
// took a core from the kernels. Nothing outside this module holds a recycled array (its tensor
// was disposed, and dispose drops the tensor's reference), so no JavaScript can see its memory
// change hands. At most RECYCLE_PER_LENGTH arrays per length, and a quarter of the host cache
// limit in all; emptyHostCache and setHostCacheLimit give them back.
const RECYCLE_PER_LENGTH = 2;
const recycled = new Map<number, Float32Array[]>();
const recycledBlockBytes = new WeakMap<Float32Array, number>();
let recycledBytes = 0;

/** Bytes held by recycled arrays (their blocks' size classes): cached, from the user's view. */
export function recycledHostBytes(): { bytes: number; blocks: number } {
  let blocks = 0;
  for (const list of recycled.values()) blocks += list.length;
  return { bytes: recycledBytes, blocks };
}

/** Gives every recycled array back to the host pool (detached, like any released array). */
export function drainRecycled(): void {
  const h = native().hostMemory;
  for (const list of recycled.values())
    for (const a of list) {
      pooled.delete(a);
      h.release(a);
    }
  recycled.clear();
  recycledBytes = 0;
}

function recycle(a: Float32Array): boolean {
  if (recycledBlockBytes.has(a)) return true; // released twice: kept once
  const h = native().hostMemory;
  const list = recycled.get(a.length);
  if (list !== undefined && list.length >= RECYCLE_PER_LENGTH) return false;
  const bytes = h.soleOwner(a);
  if (bytes === 0 || recycledBytes + bytes > h.cacheLimit() / 4) return false;
  if (list === undefined) recycled.set(a.length, [a]);
  else list.push(a);
  recycledBlockBytes.set(a, bytes);
  recycledBytes += bytes;
  return true;
}

/** Runs a device-memory operation; a native CUDA failure becomes the package's coded error. */
function onDevice<R>(f: () => R): R {
  try {
    return f();
  } catch (e) {
    throw fromNative(e);
  }
}

/** The data on the host: the array itself for host storage, a downloaded copy otherwise. */
export function toHost(s: Storage): Float32Array {
  if (isHost(s)) return s;
  const a = new Float32Array(s.length);
  onDevice(() => (s as NativeDeviceBuffer).download(a));
  return a;
}

/** A copy on the host. */
export function hostCopy(s: Storage): Float32Array {
  return isHost(s) ? s.slice() : toHost(s);
}

/** Host data placed on `device` (the array itself for the host). */
export function place(device: string, a: Float32Array): Storage {
  const idx = deviceIndex(device);
  if (idx < 0) return a;
  return onDevice(() => {
    const b = new (native().DeviceBuffer)(a.length, idx);
    b.upload(a);
    return b;
  });
}

/** A copy of `s` on `device`. */
export function copyTo(device: string, s: Storage): Storage {
  const idx = deviceIndex(device);
  if (isHost(s)) return idx < 0 ? s.slice() : place(device, s);
  if (idx < 0) return toHost(s);
  if (s.device === idx)
    return onDevice(() => {
      const b = new (native().DeviceBuffer)(s.length, idx);
      b.copyFrom(s);
      return b;
    });
  return place(device, toHost(s));
}

/**
 * Another owner of the same data: a new reference to the same device memory or pooled host
 * memory, so that releasing either leaves the other intact; for any other host array the array
 * itself (the garbage collector keeps it alive while anyone holds it).
 */
export function share(s: Storage): Storage {
  if (!isHost(s)) return s.share();
  if (!pooled.has(s)) return s;
  const a = native().hostMemory.share(s);
  pooled.add(a);
  return a;
}

/** Whether two storages hold the same data (one array, or shares of one block of device memory). */
export function sameData(a: Storage, b: Storage): boolean {
  if (a === b) return true;
  if (isHost(a) !== isHost(b)) return false;
  if (!isHost(a)) return a.sameMemory(b as NativeDeviceBuffer);
  const c = b as Float32Array;
  return pooled.has(a) && pooled.has(c) && native().hostMemory.sameMemory(a, c);
}

/**
 * Gives up this owner's reference now: device memory, or a pooled host array (which is detached;
 * other host arrays are left to the garbage collector). The memory returns to its cache when its
 * last owner (a share, an in-flight native call) lets go.
 */
export function release(s: Storage | null | undefined): void {
  if (!s) return;
  if (!isHost(s)) s.dispose();
  else if (pooled.has(s) && !recycle(s)) {
    pooled.delete(s);
    native().hostMemory.release(s);
  }
}
