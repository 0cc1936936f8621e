/**
 * What the benchmark runs: the workloads (shapes), the layer configurations, the seeded inputs,
 * the calibration of the input scale, and the byte model of bench/run.ts's header.
 */
import { LIF, Tensor, type LIFOptions } from '../lib/index.js';
import { Rng } from '../lib/rng.js';

export interface Workload {
  name: string;
  B: number;
  T: number;
  /** Neuron dimensions after (B, T). */
  neurons: number[];
  /** Runs only on CUDA (too large for the CPU rows and the plain TypeScript baseline). */
  gpuOnly?: boolean;
}

export const WORKLOADS: Workload[] = [
  { name: 'mlp', B: 64, T: 100, neurons: [1024] },
  { name: 'conv', B: 16, T: 50, neurons: [16, 32, 32] },
  { name: 'long', B: 8, T: 1000, neurons: [512] },
  // 524,288,000 neuron-steps: 2.1 GB per float32 tensor (input, output, gradOutput, gradInput)
  { name: 'big', B: 64, T: 500, neurons: [16384], gpuOnly: true },
];

export interface Config {
  name: string;
  options: LIFOptions & { tauMem: number; tauSyn?: number };
}

export const CONFIGS: Config[] = [
  { name: 'defaults', options: { tauMem: 20 } },
  { name: 'tauSyn', options: { tauMem: 20, tauSyn: 10 } },
];

export type Mode = 'inference' | 'training';
export type Path = 'new' | 'out';

/** Target fraction of spiking neuron-steps (the brief: 5-20 %). */
export const TARGET_RATE = 0.1;
export const SEED = 20240601;

export const neuronCount = (w: Workload): number => w.neurons.reduce((a, b) => a * b, 1);
export const shapeOf = (w: Workload): number[] => [w.B, w.T, ...w.neurons];

/** Seeded uniform floats in [lo, hi). */
export function uniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let k = 0; k < n; ++k) a[k] = lo + (hi - lo) * rng.next();
  return a;
}

export function scaled(base: Float32Array, s: number): Float32Array {
  const a = new Float32Array(base.length);
  for (let k = 0; k < a.length; ++k) a[k] = base[k]! * s;
  return a;
}

/**
 * scaled(uniform(n, seed, lo, hi), s) in one pass, without the intermediate array (the same
 * float32 values: the uniform value is rounded to float32 first, as storing it would round it).
 * For the 2.1 GB inputs of `big`.
 */
export function uniformScaled(n: number, seed: number, lo: number, hi: number, s: number): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let k = 0; k < n; ++k) a[k] = Math.fround(lo + (hi - lo) * rng.next()) * s;
  return a;
}

/** Bytes per neuron-step of the byte model (see the header comment of bench/run.ts). */
export function bytesPerNeuronStep(mode: Mode, states: number, T: number, K: number): number {
  const stateIO = (8 * states) / T; // read the initial state, write the final state, per call
  if (mode === 'inference') return 8 + stateIO;
  const ckFraction = Math.ceil(T / K) / T; // checkpoints per step (K-step chunks, last may be short)
  return 20 + 2 * 4 * states * ckFraction + 2 * stateIO; // forward and backward each do the state I/O
}

/**
 * Bytes a pending training call keeps beyond its input and output, per neuron-step: the
 * checkpoints (S states every K steps: B * ceil(T/K) * N floats each) and the initial state the
 * backward replays from (S * B * N floats). See CHECKPOINT_INTERVAL (lib/kinds.ts).
 */
export function pendingModelBytesPerNeuronStep(states: number, T: number, K: number): number {
  return (4 * states * (Math.ceil(T / K) + 1)) / T;
}

/**
 * Scale of the input currents that gives ~TARGET_RATE spikes per neuron-step, found by bisection
 * on a small slice (one batch entry, up to 1024 neurons, the full T) of the same kind of input.
 */
export function calibrate(w: Workload, cfg: Config): number {
  const n = Math.min(neuronCount(w), 1024);
  const base = uniform(w.T * n, SEED + 1, 0, 2);
  const layer = new LIF(cfg.options).eval();
  const rateAt = (s: number): number => {
    layer.resetStates();
    layer.forward(Tensor.from(scaled(base, s), [1, w.T, n]));
    return layer.firingRate!;
  };
  let lo = Math.log(1e-3),
    hi = Math.log(1e3);
  for (let k = 0; k < 30; ++k) {
    const mid = (lo + hi) / 2;
    if (rateAt(Math.exp(mid)) < TARGET_RATE) lo = mid;
    else hi = mid;
  }
  return Math.exp((lo + hi) / 2);
}
