/**
 * Network benchmark: the SHD-shaped network of examples/train-shd.ts,
 *
 *   Linear(700, 256) -> LIF(tauMem 20) -> Linear(256, 20) -> LIF(tauMem 20),  B 128, T 100,
 *
 * inference (forward in eval mode) and a training step (forward, cross-entropy on the spike counts
 * summed over time, backward, Adam step), on input with 5% spikes (0/1, Bernoulli) and on dense
 * input (uniform in [0, 1)), with 1 and 2 kernel threads. Run by `npm run bench` (bench/run.ts)
 * or alone: `node dist/bench/network.js [--quick] [--json]`.
 *
 * Each layer call is timed on its own, which splits a step into a synaptic share (the two Linear
 * layers, forward and backward), a neuron share (the two LIF layers) and the rest (readout, loss,
 * Adam). Each share is compared with a bound measured in the same process with the same threads:
 *
 *   synaptic: dense GEMM flops / the sgemm rate of the native GEMM on a 2048 x 2048 x 2048 product
 *             (a Linear layer on (B*T, in) does 2*B*T*in*out flops forward; its backward does the
 *             input gradient and the weight gradient, twice that; the first layer's input
 *             gradient is skipped with `{ inputGrad: false }`, as PyTorch skips it for an input
 *             that does not require a gradient);
 *   neuron:   the LIF byte model of bench/run.ts (inference 8 + 8/T bytes per neuron-step,
 *             training 20 + 8*ceil(T/K)/T + 16/T) / the STREAM-triad bandwidth (memoryBandwidth).
 *
 * Times are medians over the repetitions (after one warm-up), with the min-max spread; the
 * sinabs 3.1.3 figures of the same network on the same kind of machine (PyTorch CPU) give the
 * speed-up columns.
 */
import { fileURLToPath } from 'node:url';
import {
  Adam,
  LIF,
  Linear,
  Sequential,
  SumOverTime,
  Tensor,
  CHECKPOINT_INTERVAL,
  crossEntropyLoss,
  getNumThreads,
  setNumThreads,
  backendInfo,
} from '../lib/index.js';
import { native } from '../lib/backend.js';
import { Rng } from '../lib/rng.js';
import { textTable } from './text-table.js';

export const B = 128,
  T = 100,
  IN = 700,
  HID = 256,
  OUT = 20;
const SEED = 20240601;
/** sinabs 3.1.3 (PyTorch CPU) on this network, B 128, T 100, 5% input spikes: ms per call. */
export const SINABS_MS: Record<number, { inference: number; training: number }> = {
  1: { inference: 68.7, training: 423 },
  2: { inference: 43.4, training: 296 },
};

export type Mode = 'inference' | 'training';
export type InputKind = 'spikes5' | 'dense';

export interface NetworkRow {
  threads: number;
  input: InputKind;
  mode: Mode;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** Medians of the shares (ms). */
  synapticMs: number;
  neuronMs: number;
  otherMs: number;
  synapticBoundMs: number;
  neuronBoundMs: number;
  synapticOverBound: number;
  neuronOverBound: number;
  /** Fraction of nonzero input elements, and the spike rates (spikes per neuron-step) of the hidden and the output layer. */
  inputDensity: number;
  hiddenRate: number;
  outputRate: number;
  sinabsMs: number | null;
  /** sinabs time / this median. */
  speedupVsSinabs: number | null;
}

export interface NetworkResult {
  shape: { B: number; T: number; layers: string };
  threads: number[];
  /** Per thread count: sgemm GFLOP/s and triad GB/s measured in this run. */
  gemmGflops: Record<number, number>;
  bandwidthGBs: Record<number, number>;
  gemmSize: number;
  reps: number;
  rows: NetworkRow[];
}

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b),
    m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Input (B, T, 700), or `n` elements: 'spikes5' has ones at exactly 5% of the positions (a seeded random choice),
 * zeros elsewhere; 'dense' is uniform in [0, 1) everywhere.
 */
export function inputData(kind: InputKind, n = B * T * IN): Float32Array {
  const rng = new Rng(SEED + (kind === 'dense' ? 7 : 3));
  const x = new Float32Array(n);
  if (kind === 'dense') {
    for (let k = 0; k < n; ++k) x[k] = rng.next();
    return x;
  }
  // exactly 5% ones: a partial Fisher-Yates shuffle of the positions
  const pos = Int32Array.from({ length: n }, (_, k) => k),
    m = Math.round(0.05 * n);
  for (let k = 0; k < m; ++k) {
    const j = k + rng.int(n - k);
    const t = pos[k]!;
    pos[k] = pos[j]!;
    pos[j] = t;
    x[pos[k]!] = 1;
  }
  return x;
}

/** sgemm rate (GFLOP/s) of the native GEMM (OpenBLAS) on an n x n x n product, best of `reps`. */
function measureGemm(n: number, reps: number): number {
  const rng = new Rng(5);
  const A = Float32Array.from({ length: n * n }, () => rng.next() - 0.5);
  const Bm = Float32Array.from({ length: n * n }, () => rng.next() - 0.5);
  const C = new Float32Array(n * n);
  native().gemm({ M: n, N: n, K: n, A, B: Bm, C }); // warm-up
  let best = Infinity;
  for (let r = 0; r < reps; ++r) {
    const t0 = performance.now();
    native().gemm({ M: n, N: n, K: n, A, B: Bm, C });
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * n * n * n) / (best / 1e3) / 1e9;
}

