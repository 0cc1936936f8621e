// The element types of a neuron layer's calls (lib/dtype.ts): float16 and bfloat16 inputs and
// gradients, and spikes as uint8 (`spikeDtype`). The math is float32 whatever the types: a 16-bit
// input is widened exactly, a uint8 spike is exactly the float32 count. On the CPU, an eval
// forward hands the kernel the 16-bit input and the uint8 output directly (2 + 1 bytes per
// neuron-step instead of 4 + 4; native/core/lif_io.h); elsewhere (training, the CUDA and emulated
// launches, custom spike functions) the input is widened first and the spikes narrowed after.
import type { Dtype } from '../dtype.js';
import type { Storage } from '../storage.js';
import { toHost } from '../storage.js';
import { Tensor } from '../tensor.js';
import type { KernelCall, KernelOutputs } from './lowering.js';

/** The element types of spikes a layer can emit. */
export type SpikeDtype = 'float32' | 'uint8';
/** The spike dtypes, in a fixed order. */
export const SPIKE_DTYPES: readonly Dtype[] = Object.freeze(['float32', 'uint8']);
/** The dtypes a layer accepts as input and as gradient. */
export const INPUT_DTYPES: readonly Dtype[] = Object.freeze(['float32', 'float16', 'bfloat16']);

/** The kernels' numbers of the element types (native/core/lif_io.h, IoType). */
const IO_TYPE: Readonly<Record<Dtype, number>> = { float32: 0, float16: 1, bfloat16: 2, uint8: 3 };

/** How one forward reads its input and writes its spikes. */
export interface CallIo {
  /** The kernel reads x's dtype and writes spikeDtype itself (an eval forward on the CPU). */
  native: boolean;
  spikeDtype: SpikeDtype;
  /** The spikes' tensor given with `{ out }`, or null. */
  outTensor: Tensor | null;
  /** The float32 data the kernel reads as x (a placeholder when native and x is not float32). */
  x: Storage;
  /** The float32 array the kernel writes the spikes into, or null to allocate one (a placeholder
   * when native and spikeDtype is uint8). */
  out: Storage | null;
}

const PLACEHOLDER = new Float32Array(0);

/** The input and output arrays of a forward of `x` (any of INPUT_DTYPES) on `device`. */
export function callIo(x: Tensor, spikeDtype: SpikeDtype, outTensor: Tensor | null, native: boolean): CallIo {
  const xs = x.dtype === 'float32' ? x._storage() : native ? PLACEHOLDER : x.to('float32')._storage();
  let out: Storage | null = null;
  if (spikeDtype === 'float32') out = outTensor ? outTensor._storage() : null;
  else if (native) out = PLACEHOLDER;
  return { native, spikeDtype, outTensor, x: xs, out };
}

/**
 * Points a lowered call at the input and output of their own dtypes (native only). Returns the
 * status array the kernel fills ([first element uint8 could not hold or -1, its value]) or null.
 */
export function bindIo(call: KernelCall, outputs: KernelOutputs, x: Tensor, io: CallIo): Float64Array | null {
  if (!io.native) return null;
  const c = call as unknown as Record<string, unknown>;
  if (x.dtype !== 'float32') {
    c.x = x._hostData();
    c.xType = IO_TYPE[x.dtype];
  }
  if (io.spikeDtype !== 'uint8') return null;
  const o = outputs as unknown as Record<string, unknown>;
  o.out = io.outTensor ? io.outTensor._hostData() : new Uint8Array(call.B * call.T * call.N);
  c.outType = IO_TYPE.uint8;
  const status = Float64Array.of(-1, 0);
  c.ioStatus = status;
  return status;
}

/**
 * The spikes of a finished forward as a Tensor of the layer's spikeDtype (the `out` tensor when
 * given). A spike that uint8 cannot hold (a MultiSpike count above 255, a custom spike function's
 * value that is not an integer 0..255) is a RangeError naming the element, before the layer
 * changes.
 */
export function spikesOf(
  outputs: KernelOutputs,
  io: CallIo,
  status: Float64Array | null,
  shape: readonly number[],
  device: string,
  what: string,
): Tensor {
  if (io.spikeDtype === 'float32') return io.outTensor ?? Tensor._adopt(outputs.out, shape, device);
  if (io.native) {
    if (status && status[0]! >= 0) throw spikeRangeError(what, status[0]!, status[1]!);
    return io.outTensor ?? Tensor._adoptDtype('uint8', outputs.out as unknown as Uint8Array, shape);
  }
  const values = toHost(outputs.out);
  const bytes = io.outTensor ? (io.outTensor._hostData() as Uint8Array) : new Uint8Array(values.length);
  for (let k = 0; k < values.length; ++k) {
    const v = values[k]!;
    if (!(v >= 0 && v <= 255 && Number.isInteger(v))) throw spikeRangeError(what, k, v);
  }
  bytes.set(values);
  return io.outTensor ?? Tensor._adoptDtype('uint8', bytes, shape);
}

function spikeRangeError(what: string, k: number, v: number): RangeError {
  return new RangeError(
    `${what}: spike output element ${k} is ${v}, which spikeDtype 'uint8' cannot hold (integers 0..255; ` +
      "MultiSpike counts can exceed 255: use MaxSpike(255) or spikeDtype 'float32'); the layer's state is unchanged",
  );
}

/** A gradient of any of INPUT_DTYPES as float32 data (exact). */
export function float32Grad(g: Tensor): Tensor {
  return g.dtype === 'float32' ? g : g.to('float32');
}
