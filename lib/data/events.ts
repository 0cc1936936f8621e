/**
 * Event datasets: samples that are lists of spikes (time in seconds, unit id), one integer label
 * per sample, binned into dense `(B, T, units)` float32 tensors of spike counts for training.
 *
 * Binning: the interval [0, maxTime) is cut into `numSteps` equal bins; a spike at time t goes to
 * bin floor(t * numSteps / maxTime) (computed in float64) and adds 1 to that bin and its unit.
 * Spikes at t >= maxTime are left out (as a fixed-length window does); the count of spikes left
 * out is available from {@link EventDataset.countOutside}.
 */
import { Rng } from '../rng.js';
import { Tensor } from '../tensor.js';
import { resolveDevice } from '../backend.js';
import { place } from '../storage.js';
import { checkOptions, readBool, readInt, readNumber } from '../validate.js';
import { describe } from '../tensor.js';

/** Spike times of one sample (seconds). */
export type TimeArray = Float32Array | Float64Array;
/** Unit ids of one sample. */
export type UnitArray = Uint8Array | Uint16Array | Uint32Array | Int8Array | Int16Array | Int32Array;

/** Binning options: see {@link EventDataset}. */
export interface BinOptions {
  /** Number of time bins T. Default: the dataset's `numSteps` (100). */
  numSteps?: number;
  /** End of the binned window in seconds (bins are maxTime / numSteps long). Default: the dataset's. */
  maxTime?: number;
}

/** Options of {@link EventDataset.batches}. */
export interface BatchOptions extends BinOptions {
  /** Samples per batch (>= 1). Default 32. */
  batchSize?: number;
  /** Visit the samples in a seeded random order. Default false (file order). */
  shuffle?: boolean;
  /** Seed of the order when `shuffle` is set (a different seed per epoch gives a new order). Default 0. */
  seed?: number;
  /** Leave out the last batch when it is smaller than `batchSize`. Default false. */
  dropLast?: boolean;
  /** Device of the input tensors ('cpu' default). */
  device?: string;
}

/** One batch: spike counts `(B, T, units)` and the labels of its B samples. */
export interface Batch {
  input: Tensor;
  labels: Int32Array;
  /** Indices of the batch's samples in the dataset. */
  indices: Int32Array;
}

const BIN_KEYS = ['numSteps', 'maxTime'] as const;
const BATCH_KEYS = ['batchSize', 'shuffle', 'seed', 'dropLast', 'device', ...BIN_KEYS] as const;

/**
 * An in-memory event dataset: per sample a list of spike times and unit ids, and a label.
 * Made by {@link loadShd} (an HDF5 file in the Spiking Heidelberg Digits layout) or
 * {@link syntheticEvents}, or directly from arrays (the constructor checks them).
 */
export class EventDataset {
  /** Spike times per sample (seconds). */
  readonly times: readonly TimeArray[];
  /** Unit ids per sample, each in [0, numUnits). */
  readonly units: readonly UnitArray[];
  /** One label per sample, each in [0, numClasses). */
  readonly labels: Int32Array;
  /** Units (input channels) per time step. */
  readonly numUnits: number;
  /** Classes: the largest label + 1, or as given. */
  readonly numClasses: number;
  /** Default number of time bins. */
  readonly numSteps: number;
  /** Default end of the binned window (seconds). */
  readonly maxTime: number;

