// Internal: the native tensor operations (native/napi/ops_napi.cc) on Tensors. Each call runs
// where its tensors live (host arrays: OpenMP, or the emulated CUDA launch when the tests switch
// it on; device buffers: CUDA).
import type { NativeBinding } from '#binding';
import { _cudaLaunchEmulation, native } from '../backend.js';
import { ErrorCodes } from '../errors.js';
import { Tensor } from '../tensor.js';

/** The native operations and the emulation flag of the current call. */
export function ops(): { n: NativeBinding; emulate: boolean } {
  return { n: native(), emulate: _cudaLaunchEmulation() };
}

/** A RangeError with the NOTHING_PENDING code, for a backward without a pending forward. */
export function nothingPending(what: string): RangeError {
  const e = new RangeError(`${what}: no forward call is pending (run forward in training mode first)`);
  (e as RangeError & { code: string }).code = ErrorCodes.NOTHING_PENDING;
  return e;
}

/** Throws unless `t` is on `device`. */
export function checkDevice(t: Tensor, device: string, what: string): void {
  if (t.device !== device)
    throw new TypeError(`${what} is on ${t.device} but the layer is on ${device}; move one with .to()`);
}

export const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;
