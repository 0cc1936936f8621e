/**
 * A synthetic event dataset, generated from a seed: class-specific spatio-temporal spike patterns
 * in background noise, shaped like the Spiking Heidelberg Digits (700 units, 1.4 s) by default.
 *
 * Each class has a pattern: `unitsPerClass` distinct units, each with a class-specific firing
 * time in [0.1 s, maxTime - 0.1 s]. Classes come in pairs ("twins", class 2k and 2k + 1) that use
 * the same units at different times, so the spike count of each unit over the whole sample
 * cannot tell twins apart: a classifier has to use when the units fire. A sample of class c:
 *
 *   - the whole pattern is shifted in time by a uniform offset in [-shift, +shift];
 *   - each pattern unit is silent with probability `dropout`, else it fires a burst of
 *     1 + Poisson(spikesPerUnit - 1) spikes, each at its (shifted) time plus Gaussian jitter
 *     (standard deviation `jitter`);
 *   - every unit also fires background spikes, a Poisson process of rate `noiseRate` (Hz);
 *   - spikes outside [0, maxTime) are left out; the rest are sorted by time (as in SHD files).
 *
 * Labels cycle through the classes (sample i has label i % numClasses), so the classes are
 * balanced; use {@link EventDataset.split} for a held-out part and `batches({ shuffle })`.
 */
import { Rng } from '../rng.js';
import { checkOptions, readInt, readNumber } from '../validate.js';
import { EventDataset } from './events.js';

/** Options of {@link syntheticEvents}. */
export interface SyntheticOptions {
  /** Samples. Default 2000. */
  numSamples?: number;
  /** Classes (>= 2). Default 20, as SHD. */
  numClasses?: number;
  /** Input units. Default 700, as SHD. */
  numUnits?: number;
  /** Default time bins of the tensors made from it. Default 100. */
  numSteps?: number;
  /** Length of a sample in seconds. Default 1.4, as SHD. */
  maxTime?: number;
  /** Units in each class's pattern. Default 40 (at most numUnits). */
  unitsPerClass?: number;
  /** Mean spikes of a pattern unit's burst (>= 1). Default 5. */
  spikesPerUnit?: number;
  /** Standard deviation of each pattern spike's time (s). Default 0.02. */
  jitter?: number;
  /** Largest time shift of a sample's pattern (s). Default 0.05. */
  shift?: number;
  /** Probability that a pattern unit stays silent in a sample. Default 0.2. */
  dropout?: number;
  /** Background rate of every unit (Hz). Default 1. */
  noiseRate?: number;
  /** Seed of the samples. Default 0. */
  seed?: number;
  /** Seed of the class patterns (the task). Default 0: two datasets with different `seed` share the patterns. */
  patternSeed?: number;
}

const KEYS = [
  'numSamples',
  'numClasses',
  'numUnits',
  'numSteps',
  'maxTime',
  'unitsPerClass',
  'spikesPerUnit',
  'jitter',
  'shift',
  'dropout',
  'noiseRate',
  'seed',
  'patternSeed',
] as const;

/** One class's pattern: its units and their firing times (s). */
export interface ClassPattern {
  units: Int32Array;
  times: Float64Array;
}

/**
 * Generates the dataset (deterministic for given options).
 * @throws TypeError for an unknown option or a wrong type, RangeError for a value out of range.
 */