  /**
   * @param data - `times[i]`, `units[i]` (equal lengths) and `labels[i]` of every sample i.
   * @param opts - `numUnits` (required), `numClasses` (default: largest label + 1), `numSteps`
   *   (default 100), `maxTime` (default 1.4 s) and `source` (named in error messages).
   * @throws TypeError / RangeError for arrays of the wrong type or length, a unit id outside
   *   [0, numUnits), a negative or non-finite time, a label outside [0, numClasses); the message
   *   names the sample.
   */
  constructor(
    data: { times: readonly TimeArray[]; units: readonly UnitArray[]; labels: ArrayLike<number> },
    opts: { numUnits: number; numClasses?: number; numSteps?: number; maxTime?: number; source?: string },
  ) {
    const o = checkOptions<typeof opts>(
      opts,
      ['numUnits', 'numClasses', 'numSteps', 'maxTime', 'source'],
      'EventDataset: opts',
      false,
    );
    const where = o.source ?? 'EventDataset';
    this.numUnits = readInt(o.numUnits, `${where}: numUnits`, undefined, 1, 2 ** 24);
    this.numSteps = readInt(o.numSteps, `${where}: numSteps`, 100, 1, 2 ** 24);
    this.maxTime = readNumber(o.maxTime, `${where}: maxTime`, 1.4, { min: 0, minExclusive: true });
    const { times, units, labels } = data;
    if (!Array.isArray(times) || !Array.isArray(units))
      throw new TypeError(
        `${where}: times and units must be arrays of typed arrays, got ${describe(times)} and ${describe(units)}`,
      );
    const n = labels.length;
    if (times.length !== n || units.length !== n)
      throw new RangeError(
        `${where}: ${n} labels but ${times.length} spike-time lists and ${units.length} unit lists (one of each per sample)`,
      );
    const lab = new Int32Array(n);
    let maxLabel = -1;
    for (let i = 0; i < n; ++i) {
      const l = Number(labels[i]);
      if (!Number.isInteger(l) || l < 0)
        throw new RangeError(`${where}: label of sample ${i} must be a non-negative integer, got ${labels[i]}`);
      lab[i] = l;
      if (l > maxLabel) maxLabel = l;
    }
    this.numClasses = readInt(o.numClasses, `${where}: numClasses`, maxLabel + 1, 1);
    if (maxLabel >= this.numClasses)
      throw new RangeError(
        `${where}: sample ${lab.indexOf(maxLabel)} has label ${maxLabel}, outside [0, ${this.numClasses})`,
      );
    for (let i = 0; i < n; ++i) {
      const t = times[i],
        u = units[i] as UnitArray;
      if (!(t instanceof Float32Array || t instanceof Float64Array))
        throw new TypeError(
          `${where}: spike times of sample ${i} must be a Float32Array or Float64Array, got ${describe(t)}`,
        );
      if (!isUnitArray(u))
        throw new TypeError(`${where}: unit ids of sample ${i} must be an integer typed array, got ${describe(u)}`);
      if (t.length !== u.length)
        throw new RangeError(`${where}: sample ${i} has ${t.length} spike times but ${u.length} unit ids`);
      for (let k = 0; k < u.length; ++k) {
        const id = u[k]!;
        if (id < 0 || id >= this.numUnits)
          throw new RangeError(`${where}: sample ${i}, spike ${k}: unit id ${id} is outside [0, ${this.numUnits})`);
        const tk = t[k]!;
        if (!(tk >= 0) || tk === Infinity)
          throw new RangeError(`${where}: sample ${i}, spike ${k}: time ${tk} must be finite and >= 0`);
      }
    }
    this.times = Object.freeze(times.slice());
    this.units = Object.freeze(units.slice());
    this.labels = lab;
  }

  /** Number of samples. */
  get length(): number {
    return this.labels.length;
  }

  /** A dataset of the samples at `indices` (sharing their arrays), with the same options. */
  subset(indices: ArrayLike<number>): EventDataset {
    const idx = this.#checkIndices(indices, 'EventDataset.subset: indices');
    return new EventDataset(
      {
        times: idx.map((i) => this.times[i]!),
        units: idx.map((i) => this.units[i]!),
        labels: idx.map((i) => this.labels[i]!),
      },
      { numUnits: this.numUnits, numClasses: this.numClasses, numSteps: this.numSteps, maxTime: this.maxTime },
    );
  }

  /**
   * Splits into two datasets, a seeded random `fraction` of the samples in the second (the
   * held-out part), at least one sample in each when there are two or more.
   */
  split(fraction: number, seed = 0): [EventDataset, EventDataset] {
    readNumber(fraction, 'EventDataset.split: fraction', undefined, {
      min: 0,
      max: 1,
      minExclusive: true,
      maxExclusive: true,
    });
    readInt(seed, 'EventDataset.split: seed', 0, 0, 2 ** 32 - 1);
    const order = permutation(this.length, seed);
    let nHeld = Math.round(this.length * fraction);
    if (this.length >= 2) nHeld = Math.min(Math.max(nHeld, 1), this.length - 1);
    return [this.subset(order.subarray(nHeld).slice().sort()), this.subset(order.subarray(0, nHeld).slice().sort())];
  }

  /**
   * The samples at `indices` binned into a `(indices.length, T, numUnits)` tensor of spike counts.
   */
  bin(indices: ArrayLike<number>, opts?: BinOptions & { device?: string }): Tensor {
    const o = checkOptions<BinOptions & { device?: string }>(opts, [...BIN_KEYS, 'device'], 'EventDataset.bin: opts');
    const idx = this.#checkIndices(indices, 'EventDataset.bin: indices');
    const { T, maxTime } = this.#binParams(o, 'EventDataset.bin');
    return toTensor(
      this.#binInto(idx, T, maxTime),
      [idx.length, T, this.numUnits],
      o.device,
      'EventDataset.bin: device',
    );
  }

  /** How many spikes of the samples at `indices` lie outside [0, maxTime) and are left out by binning. */
  countOutside(indices?: ArrayLike<number>, maxTime = this.maxTime): number {
    const idx =
      indices === undefined
        ? Array.from({ length: this.length }, (_, i) => i)
        : this.#checkIndices(indices, 'EventDataset.countOutside: indices');
    readNumber(maxTime, 'EventDataset.countOutside: maxTime', undefined, { min: 0, minExclusive: true });
    let n = 0;
    for (const i of idx) for (const t of this.times[i]!) if (t >= maxTime) ++n;
    return n;
  }

