// Lowering: a layer's configuration, parameters and a call's shape become the arguments of the
// native kernels (binding.d.ts). Pure functions: they allocate the call's arrays and change
// nothing else.
import type {
  NativeArray,
  NativeBackwardArgs,
  NativeCommonArgs,
  NativeForwardArgs,
  ResetKind,
  SpikeKind,
  SurrogateKind,
} from '#binding';
import {
  MaxSpike,
  MultiSpike,
  SingleSpike,
  type ResetFnSpec,
  type SpikeFnSpec,
  type SurrogateSpec,
} from '../activations.js';
import type { Dtype } from '../dtype.js';
import { kernelConstants } from '../kinds.js';
import { allocOutput, share, type Storage } from '../storage.js';
import { Tensor, checkTensor } from '../tensor.js';
import { checkOptions } from '../validate.js';
import type { LoweredDecay } from './params.js';
import type { StateValues } from './state.js';

/** A lowered call: the forward's inputs (and checkpoints); what a pending call keeps and the backward replays. */
export type KernelCall = NativeCommonArgs & {
  v0: NativeArray;
  i0?: NativeArray;
  /** Set by io.ts bindIo for a native forward on compact dtypes (binding.d.ts NativeForwardArgs). */
  xType?: number;
  outType?: number;
  ioStatus?: Float64Array;
};

/** The arrays a forward writes besides its checkpoints; not kept by the pending call. */
export interface KernelOutputs {
  out: NativeArray;
  v1: NativeArray;
  i1?: NativeArray;
  recV?: NativeArray;
  recI?: NativeArray;
}

/** Arguments that are read by value on the host whatever the call's device (never moved). */
export const HOST_ARGS: ReadonlySet<string> = new Set(['surrParams']);

/** The per-call scalars of the kernels: kinds, thresholds, switches, surrogate parameters. */
export interface KernelScalars {
  spike: SpikeKind;
  reset: ResetKind;
  surr: SurrogateKind;
  theta: number;
  maxSpikes: number;
  thetaSub: number;
  resetValue: number;
  minV: number;
  hasMin: boolean;
  normInput: boolean;
  hasSyn: boolean;
  surrParams: Float32Array;
}

/** The scalars of a layer's calls, from its spike/reset/surrogate choices and parameter values. */
export function lowerScalars(
  spikeFn: SpikeFnSpec | null,
  resetFn: ResetFnSpec,
  surrogate: SurrogateSpec,
  theta: number,
  minV: number | null,
  normInput: boolean,
  hasSyn: boolean,
): KernelScalars {
  const K = kernelConstants();
  let spike: SpikeKind,
    maxSpikes = Infinity;
  const sf = spikeFn;
  if (sf === null) spike = K.spike.none;
  else if (sf === MultiSpike || sf instanceof MultiSpike) spike = K.spike.multi;
  else if (sf === SingleSpike || sf instanceof SingleSpike) spike = K.spike.single;
  else if (sf instanceof MaxSpike) ({ spike, maxSpikes } = sf._native());
  else spike = K.spike.given;
  let reset = K.reset.none,
    thetaSub = theta,
    resetValue = 0;
  if (sf !== null) ({ reset, thetaSub, resetValue } = resetFn._native(theta));
  let surr = K.surrogate.given;
  const surrParams = new Float32Array(10);
  if (typeof surrogate !== 'function') {
    const s = surrogate._native(theta);
    surr = s.surr;
    surrParams.set(s.params);
  }
  return {
    spike,
    reset,
    surr,
    theta,
    maxSpikes,
    thetaSub,
    resetValue,
    minV: minV ?? 0,
    hasMin: minV !== null,
    normInput,
    hasSyn,
    surrParams,
  };
}

/** The shape of a call over input (B, T, ...neurons). */
export interface CallShape {
  B: number;
  T: number;
  N: number;
  neuronShape: number[];
  inputShape: number[];
}

/** Checks a forward's input against the layer's device and sinabs' layout; throws naming `what`. */
export function callShape(
  input: unknown,
  device: string,
  what: string,
  dtypes?: readonly Dtype[],
): { x: Tensor; shape: CallShape } {
  const x = checkTensor(input, `${what}: input`, dtypes);
  if (x.device !== device)
    throw new TypeError(`${what}: input is on ${x.device} but the layer is on ${device}; move one with .to()`);
  const ref = x._shapeRef();
  if (ref.length < 2)
    throw new RangeError(`${what}: input must have rank >= 2, (B, T, ...neurons); got shape [${ref.join(', ')}]`);
  const B = ref[0]!,
    T = ref[1]!;
  if (B === 0) throw new RangeError(`${what}: input batch size B must be >= 1, got shape [${ref.join(', ')}]`);
  if (T === 0)
    throw new RangeError(`${what}: input must have at least one time step (T >= 1), got shape [${ref.join(', ')}]`);
  const neuronShape: number[] = [];
  let N = 1;
  for (let k = 2; k < ref.length; ++k) {
    const d = ref[k]!;
    if (d === 0) throw new RangeError(`${what}: input neuron dimensions must be >= 1, got shape [${ref.join(', ')}]`);
    neuronShape.push(d);
    N *= d;
  }
  return { x, shape: { B, T, N, neuronShape, inputShape: [B, T, ...neuronShape] } };
}

/** Reads the options `{ out }` of forward/backward: the `out` tensor, or null. */
export function readOut(opts: unknown, what: string, dtypes?: readonly Dtype[]): Tensor | null {
  const o = checkOptions<{ out?: unknown }>(opts, ['out'], what, true, '{ out }');
  return o.out === undefined ? null : checkTensor(o.out, `${what}: out`, dtypes);
}

