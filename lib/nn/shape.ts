// Shape comparison and formatting, shared by the modules, the neuron layers and the optimizers.

/** Whether two shapes are equal. */
export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, k) => d === b[k]);
}

/** A shape as error messages print it: `[2, 3]`. */
export const fmt = (s: readonly number[]): string => `[${s.join(', ')}]`;
