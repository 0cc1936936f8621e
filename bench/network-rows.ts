/**
 * The network row group of `npm run bench` (bench/run.ts): the CPU network rows of
 * bench/network.ts (unless --device cuda), and the CUDA network rows of bench/network-cuda.ts
 * where CUDA rows are wanted (not --device cpu) and a usable GPU exists; without one, a line
 * saying so. Both only when --only is absent or names 'network'. JSON: the `network` field (CPU
 * rows) and the `networkCuda` field. The CUDA rows give a verdict for --require-targets: their
 * results must equal the emulated launch's bit for bit.
 */
import { progress } from './measure.js';
import { cudaNetworkTable, cudaNetworkVerdict, runCudaNetworkBench } from './network-cuda.js';
import { networkTable, runNetworkBench } from './network.js';
import type { BenchContext, GroupOutput, RowGroup } from './report.js';

export const networkRows: RowGroup = {
  name: 'network',
  run(ctx: BenchContext): GroupOutput {
    const selected = ctx.opt.only === null || ctx.opt.only.includes('network');
    const want = ctx.opt.device !== 'cuda' && selected;
    // --threads N runs the rows at N threads only; by default at 1 and 2
    const threads = ctx.opt.threads !== null ? [ctx.opt.threads] : undefined;
    const res = want ? runNetworkBench({ quick: ctx.opt.quick, log: progress, threads }) : null;
    const wantCuda = ctx.wantGpu && selected;
    const reps = ctx.opt.quick ? 3 : 7;
    const cuda =
      wantCuda && ctx.gpu.dev
        ? runCudaNetworkBench({ dev: ctx.gpu.dev, reps, cpuRows: res ? res.rows : null, log: progress })
        : null;
    if (cuda?.error) {
      ctx.warnings.push(`WARNING: the CUDA network rows stopped early (${cuda.rows.length} rows done): ${cuda.error}`);
      process.exitCode = 1;
    }
    const needsGpu = `CUDA network rows: skipped, they need a GPU: ${ctx.noGpuLine}`;
    return {
      ...(cuda ? { verdict: cudaNetworkVerdict(cuda.rows, cuda.error) } : {}),
      header: [],
      jsonHead: {},
      json: {
        network: res,
        networkCuda: cuda
          ? { available: true, ...cuda }
          : {
              available: ctx.gpu.dev !== null,
              requested: wantCuda,
              reason: wantCuda ? ctx.gpu.reason : 'not requested',
              rows: [],
            },
      },
      text: (afterSection) => {
        const out = res ? [...(afterSection ? [''] : []), ...networkTable(res).split('\n')] : [];
        if (cuda) {
          if (out.length || afterSection) out.push('');
          out.push(...cudaNetworkTable(cuda.rows, cuda.shape, cuda.reps));
          if (cuda.error) out.push(`CUDA network rows stopped early: ${cuda.error}`);
        } else if (wantCuda) out.push(...(out.length ? [''] : []), needsGpu);
        return out;
      },
    };
  },
};
