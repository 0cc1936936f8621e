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
  const a = h.alloc(n, false);
  pooled.add(a);
  return a;
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
  else if (pooled.delete(s)) native().hostMemory.release(s);
}
