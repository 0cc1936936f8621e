// The `inputGrad` option of `backward`, shared by the layers that can skip dL/dinput and by Sequential.
import { checkOptions, readBool } from '../validate.js';

/** The `inputGrad` option of Linear's and Sequential's `backward`. */
export interface InputGradOptions {
  /**
   * Whether to compute dL/dinput (default true). With false, `backward` only accumulates the
   * parameter gradients and returns null: for a network's first layer, whose input (the data)
   * needs no gradient, this skips the largest product of the backward.
   */
  inputGrad?: boolean;
}

const BACKWARD_KEYS = ['inputGrad'] as const;

/** Reads `backward`'s options (TypeError on unknown keys or a non-boolean): whether dL/dinput is wanted. */
export function readInputGrad(opts: unknown, what: string): boolean {
  if (opts === undefined) return true;
  const o = checkOptions<InputGradOptions>(opts as InputGradOptions, BACKWARD_KEYS, what, false);
  return readBool(o.inputGrad, `${what}: inputGrad`, true);
}
