/**
 * Scaling: the cost of the LIF layer against the number of steps T (10 to 10,000, B 2, N 1024:
 * the backward stays O(T)), against the number of neurons N (1,000 to 1,000,000, B 1, T 32), and
 * at 1 and 2 kernel threads (or --threads N only). Each point runs inference (eval forward with
 * `{ out }`) and a training step (forward + backward with `{ out }`), median of the repetitions
 * after one warm-up, with the min-max spread; as ns per neuron-step and as the ratio to the byte
 * bound of bench/run.ts (model bytes / the STREAM triad measured in this process at the same
 * thread count, the better of before and after the points).
 *
 * Run by `npm run bench` (bench/run.ts), or alone with `--only scaling`; --quick stops at
 * T 1,000 and N 100,000.
 */
import { CHECKPOINT_INTERVAL, LIF, Tensor, getNumThreads, setNumThreads } from '../lib/index.js';
import { native } from '../lib/backend.js';
import { MB, median, progress } from './measure.js';
import type { BenchContext, GroupOutput, RowGroup } from './report.js';
import { bytesPerNeuronStep, uniform, type Mode } from './workloads.js';

interface Point {
  sweep: 'T' | 'N';
  B: number;
  T: number;
  N: number;
}

export interface ScalingRow extends Point {
  threads: number;
  mode: Mode;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  nsPerNeuronStep: number;
  bytesPerNeuronStep: number;
  boundMs: number;
  timeOverBound: number;
}

export interface ScalingResult {
  triadGBs: Record<number, number>;
  rows: ScalingRow[];
}

function points(quick: boolean): Point[] {
  const Ts = quick ? [10, 100, 1000] : [10, 100, 1000, 10000];
  const Ns = quick ? [1000, 10000, 100000] : [1000, 10000, 100000, 1000000];
  return [
    ...Ts.map((T): Point => ({ sweep: 'T', B: 2, T, N: 1024 })),
    ...Ns.map((N): Point => ({ sweep: 'N', B: 1, T: 32, N })),
  ];
}

function timePoint(p: Point, mode: Mode, reps: number): number[] {
  const shape = [p.B, p.T, p.N];
  const E = p.B * p.T * p.N;
  const x = Tensor.from(uniform(E, 11, 0, 0.3), shape);
  const out = Tensor.full(shape, 0);
  const layer = new LIF({ tauMem: 20 });
  const times: number[] = [];
  if (mode === 'inference') {
    layer.eval();
    for (let r = 0; r <= reps; ++r) {
      layer.resetStates();
      const t0 = performance.now();
      layer.forward(x, { out });
      if (r > 0) times.push(performance.now() - t0);
    }
  } else {
    layer.train();
    const g = Tensor.from(uniform(E, 12, -1, 1), shape);
    const gradIn = Tensor.full(shape, 0);
    for (let r = 0; r <= reps; ++r) {
      layer.resetStates();
      const t0 = performance.now();
      layer.forward(x, { out });
      layer.backward(g, { out: gradIn });
      if (r > 0) times.push(performance.now() - t0);
    }
  }
  return times;
}

export function runScaling(threadsList: number[], quick: boolean): ScalingResult {
  const reps = quick ? 3 : 5;
  const bwBytes = (quick ? 64 : 256) * MB;
  const prev = getNumThreads();
  const rows: ScalingRow[] = [];
  const triadGBs: Record<number, number> = {};
  try {
    for (const threads of threadsList) {
      setNumThreads(threads);
      const before = native().memoryBandwidth(bwBytes, 5);
      const mine: ScalingRow[] = [];
      for (const p of points(quick)) {
        for (const mode of ['inference', 'training'] as const) {
          const t = timePoint(p, mode, reps);
          const E = p.B * p.T * p.N;
          const med = median(t);
          mine.push({
            ...p,
            threads,
            mode,
            runs: t.length,
            medianMs: med,
            minMs: Math.min(...t),
            maxMs: Math.max(...t),
            nsPerNeuronStep: (med * 1e6) / E,
            bytesPerNeuronStep: bytesPerNeuronStep(mode, 1, p.T, CHECKPOINT_INTERVAL),
            boundMs: NaN,
            timeOverBound: NaN,
          });
          progress(`scaling, ${threads} thread(s), B ${p.B} T ${p.T} N ${p.N} ${mode}: ${med.toFixed(2)} ms`);
        }
      }
      const bw = Math.max(before, native().memoryBandwidth(bwBytes, 5));
      triadGBs[threads] = bw;
      for (const r of mine) {
        r.boundMs = ((r.bytesPerNeuronStep * r.B * r.T * r.N) / (bw * 1e9)) * 1e3;
        r.timeOverBound = r.medianMs / r.boundMs;
      }
      rows.push(...mine);
    }
  } finally {
    setNumThreads(prev);
  }
  return { triadGBs, rows };
}

export function scalingTable(res: ScalingResult): string[] {
  const out = [
    `scaling (defaults config, { out }; median of ${res.rows[0]?.runs ?? 0} after 1 warm-up [min-max]); triad ` +
      Object.entries(res.triadGBs)
        .map(([t, g]) => `${g.toFixed(2)} GB/s at ${t} thread(s)`)
        .join(', '),
    'sweep  threads       B      T        N  mode       median ms [min-max]        ns/el  B/ns   x bound',
  ];
  for (const r of res.rows)
    out.push(
      [
        r.sweep.padEnd(5),
        String(r.threads).padStart(7),
        String(r.B).padStart(5),
        String(r.T).padStart(6),
        String(r.N).padStart(8),
        r.mode.padEnd(9),
        `${r.medianMs.toFixed(3)} [${r.minMs.toFixed(3)}-${r.maxMs.toFixed(3)}]`.padStart(26),
        r.nsPerNeuronStep.toFixed(3).padStart(7),
        r.bytesPerNeuronStep.toFixed(2).padStart(5),
        r.timeOverBound.toFixed(2).padStart(8),
      ].join('  '),
    );
  return out;
}

/** The scaling row group (CPU; runs unless --device cuda or --only names other parts). */
export const scalingRows: RowGroup = {
  name: 'scaling',
  run(ctx: BenchContext): GroupOutput {
    const want = ctx.opt.device !== 'cuda' && (ctx.opt.only === null || ctx.opt.only.includes('scaling'));
    const threads = ctx.opt.threads !== null ? [ctx.opt.threads] : [1, 2];
    const res = want ? runScaling(threads, ctx.opt.quick) : null;
    return {
      header: [],
      jsonHead: {},
      json: { scaling: res },
      text: (afterSection) => (res ? [...(afterSection ? [''] : []), ...scalingTable(res)] : []),
    };
  },
};
