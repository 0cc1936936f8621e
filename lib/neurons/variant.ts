// What distinguishes the members of the LIF family, as data. LIF reads a variant instead of
// asking which class it is; IAF and ExpLeak (iaf.ts, expleak.ts) each hand it their own.

/** The layer family member: LIF, IAF (no leak) or ExpLeak (no spikes); see `LIF.kind`. */
export type LayerKind = 'LIF' | 'IAF' | 'ExpLeak';

/** How a member of the LIF family differs from the others. */
export interface LayerVariant {
  /** sinabs' class name, used in messages and `toString()`. */
  readonly kind: LayerKind;
  /** The constructor options it accepts. */
  readonly options: readonly string[];
  /** An example options object for the "not an object" message ('' for none). */
  readonly example: string;
  /** false: alpha_mem is the constant 1 (no leak, no tau_mem parameter, no normInput). */
  readonly leak: boolean;
  /** false: no spike function and no threshold; the output is the membrane. */
  readonly spikes: boolean;
  /** The default of `normInput`. */
  readonly normInputDefault: boolean;
}

/** sinabs.layers.LIF. */
export const LIF_VARIANT: LayerVariant = {
  kind: 'LIF',
  options: [
    'tauMem',
    'tauSyn',
    'spikeThreshold',
    'spikeFn',
    'resetFn',
    'surrogateGradFn',
    'minVMem',
    'trainAlphas',
    'shape',
    'normInput',
    'recordStates',
    'spikeDtype',
    'device',
    'seed',
  ],
  example: '{ tauMem: 20 }',
  leak: true,
  spikes: true,
  normInputDefault: true,
};
