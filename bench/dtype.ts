/**
 * The dtype rows: LIF inference on the CPU with compact inputs and spikes (lib/dtype.ts,
 * `spikeDtype`), each against its own byte bound. Per neuron-step the kernel reads the input and
 * writes the spikes once, plus the state in and out of the call (8*S/T bytes):
 *
 *   float32 -> float32    read x 4 + write spikes 4 = 8
 *   float32 -> uint8      read x 4 + write spikes 1 = 5
 *   bfloat16 -> uint8     read x 2 + write spikes 1 = 3
 *
 * The bound of a row is its bytes / the STREAM-triad bandwidth measured in this process with the
 * same threads (the better of a probe before and after the rows, as the CPU rows do). Every row
 * runs eval() with `{ out }` (a preallocated float32 or uint8 tensor, so no row pays for fresh
 * pages), a warm-up and `reps` timed calls from a zero state; it reports the median, min and max
 * (the spread) and median / bound. The spikes of each row are checked against the float32 run
 * on the same input values (the bfloat16 row: the float32 run on the bfloat16-rounded input):
 * equal counts at every element.
 */
import { LIF, Tensor, type Dtype, type SpikeDtype } from '../lib/index.js';
import { native } from '../lib/backend.js';
import { MB, gc, median, progress } from './measure.js';
import { fmt, type BenchContext, type GroupOutput, type RowGroup } from './report.js';
import { textTable } from './text-table.js';
import {
  CONFIGS,
  SEED,
  WORKLOADS,
  calibrate,
  neuronCount,
  scaled,
  shapeOf,
  uniform,
  type Workload,
} from './workloads.js';

/** The dtype combinations of the rows, in order. */
const COMBOS: { input: Dtype; spikes: SpikeDtype }[] = [
  { input: 'float32', spikes: 'float32' },
  { input: 'float32', spikes: 'uint8' },
  { input: 'bfloat16', spikes: 'uint8' },
];

const SIZE: Record<Dtype, number> = { float32: 4, float16: 2, bfloat16: 2, uint8: 1 };

export interface DtypeRow {
  workload: string;
  config: string;
  input: Dtype;
  spikes: SpikeDtype;
  neuronSteps: number;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  bytesPerNeuronStep: number;
  boundMs: number;
  timeOverBound: number;
  effectiveGBs: number;
  spikeRate: number;
  spikesMatch: boolean;
}

interface DtypeResult {
  bandwidthGBs: number;
  bandwidthBefore: number;
  bandwidthAfter: number;
  rows: DtypeRow[];
}

/** Bytes per neuron-step of one dtype row (see the header). */
export function dtypeBytesPerNeuronStep(input: Dtype, spikes: SpikeDtype, states: number, T: number): number {
  return SIZE[input] + SIZE[spikes] + (8 * states) / T;
}

