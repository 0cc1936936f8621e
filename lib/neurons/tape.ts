// The tape of pending calls: what each training-mode forward keeps for its backward (the lowered
// kernel call it ran, so nothing is copied field by field), which call owns the current state,
// and the adjoints of final states carried from a later call's backward into the call before it.
import type { CustomSurrogateFn } from '../activations.js';
import { copyTo, isHost, place, release, sameData, toHost, type Storage } from '../storage.js';
import { HOST_ARGS, type KernelCall } from './lowering.js';
import type { ParamGradInfo } from './params.js';
import type { Link, StateName, StateValues } from './state.js';

/** What a forward in training mode keeps for its backward. */
export interface PendingCall {
  readonly B: number;
  readonly T: number;
  readonly N: number;
  readonly inputShape: number[];
  /** The lowered call the forward ran (its inputs and checkpoints); the backward replays it. */
  readonly call: KernelCall;
  readonly link: Link;
  readonly customSurrogate: CustomSurrogateFn | null;
  readonly memGrad: ParamGradInfo;
  readonly synGrad: ParamGradInfo | null;
  /** Adjoint of this call's final state per state, from the later call that continued from it. */
  carry: StateValues | null;
}

/** Whether `v` is a tensor storage (host array or device buffer). */
function isStorage(v: unknown): v is Storage {
  return (
    v instanceof Float32Array ||
    (typeof v === 'object' && v !== null && typeof (v as { download?: unknown }).download === 'function')
  );
}

/** Copies every storage field of `obj` (except host-only arguments) to `device`, in place; `obj` owns them, so the old ones are released. */
export function moveStorages(obj: object, device: string): void {
  const o = obj as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    const v = o[k];
    if (!HOST_ARGS.has(k) && isStorage(v) && !(isHost(v) && device === 'cpu')) {
      o[k] = copyTo(device, v);
      release(v);
    }
  }
}

/** Releases every storage field of `obj`, which owns them (device memory goes back to the cache once no one else uses it). */
export function releaseStorages(obj: object | null | undefined): void {
  if (!obj) return;
  for (const k in obj) {
    const v = (obj as Record<string, unknown>)[k];
    if (isStorage(v)) release(v);
  }
}

/** The pending calls of one layer, oldest first. */
export class Tape {
  #calls: PendingCall[] = [];
  /** The pending call whose final state is the current state (null: the state is detached). */
  #stateOwner: PendingCall | null = null;

  /** Number of pending calls. */
  get size(): number {
    return this.#calls.length;
  }

  /** The most recent pending call, if any. */
  top(): PendingCall | undefined {
    return this.#calls[this.#calls.length - 1];
  }

  /** Whether the current state still carries a gradient path into the newest pending call. */
  stateLinked(): boolean {
    const top = this.top();
    return top !== undefined && this.#stateOwner === top;
  }

  /** Records a training forward; its final state becomes the current state. */
  push(rec: PendingCall): void {
    this.#calls.push(rec);
    this.#stateOwner = rec;
  }

  /** The current state no longer leads back to a pending call (an eval forward). */
  detachState(): void {
    this.#stateOwner = null;
  }

  /** Discards every pending call, releasing what they own. */
  cut(): void {
    for (const r of this.#calls) {
      releaseStorages(r.call);
      releaseStorages(r.carry);
    }
    this.#calls = [];
    this.#stateOwner = null;
  }

  /** Whether `s` is the input of a pending call other than `except` (a backward must still read it). */
  holdsInput(s: Storage, except?: PendingCall): boolean {
    return this.#calls.some((r) => r !== except && sameData(r.call.x, s));
  }

  /**
   * Removes the newest call after its backward (releasing what it owns) and hands the adjoint of its initial state
   * (`startAdjoint`, per state) to the call it continued from: as is for a carried state,
   * scattered back through the resampling for a resampled one.
   */
  pop(rec: PendingCall, startAdjoint: StateValues, device: string): void {
    this.#calls.pop();
    releaseStorages(rec.call);
    releaseStorages(rec.carry);
    // The state produced by this call has no gradient path any more: a later forward starts anew.
    if (this.#stateOwner === rec) this.#stateOwner = null;
    const prev = this.top();
    if (!prev || rec.link.kind === 'start') {
      releaseStorages(startAdjoint);
      return;
    }
    if (rec.link.kind === 'carry') {
      prev.carry = { ...startAdjoint };
      return;
    }
    const { N } = rec;
    const carry: StateValues = {};
    for (const [name, idx] of Object.entries(rec.link.idx) as [StateName, Int32Array][]) {
      const adj = startAdjoint[name];
      if (!adj) continue;
      const src = toHost(adj);
      const dst = new Float32Array(prev.B * N);
      for (let b = 0; b < rec.B; ++b) {
        const d = idx[b]! * N;
        for (let n = 0; n < N; ++n) dst[d + n] += src[b * N + n]!;
      }
      carry[name] = place(device, dst);
    }
    releaseStorages(startAdjoint);
    prev.carry = carry;
  }

  /** Moves every pending call's arrays to `device`. */
  moveTo(device: string): void {
    for (const r of this.#calls) {
      moveStorages(r.call, device);
      if (r.carry) moveStorages(r.carry, device);
    }
  }
}
