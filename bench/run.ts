/**
 * Benchmark of the LIF layer: `npm run bench` (or `node dist/bench/run.js [options]`).
 *
 *   --threads N   kernel threads (setNumThreads); default: the addon's default
 *   --json        print one JSON document instead of the table
 *   --quick       fewer repetitions and a smaller bandwidth probe (smoke tests)
 *   --only a,b    run only these workloads (mlp, conv, long, big, network); may be repeated
 *   --device D    cpu: only the CPU rows; cuda: only the CUDA rows; all (default): CPU rows, and
 *                 CUDA rows where a usable GPU exists (backendInfo().cuda.available)
 *
 * For every workload x config x mode x output path it reports the median time of >= 5 runs
 * after a warm-up run, neuron-steps/s, the effective bandwidth of the byte model below, and the
 * ratio of the time to the bandwidth bound (bytes / STREAM-triad bandwidth measured in this
 * process with the same threads). Inference rows are compared with a plain TypeScript forward
 * (bench/plain.ts), which must produce the same spikes. Progress goes to stderr.
 *
 * Byte model, per neuron-step (one neuron, one time step), float32 = 4 bytes. Every array
 * element read or written counts its 4 bytes once, write-allocate traffic not counted: the same
 * convention as the triad (12 bytes per element) whose bandwidth defines the bound. S is the
 * number of state variables (1: v_mem; 2 with tauSyn: v_mem, i_syn), K = CHECKPOINT_INTERVAL.
 *
 *   inference (forward):       read x 4 + write spikes 4                           = 8
 *   training (forward+backward, backward recomputes each K-step chunk from a checkpoint):
 *     forward                  read x 4 + write spikes 4 + write checkpoints 4*S/K
 *     backward                 read x 4 + read gradOut 4 + write gradIn 4 + read checkpoints 4*S/K
 *                                                                                  = 20 + 8*S/K
 *   plus the state in/out of every call (read v0, write v1: 8*S/T per kernel call), which the
 *   exact numbers below include. With K = 32 and T = 100: 8.08 / 20.48 (defaults), 8.16 / 20.96 (tauSyn).
 *   tauSyn adds no per-step traffic in inference: the synaptic state lives in registers.
 *
 * CUDA rows, where a usable GPU exists: the same workloads on 'cuda:0' plus the
 * GPU-only workload `big` (B=64, T=500, N=16384: 524M neuron-steps, 2.1 GB per float32 tensor),
 * every tensor device-resident. Same byte model; the bound is model bytes / device-to-device copy
 * bandwidth (native().cudaCopyBandwidth(512 MiB, 10, 0), read + write bytes, measured in this
 * process before and after the rows, the better of the two), and each row also shows the
 * "% of copy bandwidth" (bound / median * 100). Targets on `big`: forward (inference) >= 80 %,
 * training step (forward + backward) >= 60 %. A CPU-vs-CUDA check (mlp, defaults, one training
 * step) requires spikes and gradInput to be equal bit for bit.
 *
 * Network rows (bench/network.ts, also runnable alone): the SHD-shaped network Linear-LIF-Linear-LIF,
 * inference and a training step, 1 and 2 threads, synaptic and neuron shares against bounds
 * measured in the same run, and the speed-up over sinabs 3.1.3.
 */
import fs from 'node:fs';
import os from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CHECKPOINT_INTERVAL, LIF, Tensor, backendInfo, getNumThreads, setNumThreads, type LIFOptions } from '../lib/index.js';
import { native, resolveDevice } from '../lib/backend.js';
import { Rng } from '../lib/rng.js';
import { plainLifForward } from './plain.js';
import { networkTable, runNetworkBench } from './network.js';

// ---- options ----------------------------------------------------------------------------------

interface Options {
  threads: number | null;
  json: boolean;
  quick: boolean;
  only: string[] | null;
  /** Which rows: 'cpu', 'cuda' or 'all' (CPU, and CUDA where a usable GPU exists). */
  device: DeviceChoice;
}

type DeviceChoice = 'cpu' | 'cuda' | 'all';

const USAGE = 'usage: node dist/bench/run.js [--threads N] [--json] [--quick] [--only mlp,conv,long,big,network] [--device cpu|cuda|all]';

function parseArgs(argv: string[]): Options {
  const o: Options = { threads: null, json: false, quick: false, only: null, device: 'all' };
  for (let k = 0; k < argv.length; ++k) {
    const a = argv[k]!;
    const value = (): string => {
      const eq = a.indexOf('=');
      if (eq >= 0) return a.slice(eq + 1);
      const v = argv[++k];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    const name = a.split('=')[0];
    if (name === '--json') o.json = true;
    else if (name === '--quick') o.quick = true;
    else if (name === '--threads') {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 1) fail(`--threads must be a positive integer`);
      o.threads = v;
    } else if (name === '--only') {
      const names = value().split(',').map((s) => s.trim()).filter(Boolean);
      for (const n of names) if (n !== 'network' && !WORKLOADS.some((w) => w.name === n)) fail(`--only: unknown workload '${n}' (expected ${[...WORKLOADS.map((w) => w.name), 'network'].join(', ')})`);
      o.only = [...(o.only ?? []), ...names];
    } else if (name === '--device') {
      const v = value().trim().toLowerCase();
      if (v !== 'cpu' && v !== 'cuda' && v !== 'all') fail(`--device must be cpu, cuda or all, got '${v}'`);
      o.device = v;
    } else if (name === '--help' || name === '-h') {
      console.log(USAGE);
      process.exit(0);
    } else fail(`unknown option '${a}'`);
  }
  return o;
}

function fail(msg: string): never {
  console.error(`bench: ${msg}\n${USAGE}`);
  process.exit(2);
}

// ---- workloads and configs ----------------------------------------------------------------------

interface Workload {
  name: string;
  B: number;
  T: number;
  /** Neuron dimensions after (B, T). */
  neurons: number[];
  /** Runs only on CUDA (too large for the CPU rows and the plain TypeScript baseline). */
  gpuOnly?: boolean;
}