export function syntheticEvents(opts?: SyntheticOptions): EventDataset {
  const o = checkOptions<SyntheticOptions>(opts, KEYS, 'syntheticEvents: opts');
  const n = readInt(o.numSamples, 'syntheticEvents: numSamples', 2000, 0, 2 ** 24);
  const C = readInt(o.numClasses, 'syntheticEvents: numClasses', 20, 2, 2 ** 16);
  const U = readInt(o.numUnits, 'syntheticEvents: numUnits', 700, 1, 65535);
  const numSteps = readInt(o.numSteps, 'syntheticEvents: numSteps', 100, 1, 2 ** 24);
  const maxTime = readNumber(o.maxTime, 'syntheticEvents: maxTime', 1.4, { min: 0.2, minExclusive: true, max: 1e6 });
  const P = readInt(o.unitsPerClass, 'syntheticEvents: unitsPerClass', Math.min(40, U), 1, U);
  const burst = readNumber(o.spikesPerUnit, 'syntheticEvents: spikesPerUnit', 5, { min: 1, max: 1000 });
  const jitter = readNumber(o.jitter, 'syntheticEvents: jitter', 0.02, { min: 0, max: maxTime });
  const shift = readNumber(o.shift, 'syntheticEvents: shift', 0.05, { min: 0, max: maxTime });
  const dropout = readNumber(o.dropout, 'syntheticEvents: dropout', 0.2, { min: 0, max: 1, maxExclusive: true });
  const noiseRate = readNumber(o.noiseRate, 'syntheticEvents: noiseRate', 1, { min: 0, max: 1e4 });
  const seed = readInt(o.seed, 'syntheticEvents: seed', 0, 0, 2 ** 32 - 1);
  const patternSeed = readInt(o.patternSeed, 'syntheticEvents: patternSeed', 0, 0, 2 ** 32 - 1);

  const patterns = classPatterns(C, U, P, maxTime, patternSeed);
  const rng = new Rng(seed ^ 0x5bd1e995);
  const gauss = gaussian(rng);
  const times: Float32Array[] = [],
    units: Uint16Array[] = [],
    labels = new Int32Array(n);
  const noiseMean = noiseRate * maxTime * U;
  for (let i = 0; i < n; ++i) {
    const c = i % C;
    labels[i] = c;
    const ts: number[] = [],
      us: number[] = [];
    const offset = (2 * rng.next() - 1) * shift;
    const p = patterns[c]!;
    for (let k = 0; k < P; ++k) {
      if (rng.next() < dropout) continue;
      const m = 1 + poisson(rng, burst - 1);
      for (let s = 0; s < m; ++s) {
        ts.push(p.times[k]! + offset + jitter * gauss());
        us.push(p.units[k]!);
      }
    }
    const nNoise = poisson(rng, noiseMean);
    for (let s = 0; s < nNoise; ++s) {
      ts.push(rng.next() * maxTime);
      us.push(rng.int(U));
    }
    const order = ts.map((_, k) => k).filter((k) => ts[k]! >= 0 && Math.fround(ts[k]!) < maxTime);
    order.sort((a, b) => ts[a]! - ts[b]! || us[a]! - us[b]!);
    times.push(Float32Array.from(order, (k) => ts[k]!));
    units.push(Uint16Array.from(order, (k) => us[k]!));
  }
  return new EventDataset(
    { times, units, labels },
    { numUnits: U, numClasses: C, numSteps, maxTime, source: 'syntheticEvents' },
  );
}

/**
 * The class patterns of {@link syntheticEvents} for these sizes and `patternSeed`: twins 2k and
 * 2k + 1 share their units (in the same order) and differ in the times.
 */
export function classPatterns(
  numClasses: number,
  numUnits: number,
  unitsPerClass: number,
  maxTime: number,
  patternSeed: number,
): ClassPattern[] {
  const rng = new Rng(patternSeed ^ 0x9e3779b9);
  const out: ClassPattern[] = [];
  let units = new Int32Array(0);
  for (let c = 0; c < numClasses; ++c) {
    if (c % 2 === 0) {
      // a random subset of the units (partial Fisher-Yates)
      const all = Int32Array.from({ length: numUnits }, (_, k) => k);
      for (let k = 0; k < unitsPerClass; ++k) {
        const j = k + rng.int(numUnits - k);
        const t = all[k]!;
        all[k] = all[j]!;
        all[j] = t;
      }
      units = all.slice(0, unitsPerClass);
    }
    const times = Float64Array.from({ length: unitsPerClass }, () => 0.1 + rng.next() * (maxTime - 0.2));
    out.push({ units: units.slice(), times });
  }
  return out;
}

/** Poisson-distributed integer of mean `mean` (Knuth's method; sums of chunks for large means). */
function poisson(rng: Rng, mean: number): number {
  let n = 0;
  while (mean > 30) {
    n += poisson(rng, 30);
    mean -= 30;
  }
  const limit = Math.exp(-mean);
  let p = rng.next();
  while (p > limit) {
    ++n;
    p *= rng.next();
  }
  return n;
}

/** Standard normal samples (Box-Muller). */
function gaussian(rng: Rng): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const z = spare;
      spare = null;
      return z;
    }
    const r = Math.sqrt(-2 * Math.log(1 - rng.next())),
      phi = 2 * Math.PI * rng.next();
    spare = r * Math.sin(phi);
    return r * Math.cos(phi);
  };
}
