/**
 * Measurement: the timer every row uses (CPU and CUDA), the row record and its derived numbers
 * (byte model, bound), memory readings, the plain TypeScript baseline, the one-step training run
 * of the determinism and CPU-vs-CUDA checks, and the progress lines on stderr.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { CHECKPOINT_INTERVAL, LIF, Tensor, getNumThreads, setNumThreads } from '../lib/index.js';
import { plainLifForward } from './plain.js';
import {
  CONFIGS,
  SEED,
  WORKLOADS,
  bytesPerNeuronStep,
  calibrate,
  neuronCount,
  pendingModelBytesPerNeuronStep,
  scaled,
  shapeOf,
  uniform,
  type Config,
  type Mode,
  type Path,
  type Workload,
} from './workloads.js';

export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A full garbage collection when the runtime allows one (needed for meaningful memory numbers). */
export const gc: (() => void) | null = (() => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
})();

export const MB = 2 ** 20;
export const rss = (): number => process.memoryUsage.rss();
export const maxRssBytes = (): number => process.resourceUsage().maxRSS * 1024; // maxRSS is in KiB

export function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let k = 0; k < x.length; ++k) if (x[k] !== y[k]) return false;
  return true;
}

/** Elements whose bits differ (a length mismatch counts as all elements differing). */
export function bitMismatches(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = 0;
  for (let k = 0; k < x.length; ++k) if (x[k] !== y[k]) ++n;
  return n;
}

