/**
 * Benchmark of the LIF layer: `npm run bench` (or `node dist/bench/run.js [options]`).
 *
 *   --threads N   kernel threads (setNumThreads); default: the addon's default
 *   --json        print one JSON document instead of the table
 *   --quick       fewer repetitions and a smaller bandwidth probe (smoke tests)
 *   --only a,b    run only these workloads or parts (mlp, conv, long, big, network, small,
 *                 scaling, dtype); may be repeated
 *   --device D    cpu: only the CPU rows; cuda: only the CUDA rows; all (default): CPU rows, and
 *                 CUDA rows where a usable GPU exists (backendInfo().cuda.available)
 *   --require-targets
 *                 exit status 3 unless CUDA rows ran, every GPU target below was met and the CUDA
 *                 results equal the CPU's; the verdict, one line per target, goes to stderr
 *                 (without it the exit status does not depend on the targets)
 *   --keep-new    the CPU `new` rows keep their outputs for the garbage collector instead of
 *                 disposing them after each run (the cost of fresh memory)
 *   --help, -h    print the usage
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
 * Files: bench/options.ts (command line), bench/workloads.ts (shapes, configs, inputs, byte
 * model), bench/measure.ts (the row timer shared by the CPU and CUDA rows, memory, checks),
 * bench/report.ts (the row-group interface, the table, the text and JSON documents), and one file
 * per row group: bench/cpu.ts, bench/gpu.ts, bench/network.ts (the SHD-shaped network: inference
 * and a training step, synaptic and neuron shares against bounds measured in the run, 1 and 2
 * threads, against sinabs; with a usable GPU also on CUDA, bench/network-cuda.ts, checked bit for
 * bit against the emulated CUDA launch; both through bench/network-rows.ts). A new group implements RowGroup
 * and is added to ROW_GROUPS below; its output follows the existing groups'.
 */
import { backendInfo, getNumThreads, setNumThreads } from '../lib/index.js';
import { cpuRows } from './cpu.js';
import { gpuRows, usableGpu } from './gpu.js';
import { dtypeRows } from './dtype.js';
import { networkRows } from './network-rows.js';
import { scalingRows } from './scaling.js';
import { smallRows } from './small.js';
import { progress, startProgress } from './measure.js';
import { CPU_PARTS, fail, readOptions } from './options.js';
import {
  describeMachine,
  jsonReport,
  textReport,
  type BenchContext,
  type GroupOutput,
  type RowGroup,
} from './report.js';
import { WORKLOADS } from './workloads.js';

/**
 * The parts of the benchmark, run and reported in this order. Each gets the shared context (the
 * CUDA rows read the plain TypeScript baselines the CPU rows leave in `ctx.plain`).
 */
const ROW_GROUPS: RowGroup[] = [
  cpuRows,
  gpuRows,
  networkRows, // bench/network-rows.ts: the SHD-shaped network (bench/network.ts), and on CUDA (bench/network-cuda.ts)
  dtypeRows, // bench/dtype.ts: compact input and spike dtypes against their byte bounds
  smallRows, // bench/small.ts: the fixed cost of small calls
  scalingRows, // bench/scaling.ts: cost against T, N and threads
  // further groups here
];

/** Exit status of --require-targets when a target was missed or no CUDA rows ran. */
const TARGETS_MISSED = 3;

/** --require-targets: prints each group's verdict to stderr; a missed target or no verdict at all sets exit status 3. */
function requireTargets(outputs: GroupOutput[], noGpuLine: string | null): void {
  const verdicts = outputs.flatMap((o) => (o.verdict ? [o.verdict] : []));
  for (const v of verdicts) for (const line of v.lines) console.error(`bench: ${line}`);
  const ok = verdicts.length > 0 && verdicts.every((v) => v.ok);
  if (verdicts.length === 0)
    console.error(`bench: --require-targets: no CUDA rows ran${noGpuLine ? ` (${noGpuLine})` : ''}`);
  console.error(`bench: --require-targets: ${ok ? 'every target met' : `NOT met, exit status ${TARGETS_MISSED}`}`);
  if (!ok) process.exitCode = TARGETS_MISSED;
}

function main(): void {
  const opt = readOptions(process.argv.slice(2));
  startProgress();
  if (opt.threads !== null) setNumThreads(opt.threads);
  const info = backendInfo();
  const threads = getNumThreads();
  const reps = opt.quick ? 3 : 9;
  const workloads = WORKLOADS.filter((w) => opt.only === null || opt.only.includes(w.name));
  const machine = describeMachine(info, threads);

  // Which rows run: CPU rows (not the GPU-only workloads) unless --device cuda; CUDA rows unless
  // --device cpu, where a usable GPU exists.
  const cpuWorkloads = opt.device === 'cuda' ? [] : workloads.filter((w) => !w.gpuOnly);
  const wantNetwork =
    opt.device !== 'cuda' && (opt.only === null || CPU_PARTS.some((part) => opt.only!.includes(part)));
  if (opt.device === 'cpu' && cpuWorkloads.length === 0 && !wantNetwork)
    fail(
      `--only ${opt.only!.join(',')}: ${workloads.map((w) => w.name).join(', ')} run${workloads.length > 1 ? '' : 's'} only on CUDA; nothing to run with --device cpu`,
    );
  const wantGpu = opt.device !== 'cpu';
  const gpu = usableGpu(info.cuda);
  const noGpuLine = `no usable GPU (backendInfo().cuda: ${gpu.code}: ${gpu.reason})`;
  if (wantGpu && !gpu.dev && cpuWorkloads.length === 0 && !wantNetwork) {
    // --device cuda (or only GPU-only workloads) without a usable GPU: nothing to run, not an error
    if (opt.json)
      console.log(
        JSON.stringify(
          {
            machine,
            device: opt.device,
            rows: [],
            gpu: { requested: true, available: false, code: gpu.code, reason: gpu.reason, rows: [] },
            warnings: [],
          },
          null,
          2,
        ),
      );
    else
      console.log(
        `bench: ${noGpuLine}; no CUDA rows to run${opt.device === 'cuda' ? ' (--device cuda)' : ` (--only ${workloads.map((w) => w.name).join(',')} runs only on CUDA)`}`,
      );
    if (opt.requireTargets) requireTargets([], noGpuLine);
    return;
  }

  const ctx: BenchContext = {
    opt,
    info,
    threads,
    reps,
    workloads,
    cpuWorkloads,
    wantGpu,
    gpu,
    noGpuLine,
    machine,
    plain: [],
    warnings: [],
  };
  const outputs = ROW_GROUPS.map((group) => group.run(ctx));
  progress('done');
  console.log(opt.json ? jsonReport(ctx, outputs) : textReport(ctx, outputs));
  if (opt.requireTargets) requireTargets(outputs, gpu.dev ? null : noGpuLine);
}

main();
