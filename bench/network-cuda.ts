/**
 * CUDA network rows: the SHD-shaped network of bench/network.ts built on the GPU
 * (`device: 'cuda:0'`, every tensor device-resident), inference and a training step (forward,
 * `SumOverTime`, `crossEntropyLoss`, backward, `Adam.step`) on the same inputs, seeds and labels
 * as the CPU rows, with the ratio of the CPU row's time to the CUDA time.
 *
 * Result check: the CUDA kernels' per-thread code is the code the CPU emulation of the CUDA launch
 * runs (native/core/*_thread.h), and the two agree bit for bit by design; the OpenBLAS GEMM of the
 * CPU rows sums in another order, so its results are not the CUDA ones. Each row's first run is
 * therefore compared bit for bit with the same step on host arrays through the emulated launch
 * (`_setCudaLaunchEmulation(true)`): both Linear outputs, hidden and output spikes, the logits and, in training, the
 * loss, every parameter gradient and every parameter after the Adam step. A difference fails the
 * check (a `cuda vs cpu network ...` line of --require-targets).
 *
 * Timing: each layer call on CUDA returns after its kernels finished; the timed step also ends with
 * a download (the logits in inference, the last bias after the Adam step in training), so it
 * cannot end before the device work. The tensors each run returns are disposed after the run,
 * outside the timed step.
 */
import { Adam, LIF, Linear, SumOverTime, Tensor, crossEntropyLoss, getNumThreads } from '../lib/index.js';
import { _cudaLaunchEmulation, _setCudaLaunchEmulation } from '../lib/backend.js';
import { bitMismatches } from './measure.js';
import { textTable } from './text-table.js';
import { B, HID, IN, OUT, T, inputData, timeRow, type InputKind, type Mode, type NetworkRow } from './network.js';

/** The layer sizes of the network: Linear(IN, HID) -> LIF -> Linear(HID, OUT) -> LIF, on (B, T, IN). */
export interface NetShape {
  B: number;
  T: number;
  IN: number;
  HID: number;
  OUT: number;
}

/** The shape of the CPU network rows. */
export const SHD_SHAPE: NetShape = { B, T, IN, HID, OUT };

/** What one step leaves, downloaded to the host (the fields the check compares). */
export interface NetStepResult {
  /** The outputs of the two Linear layers (the LIF inputs), and of the two LIF layers. */
  linear0: Float32Array;
  linear2: Float32Array;
  hiddenSpikes: Float32Array;
  outputSpikes: Float32Array;
  logits: Float32Array;
  /** Training only (else null): the loss, and per parameter (dotted name) its gradient and its value after the Adam step. */
  loss: number | null;
  grads: Record<string, Float32Array>;
  params: Record<string, Float32Array>;
}

/** The outcome of comparing two step results bit for bit. */
export interface NetComparison {
  identical: boolean;
  /** Compared elements in all. */
  elements: number;
  /** Per field that differs (e.g. 'outputSpikes', 'grad 0.weight', 'loss'): the number of elements whose bits differ. */
  mismatches: Record<string, number>;
}

export interface CudaNetworkRow {
  device: string;
  input: InputKind;
  mode: Mode;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** The CPU row of the same input and mode (bench/network.ts), its thread count, and CPU median / CUDA median. */
  cpuMs: number | null;
  cpuThreads: number | null;
  speedupVsCpu: number | null;
  check: NetComparison;
}