let progressStart = 0;
/** Starts the clock of the progress lines. */
export function startProgress(): void {
  progressStart = performance.now();
}
/** A progress line on stderr, with the seconds since startProgress(). */
export function progress(msg: string): void {
  const s = ((performance.now() - progressStart) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${s} s] ${msg}\n`);
}

export interface Row {
  /** 'cpu' or 'cuda:N'. */
  device: string;
  workload: string;
  config: string;
  mode: Mode;
  path: Path;
  shape: number[];
  neuronSteps: number;
  /** Timed runs (after one warm-up run). */
  runs: number;
  medianMs: number;
  minMs: number;
  /** Training rows: median of the forward and of the backward alone. */
  forwardMedianMs: number;
  backwardMedianMs: number | null;
  neuronStepsPerSec: number;
  bytesPerNeuronStep: number;
  effectiveGBs: number;
  boundMs: number;
  timeOverBound: number;
  /** CUDA rows: bound / median * 100, the share of the device-to-device copy bandwidth reached (null on the CPU). */
  percentOfCopyBandwidth: number | null;
  /** Process CPU time / wall time over the timed runs: ~threads when nothing else competes for the CPUs. */
  cores: number;
  /** layer.firingRate: mean spike count per neuron-step. */
  spikeRate: number;
  /** Plain TypeScript forward (inference rows). */
  plainMs: number | null;
  plainRuns: number | null;
  plainOverLif: number | null;
  /** RSS at the start of the row (after a GC), sampled maximum around every call, and their difference. */
  rssStartMB: number;
  rssPeakMB: number;
  rssDeltaMB: number;
  /** Process-wide peak RSS so far (resourceUsage().maxRSS). */
  maxRssMB: number;
  /** Training rows: bytes per neuron-step a pending call keeps beyond input/output. */
  pendingModelBytesPerNeuronStep: number | null;
  pendingMeasuredBytesPerNeuronStep: number | null;
  /** CUDA rows: peak device memory; always null, the addon has no device-memory query (printed as n/a). */
  gpuPeakMB?: null;
}

export interface PlainResult {
  workload: string;
  config: string;
  ms: number;
  runs: number;
  spikesMatch: boolean;
  mismatches: number;
}

/** What the timer of a row does beyond calling the layer. */
export interface TimerOptions {
  /** Receives the spikes of the warm-up run (downloaded before anything is disposed). */
  onFirstOutput?: (spikes: Float32Array) => void;
  /**
   * Dispose the tensors the `new` path returns after each run, outside the timed calls, as a loop
   * that is done with its outputs does (CUDA always; CPU unless --keep-new): their memory then goes
   * back to the memory cache at once instead of when the garbage collector finds them.
   */
  disposeNew?: boolean;
  /** Rows whose warm-up run takes longer than `ms` are timed `reps` times instead (CUDA). */
  slow?: { ms: number; reps: number };
}

/**
 * Times one row on a layer: a warm-up run, then `reps` timed runs of forward (and, when training,
 * backward), each from a zero state; RSS sampled around every call, process CPU time over the
 * timed runs. `out`/`gradIn`: the reused tensors of the `out` path, or null for the `new` path.
 * Shared by the CPU and the CUDA rows; returns the finished row (its bound set later by setBound).
 */
export function timeLayer(
  device: string,
  w: Workload,
  cfg: Config,
  mode: Mode,
  path: Path,
  layer: LIF,
  x: Tensor,
  gradOut: Tensor,
  out: Tensor | null,
  gradIn: Tensor | null,
  reps: number,
  opts: TimerOptions = {},
): Row {
  gc?.(); // also frees the device buffers earlier rows left to the GC (states, checkpoints)
  const rssStart = rss();
  let rssPeak = rssStart;
  const total: number[] = [],
    fwd: number[] = [],
    bwd: number[] = [];
  let cpu0 = process.cpuUsage(),
    wall0 = performance.now();
  let runs = reps;
  for (let r = 0; r <= runs; ++r) {
    layer.resetStates(); // every run computes the same thing from a zero state (and cuts the gradient path)
    const t0 = performance.now();
    const s = out ? layer.forward(x, { out }) : layer.forward(x);
    const t1 = performance.now();
    rssPeak = Math.max(rssPeak, rss());
    let t2 = t1;
    let g: Tensor | null = null;
    if (mode === 'training') {
      g = gradIn ? layer.backward(gradOut, { out: gradIn }) : layer.backward(gradOut);
      t2 = performance.now();
      rssPeak = Math.max(rssPeak, rss());
    }
    if (r === 0) opts.onFirstOutput?.(s.toFloat32Array());
    if (opts.disposeNew && path === 'new') {
      s.dispose();
      g?.dispose();
    }
    if (r === 0) {
      if (opts.slow && t2 - t0 > opts.slow.ms) runs = Math.min(runs, opts.slow.reps);
      cpu0 = process.cpuUsage();
      wall0 = performance.now();
      continue; // warm-up
    }
    total.push(t2 - t0);
    fwd.push(t1 - t0);
    if (mode === 'training') bwd.push(t2 - t1);
  }
  const cpu = process.cpuUsage(cpu0);
  const cores = (cpu.user + cpu.system) / 1e3 / (performance.now() - wall0);
  return makeRow(device, w, cfg, mode, path, layer, { total, fwd, bwd }, cores, rssStart, rssPeak);
}

/** The row of a timed (workload, config, mode, path): medians, model bytes, RSS (bound set later). */
function makeRow(
  device: string,
  w: Workload,
  cfg: Config,
  mode: Mode,
  path: Path,
  layer: LIF,
  times: { total: number[]; fwd: number[]; bwd: number[] },
  cores: number,
  rssStart: number,
  rssPeak: number,
): Row {
  const { total, fwd, bwd } = times;
  const shape = shapeOf(w);
  const E = w.B * w.T * neuronCount(w);
  const states = layer.hasSynapse ? 2 : 1;
  const med = median(total);
  const bpn = bytesPerNeuronStep(mode, states, w.T, CHECKPOINT_INTERVAL);
  return {
    device,
    workload: w.name,
    config: cfg.name,
    mode,
    path,
    shape,
    neuronSteps: E,
    runs: total.length,
    medianMs: med,
    minMs: Math.min(...total),
    forwardMedianMs: median(fwd),
    backwardMedianMs: mode === 'training' ? median(bwd) : null,
    neuronStepsPerSec: E / (med / 1e3),
    bytesPerNeuronStep: bpn,
    effectiveGBs: (bpn * E) / (med / 1e3) / 1e9,
    boundMs: NaN, // set by setBound once the bandwidth is known
    timeOverBound: NaN,
    percentOfCopyBandwidth: null,
    cores,
    spikeRate: layer.firingRate!,
    plainMs: null,
    plainRuns: null,
    plainOverLif: null,
    rssStartMB: rssStart / MB,
    rssPeakMB: rssPeak / MB,
    rssDeltaMB: (rssPeak - rssStart) / MB,
    maxRssMB: maxRssBytes() / MB,
    pendingModelBytesPerNeuronStep:
      mode === 'training' ? pendingModelBytesPerNeuronStep(states, w.T, CHECKPOINT_INTERVAL) : null,
    pendingMeasuredBytesPerNeuronStep: null, // set from measurePending
  };
}

/** The bandwidth bound of a row: model bytes / triad bandwidth (CPU) or copy bandwidth (CUDA). */
export function setBound(row: Row, bandwidthGBs: number): void {
  row.boundMs = ((row.bytesPerNeuronStep * row.neuronSteps) / (bandwidthGBs * 1e9)) * 1e3;
  row.timeOverBound = row.medianMs / row.boundMs;
  if (row.device !== 'cpu') row.percentOfCopyBandwidth = (row.boundMs / row.medianMs) * 100;
}

/**
 * ArrayBuffer bytes after GCs repeated until the count is stable: some backing stores (arrays a
 * native call held a reference to) are released only by the GC after the one that finds them dead.
 */
function settledArrayBuffers(collect: () => void): number {
  collect();
  let prev = process.memoryUsage().arrayBuffers;
  for (let k = 0; k < 8; ++k) {
    collect();
    const now = process.memoryUsage().arrayBuffers;
    if (now === prev) break;
    prev = now;
  }
  return prev;
}

/**
 * Memory a pending training call keeps beyond its input and output, in bytes per neuron-step:
 * the ArrayBuffer growth across one training forward into a reused `out` tensor, between full
 * GCs (null when the runtime does not allow a GC from JS). Runs in its own function, before the
 * timed rows, so that no dead array of the caller is still referenced at the first reading.
 */
export function measurePending(w: Workload, cfg: Config, x: Tensor, gradOut: Tensor): number | null {
  if (!gc) return null;
  const shape = shapeOf(w);
  const E = w.B * w.T * neuronCount(w);
  const layer = new LIF(cfg.options).train();
  const out = Tensor.zeros(shape),
    gradIn = Tensor.zeros(shape);
  layer.forward(x, { out }); // creates the layer's state
  layer.backward(gradOut, { out: gradIn });
  const before = settledArrayBuffers(gc);
  layer.forward(x, { out });
  const pending = settledArrayBuffers(gc);
  layer.backward(gradOut, { out: gradIn });
  return (pending - before) / E;
}

/** The plain TypeScript forward: one run (the JIT warm-up and the spike check), then timed runs. */
export function timePlain(
  w: Workload,
  cfg: Config,
  x: Float32Array,
  reps: number,
): { spikes: Float32Array; ms: number; runs: number } {
  const N = neuronCount(w);
  const t0 = performance.now();
  const spikes = plainLifForward(x, w.B, w.T, N, cfg.options);
  const first = performance.now() - t0;
  // A slow baseline (over 2 s) is timed once more instead of `reps` times.
  const runs = first > 2000 ? 1 : reps;
  const times: number[] = [];
  for (let r = 0; r < runs; ++r) {
    const t = performance.now();
    plainLifForward(x, w.B, w.T, N, cfg.options);
    times.push(performance.now() - t);
  }
  return { spikes, ms: median(times), runs };
}

/**
 * Spikes and gradInput of one mlp training step (defaults config) with `threads` threads, on the
 * CPU or (device 'cuda:N') on a GPU, where the results are downloaded and the device tensors freed.
 */
export function trainingStep(
  threads: number,
  device = 'cpu',
): { spikes: Float32Array; gradIn: Float32Array; tauGrad: Float32Array } {
  const w = WORKLOADS.find((q) => q.name === 'mlp')!;
  const cfg = CONFIGS[0]!;
  const shape = shapeOf(w);
  const E = w.B * w.T * neuronCount(w);
  const s = calibrate(w, cfg);
  const on = device === 'cpu' ? undefined : { device };
  const x = Tensor.from(scaled(uniform(E, SEED, 0, 2), s), shape, on);
  const g = Tensor.from(uniform(E, SEED + 2, -1, 1), shape, on);
  const prev = getNumThreads();
  setNumThreads(threads);
  const made: Tensor[] = [x, g];
  try {
    const layer = new LIF(on ? { ...cfg.options, ...on } : cfg.options).train();
    const sp = layer.forward(x);
    made.push(sp);
    const spikes = sp.toFloat32Array();
    const gi = layer.backward(g);
    made.push(gi);
    const gradIn = gi.toFloat32Array();
    return { spikes, gradIn, tauGrad: layer.tauMem!.grad!.toFloat32Array() };
  } finally {
    setNumThreads(prev);
    if (on) for (const t of made) t.dispose();
  }
}
