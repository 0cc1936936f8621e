// The LIF kernels of the addon, sync and on the libuv pool; a native CUDA failure becomes the
// package's coded error (lib/errors.ts).
import type { NativeBackwardArgs, NativeForwardArgs } from '#binding';
import { native } from '../backend.js';
import { fromNative } from '../errors.js';

/** Runs a forward; returns the sum of its outputs. */
export function runForward(args: NativeForwardArgs): number {
  try {
    return native().lifForward(args);
  } catch (e) {
    throw fromNative(e);
  }
}

/** runForward on the libuv thread pool. */
export function runForwardAsync(args: NativeForwardArgs): Promise<number> {
  return native()
    .lifForwardAsync(args)
    .catch((e: unknown) => {
      throw fromNative(e);
    });
}

/** Runs a backward. */
export function runBackward(args: NativeBackwardArgs): void {
  try {
    native().lifBackward(args);
  } catch (e) {
    throw fromNative(e);
  }
}

/** runBackward on the libuv thread pool. */
export function runBackwardAsync(args: NativeBackwardArgs): Promise<void> {
  return native()
    .lifBackwardAsync(args)
    .catch((e: unknown) => {
      throw fromNative(e);
    });
}