const median = (xs: number[]): number => {
  const s = xs.slice().sort((a, b) => a - b),
    m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function build(shape: NetShape, device: string, mode: Mode) {
  const l0 = new Linear({ inFeatures: shape.IN, outFeatures: shape.HID, seed: 11, device });
  const n1 = new LIF({ tauMem: 20, device });
  const l2 = new Linear({ inFeatures: shape.HID, outFeatures: shape.OUT, seed: 12, device });
  const n3 = new LIF({ tauMem: 20, device });
  const layers = [l0, n1, l2, n3] as const;
  for (const l of layers) if (mode === 'inference') l.eval();
  const named: [string, Linear][] = [
    ['0', l0],
    ['2', l2],
  ];
  const params = named.flatMap(([k, l]) => [[`${k}.weight`, l.weight] as const, [`${k}.bias`, l.bias!] as const]);
  const opt = new Adam(
    params.map(([, p]) => p),
    { lr: 1e-3 },
  );
  const readout = new SumOverTime();
  if (mode === 'inference') readout.eval();
  return { l0, n1, l2, n3, layers, params, opt, readout };
}
type Net = ReturnType<typeof build>;

/**
 * One step on `net`: returns what it made (to dispose after the timing) and, when `keep`, the results
 * downloaded. Ends with a download, so on CUDA it returns after the device work.
 */
function step(
  net: Net,
  mode: Mode,
  x: Tensor,
  labels: Int32Array,
  keep: boolean,
): { made: (Tensor | null)[]; result: NetStepResult | null } {
  const { l0, n1, l2, n3, readout, opt } = net;
  for (const l of net.layers) l.resetStates();
  opt.zeroGrad();
  const a = l0.forward(x);
  const s1 = n1.forward(a);
  const b = l2.forward(s1);
  const s3 = n3.forward(b);
  const logits = readout.forward(s3);
  const made: (Tensor | null)[] = [a, s1, b, s3, logits];
  let loss: number | null = null;
  if (mode === 'training') {
    const ce = crossEntropyLoss(logits, labels);
    loss = ce.loss;
    const gOutT = readout.backward(ce.grad);
    const g3 = n3.backward(gOutT);
    const g2 = l2.backward(g3);
    const g1 = n1.backward(g2);
    l0.backward(g1, { inputGrad: false });
    opt.step();
    made.push(ce.grad, gOutT, g3, g2, g1);
    l2.bias!.toFloat32Array(); // the last parameter the step updates: a download after the device work
  } else logits.toFloat32Array();
  if (!keep) return { made, result: null };
  const result: NetStepResult = {
    linear0: a.toFloat32Array(),
    linear2: b.toFloat32Array(),
    hiddenSpikes: s1.toFloat32Array(),
    outputSpikes: s3.toFloat32Array(),
    logits: logits.toFloat32Array(),
    loss,
    grads: {},
    params: {},
  };
  if (mode === 'training')
    for (const [k, p] of net.params) {
      result.grads[k] = p.grad ? p.grad.toFloat32Array() : new Float32Array(0);
      result.params[k] = p.toFloat32Array();
    }
  return { made, result };
}

const disposeAll = (ts: (Tensor | null)[]): void => {
  for (const t of ts) if (t && !t.disposed) t.dispose();
};

/** The labels of the rows: sample i has class i mod OUT. */
export const networkLabels = (shape: NetShape): Int32Array =>
  Int32Array.from({ length: shape.B }, (_, i) => i % shape.OUT);

/** The input of the rows for `shape` (bench/network.ts' inputData with B*T*IN elements). */
export const networkInput = (shape: NetShape, kind: InputKind): Float32Array =>
  inputData(kind, shape.B * shape.T * shape.IN);

/**
 * The reference of the CUDA rows: one step of a fresh network on host arrays through the CPU
 * emulation of the CUDA launch (the CUDA kernels' per-thread code). Restores the emulation setting.
 */
export function emulatedReference(shape: NetShape, kind: InputKind, mode: Mode, xData: Float32Array): NetStepResult {
  const was = _cudaLaunchEmulation();
  _setCudaLaunchEmulation(true);
  try {
    const net = build(shape, 'cpu', mode);
    const x = Tensor.from(xData, [shape.B, shape.T, shape.IN]);
    return step(net, mode, x, networkLabels(shape), true).result!;
  } finally {
    _setCudaLaunchEmulation(was);
  }
}

/** Compares two step results bit for bit (NaNs by their bits; a length mismatch counts every element). */
export function compareNetworkResults(ref: NetStepResult, got: NetStepResult): NetComparison {
  const mismatches: Record<string, number> = {};
  let elements = 0;
  const cmp = (what: string, a: Float32Array, b: Float32Array): void => {
    elements += Math.max(a.length, b.length);
    const n = bitMismatches(a, b);
    if (n) mismatches[what] = n;
  };
  cmp('linear0', ref.linear0, got.linear0);
  cmp('linear2', ref.linear2, got.linear2);
  cmp('hiddenSpikes', ref.hiddenSpikes, got.hiddenSpikes);
  cmp('outputSpikes', ref.outputSpikes, got.outputSpikes);
  cmp('logits', ref.logits, got.logits);
  if (ref.loss !== null || got.loss !== null) {
    elements += 1;
    const a = ref.loss === null ? null : new Float64Array([ref.loss]);
    const b = got.loss === null ? null : new Float64Array([got.loss]);
    const same = a !== null && b !== null && new BigUint64Array(a.buffer)[0] === new BigUint64Array(b.buffer)[0];
    if (!same) mismatches.loss = 1;
  }
  for (const key of new Set([...Object.keys(ref.grads), ...Object.keys(got.grads)]))
    cmp(`grad ${key}`, ref.grads[key] ?? new Float32Array(0), got.grads[key] ?? new Float32Array(0));
  for (const key of new Set([...Object.keys(ref.params), ...Object.keys(got.params)]))
    cmp(`param ${key}`, ref.params[key] ?? new Float32Array(0), got.params[key] ?? new Float32Array(0));
  return { identical: Object.keys(mismatches).length === 0, elements, mismatches };
}

/**
 * Times one network row on `device` ('cuda:0'; in tests also 'cpu' with the launch emulation on):
 * `reps` runs after one warm-up, each run's tensors disposed after it (outside the timed step).
 * The warm-up run's results are compared bit for bit with `ref`.
 */
export function timeCudaNetworkRow(opts: {
  device: string;
  shape: NetShape;
  kind: InputKind;
  mode: Mode;
  xData: Float32Array;
  reps: number;
  ref: NetStepResult;
}): CudaNetworkRow {
  const { device, shape, kind, mode, reps } = opts;
  const net = build(shape, device, mode);
  const labels = networkLabels(shape);
  const x = Tensor.from(opts.xData, [shape.B, shape.T, shape.IN], { device });
  const times: number[] = [];
  let check: NetComparison | null = null;
  try {
    for (let r = 0; r <= reps; ++r) {
      const t0 = performance.now();
      const { made, result } = step(net, mode, x, labels, r === 0);
      const ms = performance.now() - t0;
      if (result) check = compareNetworkResults(opts.ref, result);
      disposeAll(made);
      if (r > 0) times.push(ms);
    }
  } finally {
    x.dispose();
  }
  return {
    device,
    input: kind,
    mode,
    runs: times.length,
    medianMs: median(times),
    minMs: Math.min(...times),
    maxMs: Math.max(...times),
    cpuMs: null,
    cpuThreads: null,
    speedupVsCpu: null,
    check: check!,
  };
}

/** The line of --require-targets for one row (picked up by the GPU check's summary: `cuda vs cpu ...`). */
export function cudaNetworkVerdictLine(r: CudaNetworkRow): string {
  const ratio =
    r.speedupVsCpu === null ? 'no CPU row' : `${r.speedupVsCpu.toFixed(2)}x the CPU row (${r.cpuThreads} thread(s))`;
  const res = r.check.identical
    ? `identical to the emulated launch (${r.check.elements} values)`
    : `DIFFER from the emulated launch (${Object.entries(r.check.mismatches)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ')})`;
  return `cuda vs cpu network ${r.input}/${r.mode}: ${r.medianMs.toFixed(2)} ms, ${ratio}; ${res}`;
}

/** The verdict of the CUDA network rows: every row's results identical, and the part not stopped early. */
export function cudaNetworkVerdict(rows: CudaNetworkRow[], error: string | null): { ok: boolean; lines: string[] } {
  const lines = rows.map(cudaNetworkVerdictLine);
  let ok = rows.length > 0 && rows.every((r) => r.check.identical);
  if (error) {
    ok = false;
    lines.push(`cuda vs cpu network: stopped early: ${error}`);
  } else if (rows.length === 0) lines.push('cuda vs cpu network: no rows ran');
  return { ok, lines };
}

const f = (v: number | null, d: number): string => (v === null || !Number.isFinite(v) ? '-' : v.toFixed(d));

/** The CUDA network rows as a text table with its legend. */
export function cudaNetworkTable(rows: CudaNetworkRow[], shape: NetShape, reps: number): string[] {
  const head = ['input', 'mode', 'median ms', 'spread ms', 'cpu ms', 'cpu threads', 'cpu / cuda', 'vs emulated launch'];
  const body = rows.map((r) => [
    r.input === 'spikes5' ? '5% spikes' : 'dense',
    r.mode,
    f(r.medianMs, 2),
    `${f(r.minMs, 2)}-${f(r.maxMs, 2)}`,
    f(r.cpuMs, 1),
    r.cpuThreads === null ? '-' : String(r.cpuThreads),
    r.speedupVsCpu === null ? '-' : `${r.speedupVsCpu.toFixed(2)}x`,
    r.check.identical ? 'identical' : 'DIFFER',
  ]);
  return [
    `CUDA network rows on ${rows[0]?.device ?? '-'}: B ${shape.B}, T ${shape.T}, Linear(${shape.IN}, ${shape.HID}) -> LIF(20) -> Linear(${shape.HID}, ${shape.OUT}) -> LIF(20), median of ${reps} after 1 warm-up, every tensor device-resident`,
    '',
    ...textTable(head, body, (k) => k < 2 || k === 7),
    '',
    'cpu ms: the CPU network row of the same input and mode; cpu / cuda = cpu ms / median ms. A step ends with a download (logits, or the last bias after Adam), outputs disposed outside the timed step.',
    'vs emulated launch: the first run (Linear outputs, spikes, logits; training: loss, parameter gradients, parameters after Adam) against the same step through the CPU emulation of the CUDA launch, bit for bit.',
  ];
}

export interface CudaNetworkResult {
  device: string;
  shape: NetShape;
  reps: number;
  rows: CudaNetworkRow[];
  /** The error that stopped the part early, or null. */
  error: string | null;
}

/**
 * The CUDA network rows on `dev`: for each input (5% spikes, dense) and mode, the reference step
 * through the emulated launch, then the timed row. `cpuRows`: the CPU network rows of this run to
 * compare times with (the most threads of the same input and mode); null times one CPU row per
 * input and mode here, at the current thread count (the CPU rows did not run, e.g. --device cuda;
 * only for the SHD shape).
 * An error ends the part; the rows so far are kept.
 */
export function runCudaNetworkBench(opts: {
  dev: string;
  reps: number;
  cpuRows: NetworkRow[] | null;
  shape?: NetShape;
  /** The input data of each kind (B*T*IN elements); default: networkInput, as the CPU rows. */
  input?: (kind: InputKind) => Float32Array;
  log?: (msg: string) => void;
}): CudaNetworkResult {
  const shape = opts.shape ?? SHD_SHAPE;
  const log = opts.log ?? (() => {});
  const res: CudaNetworkResult = { device: opts.dev, shape, reps: opts.reps, rows: [], error: null };
  try {
    for (const kind of ['spikes5', 'dense'] as const) {
      const xData = opts.input ? opts.input(kind) : networkInput(shape, kind);
      for (const mode of ['inference', 'training'] as const) {
        log(`cuda network ${kind} ${mode}: the reference step through the emulated launch`);
        const ref = emulatedReference(shape, kind, mode, xData);
        const row = timeCudaNetworkRow({ device: opts.dev, shape, kind, mode, xData, reps: opts.reps, ref });
        let cpu: NetworkRow | null = null;
        if (opts.cpuRows)
          for (const c of opts.cpuRows)
            if (c.input === kind && c.mode === mode && (!cpu || c.threads > cpu.threads)) cpu = c;
        if (opts.cpuRows === null && shape === SHD_SHAPE) {
          const x = Tensor.from(xData, [shape.B, shape.T, shape.IN]);
          log(`cuda network ${kind} ${mode}: the CPU row at ${getNumThreads()} thread(s) to compare with`);
          cpu = timeRow(getNumThreads(), kind, mode, x, networkLabels(shape), opts.reps, NaN, NaN);
        }
        if (cpu) {
          row.cpuMs = cpu.medianMs;
          row.cpuThreads = cpu.threads;
          row.speedupVsCpu = cpu.medianMs / row.medianMs;
        }
        res.rows.push(row);
        log(cudaNetworkVerdictLine(row));
      }
    }
  } catch (e) {
    res.error =
      e instanceof Error
        ? `${(e as { code?: string }).code ? `${(e as { code?: string }).code}: ` : ''}${e.message}`
        : String(e);
  }
  return res;
}
