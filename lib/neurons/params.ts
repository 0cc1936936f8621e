// The parameters of a LIF-family layer with sinabs' names, what is derived from them (decay
// factors, calculated taus), and the reduction of per-neuron gradients into their `.grad`.
import type { NativeArray } from '#binding';
import { Tensor } from '../tensor.js';
import { place, release, share } from '../storage.js';
import { broadcastMap } from './broadcast.js';
import type { LayerConfig } from './options.js';

/** Where a decay factor's per-neuron gradient goes. */
export interface ParamGradInfo {
  param: Tensor;
  /** Neuron -> parameter element, or null for a single-element parameter. */
  map: Int32Array | null;
  /** d alpha / d tau per parameter element (tau mode), or null (alpha mode). */
  dAlpha: Float64Array | null;
}

/** A decay factor lowered for one call: per neuron (or one value) on the device, and its gradient bookkeeping. */
export interface LoweredDecay {
  arr: NativeArray;
  grad: ParamGradInfo;
}

/** A parameter check run by loadStateDict before anything is written. */
export type ParamCheck = (value: Float32Array, shape: number[], key: string) => void;

const mustBePositive: ParamCheck = (data, _shape, key) => {
  if (data.some((x) => !(x > 0))) throw new RangeError(`loadStateDict: '${key}' must be positive`);
};

/** The parameters: tau_mem | alpha_mem, tau_syn | alpha_syn, min_v_mem, spike_threshold. */
export class NeuronParameters {
  readonly tauMem: Tensor | null = null;
  readonly tauSyn: Tensor | null = null;
  readonly alphaMem: Tensor | null = null;
  readonly alphaSyn: Tensor | null = null;
  readonly threshold: Tensor | null;
  readonly minVMem: Tensor | null;
  /** No leak (IAF): alpha_mem is the constant 1, not a parameter. */
  readonly fixedAlphaMem: boolean;
  readonly #mapCache = new Map<string, Int32Array | null>();
  /** The last lowering of each decay, reused while its parameter's values and the call's neurons stay the same. */
  readonly #lowered = new Map<'mem' | 'syn', LoweringMemo>();

  constructor(c: LayerConfig) {
    this.threshold = c.threshold === null ? null : Tensor.from([c.threshold], []);
    this.minVMem = c.minVMem === null ? null : Tensor.from([c.minVMem], []);
    this.fixedAlphaMem = c.tauMem === null;
    const trainable = (t: Tensor): Tensor => {
      t.requiresGrad = true;
      return t;
    };
    if (this.fixedAlphaMem) {
      this.alphaMem = Tensor.from([1], []);
      if (c.tauSyn) this.tauSyn = trainable(c.tauSyn);
    } else if (c.trainAlphas) {
      this.alphaMem = trainable(alphaOf(c.tauMem!));
      if (c.tauSyn) this.alphaSyn = trainable(alphaOf(c.tauSyn));
    } else {
      this.tauMem = trainable(c.tauMem!);
      if (c.tauSyn) this.tauSyn = trainable(c.tauSyn);
    }
  }

  /** Every parameter slot in sinabs' order, with its loadStateDict check (null: absent). */
  slots(): [string, Tensor | null, ParamCheck | undefined][] {
    return [
      ['tau_mem', this.tauMem, mustBePositive],
      ['alpha_mem', this.fixedAlphaMem ? null : this.alphaMem, undefined],
      ['tau_syn', this.tauSyn, mustBePositive],
      ['alpha_syn', this.alphaSyn, undefined],
      ['min_v_mem', this.minVMem, undefined],
      ['spike_threshold', this.threshold, mustBePositive],
    ];
  }

  get hasSynapse(): boolean {
    return this.tauSyn !== null || this.alphaSyn !== null;
  }

  /** The threshold value (1 where there is none: ExpLeak does not use it). */
  thresholdValue(): number {
    return this.threshold ? firstValue(this.threshold) : 1;
  }

  minVValue(): number | null {
    return this.minVMem ? firstValue(this.minVMem) : null;
  }

  alphaMemCalculated(): Tensor {
    return this.alphaMem ? this.alphaMem.clone() : alphaOf(this.tauMem!);
  }
  alphaSynCalculated(): Tensor | null {
    if (this.alphaSyn) return this.alphaSyn.clone();
    return this.tauSyn ? alphaOf(this.tauSyn) : null;
  }
  tauMemCalculated(): Tensor {
    if (this.fixedAlphaMem) return Tensor.from([Infinity], []); // no leak
    return this.tauMem ? this.tauMem.clone() : tauOf(this.alphaMem!);
  }
  tauSynCalculated(): Tensor | null {
    if (this.tauSyn) return this.tauSyn.clone();
    return this.alphaSyn ? tauOf(this.alphaSyn) : null;
  }