  /** Number of batches {@link batches} yields with these options. */
  numBatches(opts?: Pick<BatchOptions, 'batchSize' | 'dropLast'>): number {
    const bs = readInt(opts?.batchSize, 'EventDataset.numBatches: batchSize', 32, 1);
    const dropLast = readBool(opts?.dropLast, 'EventDataset.numBatches: dropLast', false);
    return dropLast ? Math.floor(this.length / bs) : Math.ceil(this.length / bs);
  }

  /**
   * Iterates over the dataset in batches of binned spike counts: `{ input (B, T, numUnits),
   * labels (B), indices (B) }`. The options are checked when this is called, before the first batch.
   */
  batches(opts?: BatchOptions): Generator<Batch, void, undefined> {
    const o = checkOptions<BatchOptions>(opts, BATCH_KEYS, 'EventDataset.batches: opts');
    const bs = readInt(o.batchSize, 'EventDataset.batches: batchSize', 32, 1);
    const shuffle = readBool(o.shuffle, 'EventDataset.batches: shuffle', false);
    const seed = readInt(o.seed, 'EventDataset.batches: seed', 0, 0, 2 ** 32 - 1);
    const dropLast = readBool(o.dropLast, 'EventDataset.batches: dropLast', false);
    const device = o.device === undefined ? 'cpu' : resolveDevice(o.device, 'EventDataset.batches: device');
    const { T, maxTime } = this.#binParams(o, 'EventDataset.batches');
    const order = shuffle ? permutation(this.length, seed) : Int32Array.from({ length: this.length }, (_, i) => i);
    return this.#generate(order, bs, dropLast, T, maxTime, device);
  }

  *#generate(
    order: Int32Array,
    bs: number,
    dropLast: boolean,
    T: number,
    maxTime: number,
    device: string,
  ): Generator<Batch, void, undefined> {
    for (let start = 0; start < order.length; start += bs) {
      const idx = order.subarray(start, Math.min(start + bs, order.length));
      if (dropLast && idx.length < bs) return;
      const input = toTensor(this.#binInto(Array.from(idx), T, maxTime), [idx.length, T, this.numUnits], device, '');
      const labels = Int32Array.from(idx, (i) => this.labels[i]!);
      yield { input, labels, indices: idx.slice() };
    }
  }

  #binParams(o: BinOptions, what: string): { T: number; maxTime: number } {
    const T = readInt(o.numSteps, `${what}: numSteps`, this.numSteps, 1, 2 ** 24);
    const maxTime = readNumber(o.maxTime, `${what}: maxTime`, this.maxTime, { min: 0, minExclusive: true });
    const n = T * this.numUnits;
    if (n > 2 ** 31) throw new RangeError(`${what}: numSteps ${T} x ${this.numUnits} units is too large per sample`);
    return { T, maxTime };
  }

  #binInto(idx: number[], T: number, maxTime: number): Float32Array {
    const U = this.numUnits;
    const out = new Float32Array(idx.length * T * U);
    const scale = T / maxTime;
    for (let b = 0; b < idx.length; ++b) {
      const times = this.times[idx[b]!]!,
        units = this.units[idx[b]!]!;
      const base = b * T * U;
      for (let k = 0; k < times.length; ++k) {
        const bin = Math.floor(times[k]! * scale);
        if (bin < T) out[base + bin * U + units[k]!]! += 1;
      }
    }
    return out;
  }

  #checkIndices(indices: ArrayLike<number>, what: string): number[] {
    if (indices === null || typeof indices !== 'object' || typeof indices.length !== 'number')
      throw new TypeError(`${what} must be an array of sample indices, got ${describe(indices)}`);
    const out: number[] = new Array(indices.length);
    for (let k = 0; k < indices.length; ++k) {
      const i = indices[k];
      if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= this.length)
        throw new RangeError(`${what}[${k}] must be an integer in [0, ${this.length}), got ${i}`);
      out[k] = i;
    }
    return out;
  }
}

/** A tensor that takes over `data` (no copy on the host). */
function toTensor(data: Float32Array, shape: number[], device: string | undefined, what: string): Tensor {
  const dev = device === undefined ? 'cpu' : what ? resolveDevice(device, what) : device;
  return Tensor._adopt(place(dev, data), shape, dev);
}

const UNIT_ARRAYS = [Uint8Array, Uint16Array, Uint32Array, Int8Array, Int16Array, Int32Array];
function isUnitArray(u: unknown): u is UnitArray {
  return UNIT_ARRAYS.some((C) => u instanceof C);
}

/** A seeded random permutation of 0..n-1 (Fisher-Yates with lib/rng's generator). */
export function permutation(n: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; --i) {
    const j = rng.int(i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