const WORKLOADS: Workload[] = [
  { name: 'mlp', B: 64, T: 100, neurons: [1024] },
  { name: 'conv', B: 16, T: 50, neurons: [16, 32, 32] },
  { name: 'long', B: 8, T: 1000, neurons: [512] },
  // 524,288,000 neuron-steps: 2.1 GB per float32 tensor (input, output, gradOutput, gradInput)
  { name: 'big', B: 64, T: 500, neurons: [16384], gpuOnly: true },
];

interface Config {
  name: string;
  options: LIFOptions & { tauMem: number; tauSyn?: number };
}

const CONFIGS: Config[] = [
  { name: 'defaults', options: { tauMem: 20 } },
  { name: 'tauSyn', options: { tauMem: 20, tauSyn: 10 } },
];

type Mode = 'inference' | 'training';
type Path = 'new' | 'out';

/** Target fraction of spiking neuron-steps (the brief: 5-20 %). */
const TARGET_RATE = 0.1;
const SEED = 20240601;

const neuronCount = (w: Workload): number => w.neurons.reduce((a, b) => a * b, 1);
const shapeOf = (w: Workload): number[] => [w.B, w.T, ...w.neurons];

// ---- helpers ----------------------------------------------------------------------------------

/** Seeded uniform floats in [lo, hi). */
function uniform(n: number, seed: number, lo: number, hi: number): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let k = 0; k < n; ++k) a[k] = lo + (hi - lo) * rng.next();
  return a;
}

function scaled(base: Float32Array, s: number): Float32Array {
  const a = new Float32Array(base.length);
  for (let k = 0; k < a.length; ++k) a[k] = base[k]! * s;
  return a;
}

/**
 * scaled(uniform(n, seed, lo, hi), s) in one pass, without the intermediate array (the same
 * float32 values: the uniform value is rounded to float32 first, as storing it would round it).
 * For the 2.1 GB inputs of `big`.
 */
function uniformScaled(n: number, seed: number, lo: number, hi: number, s: number): Float32Array {
  const rng = new Rng(seed);
  const a = new Float32Array(n);
  for (let k = 0; k < n; ++k) a[k] = Math.fround(lo + (hi - lo) * rng.next()) * s;
  return a;
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A full garbage collection when the runtime allows one (needed for meaningful memory numbers). */
const gc: (() => void) | null = (() => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
})();

const MB = 2 ** 20;
const rss = (): number => process.memoryUsage.rss();
const maxRssBytes = (): number => process.resourceUsage().maxRSS * 1024; // maxRSS is in KiB

function bitsEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let k = 0; k < x.length; ++k) if (x[k] !== y[k]) return false;
  return true;
}

/** Bytes per neuron-step of the byte model (see the header comment). */
function bytesPerNeuronStep(mode: Mode, states: number, T: number, K: number): number {
  const stateIO = (8 * states) / T; // read the initial state, write the final state, per call
  if (mode === 'inference') return 8 + stateIO;
  const ckFraction = Math.ceil(T / K) / T; // checkpoints per step (K-step chunks, last may be short)
  return 20 + 2 * 4 * states * ckFraction + 2 * stateIO; // forward and backward each do the state I/O
}

/**
 * Bytes a pending training call keeps beyond its input and output, per neuron-step: the
 * checkpoints (S states every K steps: B * ceil(T/K) * N floats each) and the initial state the
 * backward replays from (S * B * N floats). See CHECKPOINT_INTERVAL in lib/layer.ts.
 */
function pendingModelBytesPerNeuronStep(states: number, T: number, K: number): number {
  return (4 * states * (Math.ceil(T / K) + 1)) / T;
}