function density(t: Tensor): number {
  const a = t.toFloat32Array();
  let n = 0;
  for (let k = 0; k < a.length; ++k) if (a[k] !== 0) ++n;
  return n / a.length;
}

function rate(t: Tensor): number {
  const a = t.toFloat32Array();
  let s = 0;
  for (let k = 0; k < a.length; ++k) s += a[k]!;
  return s / a.length;
}

/** Times one (threads, input, mode) row. */
export function timeRow(
  threads: number,
  kind: InputKind,
  mode: Mode,
  x: Tensor,
  labels: Int32Array,
  reps: number,
  gflops: number,
  gbs: number,
): NetworkRow {
  const l0 = new Linear({ inFeatures: IN, outFeatures: HID, seed: 11 });
  const n1 = new LIF({ tauMem: 20 });
  const l2 = new Linear({ inFeatures: HID, outFeatures: OUT, seed: 12 });
  const n3 = new LIF({ tauMem: 20 });
  const model = new Sequential(l0, n1, l2, n3);
  if (mode === 'inference') model.eval();
  else model.train();
  const opt = new Adam(model.parameters(), { lr: 1e-3 });
  const readout = new SumOverTime();
  if (mode === 'inference') readout.eval();
  const total: number[] = [],
    syn: number[] = [],
    neu: number[] = [],
    other: number[] = [];
  let hiddenRate = 0,
    outputRate = 0;
  for (let r = 0; r <= reps; ++r) {
    model.resetStates();
    opt.zeroGrad();
    const t0 = performance.now();
    const a = l0.forward(x);
    const t1 = performance.now();
    const s1 = n1.forward(a);
    const t2 = performance.now();
    const b = l2.forward(s1);
    const t3 = performance.now();
    const s3 = n3.forward(b);
    const t4 = performance.now();
    const logits = readout.forward(s3); // spike counts over time
    let tEnd = performance.now(),
      synMs = t1 - t0 + (t3 - t2),
      neuMs = t2 - t1 + (t4 - t3);
    if (mode === 'training') {
      const { grad } = crossEntropyLoss(logits, labels);
      const gOutT = readout.backward(grad);
      const t5 = performance.now();
      const g3 = n3.backward(gOutT);
      const t6 = performance.now();
      const g2 = l2.backward(g3);
      const t7 = performance.now();
      const g1 = n1.backward(g2);
      const t8 = performance.now();
      l0.backward(g1, { inputGrad: false }); // the network input needs no gradient
      const t9 = performance.now();
      opt.step();
      tEnd = performance.now();
      synMs += t7 - t6 + (t9 - t8);
      neuMs += t6 - t5 + (t8 - t7);
    }
    if (r === 0) {
      hiddenRate = rate(s1);
      outputRate = rate(s3);
      continue; // warm-up
    }
    total.push(tEnd - t0);
    syn.push(synMs);
    neu.push(neuMs);
    other.push(tEnd - t0 - synMs - neuMs);
  }
  const rows = B * T;
  const fwdFlops = 2 * rows * (IN * HID + HID * OUT);
  // training: forward + both weight gradients + the second layer's input gradient
  const flops = mode === 'inference' ? fwdFlops : 3 * fwdFlops - 2 * rows * IN * HID;
  const K = CHECKPOINT_INTERVAL;
  const bytesPerNs = mode === 'inference' ? 8 + 8 / T : 20 + (8 * Math.ceil(T / K)) / T + 16 / T;
  const neuronBytes = bytesPerNs * rows * (HID + OUT);
  const synapticBoundMs = (flops / (gflops * 1e9)) * 1e3;
  const neuronBoundMs = (neuronBytes / (gbs * 1e9)) * 1e3;
  const med = median(total);
  const sinabs = kind === 'spikes5' ? (SINABS_MS[threads]?.[mode] ?? null) : null;
  return {
    threads,
    input: kind,
    mode,
    runs: total.length,
    medianMs: med,
    minMs: Math.min(...total),
    maxMs: Math.max(...total),
    synapticMs: median(syn),
    neuronMs: median(neu),
    otherMs: median(other),
    synapticBoundMs,
    neuronBoundMs,
    synapticOverBound: median(syn) / synapticBoundMs,
    neuronOverBound: median(neu) / neuronBoundMs,
    inputDensity: density(x),
    hiddenRate,
    outputRate,
    sinabsMs: sinabs,
    speedupVsSinabs: sinabs === null ? null : sinabs / med,
  };
}

/**
 * Runs the network rows for each thread count in `threads` (restoring the thread count after).
 * `log` gets progress lines.
 */
