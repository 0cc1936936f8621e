/** The CPU rows: the triad bound, every workload x config x mode x path, the thread-count check. */
import { LIF, Tensor } from '../lib/index.js';
import { native } from '../lib/backend.js';
import {
  MB,
  bitsEqual,
  gc,
  maxRssBytes,
  measurePending,
  progress,
  setBound,
  timeLayer,
  timePlain,
  trainingStep,
  type PlainResult,
  type Row,
} from './measure.js';
import type { Options } from './options.js';
import { table, type BenchContext, type GroupOutput, type RowGroup } from './report.js';
import {
  CONFIGS,
  SEED,
  TARGET_RATE,
  calibrate,
  neuronCount,
  scaled,
  shapeOf,
  uniform,
  type Config,
  type Mode,
  type Path,
  type Workload,
} from './workloads.js';

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

/** Times one CPU (workload, config, mode, path) row. */
function timeRow(
  w: Workload,
  cfg: Config,
  mode: Mode,
  path: Path,
  x: Tensor,
  gradOut: Tensor,
  reps: number,
  disposeNew: boolean,
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
  return timeLayer('cpu', w, cfg, mode, path, layer, x, gradOut, out, gradIn, reps, { onFirstOutput, disposeNew });
}

/** The CPU rows, the triad bound and the thread-count determinism check. */
function runCpu(
  opt: Options,
  workloads: Workload[],
  maxThreads: number,
  threads: number,
  reps: number,
  warnings: string[],
): CpuResult {
  // STREAM triad bandwidth, same process, same threads: the bound every row is compared with.
  // Measured before and after the rows; the bound uses the better of the two (like STREAM's
  // best-of-reps, so that a moment of contention from other processes does not loosen the bound).
  const bwBytes = (opt.quick ? 64 : 256) * MB;
  const bwReps = opt.quick ? 3 : 5;
  const measureBandwidth = (when: string): number => {
    progress(
      `measuring memory bandwidth ${when} (triad, ${bwBytes / MB} MiB per array, best of ${bwReps}, ${threads} threads)`,
    );
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
      const plainRow: PlainResult = {
        workload: w.name,
        config: cfg.name,
        ms: p.ms,
        runs: p.runs,
        spikesMatch: true,
        mismatches: 0,
      };
      plain.push(plainRow);
      const checkSpikes = (lif: Float32Array): void => {
        for (let k = 0; k < E; ++k) if (lif[k] !== p.spikes[k]) ++plainRow.mismatches;
        plainRow.spikesMatch = plainRow.mismatches === 0;
        if (!plainRow.spikesMatch)
          warnings.push(
            `WARNING: plain TypeScript forward differs from LIF.forward on ${w.name}/${cfg.name}: ${plainRow.mismatches} of ${E} spike counts`,
          );
      };
      const pendingMeasured = measurePending(w, cfg, x, gradOut);
      for (const mode of ['inference', 'training'] as const) {
        for (const path of ['new', 'out'] as const) {
          const check = mode === 'inference' && path === 'new' ? checkSpikes : undefined;
          const row = timeRow(w, cfg, mode, path, x, gradOut, reps, !opt.keepNew, check);
          setBound(row, bandwidthBefore); // provisional, for the progress line
          if (mode === 'training') row.pendingMeasuredBytesPerNeuronStep = pendingMeasured;
          if (mode === 'inference') {
            row.plainMs = p.ms;
            row.plainRuns = p.runs;
            row.plainOverLif = p.ms / row.medianMs;
          }
          if (row.spikeRate < 0.05 || row.spikeRate > 0.2)
            warnings.push(
              `WARNING: ${w.name}/${cfg.name}/${mode}: spike rate ${(row.spikeRate * 100).toFixed(1)}% is outside 5-20%`,
            );
          rows.push(row);
          progress(
            `row ${rows.length}/${nRows}: ${w.name} ${cfg.name} ${mode} ${path}: ${row.medianMs.toFixed(2)} ms, ` +
              `${row.timeOverBound.toFixed(1)}x bound, spikes ${(row.spikeRate * 100).toFixed(1)}%`,
          );
        }
      }
    }
  }

  // Rows that got much less CPU than their threads could use: something else was running.
  const starved = rows.filter((r) => r.cores < 0.8 * threads);
  if (starved.length)
    warnings.push(
      `WARNING: ${starved.length} of ${rows.length} rows ran on less than 80% of ${threads} cores ` +
        `(lowest ${Math.min(...starved.map((r) => r.cores)).toFixed(2)}): other processes competed for the CPUs and inflated their times`,
    );

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