function runDtype(ctx: BenchContext, workloads: Workload[]): DtypeResult {
  const bwBytes = (ctx.opt.quick ? 64 : 256) * MB;
  const bwReps = ctx.opt.quick ? 3 : 5;
  const probe = (when: string): number => {
    progress(`dtype rows: memory bandwidth ${when} (triad, ${bwBytes / MB} MiB per array, best of ${bwReps})`);
    return native().memoryBandwidth(bwBytes, bwReps);
  };
  const bandwidthBefore = probe('before');
  const cfg = CONFIGS[0]!; // defaults (MultiSpike; counts stay far below 255 at the calibrated rate)
  const rows: DtypeRow[] = [];
  for (const w of workloads) {
    const shape = shapeOf(w);
    const E = w.B * w.T * neuronCount(w);
    const xData = scaled(uniform(E, SEED, 0, 2), calibrate(w, cfg));
    const inputs: Record<string, Tensor> = { float32: Tensor.from(xData, shape) };
    inputs.bfloat16 = inputs.float32!.to('bfloat16');
    // the reference spikes: float32 runs on the values each input holds
    const reference = (input: Dtype): Float32Array =>
      new LIF(cfg.options).eval().forward(inputs[input]!.to('float32')).toFloat32Array();
    const refs: Record<string, Float32Array> = { float32: reference('float32'), bfloat16: reference('bfloat16') };
    for (const c of COMBOS) {
      progress(`dtype rows: ${w.name} ${c.input} -> ${c.spikes}`);
      gc?.();
      const layer = new LIF({ ...cfg.options, spikeDtype: c.spikes }).eval();
      const out =
        c.spikes === 'uint8'
          ? Tensor.from(new Uint8Array(E).fill(1), shape, { dtype: 'uint8' })
          : Tensor.full(shape, 1);
      const x = inputs[c.input]!;
      const times: number[] = [];
      let match = true;
      for (let r = 0; r <= ctx.reps; ++r) {
        layer.resetStates();
        const t0 = performance.now();
        layer.forward(x, { out });
        const t1 = performance.now();
        if (r === 0) {
          const got = out.toFloat32Array(),
            want = refs[c.input]!;
          for (let k = 0; k < E && match; ++k) if (got[k] !== want[k]) match = false;
          continue; // warm-up
        }
        times.push(t1 - t0);
      }
      const bpn = dtypeBytesPerNeuronStep(c.input, c.spikes, layer.hasSynapse ? 2 : 1, w.T);
      const med = median(times);
      rows.push({
        workload: w.name,
        config: cfg.name,
        input: c.input,
        spikes: c.spikes,
        neuronSteps: E,
        runs: times.length,
        medianMs: med,
        minMs: Math.min(...times),
        maxMs: Math.max(...times),
        bytesPerNeuronStep: bpn,
        boundMs: NaN,
        timeOverBound: NaN,
        effectiveGBs: (bpn * E) / (med / 1e3) / 1e9,
        spikeRate: layer.firingRate!,
        spikesMatch: match,
      });
    }
  }
  const bandwidthAfter = probe('after');
  const bandwidthGBs = Math.max(bandwidthBefore, bandwidthAfter);
  for (const r of rows) {
    r.boundMs = ((r.bytesPerNeuronStep * r.neuronSteps) / (bandwidthGBs * 1e9)) * 1e3;
    r.timeOverBound = r.medianMs / r.boundMs;
  }
  if (rows.some((r) => !r.spikesMatch))
    ctx.warnings.push('WARNING: dtype rows: some spikes differ from the float32 run on the same values');
  return { bandwidthGBs, bandwidthBefore, bandwidthAfter, rows };
}

function dtypeTable(rows: DtypeRow[]): string {
  const head = [
    'workload',
    'input -> spikes',
    'runs',
    'median ms',
    'min ms',
    'max ms',
    'B/ns',
    'GB/s',
    'bound ms',
    'x bound',
    'spikes',
    'match',
  ];
  const body = rows.map((r) => [
    r.workload,
    `${r.input} -> ${r.spikes}`,
    String(r.runs),
    fmt(r.medianMs, 2),
    fmt(r.minMs, 2),
    fmt(r.maxMs, 2),
    fmt(r.bytesPerNeuronStep, 2),
    fmt(r.effectiveGBs, 2),
    fmt(r.boundMs, 2),
    fmt(r.timeOverBound, 2),
    `${(r.spikeRate * 100).toFixed(1)}%`,
    r.spikesMatch ? 'yes' : 'NO',
  ]);
  return textTable(head, body, (k) => k < 2).join('\n');
}

/** The dtype rows (CPU, inference, the CPU workloads --only selects, defaults config). */
export const dtypeRows: RowGroup = {
  name: 'dtype',
  run(ctx: BenchContext): GroupOutput {
    const wanted = ctx.opt.only === null || ctx.opt.only.includes('dtype');
    // the CPU workloads selected, or mlp with `--only dtype` alone
    const workloads = ctx.cpuWorkloads.length ? ctx.cpuWorkloads : WORKLOADS.filter((w) => w.name === 'mlp');
    if (!wanted || ctx.opt.device === 'cuda' || workloads.length === 0)
      return { header: [], jsonHead: {}, json: {}, text: () => [] };
    const res = runDtype(ctx, workloads);
    return {
      header: [],
      jsonHead: {},
      json: { dtype: res },
      text: () => [
        '',
        `dtype rows (inference, { out }, config ${CONFIGS[0]!.name}; bytes per neuron-step: float32 -> float32 8, float32 -> uint8 5, bfloat16 -> uint8 3, plus 8*S/T state I/O;` +
          ` bound at triad ${res.bandwidthGBs.toFixed(2)} GB/s, best of ${res.bandwidthBefore.toFixed(2)} before and ${res.bandwidthAfter.toFixed(2)} after):`,
        dtypeTable(res.rows),
      ],
    };
  },
};