export function runNetworkBench(
  opts: { threads?: number[]; reps?: number; quick?: boolean; log?: (msg: string) => void } = {},
): NetworkResult {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const quick = opts.quick ?? false;
  const reps = opts.reps ?? (quick ? 3 : 7);
  const maxThreads = backendInfo().maxThreads;
  const threads = (opts.threads ?? [1, 2]).filter((t) => t <= Math.max(1, maxThreads));
  const gemmSize = quick ? 1024 : 2048;
  const before = getNumThreads();
  const labels = Int32Array.from({ length: B }, (_, i) => i % OUT);
  const inputs = {
    spikes5: Tensor.from(inputData('spikes5'), [B, T, IN]),
    dense: Tensor.from(inputData('dense'), [B, T, IN]),
  };
  const res: NetworkResult = {
    shape: { B, T, layers: `Linear(${IN}, ${HID}) -> LIF(20) -> Linear(${HID}, ${OUT}) -> LIF(20)` },
    threads,
    gemmGflops: {},
    bandwidthGBs: {},
    gemmSize,
    reps,
    rows: [],
  };
  try {
    for (const th of threads) {
      setNumThreads(th);
      const gflops = measureGemm(gemmSize, quick ? 2 : 3);
      const gbs = native().memoryBandwidth((quick ? 64 : 256) * 2 ** 20, quick ? 3 : 5);
      res.gemmGflops[th] = gflops;
      res.bandwidthGBs[th] = gbs;
      log(`network: ${th} thread(s): sgemm ${gflops.toFixed(1)} GFLOP/s (${gemmSize}^3), triad ${gbs.toFixed(2)} GB/s`);
      for (const kind of ['spikes5', 'dense'] as const) {
        for (const mode of ['inference', 'training'] as const) {
          const row = timeRow(th, kind, mode, inputs[kind], labels, reps, gflops, gbs);
          res.rows.push(row);
          log(
            `network: ${th} thread(s) ${kind} ${mode}: ${row.medianMs.toFixed(1)} ms (synaptic ${row.synapticMs.toFixed(1)}, neuron ${row.neuronMs.toFixed(1)})`,
          );
        }
      }
    }
  } finally {
    setNumThreads(before);
  }
  return res;
}

const f = (v: number | null, d: number): string => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(d));

/** The rows as a text table with its legend. */
export function networkTable(res: NetworkResult): string {
  const head = [
    'threads',
    'input',
    'mode',
    'median ms',
    'spread ms',
    'synaptic ms',
    'x bound',
    'neuron ms',
    'x bound',
    'other ms',
    'input nz',
    'spikes hid/out',
    'sinabs ms',
    'speed-up',
  ];
  const body = res.rows.map((r) => [
    String(r.threads),
    r.input === 'spikes5' ? '5% spikes' : 'dense',
    r.mode,
    f(r.medianMs, 1),
    `${f(r.minMs, 1)}-${f(r.maxMs, 1)}`,
    f(r.synapticMs, 1),
    f(r.synapticOverBound, 2),
    f(r.neuronMs, 1),
    f(r.neuronOverBound, 2),
    f(r.otherMs, 1),
    `${(100 * r.inputDensity).toFixed(1)}%`,
    `${(100 * r.hiddenRate).toFixed(2)}/${(100 * r.outputRate).toFixed(2)}%`,
    f(r.sinabsMs, 1),
    r.speedupVsSinabs === null ? '-' : `${r.speedupVsSinabs.toFixed(2)}x`,
  ]);
  const out = [
    `network ${res.shape.layers}, B ${res.shape.B}, T ${res.shape.T}: median of ${res.reps} after 1 warm-up`,
    'bounds, measured in this run: ' +
      res.threads
        .map(
          (t) =>
            `${t} thread(s): sgemm ${res.gemmGflops[t]!.toFixed(1)} GFLOP/s (${res.gemmSize}^3 native GEMM), triad ${res.bandwidthGBs[t]!.toFixed(2)} GB/s`,
        )
        .join('; '),
    '',
    ...textTable(head, body, (k) => k < 3),
    '',
    'synaptic: the two Linear layers (forward; training adds their backward: both weight gradients and the input gradient of the second layer). x bound: median / (dense GEMM flops / sgemm rate).',
    'neuron: the two LIF layers. x bound: median / (LIF byte model / triad bandwidth), the model of the LIF rows above.',
    'other: readout (spike counts over time), cross-entropy, Adam step, and the time between calls. spread: min-max of the runs.',
    'input nz: nonzero input elements (Linear takes its event-driven path at <= 10%, see lib/nn/sparse.ts). spikes: per neuron-step, PyTorch-initialised weights.',
    'sinabs ms: sinabs 3.1.3 (PyTorch CPU) on this network with 5% input spikes; speed-up = sinabs ms / median ms.',
  ];
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  for (const a of args)
    if (a !== '--quick' && a !== '--json') {
      console.error(`network bench: unknown option '${a}'\nusage: node dist/bench/network.js [--quick] [--json]`);
      process.exit(2);
    }
  const res = runNetworkBench({ quick: args.includes('--quick') });
  console.log(args.includes('--json') ? JSON.stringify(res, null, 2) : networkTable(res));
}
