// sinabs.layers.ExpLeak: a leaky integrator without spikes, described to LIF as a variant.
import type { Tensor } from '../tensor.js';
import { LIF } from './lif.js';
import type { LIFOptions } from './options.js';
import type { LayerVariant } from './variant.js';

/** Constructor options of ExpLeak. Note: normInput defaults to false here (true for LIF). */
export interface ExpLeakOptions {
  /** Time constant in steps (number or per-neuron Tensor). Required. */
  tauMem: number | Tensor;
  /** State shape including the batch dimension (default null: lazily). */
  shape?: number[] | null;
  /** Train alpha = exp(-1/tau) instead of tau (default false). */
  trainAlphas?: boolean;
  /** Lower bound of the state (default null). The output is the membrane before this clip. */
  minVMem?: number | Tensor | null;
  /** Scale the input by (1 - alpha) (default false). */
  normInput?: boolean;
  /** Record the state after every step (default false). */
  recordStates?: boolean;
  /** 'cpu' (default), 'cuda', 'cuda:N' or 'auto'. */
  device?: string;
  /** Seed of the generator used for batch resampling and randomised resets. */
  seed?: number;
}
/** ExpLeak as a LIF variant: no spike function, no threshold, normInput false by default. */
export const EXPLEAK_VARIANT: LayerVariant = {
  kind: 'ExpLeak',
  options: ['tauMem', 'shape', 'trainAlphas', 'minVMem', 'normInput', 'recordStates', 'device', 'seed'],
  example: '{ tauMem: 20 }',
  leak: true,
  spikes: false,
  normInputDefault: false,
};

/**
 * sinabs.layers.ExpLeak: a leaky integrator without spikes. The output is the membrane potential
 * before the min_v_mem clip; the stored state and the recordings are clipped.
 */
export class ExpLeak extends LIF {
  constructor(options: ExpLeakOptions) {
    super(options as LIFOptions, EXPLEAK_VARIANT);
  }
}
