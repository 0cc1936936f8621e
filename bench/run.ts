/**
 * Benchmark of the LIF layer: `npm run bench` (or `node dist/bench/run.js [options]`).
 *
 *   --threads N   kernel threads (setNumThreads); default: the addon's default
 *   --json        print one JSON document instead of the table
 *   --quick       fewer repetitions and a smaller bandwidth probe (smoke tests)
 *   --only a,b    run only these workloads (mlp, conv, long); may be repeated
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
 */
import fs from 'node:fs';
import os from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import { CHECKPOINT_INTERVAL, LIF, Tensor, backendInfo, getNumThreads, setNumThreads, type LIFOptions } from '../lib/index.js';
import { native } from '../lib/backend.js';
import { Rng } from '../lib/rng.js';
import { plainLifForward } from './plain.js';

// ---- options ----------------------------------------------------------------------------------

interface Options {
  threads: number | null;
  json: boolean;
  quick: boolean;
  only: string[] | null;
}

const USAGE = 'usage: node dist/bench/run.js [--threads N] [--json] [--quick] [--only mlp,conv,long]';

function parseArgs(argv: string[]): Options {
  const o: Options = { threads: null, json: false, quick: false, only: null };
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
      for (const n of names) if (!WORKLOADS.some((w) => w.name === n)) fail(`--only: unknown workload '${n}' (expected ${WORKLOADS.map((w) => w.name).join(', ')})`);
      o.only = [...(o.only ?? []), ...names];
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
}

const WORKLOADS: Workload[] = [
  { name: 'mlp', B: 64, T: 100, neurons: [1024] },
  { name: 'conv', B: 16, T: 50, neurons: [16, 32, 32] },
  { name: 'long', B: 8, T: 1000, neurons: [512] },
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
  const E = w.B * w.T * neuronCount(w);
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

  const states = layer.hasSynapse ? 2 : 1;
  const med = median(total);
  const bpn = bytesPerNeuronStep(mode, states, w.T, CHECKPOINT_INTERVAL);
  return {
    workload: w.name,
    config: cfg.name,
    mode,
    path,
    shape,
    neuronSteps: E,
    runs: reps,
    medianMs: med,
    minMs: Math.min(...total),
    forwardMedianMs: median(fwd),
    backwardMedianMs: mode === 'training' ? median(bwd) : null,
    neuronStepsPerSec: E / (med / 1e3),
    bytesPerNeuronStep: bpn,
    effectiveGBs: (bpn * E) / (med / 1e3) / 1e9,
    boundMs: NaN, // set by setBound once the bandwidth is known
    timeOverBound: NaN,
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

/** The bandwidth bound of a row: model bytes / triad bandwidth. */
function setBound(row: Row, bandwidthGBs: number): void {
  row.boundMs = ((row.bytesPerNeuronStep * row.neuronSteps) / (bandwidthGBs * 1e9)) * 1e3;
  row.timeOverBound = row.medianMs / row.boundMs;
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

/** Spikes and gradInput of one mlp training step (defaults config) with `threads` threads. */
function trainingStep(threads: number): { spikes: Float32Array; gradIn: Float32Array; tauGrad: Float32Array } {
  const w = WORKLOADS.find((q) => q.name === 'mlp')!;
  const cfg = CONFIGS[0]!;
  const shape = shapeOf(w);
  const E = w.B * w.T * neuronCount(w);
  const s = calibrate(w, cfg);
  const x = Tensor.from(scaled(uniform(E, SEED, 0, 2), s), shape);
  const g = Tensor.from(uniform(E, SEED + 2, -1, 1), shape);
  const prev = getNumThreads();
  setNumThreads(threads);
  try {
    const layer = new LIF(cfg.options).train();
    const spikes = layer.forward(x).toFloat32Array();
    const gradIn = layer.backward(g).toFloat32Array();
    return { spikes, gradIn, tauGrad: layer.tauMem!.grad!.toFloat32Array() };
  } finally {
    setNumThreads(prev);
  }
}

// ---- output -----------------------------------------------------------------------------------

function fmt(v: number | null, digits: number): string {
  return v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

function table(rows: Row[]): string {
  const head = ['workload', 'config', 'mode', 'path', 'median ms', 'min ms', 'fwd+bwd ms', 'Mns/s', 'B/ns', 'GB/s', 'bound ms', 'x bound', 'cores', 'spikes', 'vs plain', '+RSS MB', 'RSS MB', 'kept B/ns'];
  const body = rows.map((r) => [
    r.workload, r.config, r.mode, r.path,
    fmt(r.medianMs, 2), fmt(r.minMs, 2),
    r.backwardMedianMs === null ? '-' : `${r.forwardMedianMs.toFixed(1)}+${r.backwardMedianMs.toFixed(1)}`,
    fmt(r.neuronStepsPerSec / 1e6, 0), fmt(r.bytesPerNeuronStep, 2),
    fmt(r.effectiveGBs, 2), fmt(r.boundMs, 2), fmt(r.timeOverBound, 1), fmt(r.cores, 2),
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
  const warnings: string[] = [];
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
  const allThreads = Math.max(info.maxThreads, 2);
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
      machine, bandwidthGBs, bandwidthBeforeGBs: bandwidthBefore, bandwidthAfterGBs: bandwidthAfter,
      bandwidthProbe: { bytesPerArray: bwBytes, reps: bwReps, threads },
      reps, quick: opt.quick, byteModel, checkpointInterval: CHECKPOINT_INTERVAL,
      rows, plain, determinism, warnings,
    }, null, 2));
    return;
  }

  const out: string[] = [];
  out.push(`spikelayers ${info.version} LIF benchmark, ${machine.date}`);
  out.push(`cpu: ${machine.cpu} (${machine.logicalCpus} logical CPUs), kernel threads ${threads}, simd ${machine.simd}${machine.cpuKernels ? ` (kernels ${machine.cpuKernels})` : ''}, Node ${machine.node} ${machine.platform}`);
  out.push(`devices: ${machine.devices.join(', ')} (cuda: ${machine.cuda}); load average at start ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}`);
  out.push(`memory bandwidth (STREAM triad, ${bwBytes / MB} MiB per array, best of ${bwReps}, ${threads} threads): ${bandwidthGBs.toFixed(2)} GB/s ` +
    `(before the rows ${bandwidthBefore.toFixed(2)}, after ${bandwidthAfter.toFixed(2)}; the bound uses the better)`);
  out.push(`byte model per neuron-step (S states, K = CHECKPOINT_INTERVAL = ${CHECKPOINT_INTERVAL}):`);
  out.push(`  inference ${byteModel.inference}`);
  out.push(`  training  ${byteModel.training}`);
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
  for (const wmsg of warnings) out.push(wmsg);
  console.log(out.join('\n'));
}

main();
