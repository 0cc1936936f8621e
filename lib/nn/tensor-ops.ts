// Internal: the native tensor operations (native/napi/ops_napi.cc) on Tensors. Each call runs
// where its tensors live (host arrays: OpenMP, or the emulated CUDA launch when the tests switch
// it on; device buffers: CUDA).
import type { NativeBinding } from '#binding';
import { _cudaLaunchEmulation, native } from '../backend.js';
import { fromNative } from '../errors.js';
import { Tensor } from '../tensor.js';

let coded: NativeBinding | undefined;
/**
 * The native binding with every function wrapped so that a native failure with a known code
 * (e.g. a CUDA runtime error) is thrown as the error table's class, as the neuron layers do.
 */
export function codedBinding(): NativeBinding {
  if (coded) return coded;
  const b = native();
  const wrapped = new Map<PropertyKey, unknown>(); // one wrapper per function, made on first use
  coded = new Proxy(b, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver) as unknown;
      if (typeof v !== 'function' || key === 'DeviceBuffer') return v;
      let w = wrapped.get(key);
      if (!w) {
        w = (...args: unknown[]) => {
          try {
            return (v as (...a: unknown[]) => unknown).apply(target, args);
          } catch (e) {
            throw fromNative(e);
          }
        };
        wrapped.set(key, w);
      }
      return w;
    },
  });
  return coded;
}

/** The native operations and the emulation flag of the current call. */
export function ops(): { n: NativeBinding; emulate: boolean } {
  return { n: codedBinding(), emulate: _cudaLaunchEmulation() };
}

/** Throws unless `t` is on `device`. */
export function checkDevice(t: Tensor, device: string, what: string): void {
  if (t.device !== device)
    throw new TypeError(`${what} is on ${t.device} but the layer is on ${device}; move one with .to()`);
}

export { fmt } from './shape.js';
