// The kernels' kind numbers and checkpoint interval, read from the addon (which takes them from
// native/core/lif_math.h and lif_args.h): no number is repeated here. Read on first use, so that
// importing the package does not load the addon.
import type { NativeConstants } from '#binding';
import { native } from './backend.js';

/** The addon's spike, reset and surrogate kinds and its checkpoint interval. */
export function kernelConstants(): NativeConstants {
  return native().constants;
}

/**
 * Checkpoint interval K (steps) of the backward recompute: a pending call keeps 4/K bytes per
 * state per neuron-step. The kernels' value (`constants.checkpointInterval` of the addon); a
 * test checks that the two agree.
 */
export const CHECKPOINT_INTERVAL = 32;
