/**
 * The CUDA rows, where a usable GPU exists: the copy-bandwidth bound, the CPU-vs-CUDA check and
 * every workload x config x mode x path (plus the GPU-only `big`) with device-resident tensors.
 */
import { LIF, Tensor, backendInfo, getNumThreads } from '../lib/index.js';
import { native, resolveDevice } from '../lib/backend.js';
import {
  MB,
  bitMismatches,
  bitsEqual,
  gc,
  progress,
  setBound,
  timeLayer,
  trainingStep,
  type PlainResult,
  type Row,
} from './measure.js';
import { fmt, table, type BenchContext, type GroupOutput, type RowGroup } from './report.js';
import {
  CONFIGS,
  SEED,
  WORKLOADS,
  calibrate,
  neuronCount,
  scaled,
  shapeOf,
  uniform,
  uniformScaled,
  type Config,
  type Mode,
  type Path,
  type Workload,
} from './workloads.js';

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
  w: Workload,
  cfg: Config,
  mode: Mode,
  path: Path,
  x: Tensor,
  gradOut: Tensor,
  reps: number,
  dev: string,
  onFirstOutput?: (spikes: Float32Array) => void,
): Row {
  const layer = new LIF({ ...cfg.options, device: dev });
  if (mode === 'inference') layer.eval();
  else layer.train();
  const out = path === 'out' ? x.clone() : null;
  const gradIn = path === 'out' && mode === 'training' ? x.clone() : null;
  try {
    const row = timeLayer(dev, w, cfg, mode, path, layer, x, gradOut, out, gradIn, reps, {
      onFirstOutput,
      disposeNew: true,
      slow: { ms: SLOW_WARMUP_MS, reps: SLOW_REPS },
    });
    row.gpuPeakMB = null; // no device-memory query in the addon: printed as n/a
    return row;
  } finally {
    out?.dispose();
    gradIn?.dispose();
  }
}

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
export function usableGpu(cuda: { available: boolean; code: string; reason: string }): {
  dev: string | null;
  code: string;
  reason: string;
} {
  if (!cuda.available) return { dev: null, code: cuda.code, reason: cuda.reason };
  try {
    return { dev: resolveDevice('cuda:0', 'bench: --device cuda'), code: '', reason: '' };
  } catch (e) {
    return {
      dev: null,
      code: (e as { code?: string }).code ?? 'ERR_CUDA_UNAVAILABLE',
      reason: e instanceof Error ? e.message : String(e),
    };
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
      bytes: COPY_BYTES,
      reps: COPY_REPS,
      device: index,
      counts: 'read + write bytes (2 x bytes per copy)',
      timing: 'CUDA events, best of reps',
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
    progress(
      `measuring ${dev} copy bandwidth ${when} (device-to-device, ${COPY_BYTES / MB} MiB, best of ${COPY_REPS})`,
    );
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
      workload: 'mlp',
      config: CONFIGS[0]!.name,
      mode: 'training',
      spikes: spikeMismatches === 0,
      gradInput: gradInputMismatches === 0,
      tauMemGrad: bitsEqual(c.tauGrad, g.tauGrad),
      spikeMismatches,
      gradInputMismatches,
      identical: spikeMismatches === 0 && gradInputMismatches === 0,
    };
    if (!res.cpuVsCuda.identical)
      warnings.push(
        `WARNING: cpu and cuda differ on the mlp defaults training step: ${spikeMismatches} spike counts and ` +
          `${gradInputMismatches} gradInput values of ${c.spikes.length} are not bit-identical`,
      );

    const nRows = workloads.length * CONFIGS.length * 4;
    for (const w of workloads) {
      const shape = shapeOf(w);
      const E = w.B * w.T * neuronCount(w);
      progress(
        `cuda ${w.name}: making the device tensors ([${shape.join(', ')}], ${((4 * E) / 1e9).toFixed(2)} GB each)`,
      );
      // the same inputs as the CPU rows (same seeds); `big` makes each input in one pass
      const base = w.gpuOnly ? null : uniform(E, SEED, 0, 2);
      const gradOut = Tensor.from(uniform(E, SEED + 2, -1, 1), shape, { device: dev });
      try {
        for (const cfg of CONFIGS) {
          const scale = calibrate(w, cfg);
          let xData: Float32Array | null = base ? scaled(base, scale) : uniformScaled(E, SEED, 0, 2, scale);
          const x = Tensor.from(xData, shape, { device: dev });
          // reference spikes: the CPU layer on the same input (not for the GPU-only workloads)
          const ref = w.gpuOnly
            ? null
            : new LIF(cfg.options).eval().forward(Tensor.from(xData, shape)).toFloat32Array();
          xData = null; // the host copy of a 2.1 GB input is garbage from here on
          gc?.();
          const p = plain.find((q) => q.workload === w.name && q.config === cfg.name);
          progress(`cuda ${w.name} ${cfg.name}: input mean ${scale.toFixed(3)}`);
          try {
            for (const mode of ['inference', 'training'] as const) {
              for (const path of ['new', 'out'] as const) {
                const check =
                  ref && mode === 'inference' && path === 'new'
                    ? (spikes: Float32Array): void => {
                        let mismatches = 0;
                        for (let k = 0; k < E; ++k) if (spikes[k] !== ref[k]) ++mismatches;
                        res.spikeChecks.push({
                          workload: w.name,
                          config: cfg.name,
                          mismatches,
                          elements: E,
                          match: mismatches === 0,
                        });
                        if (mismatches)
                          warnings.push(
                            `WARNING: cuda LIF.forward differs from the cpu LIF.forward on ${w.name}/${cfg.name}: ${mismatches} of ${E} spike counts`,
                          );
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
                  warnings.push(
                    `WARNING: cuda ${w.name}/${cfg.name}/${mode}: spike rate ${(row.spikeRate * 100).toFixed(1)}% is outside 5-20%`,
                  );
                res.rows.push(row);
                progress(
                  `cuda row ${res.rows.length}/${nRows}: ${w.name} ${cfg.name} ${mode} ${path}: ${row.medianMs.toFixed(3)} ms ` +
                    `(${row.runs} runs), ${row.percentOfCopyBandwidth!.toFixed(1)}% of copy bandwidth, spikes ${(row.spikeRate * 100).toFixed(1)}%`,
                );
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
    res.error =
      e instanceof Error
        ? `${(e as { code?: string }).code ? `${(e as { code?: string }).code}: ` : ''}${e.message}`
        : String(e);
    warnings.push(`WARNING: the CUDA part stopped early (${res.rows.length} rows done): ${res.error}`);
    process.exitCode = 1;
  }
  if (Number.isFinite(res.copyBandwidthGBs)) for (const row of res.rows) setBound(row, res.copyBandwidthGBs);

  for (const row of res.rows) {
    if (row.workload !== 'big' || row.percentOfCopyBandwidth === null) continue;
    const minPercent = row.mode === 'inference' ? TARGET_FORWARD_PERCENT : TARGET_TRAINING_PERCENT;
    res.targets.push({
      config: row.config,
      mode: row.mode,
      path: row.path,
      percentOfCopyBandwidth: row.percentOfCopyBandwidth,
      minPercent,
      met: row.percentOfCopyBandwidth >= minPercent,
    });
  }
  return res;
}

/**
 * The verdict of --require-targets on the CUDA rows: every target on `big` met, the CPU-vs-CUDA
 * check and the spike checks identical, and the CUDA part not stopped early. One line per target
 * (its % of the copy bandwidth, the minimum and their ratio) and per failed check.
 */
export function gpuVerdict(g: GpuResult): { ok: boolean; lines: string[] } {
  const lines: string[] = [];
  let ok = true;
  const bad = (line: string): void => {
    ok = false;
    lines.push(line);
  };
  if (g.error) bad(`CUDA part stopped early: ${g.error}`);
  if (g.rows.length === 0) bad('no CUDA rows were measured');
  if (!g.cpuVsCuda) bad('cpu-vs-cuda check: not run');
  else if (!g.cpuVsCuda.identical)
    bad(
      `cpu-vs-cuda check: DIFFER (${g.cpuVsCuda.spikeMismatches} spike counts, ${g.cpuVsCuda.gradInputMismatches} gradInput values)`,
    );
  else lines.push('cpu-vs-cuda check: identical');
  for (const c of g.spikeChecks)
    if (!c.match) bad(`cuda vs cpu spikes ${c.workload}/${c.config}: DIFFER (${c.mismatches} of ${c.elements})`);
  if (g.targets.length === 0) bad('no target rows (the big workload did not run)');
  for (const t of g.targets) {
    const line =
      `target big/${t.config}/${t.mode}/${t.path}: ${t.percentOfCopyBandwidth.toFixed(1)}% of copy bandwidth, ` +
      `minimum ${t.minPercent}%, ratio ${(t.percentOfCopyBandwidth / t.minPercent).toFixed(2)}: ${t.met ? 'met' : 'MISSED'}`;
    if (t.met) lines.push(line);
    else bad(line);
  }
  return { ok, lines };
}

/** The CUDA row group (where wanted and a usable GPU exists; a line saying why not otherwise). */
export const gpuRows: RowGroup = {
  name: 'cuda',
  run(ctx: BenchContext): GroupOutput {
    const { gpu, wantGpu, reps, noGpuLine } = ctx;
    const gpuRes = wantGpu && gpu.dev ? runGpu(gpu.dev, ctx.workloads, reps, ctx.plain, ctx.warnings) : null;
    return {
      ...(gpuRes ? { verdict: gpuVerdict(gpuRes) } : {}),
      header: gpuRes
        ? [
            `gpu: ${gpuRes.name} (${gpuRes.device}, compute capability ${gpuRes.computeCapability}${gpuRes.memoryGiB === null ? '' : `, ${gpuRes.memoryGiB.toFixed(1)} GiB`}); ` +
              `copy bandwidth (device-to-device, ${COPY_BYTES / MB} MiB, best of ${COPY_REPS}, read + write bytes): ${fmt(gpuRes.copyBandwidthGBs, 1)} GB/s ` +
              `(before the rows ${fmt(gpuRes.copyBandwidthBeforeGBs, 1)}, after ${fmt(gpuRes.copyBandwidthAfterGBs, 1)}; the bound uses the better)`,
          ]
        : [],
      jsonHead: {},
      json: {
        gpu: gpuRes
          ? { requested: true, available: true, ...gpuRes }
          : {
              requested: wantGpu,
              available: gpu.dev !== null,
              code: gpu.code,
              reason: gpu.dev ? 'CUDA rows not requested (--device cpu)' : gpu.reason,
              rows: [],
            },
      },
      text(afterSection: boolean): string[] {
        const out: string[] = [];
        if (!gpuRes) {
          if (wantGpu && !gpu.dev) out.push(`CUDA rows: skipped, ${noGpuLine}`);
          return out;
        }
        const g = gpuRes;
        if (afterSection) out.push('');
        out.push(
          `CUDA rows on ${g.device} (${g.name}): median of ${reps} after 1 warm-up` +
            (SLOW_REPS < reps
              ? ` (${SLOW_REPS} where the warm-up took over ${SLOW_WARMUP_MS / 1000} s; runs: ${[...new Set(g.rows.map((r) => r.runs))].join('/')})`
              : '') +
            '; ' +
            `same inputs and seeds as the CPU rows; every tensor device-resident`,
        );
        out.push('');
        out.push(g.rows.length ? table(g.rows, true) : '(no CUDA rows)');
        out.push('');
        out.push(
          'Timing: forward/backward on CUDA return after their kernels finished (synchronous), so each call is timed with performance.now().',
        );
        out.push(
          'bound ms: model bytes / copy bandwidth; x bound = median / bound; % copy bw = bound / median * 100 (the share of the copy bandwidth reached).',
        );
        out.push(
          'vs plain: plain TypeScript forward time (from the CPU rows) / CUDA forward time. kept B/ns: the model (device memory is not measured).',
        );
        const gpuOnly = WORKLOADS.filter((w) => w.gpuOnly)
          .map(
            (w) =>
              `${w.name} ([${shapeOf(w).join(', ')}], ${((4 * w.B * w.T * neuronCount(w)) / 1e9).toFixed(1)} GB per tensor)`,
          )
          .join(', ');
        out.push(`cores, +RSS MB, RSS MB: the host process, as in the CPU rows. Only on CUDA: ${gpuOnly}.`);
        out.push(`peak GPU memory: ${g.peakMemory} (the addon has no device-memory query)`);
        if (g.spikeChecks.length)
          out.push(
            'cuda vs cpu inference spikes: ' +
              g.spikeChecks
                .map(
                  (s) => `${s.workload}/${s.config} ${s.match ? 'match' : `DIFFER (${s.mismatches} of ${s.elements})`}`,
                )
                .join(', ') +
              (g.rows.some((r) => r.workload === 'big') ? ' (big: not checked)' : ''),
          );
        if (g.cpuVsCuda) {
          const c = g.cpuVsCuda;
          out.push(
            `cpu and cuda identical: ${c.identical ? 'yes' : 'no'} (mlp defaults training step: spikes ${c.spikes ? 'same' : `differ (${c.spikeMismatches})`}, ` +
              `gradInput ${c.gradInput ? 'same' : `differ (${c.gradInputMismatches})`}; tauMem grad, not part of the check: ${c.tauMemGrad ? 'same' : 'differs'})`,
          );
        } else out.push('cpu and cuda identical: not checked (the CUDA part stopped before the check)');
        if (g.targets.length) {
          const part = (mode: Mode): string =>
            g.targets
              .filter((t) => t.mode === mode)
              .map((t) => `${t.config} ${t.path} ${t.percentOfCopyBandwidth.toFixed(1)}%${t.met ? '' : ' (below)'}`)
              .join(', ');
          const met = (mode: Mode): string => {
            const ts = g.targets.filter((t) => t.mode === mode);
            return ts.length === 0 ? 'no rows' : ts.every((t) => t.met) ? 'met' : 'NOT met';
          };
          out.push(
            `targets on big (% of copy bandwidth): forward >= ${TARGET_FORWARD_PERCENT}%: ${part('inference')} -> ${met('inference')}; ` +
              `training step >= ${TARGET_TRAINING_PERCENT}%: ${part('training')} -> ${met('training')}`,
          );
        }
        if (g.error) out.push(`CUDA part stopped early: ${g.error}`);
        return out;
      },
    };
  },
};