/** The CPU row group (nothing with --device cuda, or when only GPU-only workloads are selected). */
export const cpuRows: RowGroup = {
  name: 'cpu',
  run(ctx: BenchContext): GroupOutput {
    const { opt, threads, reps } = ctx;
    const cpu = ctx.cpuWorkloads.length
      ? runCpu(opt, ctx.cpuWorkloads, ctx.info.maxThreads, threads, reps, ctx.warnings)
      : null;
    if (cpu) ctx.plain.push(...cpu.plain);
    return {
      header: cpu
        ? [
            `memory bandwidth (STREAM triad, ${cpu.bwBytes / MB} MiB per array, best of ${cpu.bwReps}, ${threads} threads): ${cpu.bandwidthGBs.toFixed(2)} GB/s ` +
              `(before the rows ${cpu.bandwidthBefore.toFixed(2)}, after ${cpu.bandwidthAfter.toFixed(2)}; the bound uses the better)`,
          ]
        : [],
      jsonHead: {
        bandwidthGBs: cpu?.bandwidthGBs ?? null,
        bandwidthBeforeGBs: cpu?.bandwidthBefore ?? null,
        bandwidthAfterGBs: cpu?.bandwidthAfter ?? null,
        bandwidthProbe: cpu ? { bytesPerArray: cpu.bwBytes, reps: cpu.bwReps, threads } : null,
      },
      json: { rows: cpu?.rows ?? [], plain: cpu?.plain ?? [], determinism: cpu?.determinism ?? null },
      text(): string[] {
        if (!cpu) return [];
        const { rows, plain, determinism, allThreads } = cpu;
        const out: string[] = [];
        out.push(
          `runs: median of ${reps} after 1 warm-up; input currents uniform, mean calibrated to ~${TARGET_RATE * 100}% spikes; seed ${SEED}`,
        );
        out.push('');
        out.push(table(rows));
        out.push('');
        out.push(
          'path: new = a new output tensor per call; out = forward(x, { out }) / backward(g, { out }) into reused tensors.',
        );
        out.push('fwd+bwd ms: training rows, medians of the forward and of the backward alone.');
        out.push(
          'Mns/s: 1e6 neuron-steps per second. B/ns: bytes per neuron-step (model). GB/s: model bytes / median time.',
        );
        out.push('bound ms: model bytes / triad bandwidth; x bound = median / bound. spikes: layer.firingRate.');
        out.push(
          `cores: process CPU time / wall time over the timed runs (~${threads} when nothing else competes for the CPUs).`,
        );
        out.push(
          'vs plain: plain TypeScript forward time / LIF forward time (bench/plain.ts); * = plain timed once (over 2 s per run).',
        );
        out.push("+RSS MB: sampled peak RSS around the row's calls minus RSS at its start; RSS MB: that sampled peak.");
        out.push(
          `kept B/ns: bytes per neuron-step a pending training call keeps beyond input/output, 4*S*(ceil(T/K)+1)/T` +
            (gc ? ' (measured ArrayBuffer growth in parentheses)' : ''),
        );
        out.push(`process peak RSS (resourceUsage().maxRSS): ${(maxRssBytes() / MB).toFixed(0)} MB`);
        out.push(
          'plain TypeScript forward: ' +
            plain
              .map(
                (p) =>
                  `${p.workload}/${p.config} ${p.ms.toFixed(1)} ms (${p.runs} run${p.runs > 1 ? 's' : ''}, spikes ${p.spikesMatch ? 'match' : 'DIFFER'})`,
              )
              .join(', '),
        );
        out.push(
          `identical across thread counts: ${determinism.identical ? 'yes' : 'no'} (mlp training step, 1 vs ${allThreads} threads: ` +
            `spikes ${determinism.spikes ? 'same' : 'differ'}, gradInput ${determinism.gradInput ? 'same' : 'differ'}, tauMem grad ${determinism.tauMemGrad ? 'same' : 'differ'})`,
        );
        return out;
      },
    };
  },
};
