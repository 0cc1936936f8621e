// sinabs.layers.IAF: LIF without a leak, described to LIF as a variant.
import type { ResetFnSpec, SpikeFnSpec, SurrogateSpec } from '../activations.js';
import type { Tensor } from '../tensor.js';
import type { SpikeDtype } from './io.js';
import { LIF } from './lif.js';
import type { LIFOptions } from './options.js';
import type { LayerVariant } from './variant.js';

/** Constructor options of IAF (sinabs' keywords in camelCase, with sinabs' defaults). */
export interface IAFOptions {
  /** Spike threshold (default 1). */
  spikeThreshold?: number | Tensor;
  /** MultiSpike (default), SingleSpike, a MaxSpike instance or a custom `{ forward }`. */
  spikeFn?: SpikeFnSpec;
  /** new MembraneSubtract() (default) or new MembraneReset(). */
  resetFn?: ResetFnSpec;
  /** new SingleExponential() (default), another surrogate, or a function. */
  surrogateGradFn?: SurrogateSpec;
  /** Synaptic time constant (default null: none); trainable when given. */
  tauSyn?: number | Tensor | null;
  /** Lower bound of the membrane (default null). */
  minVMem?: number | Tensor | null;
  /** State shape including the batch dimension (default null: lazily). */
  shape?: number[] | null;
  /** Record the state after every step (default false). */
  recordStates?: boolean;
  /** 'float32' (default) or 'uint8' spikes: see LIFOptions.spikeDtype. */
  spikeDtype?: SpikeDtype;
  /** 'cpu' (default), 'cuda', 'cuda:N' or 'auto'. */
  device?: string;
  /** Seed of the generator used for batch resampling and randomised resets. */
  seed?: number;
}
/** IAF as a LIF variant: no leak (alpha_mem = 1), no input normalisation. */
export const IAF_VARIANT: LayerVariant = {
  kind: 'IAF',
  options: [
    'spikeThreshold',
    'spikeFn',
    'resetFn',
    'surrogateGradFn',
    'tauSyn',
    'minVMem',
    'shape',
    'recordStates',
    'spikeDtype',
    'device',
    'seed',
  ],
  example: '',
  leak: false,
  spikes: true,
  normInputDefault: false,
};

/**
 * sinabs.layers.IAF: integrate-and-fire, LIF with alpha_mem = 1 and no input normalisation.
 * It has no tau_mem parameter; tauSyn, when given, is trainable.
 */
export class IAF extends LIF {
  constructor(options: IAFOptions = {}) {
    super(options as LIFOptions, IAF_VARIANT);
  }
}
