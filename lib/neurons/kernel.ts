// The LIF kernels of the addon, sync and on the libuv pool; a native CUDA failure becomes the
// package's coded error (lib/errors.ts).
import type { NativeBackwardArgs, NativeCommonArgs, NativeForwardArgs } from '#binding';
import { native } from '../backend.js';
import { fromNative } from '../errors.js';

/**
 * The order of `scalars` (native/napi/addon.cc `kSlotNames`, exported as
 * `constants.scalarFields`; test/constants.test.ts checks that the two agree).
 */
export const SCALAR_FIELDS = [
  'B',
  'T',
  'N',
  'spike',
  'reset',
  'surr',
  'hasSyn',
  'theta',
  'maxSpikes',
  'thetaSub',
  'resetValue',
  'minV',
  'hasMin',
  'normInput',
  'K',
  'emulate',
  'xType',
  'outType',
] as const;

// One buffer for every call: the native side copies it while it parses the call, before any
// kernel (sync or on the thread pool) runs, so the next call may overwrite it.
const scalarBuffer = new Float64Array(SCALAR_FIELDS.length);

/**
 * The call's scalar fields in one Float64Array (`NativeCommonArgs.scalars`), with the defaults
 * the native side gives absent named fields: reading them by name from C++ cost more than a
 * small call's kernel.
 */
export function packScalars(a: NativeCommonArgs & { xType?: number; outType?: number }): Float64Array {
  const s = scalarBuffer;
  s[0] = a.B;
  s[1] = a.T;
  s[2] = a.N;
  s[3] = a.spike;
  s[4] = a.reset;
  s[5] = a.surr;
  s[6] = a.hasSyn ? 1 : 0;
  s[7] = a.theta ?? 1;
  s[8] = a.maxSpikes ?? Infinity;
  s[9] = a.thetaSub ?? s[7];
  s[10] = a.resetValue ?? 0;
  s[11] = a.minV ?? 0;
  s[12] = a.hasMin ? 1 : 0;
  s[13] = a.normInput ? 1 : 0;
  s[14] = a.K;
  s[15] = a.emulate ? 1 : 0;
  s[16] = a.xType ?? 0;
  s[17] = a.outType ?? 0;
  return s;
}

function packed<A extends NativeCommonArgs>(args: A): A {
  args.scalars = packScalars(args);
  return args;
}

/** Runs a forward; returns the sum of its outputs. */
export function runForward(args: NativeForwardArgs): number {
  try {
    return native().lifForward(packed(args));
  } catch (e) {
    throw fromNative(e);
  }
}

/** runForward on the libuv thread pool. */
export function runForwardAsync(args: NativeForwardArgs): Promise<number> {
  return native()
    .lifForwardAsync(packed(args))
    .catch((e: unknown) => {
      throw fromNative(e);
    });
}

/** Runs a backward. */
export function runBackward(args: NativeBackwardArgs): void {
  try {
    native().lifBackward(packed(args));
  } catch (e) {
    throw fromNative(e);
  }
}

/** runBackward on the libuv thread pool. */
export function runBackwardAsync(args: NativeBackwardArgs): Promise<void> {
  return native()
    .lifBackwardAsync(packed(args))
    .catch((e: unknown) => {
      throw fromNative(e);
    });
}
