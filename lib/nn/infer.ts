// Output shapes of a network's children without running them: Sequential checks a whole call
// (devices and the shape passed from layer to layer) before any child runs, so that a call
// that would fail halfway is refused before anything changed.
import { LIF, broadcastMap } from '../layer.js';
import type { ModuleLike } from './module.js';
import { fmt } from './shape.js';

/** A child that can tell its output shape: `forward` of an input of that shape would return this shape. */
export interface ShapeAware {
  /** The output shape for `inputShape`; throws the error `forward` would throw for that shape. */
  outputShape(inputShape: readonly number[]): number[];
}

/** What a *Squeeze layer adds (lib/siblings.ts). */
interface SqueezeLike {
  batchSize: number | null;
  numTimesteps: number | null;
  _unsqueeze(t: unknown, what: string): unknown;
}

function isSqueeze(l: LIF): l is LIF & SqueezeLike {
  const s = l as LIF & Partial<SqueezeLike>;
  return typeof s._unsqueeze === 'function' && 'batchSize' in s && 'numTimesteps' in s;
}

/** The checks LIF's forward makes on an input shape, with its messages. */
function lifShape(l: LIF, shape: readonly number[], what: string): number[] {
  let view = shape.slice();
  if (isSqueeze(l)) {
    if (shape.length < 1) throw new RangeError(`${what} must have rank >= 1, (B*T, ...neurons); got a scalar`);
    const M = shape[0]!;
    let B: number, T: number;
    if (l.batchSize !== null) {
      B = l.batchSize;
      T = M / B;
      if (l.numTimesteps !== null && T !== l.numTimesteps)
        throw new RangeError(`${what}: first dimension ${M} is not batchSize ${B} x numTimesteps ${l.numTimesteps}`);
    } else {
      T = l.numTimesteps!;
      B = M / T;
    }
    if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1)
      throw new RangeError(
        `${what}: first dimension ${M} is not a multiple of ${l.batchSize !== null ? `batchSize ${l.batchSize}` : `numTimesteps ${l.numTimesteps}`}`,
      );
    view = [B, T, ...shape.slice(1)];
  }
  if (view.length < 2) throw new RangeError(`${what} must have rank >= 2, (B, T, ...neurons); got shape ${fmt(view)}`);
  const [B, T, ...neurons] = view as [number, number, ...number[]];
  if (B === 0) throw new RangeError(`${what} batch size B must be >= 1, got shape ${fmt(view)}`);
  if (T === 0) throw new RangeError(`${what} must have at least one time step (T >= 1), got shape ${fmt(view)}`);
  if (neurons.some((d) => d === 0))
    throw new RangeError(`${what} neuron dimensions must be >= 1, got shape ${fmt(view)}`);
  const params: [string, { shape: number[] } | null][] = l.trainAlphas
    ? [
        ['alphaMem', l.alphaMem],
        ['alphaSyn', l.alphaSyn],
      ]
    : [
        ['tauMem', l.tauMem],
        ['tauSyn', l.tauSyn],
      ];
  for (const [name, p] of params) if (p) broadcastMap(p.shape, neurons, name);
  return shape.slice();
}

/**
 * The output shape of `child` for an input of shape `shape`, or null when the child cannot tell
 * (it has no `outputShape` and is not a known layer). Throws what the child's forward would
 * throw for a shape it refuses.
 */
export function inferOutputShape(child: ModuleLike, shape: readonly number[]): number[] | null {
  const c = child as ModuleLike & Partial<ShapeAware>;
  if (typeof c.outputShape === 'function') return c.outputShape(shape);
  if (child instanceof LIF) return lifShape(child, shape, 'forward: input');
  return null;
}
