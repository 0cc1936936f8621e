/**
 * The report: the row-group interface every part of the benchmark implements, the run context
 * they share, the rows table, and the assembly of the text and JSON documents.
 */
import fs from 'node:fs';
import os from 'node:os';
import { CHECKPOINT_INTERVAL, type BackendInfo } from '../lib/index.js';
import type { Options } from './options.js';
import type { PlainResult, Row } from './measure.js';
import type { Workload } from './workloads.js';
import { textTable } from './text-table.js';

/** What every row group sees: the options, the machine, the selection and the shared results. */
export interface BenchContext {
  opt: Options;
  info: BackendInfo;
  threads: number;
  /** Timed runs per row (after one warm-up). */
  reps: number;
  /** The workloads --only selects (GPU-only ones included). */
  workloads: Workload[];
  /** The workloads of the CPU rows (none with --device cuda). */
  cpuWorkloads: Workload[];
  /** Whether CUDA rows are wanted (not --device cpu). */
  wantGpu: boolean;
  /** The GPU of the CUDA rows ('cuda:0'), or why there is none. */
  gpu: { dev: string | null; code: string; reason: string };
  noGpuLine: string;
  machine: Machine;
  /** The plain TypeScript baselines, filled by the CPU rows (the CUDA rows compare with them). */
  plain: PlainResult[];
  /** Lines printed after the report (and listed in the JSON). */
  warnings: string[];
}

/** What a row group contributes to the report. */
export interface GroupOutput {
  /** Lines of the text header, after the machine lines and before the byte model. */
  header: string[];
  /** Fields of the JSON document before `reps` (e.g. the bandwidth probe). */
  jsonHead: Record<string, unknown>;
  /** Fields of the JSON document after `checkpointInterval` (e.g. `rows`, `gpu`). */
  json: Record<string, unknown>;
  /** The group's section of the text report; `afterSection`: an earlier group printed a section. */
  text(afterSection: boolean): string[];
  /**
   * For --require-targets: whether the group's targets and checks passed, with one line per target
   * or check. Groups without targets leave it out.
   */
  verdict?: { ok: boolean; lines: string[] };
}

/** A part of the benchmark: runs its rows (or nothing) and describes them. */
export interface RowGroup {
  name: string;
  run(ctx: BenchContext): GroupOutput;
}

export type Machine = ReturnType<typeof describeMachine>;

export function fmt(v: number | null, digits: number): string {
  return v === null || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

/** The rows as a table; `gpu` adds the "% copy bw" column (CUDA rows: bound / median * 100). */
export function table(rows: Row[], gpu = false): string {
  const head = [
    'workload',
    'config',
    'mode',
    'path',
    'median ms',
    'min ms',
    'fwd+bwd ms',
    'Mns/s',
    'B/ns',
    'GB/s',
    'bound ms',
    'x bound',
    ...(gpu ? ['% copy bw'] : []),
    'cores',
    'spikes',
    'vs plain',
    '+RSS MB',
    'RSS MB',
    'kept B/ns',
  ];
  // CUDA rows: times of a few ms and below need more digits than the CPU rows' one decimal
  const fb = (v: number): string => (gpu ? v.toFixed(v < 10 ? 2 : 1) : v.toFixed(1));
  const body = rows.map((r) => [
    r.workload,
    r.config,
    r.mode,
    r.path,
    fmt(r.medianMs, gpu && r.medianMs < 1 ? 3 : 2),
    fmt(r.minMs, gpu && r.minMs < 1 ? 3 : 2),
    r.backwardMedianMs === null ? '-' : `${fb(r.forwardMedianMs)}+${fb(r.backwardMedianMs)}`,
    fmt(r.neuronStepsPerSec / 1e6, 0),
    fmt(r.bytesPerNeuronStep, 2),
    fmt(r.effectiveGBs, 2),
    fmt(r.boundMs, gpu && r.boundMs < 1 ? 3 : 2),
    fmt(r.timeOverBound, 1),
    ...(gpu ? [r.percentOfCopyBandwidth === null ? '-' : `${r.percentOfCopyBandwidth.toFixed(1)}%`] : []),
    fmt(r.cores, 2),
    `${(r.spikeRate * 100).toFixed(1)}%`,
    r.plainOverLif === null ? '-' : `${r.plainOverLif.toFixed(1)}x${r.plainRuns === 1 ? '*' : ''}`,
    fmt(r.rssDeltaMB, 0),
    fmt(r.rssPeakMB, 0),
    r.pendingModelBytesPerNeuronStep === null
      ? '-'
      : `${r.pendingModelBytesPerNeuronStep.toFixed(3)}` +
        (r.pendingMeasuredBytesPerNeuronStep === null ? '' : ` (${r.pendingMeasuredBytesPerNeuronStep.toFixed(3)})`),
  ]);
  return textTable(head, body, (k) => k < 4).join('\n'); // the first four columns are text
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

/** The machine block of the report (read when the run starts). */
export function describeMachine(info: BackendInfo, threads: number) {
  return {
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
}

const BYTE_MODEL = {
  inference: '8 + 8*S/T  (read x, write spikes; state in/out per call)',
  training:
    '20 + 8*S*ceil(T/K)/T + 16*S/T  (forward 8, backward 12, checkpoints written and read, state in/out of both kernels)',
  S: 'states: 1 (defaults), 2 (tauSyn)',
  K: CHECKPOINT_INTERVAL,
  convention: 'each element read or written counts once (write-allocate not counted), like the triad',
};

/** The JSON document: the machine, each group's head fields, the run settings, each group's fields, the warnings. */
export function jsonReport(ctx: BenchContext, outputs: GroupOutput[]): string {
  const doc: Record<string, unknown> = { machine: ctx.machine, device: ctx.opt.device };
  for (const o of outputs) Object.assign(doc, o.jsonHead);
  Object.assign(doc, {
    reps: ctx.reps,
    quick: ctx.opt.quick,
    byteModel: BYTE_MODEL,
    checkpointInterval: CHECKPOINT_INTERVAL,
  });
  for (const o of outputs) Object.assign(doc, o.json);
  doc.warnings = ctx.warnings;
  return JSON.stringify(doc, null, 2);
}

/** The text report: the header (machine, each group's header lines, the byte model), each group's section, the warnings. */
export function textReport(ctx: BenchContext, outputs: GroupOutput[]): string {
  const { machine, info, threads } = ctx;
  const out: string[] = [];
  out.push(`spikelayers ${info.version} LIF benchmark, ${machine.date}`);
  out.push(
    `cpu: ${machine.cpu} (${machine.logicalCpus} logical CPUs), kernel threads ${threads}, simd ${machine.simd}${machine.cpuKernels ? ` (kernels ${machine.cpuKernels})` : ''}, Node ${machine.node} ${machine.platform}`,
  );
  out.push(
    `devices: ${machine.devices.join(', ')} (cuda: ${machine.cuda}); load average at start ${machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}`,
  );
  for (const o of outputs) out.push(...o.header);
  out.push(`byte model per neuron-step (S states, K = CHECKPOINT_INTERVAL = ${CHECKPOINT_INTERVAL}):`);
  out.push(`  inference ${BYTE_MODEL.inference}`);
  out.push(`  training  ${BYTE_MODEL.training}`);
  let afterSection = false;
  for (const o of outputs) {
    const lines = o.text(afterSection);
    out.push(...lines);
    afterSection ||= lines.length > 0;
  }
  for (const wmsg of ctx.warnings) out.push(wmsg);
  return out.join('\n');
}
