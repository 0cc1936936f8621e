// The stack of pending training calls of a stateless layer (Linear, Conv2d, the pools, the
// readouts) and the parameter gradient bookkeeping their backward shares.
import { native } from '../backend.js';
import { ErrorCodes, codedError } from '../errors.js';
import { Tensor, checkTensor } from '../tensor.js';
import { sameShape } from './module.js';
import { copyTo, isHost, release, type Storage } from '../storage.js';

/** What every pending record has; layers add the fields their backward needs. */
export interface PendingRecord {
  /** The call's output shape (gradOutput must have it). */
  outputShape: number[];
}

function isStorage(v: unknown): v is Storage {
  if (v instanceof Float32Array) return true;
  if (v === null || typeof v !== 'object') return false;
  return v instanceof native().DeviceBuffer;
}

/** A stack of pending forward calls, newest last. */
export class PendingStack<R extends PendingRecord> {
  #items: R[] = [];

  get length(): number {
    return this.#items.length;
  }

  push(r: R): void {
    this.#items.push(r);
  }

  /**
   * The newest record, after checking `gradOutput` (a Tensor on `device` with the record's output
   * shape). Throws (and changes nothing) when nothing is pending or the gradient does not fit.
   */
  top(gradOutput: unknown, device: string, what: string): { rec: R; grad: Tensor } {
    const g = checkTensor(gradOutput, `${what}: gradOutput`);
    if (g.device !== device)
      throw new TypeError(`${what}: gradOutput is on ${g.device} but the layer is on ${device}; move one with .to()`);
    const rec = this.#items[this.#items.length - 1];
    if (!rec)
      throw codedError(
        ErrorCodes.NOTHING_PENDING,
        `${what}: no forward call is pending (run forward in training mode first)`,
      );
    if (!sameShape(g.shape, rec.outputShape))
      throw new RangeError(
        `${what}: gradOutput must have the shape of the pending call's output [${rec.outputShape.join(', ')}], got [${g.shape.join(', ')}]`,
      );
    return { rec, grad: g };
  }

  /** Drops the newest record and frees the device memory it owns. */
  pop(): void {
    const rec = this.#items.pop();
    if (rec) freeRecord(rec);
  }

  /** Drops every record (freeing the device memory they own). */
  clear(): void {
    for (const rec of this.#items) freeRecord(rec);
    this.#items = [];
  }

  /**
   * Moves every array a record holds to `device`. Generic: each field that is host or device
   * storage is moved, whatever its name, so a layer adding a field needs no change here. Records
   * own their arrays: the old device memory is freed at once.
   */
  moveTo(device: string): void {
    for (const rec of this.#items) {
      const fields = rec as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(fields)) {
        if (!isStorage(v) || placeOf(v) === device) continue;
        fields[k] = copyTo(device, v);
        release(v);
      }
    }
  }
}

function placeOf(s: Storage): string {
  return isHost(s) ? 'cpu' : `cuda:${s.device}`;
}

function freeRecord(rec: object): void {
  for (const v of Object.values(rec)) if (isStorage(v)) release(v);
}

/**
 * Whether `p` (a parameter, or null when absent) gets a gradient. Throws when an existing
 * gradient does not fit `p` (call before changing anything).
 */
export function wantsGrad(p: Tensor | null, device: string, what: string): p is Tensor {
  if (!p || !p.requiresGrad) return false;
  const g = p.grad;
  if (g && (g.disposed || g.device !== device || !sameShape(g.shape, p.shape)))
    throw new RangeError(
      `${what}: the existing .grad must be a live tensor of shape [${p.shape.join(', ')}] on ${device}`,
    );
  return true;
}

/** `p.grad`, created as zeros on `device` when absent (call after every check passed). */
export function ensureGrad(p: Tensor, device: string): Tensor {
  if (!p.grad) p.grad = Tensor.zeros(p.shape, { device });
  return p.grad;
}
