/**
 * Small calls: the fixed cost of one LIF call, as a Node data pipeline feeding a sensor stream in
 * small chunks pays it. For each call shape (B, T, N): a forward with `{ out }` in eval mode, and
 * a forward + backward in training mode with `{ out }` for both, each timed over a batch of calls
 * (per-call microseconds = batch time / calls), the batch repeated; median and min-max spread of
 * the repetitions, at 1 and 2 kernel threads (or --threads N only). Targets: about 3 us for the
 * forward of (1, 1, 64), about 10 us for its forward + backward.
 *
 * Run by `npm run bench` (bench/run.ts), or alone with `--only small`.
 */
import { LIF, Tensor, getNumThreads, setNumThreads } from '../lib/index.js';
import { median, progress } from './measure.js';
import type { BenchContext, GroupOutput, RowGroup } from './report.js';
import { uniform } from './workloads.js';

export const SMALL_SHAPES: [number, number, number][] = [
  [1, 1, 64],
  [1, 1, 1024],
  [1, 10, 1024],
  [1, 100, 1024],
];

export interface SmallRow {
  threads: number;
  shape: [number, number, number];
  /** Per-call microseconds: median over the repetitions, and their min and max. */
  forwardUs: number;
  forwardMinUs: number;
  forwardMaxUs: number;
  trainUs: number;
  trainMinUs: number;
  trainMaxUs: number;
  /** Neuron-steps per second of the forward (median). */
  forwardNeuronStepsPerSec: number;
  repetitions: number;
}

/** Per-call microseconds of `call`, over batches of calls lasting about `batchMs` each. */
function perCall(call: () => void, reps: number, batchMs: number): number[] {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < batchMs) {
    call();
    ++n;
  }
  const calls = Math.max(20, n);
  const out: number[] = [];
  for (let r = 0; r < reps; ++r) {
    const t = performance.now();
    for (let k = 0; k < calls; ++k) call();
    out.push(((performance.now() - t) * 1e3) / calls);
  }
  return out;
}

export function runSmall(threadsList: number[], quick: boolean): SmallRow[] {
  const reps = quick ? 3 : 7;
  const batchMs = quick ? 20 : 60;
  const prev = getNumThreads();
  const rows: SmallRow[] = [];
  try {
    for (const threads of threadsList) {
      setNumThreads(threads);
      for (const shape of SMALL_SHAPES) {
        const E = shape[0] * shape[1] * shape[2];
        const x = Tensor.from(uniform(E, 7, 0, 0.3), shape);
        const g = Tensor.from(uniform(E, 8, -1, 1), shape);
        const out = Tensor.full(shape, 0),
          gradIn = Tensor.full(shape, 0);
        const ev = new LIF({ tauMem: 20 }).eval();
        const fwd = perCall(() => void ev.forward(x, { out }), reps, batchMs);
        const tr = new LIF({ tauMem: 20 }).train();
        const train = perCall(
          () => {
            tr.forward(x, { out });
            tr.backward(g, { out: gradIn });
          },
          reps,
          batchMs,
        );
        const row: SmallRow = {
          threads,
          shape,
          forwardUs: median(fwd),
          forwardMinUs: Math.min(...fwd),
          forwardMaxUs: Math.max(...fwd),
          trainUs: median(train),
          trainMinUs: Math.min(...train),
          trainMaxUs: Math.max(...train),
          forwardNeuronStepsPerSec: E / (median(fwd) / 1e6),
          repetitions: reps,
        };
        rows.push(row);
        progress(
          `small calls, ${threads} thread(s), (${shape.join(', ')}): forward ${row.forwardUs.toFixed(1)} us, forward + backward ${row.trainUs.toFixed(1)} us`,
        );
      }
    }
  } finally {
    setNumThreads(prev);
  }
  return rows;
}

export function smallTable(rows: SmallRow[]): string[] {
  const out = [
    `small calls (eval forward with { out }; training forward + backward with { out }): per-call us, median of ${rows[0]?.repetitions ?? 0} batches [min-max]`,
    'threads  (B, T, N)       forward, out us         G ns/s   forward + backward us',
  ];
  const spread = (m: number, lo: number, hi: number): string => `${m.toFixed(1)} [${lo.toFixed(1)}-${hi.toFixed(1)}]`;
  for (const r of rows)
    out.push(
      [
        String(r.threads).padEnd(7),
        `(${r.shape.join(', ')})`.padEnd(14),
        spread(r.forwardUs, r.forwardMinUs, r.forwardMaxUs).padStart(22),
        (r.forwardNeuronStepsPerSec / 1e9).toFixed(2).padStart(8),
        spread(r.trainUs, r.trainMinUs, r.trainMaxUs).padStart(24),
      ].join('  '),
    );
  out.push('targets for (1, 1, 64): forward about 3 us, forward + backward about 10 us');
  return out;
}

/** The small-call row group (CPU; runs unless --device cuda or --only names other parts). */
export const smallRows: RowGroup = {
  name: 'small',
  run(ctx: BenchContext): GroupOutput {
    const want = ctx.opt.device !== 'cuda' && (ctx.opt.only === null || ctx.opt.only.includes('small'));
    const threads = ctx.opt.threads !== null ? [ctx.opt.threads] : [1, 2];
    const rows = want ? runSmall(threads, ctx.opt.quick) : null;
    return {
      header: [],
      jsonHead: {},
      json: { small: rows },
      text: (afterSection) => (rows ? [...(afterSection ? [''] : []), ...smallTable(rows)] : []),
    };
  },
};