let progressStart = 0;
function progress(msg: string): void {
  const s = ((performance.now() - progressStart) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[${s} s] ${msg}\n`);
}

// ---- the measurements ---------------------------------------------------------------------------

/**
 * Scale of the input currents that gives ~TARGET_RATE spikes per neuron-step, found by bisection
 * on a small slice (one batch entry, up to 1024 neurons, the full T) of the same kind of input.
 */
function calibrate(w: Workload, cfg: Config): number {
  const n = Math.min(neuronCount(w), 1024);
  const base = uniform(w.T * n, SEED + 1, 0, 2);
  const layer = new LIF(cfg.options).eval();
  const rateAt = (s: number): number => {
    layer.resetStates();
    layer.forward(Tensor.from(scaled(base, s), [1, w.T, n]));
    return layer.firingRate!;
  };
  let lo = Math.log(1e-3), hi = Math.log(1e3);
  for (let k = 0; k < 30; ++k) {
    const mid = (lo + hi) / 2;
    if (rateAt(Math.exp(mid)) < TARGET_RATE) lo = mid;
    else hi = mid;
  }
  return Math.exp((lo + hi) / 2);
}

interface Row {
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

interface PlainResult {
  workload: string;
  config: string;
  ms: number;
  runs: number;
  spikesMatch: boolean;
  mismatches: number;
}

/** Times one (workload, config, mode, path) row. */
function timeRow(
  w: Workload, cfg: Config, mode: Mode, path: Path, x: Tensor, gradOut: Tensor, reps: number,
  onFirstOutput?: (spikes: Float32Array) => void,
): Row {
  const shape = shapeOf(w);
  const layer = new LIF(cfg.options);
  if (mode === 'inference') layer.eval();
  else layer.train();
  // Tensor.full writes every element, so the reused tensors are resident before the RSS baseline
  // (Tensor.zeros memory is only mapped on first write, which would count against the row).
  const out = path === 'out' ? Tensor.full(shape, 0) : null;
  const gradIn = path === 'out' && mode === 'training' ? Tensor.full(shape, 0) : null;

  gc?.();
  const rssStart = rss();
  let rssPeak = rssStart;
  const total: number[] = [], fwd: number[] = [], bwd: number[] = [];
  let cpu0 = process.cpuUsage(), wall0 = performance.now();
  for (let r = 0; r <= reps; ++r) {
    layer.resetStates(); // every run computes the same thing from a zero state (and cuts the gradient path)
    const t0 = performance.now();
    const s = out ? layer.forward(x, { out }) : layer.forward(x);
    const t1 = performance.now();
    rssPeak = Math.max(rssPeak, rss());
    let t2 = t1;
    if (mode === 'training') {
      if (gradIn) layer.backward(gradOut, { out: gradIn });
      else layer.backward(gradOut);
      t2 = performance.now();
      rssPeak = Math.max(rssPeak, rss());
    }
    if (r === 0) {
      onFirstOutput?.(s.toFloat32Array());
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
  return makeRow('cpu', w, cfg, mode, path, layer, { total, fwd, bwd }, cores, rssStart, rssPeak);
}

/** The row of a timed (workload, config, mode, path): medians, model bytes, RSS (bound set later). */
function makeRow(
  device: string, w: Workload, cfg: Config, mode: Mode, path: Path, layer: LIF,
  times: { total: number[]; fwd: number[]; bwd: number[] }, cores: number, rssStart: number, rssPeak: number,
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
    pendingModelBytesPerNeuronStep: mode === 'training' ? pendingModelBytesPerNeuronStep(states, w.T, CHECKPOINT_INTERVAL) : null,
    pendingMeasuredBytesPerNeuronStep: null, // set from measurePending
  };
}

/** CUDA rows whose warm-up run takes longer than this are timed SLOW_REPS times instead of `reps`. */
const SLOW_WARMUP_MS = 1000;
const SLOW_REPS = 3;

/**
 * Times one CUDA row on `dev`. Every tensor stays device-resident: x (made once per workload and
 * config) and gradOut (once per workload) are device tensors from the caller; the reused outputs of the `out` path
 * are made here once, as device-side clones of x (no 2.1 GB host round trip; the kernels
 * overwrite every element), and disposed after the row. The tensors the `new` path returns are
 * disposed after each run, outside the timed calls, so that 2.1 GB outputs do not wait for the GC.
 *
 * Timing: forward and backward of a CUDA layer are synchronous: each call returns only after its
 * kernels have finished (the addon ends every call with cudaStreamSynchronize, and the spike
 * count and parameter gradients come back to the host). So wall-clock performance.now() around
 * each call measures the GPU work, plus the per-call host work and, in the `new` path, the
 * cudaMalloc of the new output, as a user of the API sees it.
 */
function timeGpuRow(
  w: Workload, cfg: Config, mode: Mode, path: Path, x: Tensor, gradOut: Tensor, reps: number, dev: string,
  onFirstOutput?: (spikes: Float32Array) => void,
): Row {
  const layer = new LIF({ ...cfg.options, device: dev });
  if (mode === 'inference') layer.eval();
  else layer.train();
  const out = path === 'out' ? x.clone() : null;
  const gradIn = path === 'out' && mode === 'training' ? x.clone() : null;
  try {
    gc?.(); // frees the device buffers earlier rows left to the GC (states, checkpoints)
    const rssStart = rss();
    let rssPeak = rssStart;
    const total: number[] = [], fwd: number[] = [], bwd: number[] = [];
    let cpu0 = process.cpuUsage(), wall0 = performance.now();
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
      if (r === 0) onFirstOutput?.(s.toFloat32Array()); // downloads the spikes (before any dispose)
      if (path === 'new') {
        s.dispose();
        g?.dispose();
      }
      if (r === 0) {
        if (t2 - t0 > SLOW_WARMUP_MS) runs = Math.min(runs, SLOW_REPS);
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
    const row = makeRow(dev, w, cfg, mode, path, layer, { total, fwd, bwd }, cores, rssStart, rssPeak);
    row.gpuPeakMB = null; // no device-memory query in the addon: printed as n/a
    return row;
  } finally {
    out?.dispose();
    gradIn?.dispose();
  }
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
function measurePending(w: Workload, cfg: Config, x: Tensor, gradOut: Tensor): number | null {
  if (!gc) return null;
  const shape = shapeOf(w);
  const E = w.B * w.T * neuronCount(w);
  const layer = new LIF(cfg.options).train();
  const out = Tensor.zeros(shape), gradIn = Tensor.zeros(shape);
  layer.forward(x, { out }); // creates the layer's state
  layer.backward(gradOut, { out: gradIn });
  const before = settledArrayBuffers(gc);
  layer.forward(x, { out });
  const pending = settledArrayBuffers(gc);
  layer.backward(gradOut, { out: gradIn });
  return (pending - before) / E;
}

/** The bandwidth bound of a row: model bytes / triad bandwidth (CPU) or copy bandwidth (CUDA). */
function setBound(row: Row, bandwidthGBs: number): void {
  row.boundMs = ((row.bytesPerNeuronStep * row.neuronSteps) / (bandwidthGBs * 1e9)) * 1e3;
  row.timeOverBound = row.medianMs / row.boundMs;
  if (row.device !== 'cpu') row.percentOfCopyBandwidth = (row.boundMs / row.medianMs) * 100;
}

/** The plain TypeScript forward: one run (the JIT warm-up and the spike check), then timed runs. */
function timePlain(w: Workload, cfg: Config, x: Float32Array, reps: number): { spikes: Float32Array; ms: number; runs: number } {
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
function trainingStep(threads: number, device = 'cpu'): { spikes: Float32Array; gradIn: Float32Array; tauGrad: Float32Array } {
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

/** Elements whose bits differ (a length mismatch counts as all elements differing). */
function bitMismatches(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = 0;
  for (let k = 0; k < x.length; ++k) if (x[k] !== y[k]) ++n;
  return n;
}

// ---- output -----------------------------------------------------------------------------------

function fmt(v: number | null, digits: number): string {
  return v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

/** The rows as a table; `gpu` adds the "% copy bw" column (CUDA rows: bound / median * 100). */
function table(rows: Row[], gpu = false): string {
  const head = ['workload', 'config', 'mode', 'path', 'median ms', 'min ms', 'fwd+bwd ms', 'Mns/s', 'B/ns', 'GB/s', 'bound ms', 'x bound',
    ...(gpu ? ['% copy bw'] : []), 'cores', 'spikes', 'vs plain', '+RSS MB', 'RSS MB', 'kept B/ns'];
  // CUDA rows: times of a few ms and below need more digits than the CPU rows' one decimal
  const fb = (v: number): string => (gpu ? v.toFixed(v < 10 ? 2 : 1) : v.toFixed(1));
  const body = rows.map((r) => [
    r.workload, r.config, r.mode, r.path,
    fmt(r.medianMs, gpu && r.medianMs < 1 ? 3 : 2), fmt(r.minMs, gpu && r.minMs < 1 ? 3 : 2),
    r.backwardMedianMs === null ? '-' : `${fb(r.forwardMedianMs)}+${fb(r.backwardMedianMs)}`,
    fmt(r.neuronStepsPerSec / 1e6, 0), fmt(r.bytesPerNeuronStep, 2),
    fmt(r.effectiveGBs, 2), fmt(r.boundMs, gpu && r.boundMs < 1 ? 3 : 2), fmt(r.timeOverBound, 1),
    ...(gpu ? [r.percentOfCopyBandwidth === null ? '-' : `${r.percentOfCopyBandwidth.toFixed(1)}%`] : []),
    fmt(r.cores, 2),
    `${(r.spikeRate * 100).toFixed(1)}%`,
    r.plainOverLif === null ? '-' : `${r.plainOverLif.toFixed(1)}x${r.plainRuns === 1 ? '*' : ''}`,
    fmt(r.rssDeltaMB, 0), fmt(r.rssPeakMB, 0),
    r.pendingModelBytesPerNeuronStep === null ? '-'
      : `${r.pendingModelBytesPerNeuronStep.toFixed(3)}` + (r.pendingMeasuredBytesPerNeuronStep === null ? '' : ` (${r.pendingMeasuredBytesPerNeuronStep.toFixed(3)})`),
  ]);
  const width = head.map((h, k) => Math.max(h.length, ...body.map((b) => b[k]!.length)));
  const left = 4; // the first four columns are text
  const line = (cells: string[]): string => cells.map((c, k) => (k < left ? c.padEnd(width[k]!) : c.padStart(width[k]!))).join('  ').trimEnd();
  return [line(head), line(width.map((n) => '-'.repeat(n))), ...body.map(line)].join('\n');
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // not Linux: fall back to os.cpus()
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

// ---- the CPU rows -------------------------------------------------------------------------------

interface CpuResult {
  bandwidthGBs: number;
  bandwidthBefore: number;
  bandwidthAfter: number;
  bwBytes: number;
  bwReps: number;
  rows: Row[];
  plain: PlainResult[];
  allThreads: number;
  determinism: { threads: number[]; spikes: boolean; gradInput: boolean; tauMemGrad: boolean; identical: boolean };
}

/** The CPU rows, the triad bound and the thread-count determinism check. */
function runCpu(opt: Options, workloads: Workload[], maxThreads: number, threads: number, reps: number, warnings: string[]): CpuResult {
  // STREAM triad bandwidth, same process, same threads: the bound every row is compared with.
  // Measured before and after the rows; the bound uses the better of the two (like STREAM's
  // best-of-reps, so that a moment of contention from other processes does not loosen the bound).
  const bwBytes = (opt.quick ? 64 : 256) * MB;
  const bwReps = opt.quick ? 3 : 5;
  const measureBandwidth = (when: string): number => {
    progress(`measuring memory bandwidth ${when} (triad, ${bwBytes / MB} MiB per array, best of ${bwReps}, ${threads} threads)`);
    const gbs = native().memoryBandwidth(bwBytes, bwReps);
    progress(`bandwidth ${gbs.toFixed(2)} GB/s`);
    return gbs;
  };
  const bandwidthBefore = measureBandwidth('before the rows');

  const rows: Row[] = [];
  const plain: PlainResult[] = [];
  const nRows = workloads.length * CONFIGS.length * 4;
  for (const w of workloads) {
    const shape = shapeOf(w);
    const N = neuronCount(w);
    const E = w.B * w.T * N;
    const base = uniform(E, SEED, 0, 2); // currents uniform in [0, 2 * scale): mean = scale
    const gradOut = Tensor.from(uniform(E, SEED + 2, -1, 1), shape);
    for (const cfg of CONFIGS) {
      const scale = calibrate(w, cfg);
      const xData = scaled(base, scale);
      const x = Tensor.from(xData, shape);
      // plain TypeScript baseline (also the spike check)
      progress(`${w.name} ${cfg.name}: plain TypeScript forward (input mean ${scale.toFixed(3)})`);
      const p = timePlain(w, cfg, xData, reps);
      progress(`${w.name} ${cfg.name}: plain ${p.ms.toFixed(1)} ms (${p.runs} timed run${p.runs > 1 ? 's' : ''})`);
      const plainRow: PlainResult = { workload: w.name, config: cfg.name, ms: p.ms, runs: p.runs, spikesMatch: true, mismatches: 0 };
      plain.push(plainRow);
      const checkSpikes = (lif: Float32Array): void => {
        for (let k = 0; k < E; ++k) if (lif[k] !== p.spikes[k]) ++plainRow.mismatches;
        plainRow.spikesMatch = plainRow.mismatches === 0;
        if (!plainRow.spikesMatch)
          warnings.push(`WARNING: plain TypeScript forward differs from LIF.forward on ${w.name}/${cfg.name}: ${plainRow.mismatches} of ${E} spike counts`);
      };
      const pendingMeasured = measurePending(w, cfg, x, gradOut);
      for (const mode of ['inference', 'training'] as const) {
        for (const path of ['new', 'out'] as const) {
          const check = mode === 'inference' && path === 'new' ? checkSpikes : undefined;
          const row = timeRow(w, cfg, mode, path, x, gradOut, reps, check);
          setBound(row, bandwidthBefore); // provisional, for the progress line
          if (mode === 'training') row.pendingMeasuredBytesPerNeuronStep = pendingMeasured;
          if (mode === 'inference') {
            row.plainMs = p.ms;
            row.plainRuns = p.runs;
            row.plainOverLif = p.ms / row.medianMs;
          }
          if (row.spikeRate < 0.05 || row.spikeRate > 0.2)
            warnings.push(`WARNING: ${w.name}/${cfg.name}/${mode}: spike rate ${(row.spikeRate * 100).toFixed(1)}% is outside 5-20%`);
          rows.push(row);
          progress(`row ${rows.length}/${nRows}: ${w.name} ${cfg.name} ${mode} ${path}: ${row.medianMs.toFixed(2)} ms, ` +
            `${row.timeOverBound.toFixed(1)}x bound, spikes ${(row.spikeRate * 100).toFixed(1)}%`);
        }
      }
    }
  }

  // Rows that got much less CPU than their threads could use: something else was running.
  const starved = rows.filter((r) => r.cores < 0.8 * threads);
  if (starved.length)
    warnings.push(`WARNING: ${starved.length} of ${rows.length} rows ran on less than 80% of ${threads} cores ` +
      `(lowest ${Math.min(...starved.map((r) => r.cores)).toFixed(2)}): other processes competed for the CPUs and inflated their times`);

  const bandwidthAfter = measureBandwidth('after the rows');
  const bandwidthGBs = Math.max(bandwidthBefore, bandwidthAfter);
  for (const row of rows) setBound(row, bandwidthGBs);

  // Determinism: one mlp training step with 1 thread and with all threads.
  const allThreads = Math.max(maxThreads, 2);
  progress(`determinism check: mlp training step, 1 vs ${allThreads} threads`);
  const one = trainingStep(1);
  const all = trainingStep(allThreads);
  const determinism = {
    threads: [1, allThreads],
    spikes: bitsEqual(one.spikes, all.spikes),
    gradInput: bitsEqual(one.gradIn, all.gradIn),
    tauMemGrad: bitsEqual(one.tauGrad, all.tauGrad),
    identical: false,
  };
  determinism.identical = determinism.spikes && determinism.gradInput && determinism.tauMemGrad;
  return { bandwidthGBs, bandwidthBefore, bandwidthAfter, bwBytes, bwReps, rows, plain, allThreads, determinism };
}

// ---- the CUDA rows ------------------------------------------------------------------------------

/** The copy-bandwidth probe of the CUDA bound: native().cudaCopyBandwidth(512 MiB, 10, device). */
const COPY_BYTES = 512 * MB;
const COPY_REPS = 10;
/** Targets on `big`, in % of the copy bandwidth (bound / median * 100). */
const TARGET_FORWARD_PERCENT = 80;
const TARGET_TRAINING_PERCENT = 60;

interface CpuVsCuda {
  workload: string;
  config: string;
  mode: 'training';
  spikes: boolean;
  gradInput: boolean;
  /** Bit-identity of the tau_mem gradient (reported, not part of `identical`). */
  tauMemGrad: boolean;
  spikeMismatches: number;
  gradInputMismatches: number;
  /** Spikes and gradInput equal bit for bit. */
  identical: boolean;
}

interface CudaSpikeCheck {
  workload: string;
  config: string;
  /** Spike counts of the CUDA inference forward that differ from the CPU layer's on the same input. */
  mismatches: number;
  elements: number;
  match: boolean;
}

interface CudaTarget {
  config: string;
  mode: Mode;
  path: Path;
  percentOfCopyBandwidth: number;
  minPercent: number;
  met: boolean;
}

interface GpuResult {
  device: string;
  name: string;
  computeCapability: string;
  memoryGiB: number | null;
  /** The better of the two probes: the bound of every CUDA row. */
  copyBandwidthGBs: number;
  copyBandwidthBeforeGBs: number;
  copyBandwidthAfterGBs: number | null;
  copyProbe: { bytes: number; reps: number; device: number; counts: string; timing: string };
  reps: number;
  slowWarmupMs: number;
  slowReps: number;
  rows: Row[];
  cpuVsCuda: CpuVsCuda | null;
  spikeChecks: CudaSpikeCheck[];
  /** Peak GPU memory: the addon has no device-memory query, so none is reported. */
  peakMemoryMB: null;
  peakMemory: string;
  targets: CudaTarget[];
  /** The error that stopped the CUDA part early, or null. */
  error: string | null;
}

/** The GPU the CUDA rows use ('cuda:0'), or why there is none. */
function usableGpu(cuda: { available: boolean; code: string; reason: string }): { dev: string | null; code: string; reason: string } {
  if (!cuda.available) return { dev: null, code: cuda.code, reason: cuda.reason };
  try {
    return { dev: resolveDevice('cuda:0', 'bench: --device cuda'), code: '', reason: '' };
  } catch (e) {
    return { dev: null, code: (e as { code?: string }).code ?? 'ERR_CUDA_UNAVAILABLE', reason: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * The CUDA rows on `dev`: the copy-bandwidth probe, the CPU-vs-CUDA check, and every workload x
 * config x mode x path with device-resident tensors. An error (e.g. out of GPU memory) ends the
 * CUDA part with a warning and exit code 1; the rows measured so far are kept.
 */
function runGpu(dev: string, workloads: Workload[], reps: number, plain: PlainResult[], warnings: string[]): GpuResult {
  const index = Number(dev.slice(dev.indexOf(':') + 1));
  const d = backendInfo().cuda.devices.find((q) => q.index === index);
  const res: GpuResult = {
    device: dev,
    name: d?.name ?? 'unknown',
    computeCapability: d?.computeCapability ?? 'unknown',
    memoryGiB: d?.memoryGiB ?? null,
    copyBandwidthGBs: NaN,
    copyBandwidthBeforeGBs: NaN,
    copyBandwidthAfterGBs: null,
    copyProbe: {
      bytes: COPY_BYTES, reps: COPY_REPS, device: index,
      counts: 'read + write bytes (2 x bytes per copy)', timing: 'CUDA events, best of reps',
    },
    reps,
    slowWarmupMs: SLOW_WARMUP_MS,
    slowReps: SLOW_REPS,
    rows: [],
    cpuVsCuda: null,
    spikeChecks: [],
    peakMemoryMB: null,
    peakMemory: 'n/a',
    targets: [],
    error: null,
  };
  const measureCopy = (when: string): number => {
    progress(`measuring ${dev} copy bandwidth ${when} (device-to-device, ${COPY_BYTES / MB} MiB, best of ${COPY_REPS})`);
    const gbs = native().cudaCopyBandwidth(COPY_BYTES, COPY_REPS, index);
    progress(`copy bandwidth ${gbs.toFixed(1)} GB/s (read + write)`);
    return gbs;
  };
  try {
    res.copyBandwidthBeforeGBs = measureCopy('before the CUDA rows');
    res.copyBandwidthGBs = res.copyBandwidthBeforeGBs;

    // CPU vs CUDA: one mlp training step (defaults) on both; spikes and gradInput bit for bit.
    progress(`cpu-vs-cuda check: mlp defaults training step on cpu and ${dev}`);
    const c = trainingStep(getNumThreads(), 'cpu');
    const g = trainingStep(getNumThreads(), dev);
    const spikeMismatches = bitMismatches(c.spikes, g.spikes);
    const gradInputMismatches = bitMismatches(c.gradIn, g.gradIn);
    res.cpuVsCuda = {
      workload: 'mlp', config: CONFIGS[0]!.name, mode: 'training',
      spikes: spikeMismatches === 0, gradInput: gradInputMismatches === 0, tauMemGrad: bitsEqual(c.tauGrad, g.tauGrad),
      spikeMismatches, gradInputMismatches, identical: spikeMismatches === 0 && gradInputMismatches === 0,
    };
    if (!res.cpuVsCuda.identical)
      warnings.push(`WARNING: cpu and cuda differ on the mlp defaults training step: ${spikeMismatches} spike counts and ` +
        `${gradInputMismatches} gradInput values of ${c.spikes.length} are not bit-identical`);

    const nRows = workloads.length * CONFIGS.length * 4;
    for (const w of workloads) {
      const shape = shapeOf(w);
      const E = w.B * w.T * neuronCount(w);
      progress(`cuda ${w.name}: making the device tensors ([${shape.join(', ')}], ${((4 * E) / 1e9).toFixed(2)} GB each)`);
      // the same inputs as the CPU rows (same seeds); `big` makes each input in one pass
      const base = w.gpuOnly ? null : uniform(E, SEED, 0, 2);
      const gradOut = Tensor.from(uniform(E, SEED + 2, -1, 1), shape, { device: dev });
      try {
        for (const cfg of CONFIGS) {
          const scale = calibrate(w, cfg);
          let xData: Float32Array | null = base ? scaled(base, scale) : uniformScaled(E, SEED, 0, 2, scale);
          const x = Tensor.from(xData, shape, { device: dev });
          // reference spikes: the CPU layer on the same input (not for the GPU-only workloads)
          const ref = w.gpuOnly ? null : new LIF(cfg.options).eval().forward(Tensor.from(xData, shape)).toFloat32Array();
          xData = null; // the host copy of a 2.1 GB input is garbage from here on
          gc?.();
          const p = plain.find((q) => q.workload === w.name && q.config === cfg.name);
          progress(`cuda ${w.name} ${cfg.name}: input mean ${scale.toFixed(3)}`);
          try {
            for (const mode of ['inference', 'training'] as const) {
              for (const path of ['new', 'out'] as const) {
                const check = ref && mode === 'inference' && path === 'new'
                  ? (spikes: Float32Array): void => {
                    let mismatches = 0;
                    for (let k = 0; k < E; ++k) if (spikes[k] !== ref[k]) ++mismatches;
                    res.spikeChecks.push({ workload: w.name, config: cfg.name, mismatches, elements: E, match: mismatches === 0 });
                    if (mismatches)
                      warnings.push(`WARNING: cuda LIF.forward differs from the cpu LIF.forward on ${w.name}/${cfg.name}: ${mismatches} of ${E} spike counts`);
                  }
                  : undefined;
                const row = timeGpuRow(w, cfg, mode, path, x, gradOut, reps, dev, check);
                setBound(row, res.copyBandwidthGBs); // provisional, for the progress line
                if (mode === 'inference' && p) {
                  row.plainMs = p.ms;
                  row.plainRuns = p.runs;
                  row.plainOverLif = p.ms / row.medianMs;
                }
                if (row.spikeRate < 0.05 || row.spikeRate > 0.2)
                  warnings.push(`WARNING: cuda ${w.name}/${cfg.name}/${mode}: spike rate ${(row.spikeRate * 100).toFixed(1)}% is outside 5-20%`);
                res.rows.push(row);
                progress(`cuda row ${res.rows.length}/${nRows}: ${w.name} ${cfg.name} ${mode} ${path}: ${row.medianMs.toFixed(3)} ms ` +
                  `(${row.runs} runs), ${row.percentOfCopyBandwidth!.toFixed(1)}% of copy bandwidth, spikes ${(row.spikeRate * 100).toFixed(1)}%`);
              }
            }
          } finally {
            x.dispose();
          }
        }
      } finally {
        gradOut.dispose();
      }
    }

    res.copyBandwidthAfterGBs = measureCopy('after the CUDA rows');
    res.copyBandwidthGBs = Math.max(res.copyBandwidthBeforeGBs, res.copyBandwidthAfterGBs);
  } catch (e) {
    res.error = e instanceof Error ? `${(e as { code?: string }).code ? `${(e as { code?: string }).code}: ` : ''}${e.message}` : String(e);
    warnings.push(`WARNING: the CUDA part stopped early (${res.rows.length} rows done): ${res.error}`);
    process.exitCode = 1;
  }
  if (Number.isFinite(res.copyBandwidthGBs)) for (const row of res.rows) setBound(row, res.copyBandwidthGBs);

  for (const row of res.rows) {
    if (row.workload !== 'big' || row.percentOfCopyBandwidth === null) continue;
    const minPercent = row.mode === 'inference' ? TARGET_FORWARD_PERCENT : TARGET_TRAINING_PERCENT;
    res.targets.push({
      config: row.config, mode: row.mode, path: row.path, percentOfCopyBandwidth: row.percentOfCopyBandwidth,
      minPercent, met: row.percentOfCopyBandwidth >= minPercent,
    });
  }
  return res;
}

// ---- main -------------------------------------------------------------------------------------

function main(): void {
  const opt = parseArgs(process.argv.slice(2));
  progressStart = performance.now();
  if (opt.threads !== null) setNumThreads(opt.threads);
  const info = backendInfo();
  const threads = getNumThreads();
  const reps = opt.quick ? 3 : 9;
  const workloads = WORKLOADS.filter((w) => opt.only === null || opt.only.includes(w.name));
  const machine = {
    cpu: cpuModel(),
    logicalCpus: os.availableParallelism(),
    threads,
    maxThreads: info.maxThreads,
    simd: info.simd,
    // the CPU kernel build chosen at run time, where the addon reports one
    cpuKernels: (info as { cpuKernels?: string }).cpuKernels ?? null,
    openmp: info.openmp,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    totalMemGiB: os.totalmem() / 2 ** 30,
    addon: info.version,
    devices: info.devices,
    cuda: info.cuda.available ? 'available' : `${info.cuda.code}: ${info.cuda.reason}`,
    loadAverage: os.loadavg(),
    date: new Date().toISOString(),
  };

  // Which rows run: CPU rows (not the GPU-only workloads) unless --device cuda; CUDA rows unless
  // --device cpu, where a usable GPU exists.
  const cpuWorkloads = opt.device === 'cuda' ? [] : workloads.filter((w) => !w.gpuOnly);
  // the network rows (bench/network.ts): CPU, 1 and 2 threads, unless --device cuda or --only without 'network'
  const wantNetwork = opt.device !== 'cuda' && (opt.only === null || opt.only.includes('network'));
  if (opt.device === 'cpu' && cpuWorkloads.length === 0 && !wantNetwork)
    fail(`--only ${opt.only!.join(',')}: ${workloads.map((w) => w.name).join(', ')} run${workloads.length > 1 ? '' : 's'} only on CUDA; nothing to run with --device cpu`);
  const wantGpu = opt.device !== 'cpu';
  const gpu = usableGpu(info.cuda);
  const noGpuLine = `no usable GPU (backendInfo().cuda: ${gpu.code}: ${gpu.reason})`;
  if (wantGpu && !gpu.dev && cpuWorkloads.length === 0 && !wantNetwork) {
    // --device cuda (or only GPU-only workloads) without a usable GPU: nothing to run, not an error
    if (opt.json) console.log(JSON.stringify({ machine, device: opt.device, rows: [], gpu: { requested: true, available: false, code: gpu.code, reason: gpu.reason, rows: [] }, warnings: [] }, null, 2));
    else console.log(`bench: ${noGpuLine}; no CUDA rows to run${opt.device === 'cuda' ? ' (--device cuda)' : ` (--only ${workloads.map((w) => w.name).join(',')} runs only on CUDA)`}`);
    return;
  }

  const warnings: string[] = [];
  const cpu = cpuWorkloads.length ? runCpu(opt, cpuWorkloads, info.maxThreads, threads, reps, warnings) : null;
  const gpuRes = wantGpu && gpu.dev && workloads.length ? runGpu(gpu.dev, workloads, reps, cpu?.plain ?? [], warnings) : null;
  const net = wantNetwork ? runNetworkBench({ quick: opt.quick, log: progress }) : null;
  progress('done');

  const byteModel = {
    inference: '8 + 8*S/T  (read x, write spikes; state in/out per call)',
    training: '20 + 8*S*ceil(T/K)/T + 16*S/T  (forward 8, backward 12, checkpoints written and read, state in/out of both kernels)',
    S: 'states: 1 (defaults), 2 (tauSyn)',
    K: CHECKPOINT_INTERVAL,
    convention: 'each element read or written counts once (write-allocate not counted), like the triad',
  };

  if (opt.json) {
    console.log(JSON.stringify({
      machine,
      device: opt.device,
      bandwidthGBs: cpu?.bandwidthGBs ?? null, bandwidthBeforeGBs: cpu?.bandwidthBefore ?? null, bandwidthAfterGBs: cpu?.bandwidthAfter ?? null,
      bandwidthProbe: cpu ? { bytesPerArray: cpu.bwBytes, reps: cpu.bwReps, threads } : null,
      reps, quick: opt.quick, byteModel, checkpointInterval: CHECKPOINT_INTERVAL,
      rows: cpu?.rows ?? [], plain: cpu?.plain ?? [], determinism: cpu?.determinism ?? null,
      gpu: gpuRes
        ? { requested: true, available: true, ...gpuRes }
        : { requested: wantGpu, available: gpu.dev !== null, code: gpu.code, reason: gpu.dev ? 'CUDA rows not requested (--device cpu)' : gpu.reason, rows: [] },
      network: net,
      warnings,
    }, null, 2));
    return;
  }

  const out: string[] = [];
  out.push(`spikelayers ${info.version} LIF benchmark, ${machine.date}`);
  out.push(`cpu: ${machine.cpu} (${machine.logicalCpus} logical CPUs), kernel threads ${threads}, simd ${machine.simd}${machine.cpuKernels ? ` (kernels ${machine.cpuKernels})` : ''}, Node ${machine.node} ${machine.platform}`);
  out.push(`devices: ${machine.devices.join(', ')} (cuda: ${machine.cuda}); load average at start ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}`);
  if (cpu)
    out.push(`memory bandwidth (STREAM triad, ${cpu.bwBytes / MB} MiB per array, best of ${cpu.bwReps}, ${threads} threads): ${cpu.bandwidthGBs.toFixed(2)} GB/s ` +
      `(before the rows ${cpu.bandwidthBefore.toFixed(2)}, after ${cpu.bandwidthAfter.toFixed(2)}; the bound uses the better)`);
  if (gpuRes)
    out.push(`gpu: ${gpuRes.name} (${gpuRes.device}, compute capability ${gpuRes.computeCapability}${gpuRes.memoryGiB === null ? '' : `, ${gpuRes.memoryGiB.toFixed(1)} GiB`}); ` +
      `copy bandwidth (device-to-device, ${COPY_BYTES / MB} MiB, best of ${COPY_REPS}, read + write bytes): ${fmt(gpuRes.copyBandwidthGBs, 1)} GB/s ` +
      `(before the rows ${fmt(gpuRes.copyBandwidthBeforeGBs, 1)}, after ${fmt(gpuRes.copyBandwidthAfterGBs, 1)}; the bound uses the better)`);
  out.push(`byte model per neuron-step (S states, K = CHECKPOINT_INTERVAL = ${CHECKPOINT_INTERVAL}):`);
  out.push(`  inference ${byteModel.inference}`);
  out.push(`  training  ${byteModel.training}`);
  if (cpu) {
    const { rows, plain, determinism, allThreads } = cpu;
    out.push(`runs: median of ${reps} after 1 warm-up; input currents uniform, mean calibrated to ~${TARGET_RATE * 100}% spikes; seed ${SEED}`);
    out.push('');
    out.push(table(rows));
    out.push('');
    out.push('path: new = a new output tensor per call; out = forward(x, { out }) / backward(g, { out }) into reused tensors.');
    out.push('fwd+bwd ms: training rows, medians of the forward and of the backward alone.');
    out.push('Mns/s: 1e6 neuron-steps per second. B/ns: bytes per neuron-step (model). GB/s: model bytes / median time.');
    out.push('bound ms: model bytes / triad bandwidth; x bound = median / bound. spikes: layer.firingRate.');
    out.push(`cores: process CPU time / wall time over the timed runs (~${threads} when nothing else competes for the CPUs).`);
    out.push('vs plain: plain TypeScript forward time / LIF forward time (bench/plain.ts); * = plain timed once (over 2 s per run).');
    out.push('+RSS MB: sampled peak RSS around the row\'s calls minus RSS at its start; RSS MB: that sampled peak.');
    out.push(`kept B/ns: bytes per neuron-step a pending training call keeps beyond input/output, 4*S*(ceil(T/K)+1)/T` +
      (gc ? ' (measured ArrayBuffer growth in parentheses)' : ''));
    out.push(`process peak RSS (resourceUsage().maxRSS): ${(maxRssBytes() / MB).toFixed(0)} MB`);
    out.push('plain TypeScript forward: ' + plain.map((p) => `${p.workload}/${p.config} ${p.ms.toFixed(1)} ms (${p.runs} run${p.runs > 1 ? 's' : ''}, spikes ${p.spikesMatch ? 'match' : 'DIFFER'})`).join(', '));
    out.push(`identical across thread counts: ${determinism.identical ? 'yes' : 'no'} (mlp training step, 1 vs ${allThreads} threads: ` +
      `spikes ${determinism.spikes ? 'same' : 'differ'}, gradInput ${determinism.gradInput ? 'same' : 'differ'}, tauMem grad ${determinism.tauMemGrad ? 'same' : 'differ'})`);
  }
  if (gpuRes) {
    const g = gpuRes;
    if (cpu) out.push('');
    out.push(`CUDA rows on ${g.device} (${g.name}): median of ${reps} after 1 warm-up` +
      (SLOW_REPS < reps ? ` (${SLOW_REPS} where the warm-up took over ${SLOW_WARMUP_MS / 1000} s; runs: ${[...new Set(g.rows.map((r) => r.runs))].join('/')})` : '') + '; ' +
      `same inputs and seeds as the CPU rows; every tensor device-resident`);
    out.push('');
    out.push(g.rows.length ? table(g.rows, true) : '(no CUDA rows)');
    out.push('');
    out.push('Timing: forward/backward on CUDA return after their kernels finished (synchronous), so each call is timed with performance.now().');
    out.push('bound ms: model bytes / copy bandwidth; x bound = median / bound; % copy bw = bound / median * 100 (the share of the copy bandwidth reached).');
    out.push('vs plain: plain TypeScript forward time (from the CPU rows) / CUDA forward time. kept B/ns: the model (device memory is not measured).');
    const gpuOnly = WORKLOADS.filter((w) => w.gpuOnly)
      .map((w) => `${w.name} ([${shapeOf(w).join(', ')}], ${((4 * w.B * w.T * neuronCount(w)) / 1e9).toFixed(1)} GB per tensor)`).join(', ');
    out.push(`cores, +RSS MB, RSS MB: the host process, as in the CPU rows. Only on CUDA: ${gpuOnly}.`);
    out.push(`peak GPU memory: ${g.peakMemory} (the addon has no device-memory query)`);
    if (g.spikeChecks.length)
      out.push('cuda vs cpu inference spikes: ' + g.spikeChecks.map((s) => `${s.workload}/${s.config} ${s.match ? 'match' : `DIFFER (${s.mismatches} of ${s.elements})`}`).join(', ') +
        (g.rows.some((r) => r.workload === 'big') ? ' (big: not checked)' : ''));
    if (g.cpuVsCuda) {
      const c = g.cpuVsCuda;
      out.push(`cpu and cuda identical: ${c.identical ? 'yes' : 'no'} (mlp defaults training step: spikes ${c.spikes ? 'same' : `differ (${c.spikeMismatches})`}, ` +
        `gradInput ${c.gradInput ? 'same' : `differ (${c.gradInputMismatches})`}; tauMem grad, not part of the check: ${c.tauMemGrad ? 'same' : 'differs'})`);
    } else out.push('cpu and cuda identical: not checked (the CUDA part stopped before the check)');
    if (g.targets.length) {
      const part = (mode: Mode): string => g.targets.filter((t) => t.mode === mode)
        .map((t) => `${t.config} ${t.path} ${t.percentOfCopyBandwidth.toFixed(1)}%${t.met ? '' : ' (below)'}`).join(', ');
      const met = (mode: Mode): string => {
        const ts = g.targets.filter((t) => t.mode === mode);
        return ts.length === 0 ? 'no rows' : ts.every((t) => t.met) ? 'met' : 'NOT met';
      };
      out.push(`targets on big (% of copy bandwidth): forward >= ${TARGET_FORWARD_PERCENT}%: ${part('inference')} -> ${met('inference')}; ` +
        `training step >= ${TARGET_TRAINING_PERCENT}%: ${part('training')} -> ${met('training')}`);
    }
    if (g.error) out.push(`CUDA part stopped early: ${g.error}`);
  } else if (wantGpu && !gpu.dev) {
    out.push(`CUDA rows: skipped, ${noGpuLine}`);
  }
  if (net) out.push('', networkTable(net));
  for (const wmsg of warnings) out.push(wmsg);
  console.log(out.join('\n'));
}

main();
