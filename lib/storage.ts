// Where a tensor's data lives: a Float32Array on the host, or a device buffer on one CUDA
// device. Internal helpers shared by Tensor and the layers.
import type { NativeArray, NativeDeviceBuffer } from '#binding';
import { native } from './backend.js';
import { fromNative } from './errors.js';

export type Storage = NativeArray;

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
 * Another owner of the same data: the array itself on the host (the garbage collector keeps it
 * alive while anyone holds it), a new reference to the same device memory otherwise, so that
 * releasing either leaves the other intact.
 */
export function share(s: Storage): Storage {
  return isHost(s) ? s : s.share();
}

/** Whether two storages hold the same data (one array, or shares of one block of device memory). */
export function sameData(a: Storage, b: Storage): boolean {
  if (isHost(a) || isHost(b)) return a === b;
  return a === b || a.sameMemory(b);
}

/**
 * Gives up this owner's reference to device memory now (host arrays are left to the garbage
 * collector). The memory returns to the caching allocator when its last owner (a share, an
 * in-flight native call) lets go.
 */
export function release(s: Storage | null | undefined): void {
  if (s && !isHost(s)) s.dispose();
}