/**
 * Lowers one forward: the call (kept by a training call) and the arrays it writes. The call owns
 * its arrays (a share of the input, the decay factors and start state it is given, fresh
 * checkpoints): releasing them (tape.ts releaseStorages) leaves every other owner's data intact.
 */
export function lowerForward(
  s: KernelScalars,
  shape: CallShape,
  decay: { mem: LoweredDecay; syn: LoweredDecay | null },
  x: Storage,
  start: StateValues,
  o: { training: boolean; recordStates: boolean; out: Storage | null; device: string; emulate: boolean; K: number },
): { call: KernelCall; outputs: KernelOutputs } {
  const { B, T, N } = shape;
  const dev = o.device;
  const E = B * T * N,
    BN = B * N;
  const nCk = Math.ceil(T / o.K);
  // Written out field by field (no spread): an object literal of fixed shape is built and read
  // by the addon much faster than one grown by copying properties, which matters for small calls.
  const call: KernelCall = {
    B,
    T,
    N,
    spike: s.spike,
    reset: s.reset,
    surr: s.surr,
    theta: s.theta,
    maxSpikes: s.maxSpikes,
    thetaSub: s.thetaSub,
    resetValue: s.resetValue,
    minV: s.minV,
    hasMin: s.hasMin,
    normInput: s.normInput,
    hasSyn: s.hasSyn,
    surrParams: s.surrParams,
    K: o.K,
    emulate: o.emulate,
    alphaMem: decay.mem.arr,
    alphaSyn: decay.syn?.arr,
    x: share(x),
    v0: start.v_mem!,
    i0: s.hasSyn ? start.i_syn : undefined,
    ckV: o.training ? allocOutput(dev, B * nCk * N) : undefined,
    ckI: o.training && s.hasSyn ? allocOutput(dev, B * nCk * N) : undefined,
  };
  const outputs: KernelOutputs = {
    out: o.out ?? allocOutput(dev, E),
    v1: allocOutput(dev, BN),
    i1: s.hasSyn ? allocOutput(dev, BN) : undefined,
    recV: o.recordStates ? allocOutput(dev, E) : undefined,
    recI: o.recordStates && s.hasSyn ? allocOutput(dev, E) : undefined,
  };
  return { call, outputs };
}

/** The native forward arguments of a lowered call (field by field, as in lowerForward). */
export function forwardArgs(c: KernelCall, outputs: KernelOutputs): NativeForwardArgs {
  return {
    B: c.B,
    T: c.T,
    N: c.N,
    spike: c.spike,
    reset: c.reset,
    surr: c.surr,
    theta: c.theta,
    maxSpikes: c.maxSpikes,
    thetaSub: c.thetaSub,
    resetValue: c.resetValue,
    minV: c.minV,
    hasMin: c.hasMin,
    normInput: c.normInput,
    hasSyn: c.hasSyn,
    surrParams: c.surrParams,
    K: c.K,
    emulate: c.emulate,
    alphaMem: c.alphaMem,
    alphaSyn: c.alphaSyn,
    x: c.x,
    spikesGiven: c.spikesGiven,
    v0: c.v0,
    i0: c.i0,
    ckV: c.ckV,
    ckI: c.ckI,
    out: outputs.out,
    v1: outputs.v1,
    i1: outputs.i1,
    recV: outputs.recV,
    recI: outputs.recI,
    xType: c.xType,
    outType: c.outType,
    ioStatus: c.ioStatus,
  };
}

/** The final states a forward wrote, by state name. */
export function finalStates(outputs: KernelOutputs): StateValues {
  return { v_mem: outputs.v1, i_syn: outputs.i1 };
}

/** The recordings a forward wrote, by recording name. */
export function recordingsOf(outputs: KernelOutputs): Partial<Record<'vMem' | 'iSyn', NativeArray>> {
  return { vMem: outputs.recV, iSyn: outputs.recI };
}

/** Lowers the backward of a pending call's kernel call. */
export function lowerBackward(
  call: KernelCall,
  carry: StateValues | null,
  gradOut: Storage,
  gradIn: Storage,
  sigmaGiven: Storage | undefined,
  o: { device: string; emulate: boolean },
): NativeBackwardArgs {
  const { B, N, hasSyn } = call;
  const BN = B * N;
  return {
    B: call.B,
    T: call.T,
    N: call.N,
    spike: call.spike,
    reset: call.reset,
    surr: sigmaGiven ? kernelConstants().surrogate.given : call.surr,
    theta: call.theta,
    maxSpikes: call.maxSpikes,
    thetaSub: call.thetaSub,
    resetValue: call.resetValue,
    minV: call.minV,
    hasMin: call.hasMin,
    normInput: call.normInput,
    hasSyn: call.hasSyn,
    surrParams: call.surrParams,
    K: call.K,
    emulate: o.emulate,
    alphaMem: call.alphaMem,
    alphaSyn: call.alphaSyn,
    x: call.x,
    spikesGiven: call.spikesGiven,
    sigmaGiven,
    ckV: call.ckV!,
    ckI: call.ckI,
    gradOut,
    gvEnd: carry?.v_mem,
    giEnd: carry?.i_syn,
    gradIn,
    gvStart: allocOutput(o.device, BN),
    giStart: hasSyn ? allocOutput(o.device, BN) : undefined,
    gAlphaMem: new Float64Array(N),
    gAlphaSyn: hasSyn ? new Float64Array(N) : undefined,
  };
}

/** The adjoints of the initial states a backward wrote, by state name. */
export function startAdjoints(args: NativeBackwardArgs): StateValues {
  return { v_mem: args.gvStart, i_syn: args.giStart };
}
