// The neuron states (v_mem, and i_syn with a synapse) with sinabs' rules for where a call
// starts from: the previous state (same batch size and neuron shape), a resampled one (another
// batch size), or zeros (first call, or another neuron shape: the state is re-created).
//
// The states are held by name, in one map: moving them between devices and putting them in a
// state dict goes through the Module buffers registered from `names` (see `slot`), so a new state
// needs no code in to() or stateDict().
import type { BufferSlot } from '../nn/module.js';
import { sameShape } from '../nn/module.js';
import type { Rng } from '../rng.js';
import { alloc, copyTo, place, release, share, toHost, type Storage } from '../storage.js';
import { Tensor } from '../tensor.js';

/** sinabs' state names. The first is the primary state: it fixes the shape. */
export type StateName = 'v_mem' | 'i_syn';

/** One storage per state. */
export type StateValues = Partial<Record<StateName, Storage>>;

/** How a call's initial state relates to the previous call's final state (for the gradient path). */
export type Link =
  | { kind: 'start' }
  | { kind: 'carry' }
  | {
      kind: 'resample';
      /** batch entry of the previous state, per new batch entry, per state */ idx: Partial<
        Record<StateName, Int32Array>
      >;
    };

/** Where a call starts from. */
export interface StartState {
  values: StateValues;
  link: Link;
  /** The neuron shape changed: the old state and its gradient paths are dropped. */
  recreated: boolean;
}

/** The state store of one layer. */
export class NeuronState {
  /** The states this layer has, primary first. */
  readonly names: readonly StateName[];
  readonly #values = new Map<StateName, Storage | null>();
  #shape: number[] | null = null;

  constructor(names: readonly StateName[], shape: number[] | null, device: string) {
    this.names = names;
    for (const n of names) this.#values.set(n, null);
    if (shape) {
      const size = shape.reduce((a, b) => a * b, 1);
      for (const n of names) this.#values.set(n, alloc(device, size, true));
      this.#shape = shape.slice();
    }
  }

  /** The state shape (B, ...neurons), or null before initialisation. */
  get shape(): number[] | null {
    return this.#shape ? this.#shape.slice() : null;
  }

  /** Whether the states exist (after the first forward or a load). */
  get initialised(): boolean {
    return this.#shape !== null && this.#values.get(this.names[0]!) !== null;
  }

  /** A copy of one state on `device`, or null when absent. */
  copy(name: StateName, device: string): Tensor | null {
    const s = this.#values.get(name);
    return s && this.#shape ? Tensor._adopt(copyTo(device, s), this.#shape, device) : null;
  }

  /** The state storage (no copy), or null. */
  get(name: StateName): Storage | null {
    return this.#values.get(name) ?? null;
  }

  /**
   * Where a call over (B, ...neuronShape) starts, by sinabs' rules, in new arrays where the state
   * changes and shares of the current state where it carries over: the caller owns the values
   * (the store itself changes only on `commit`). `linked`: the current state still has a
   * gradient path into the newest pending call. Resampling draws from `rng`.
   */
  start(B: number, neuronShape: number[], linked: boolean, rng: Rng, device: string): StartState {
    const N = neuronShape.reduce((a, b) => a * b, 1);
    const st = this.#shape;
    const values: StateValues = {};
    if (!this.initialised || !st || !sameShape(st.slice(1), neuronShape)) {
      for (const n of this.names) values[n] = alloc(device, B * N, true);
      return {
        values,
        link: { kind: 'start' },
        recreated: this.initialised && st !== null && !sameShape(st.slice(1), neuronShape),
      };
    }
    if (st[0] !== B) {
      const Bold = st[0]!;
      const idx: Partial<Record<StateName, Int32Array>> = {};
      for (const n of this.names) {
        const ix = new Int32Array(B);
        for (let b = 0; b < B; ++b) ix[b] = Bold === 1 ? 0 : rng.int(Bold);
        idx[n] = ix;
      }
      for (const n of this.names) {
        const cur = this.#values.get(n);
        const old = cur ? toHost(cur) : new Float32Array(Bold * N);
        const next = new Float32Array(B * N);
        const ix = idx[n]!;
        for (let b = 0; b < B; ++b) next.set(old.subarray(ix[b]! * N, (ix[b]! + 1) * N), b * N);
        values[n] = place(device, next);
      }
      return { values, link: linked ? { kind: 'resample', idx } : { kind: 'start' }, recreated: false };
    }
    for (const n of this.names) {
      const cur = this.#values.get(n);
      values[n] = cur ? share(cur) : alloc(device, B * N, true);
    }
    return { values, link: linked ? { kind: 'carry' } : { kind: 'start' }, recreated: false };
  }

  /** Makes a call's final states the current ones (the store owns them; it releases the old ones). */
  commit(values: StateValues, shape: number[]): void {
    for (const n of this.names) {
      release(this.#values.get(n));
      this.#values.set(n, values[n] ?? null);
    }
    this.#shape = shape.slice();
  }

  /** Zeros the states, or fills them uniformly from `ranges` (default [0, 1)). No-op before initialisation. */
  fill(device: string, rng: Rng | null, ranges: Partial<Record<StateName, [number, number]>> = {}): void {
    if (!this.initialised) return;
    for (const n of this.names) {
      const cur = this.#values.get(n);
      if (!cur) continue;
      const a = new Float32Array(cur.length);
      if (rng) {
        const [lo, hi] = ranges[n] ?? [0, 1];
        for (let k = 0; k < a.length; ++k) a[k] = lo + (hi - lo) * rng.next();
      }
      release(cur);
      this.#values.set(n, place(device, a));
    }
  }

  /**
   * The Module buffer of one state: the state as a tensor (shape [0] while absent), replaced by
   * loadStateDict and by device moves. An empty primary state makes the layer uninitialised.
   */
  slot(name: StateName, device: () => string): BufferSlot {
    const primary = name === this.names[0];
    return {
      get: () => {
        const s = this.#values.get(name);
        return s && this.#shape ? Tensor._adopt(share(s), this.#shape, device()) : Tensor.zeros([0]);
      },
      set: (value) => {
        if (value.size === 0) {
          if (primary) {
            for (const n of this.names) this.#values.set(n, null);
            this.#shape = null;
          }
          return;
        }
        release(this.#values.get(name));
        this.#values.set(name, share(value._storage()));
        if (primary) this.#shape = value.shape;
      },
      check: (value, key) => {
        if (value.rank < 1) throw new RangeError(`loadStateDict: '${key}' must have a batch dimension`);
      },
    };
  }

  /** loadStateDict's check over several states: loaded together, they must have one shape. */
  checkLoad(values: ReadonlyMap<string, { value: Tensor; key: string }>): void {
    const p = values.get(this.names[0]!);
    if (!p || p.value.size === 0) return;
    for (const n of this.names.slice(1)) {
      const o = values.get(n);
      if (o && o.value.size && !sameShape(o.value.shape, p.value.shape))
        throw new RangeError(
          `loadStateDict: '${p.key}' [${p.value.shape.join(', ')}] and '${o.key}' [${o.value.shape.join(', ')}] must have the same shape`,
        );
    }
  }

  /** After a load: every state exists, with the primary state's size (zeros where it was not loaded). */
  completeAfterLoad(device: string): void {
    const p = this.#values.get(this.names[0]!);
    if (!p) return;
    for (const n of this.names.slice(1)) {
      const s = this.#values.get(n);
      if (!s || s.length !== p.length) this.#values.set(n, alloc(device, p.length, true));
    }
  }
}