  /**
   * The membrane (or synaptic) decay of a call over `neuronShape`, placed on `device`. The result
   * of the previous call is returned again while the parameter holds the same values (bit for
   * bit) and the neurons and device are the same: the arrays are never written after lowering,
   * so pending calls may share them. The memo keeps a share of its own; each call gets another,
   * which it releases with the rest of what it owns.
   */
  decay(which: 'mem' | 'syn', neuronShape: number[], device: string, trainAlphas: boolean): LoweredDecay {
    const tau = which === 'mem' ? this.tauMem : this.tauSyn;
    const param = (tau ?? (which === 'mem' ? this.alphaMem : this.alphaSyn))!;
    const values = param.device === 'cpu' ? param._data() : param.toFloat32Array();
    const memo = this.#lowered.get(which);
    if (
      memo &&
      memo.param === param &&
      memo.device === device &&
      memo.trainAlphas === trainAlphas &&
      sameDims(memo.neuronShape, neuronShape) &&
      sameBits(memo.values, values)
    )
      return { ...memo.lowered, arr: share(memo.lowered.arr) }; // each call owns (and releases) a share
    const lowered = this.#lowerDecay(which, param, tau, values, neuronShape, device, trainAlphas);
    if (memo) release(memo.lowered.arr); // the memo's own share of the decay it replaces
    this.#lowered.set(which, {
      param,
      values: values.slice(),
      neuronShape: neuronShape.slice(),
      device,
      trainAlphas,
      lowered,
    });
    return { ...lowered, arr: share(lowered.arr) };
  }

  #lowerDecay(
    which: 'mem' | 'syn',
    param: Tensor,
    tau: Tensor | null,
    pd: Float32Array,
    neuronShape: number[],
    device: string,
    trainAlphas: boolean,
  ): LoweredDecay {
    const what = trainAlphas ? (which === 'mem' ? 'alphaMem' : 'alphaSyn') : which === 'mem' ? 'tauMem' : 'tauSyn';
    const map = this.#map(param, neuronShape, what);
    const a = new Float32Array(pd.length);
    let dAlpha: Float64Array | null = null;
    if (tau) {
      dAlpha = new Float64Array(pd.length);
      for (let k = 0; k < pd.length; ++k) {
        a[k] = Math.exp(-1 / pd[k]!);
        dAlpha[k] = a[k]! / (pd[k]! * pd[k]!);
      }
    } else a.set(pd);
    let arr: Float32Array;
    if (map === null) arr = a.subarray(0, 1);
    else {
      const N = map.length;
      arr = new Float32Array(N);
      for (let n = 0; n < N; ++n) arr[n] = a[map[n]!]!;
    }
    return { arr: place(device, arr), grad: { param, map, dAlpha } };
  }

  #map(p: Tensor, neuronShape: number[], what: string): Int32Array | null {
    const key = `${p.shape.join(',')}|${neuronShape.join(',')}`;
    if (!this.#mapCache.has(key)) this.#mapCache.set(key, broadcastMap(p.shape, neuronShape, what));
    return this.#mapCache.get(key)!;
  }
}

/** A decay lowered for one call and what it was lowered from. */
interface LoweringMemo {
  param: Tensor;
  values: Float32Array;
  neuronShape: number[];
  device: string;
  trainAlphas: boolean;
  lowered: LoweredDecay;
}

/** The first element of a tensor, without copying a host tensor's data. */
function firstValue(t: Tensor): number {
  return t.device === 'cpu' ? t._data()[0]! : t.toFloat32Array()[0]!;
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; ++k) if (a[k] !== b[k]) return false;
  return true;
}

/** Whether two float arrays hold the same bits (-0 and 0 differ, a NaN equals itself). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let k = 0; k < x.length; ++k) if (x[k] !== y[k]) return false;
  return true;
}

/** Adds a per-neuron alpha gradient (double) into a parameter's grad, reduced to its shape. */
export function accumulateGrad(info: ParamGradInfo, gN: Float64Array): void {
  const { param, map, dAlpha } = info;
  if (!param.requiresGrad) return;
  const size = param.size;
  const g = new Float64Array(size);
  if (map === null) {
    let s = 0;
    for (let n = 0; n < gN.length; ++n) s += gN[n]!;
    g[0] = s;
  } else {
    for (let n = 0; n < gN.length; ++n) g[map[n]!] += gN[n]!;
  }
  if (dAlpha) for (let k = 0; k < size; ++k) g[k]! *= dAlpha[k]!;
  if (!param.grad) param.grad = Tensor.zeros(param.shape, { device: param.device });
  if (param.grad.device === 'cpu') {
    // in place: the same float32 sums as writing a new array, without two copies per call
    const cur = param.grad._data();
    for (let k = 0; k < size; ++k) cur[k] = cur[k]! + g[k]!;
    return;
  }
  const cur = param.grad.toFloat32Array();
  const next = new Float32Array(size);
  for (let k = 0; k < size; ++k) next[k] = cur[k]! + g[k]!;
  param.grad._writeHost(next);
}

/** exp(-1/tau) elementwise, rounded to float32, on the host. */
export function alphaOf(tau: Tensor): Tensor {
  const d = tau.toFloat32Array();
  const a = new Float32Array(d.length);
  for (let k = 0; k < d.length; ++k) a[k] = Math.exp(-1 / d[k]!);
  return Tensor._adopt(a, tau.shape);
}

/** -1/log(alpha) elementwise, rounded to float32, on the host. */
export function tauOf(alpha: Tensor): Tensor {
  const d = alpha.toFloat32Array();
  const t = new Float32Array(d.length);
  for (let k = 0; k < d.length; ++k) t[k] = -1 / Math.log(d[k]!);
  return Tensor._adopt(t, alpha.shape);
}
