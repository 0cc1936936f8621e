// Resource usage of the LIF CUDA kernels from `ptxas -v`: registers, local memory (stack frame,
// spill stores and loads) and the theoretical occupancy at the block size the launch uses.
//
//   node scripts/ptxas-report.mjs [--arch sm_90] [--log FILE] [--all] [--check] [--max-forward-regs 40]
//                                 [--threads N] [--backward-smem BYTES]
//
// Without --log it compiles native/cuda/lif_cuda.cu with nvcc and the CMake build's CUDA flags
// (-std=c++17 --fmad=false -O3 -DNDEBUG) plus -Xptxas -v, for one architecture; --log reads a
// saved ptxas log instead. Prints a markdown table (one row per kernel family, or per kernel with
// --all); --threads and --backward-smem replace the block size and the backward's dynamic shared
// memory that the table assumes (e.g. to tabulate an older launch). --check exits with status 1 when any LIF kernel uses local memory or a forward kernel
// uses more than --max-forward-regs registers. Exit status 2: nvcc missing or compile failed.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const arch = opt('--arch', 'sm_90');
const logFile = opt('--log', null);
const maxForwardRegs = Number(opt('--max-forward-regs', '40'));
const all = args.includes('--all');
const checkMode = args.includes('--check');

// Launch constants, read from the header the launch uses so that the table cannot drift from it.
const header = readFileSync(join(root, 'native/core/lif_thread.h'), 'utf8');
const constant = (name) => {
  const m = new RegExp(`constexpr int ${name} = (\\d+);`).exec(header);
  if (!m) throw new Error(`ptxas-report: ${name} not found in native/core/lif_thread.h`);
  return Number(m[1]);
};
const threadsOverride = opt('--threads', null);
const forwardThreads = threadsOverride ? Number(threadsOverride) : constant('kMaxForwardThreads');
const backwardThreads = threadsOverride ? Number(threadsOverride) : constant('kMaxBackwardThreads');
const maxChunk = constant('kMaxChunk');
// Backward dynamic shared memory at the longest chunk: two floats per thread per replayed step.
const backwardSmem = Number(opt('--backward-smem', String(2 * maxChunk * backwardThreads * 4)));

// Per-SM limits (CUDA programming guide, compute capabilities table).
const limits = {
  sm_75: { regs: 65536, threads: 1024, blocks: 16, smem: 64 * 1024, reserved: 0 },
  sm_80: { regs: 65536, threads: 2048, blocks: 32, smem: 164 * 1024, reserved: 1024 },
  sm_86: { regs: 65536, threads: 1536, blocks: 16, smem: 100 * 1024, reserved: 1024 },
  sm_89: { regs: 65536, threads: 1536, blocks: 24, smem: 100 * 1024, reserved: 1024 },
  sm_90: { regs: 65536, threads: 2048, blocks: 32, smem: 228 * 1024, reserved: 1024 },
};
const lim = limits[arch];
if (!lim) {
  console.error(`ptxas-report: no occupancy limits for ${arch} (known: ${Object.keys(limits).join(', ')})`);
  process.exit(2);
}

// nvcc prints ptxas' report on stderr.
function ptxasText() {
  if (logFile) return readFileSync(logFile, 'utf8');
  const dir = mkdtempSync(join(tmpdir(), 'ptxas-report-'));
  try {
    const flags = ['-std=c++17', `-arch=${arch}`, '--fmad=false', '-O3', '-DNDEBUG', '-Xptxas', '-v'];
    const src = join(root, 'native/cuda/lif_cuda.cu');
    const res = spawnSync('nvcc', [...flags, `-I${join(root, 'native')}`, '-c', src, '-o', join(dir, 'k.o')], {
      encoding: 'utf8',
    });
    if (res.error) {
      console.error(`ptxas-report: cannot run nvcc (${res.error.code ?? res.error.message})`);
      process.exit(2);
    }
    if (res.status !== 0) {
      console.error(`ptxas-report: nvcc failed (status ${res.status})\n${res.stderr}`);
      process.exit(2);
    }
    return `${res.stdout}\n${res.stderr}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const spikeKinds = ['Multi', 'Single', 'Given', 'None'];
const resetKinds = ['Subtract', 'Reset', 'None'];
const surrKinds = ['SingleExp', 'Heaviside', 'Gaussian', 'MultiGaussian', 'PeriodicExp', 'Given'];

function describe(mangled) {
  const kind = /forward_kernel/.test(mangled)
    ? 'forward'
    : /backward_kernel/.test(mangled)
      ? 'backward'
      : /reduce_batch_kernel/.test(mangled)
        ? 'reduce'
        : null;
  if (!kind) return null;
  const sk = /SpikeKindE(\d)/.exec(mangled),
    rk = /ResetKindE(\d)/.exec(mangled),
    ss = /SurrKindE(\d)/.exec(mangled),
    syn = /Lb([01])E/.exec(mangled);
  const parts = [];
  if (sk) parts.push(spikeKinds[Number(sk[1])]);
  if (rk) parts.push(resetKinds[Number(rk[1])]);
  if (ss) parts.push(surrKinds[Number(ss[1])]);
  return { kind, syn: syn ? syn[1] === '1' : false, variant: parts.join('/') };
}

function parse(text) {
  const kernels = [];
  let cur = null;
  for (const line of text.split('\n')) {
    let m = /Compiling entry function '([^']+)' for '(\w+)'/.exec(line);
    if (m) {
      const d = describe(m[1]);
      cur = d ? { ...d, arch: m[2], regs: 0, stack: 0, spillSt: 0, spillLd: 0, smem: 0 } : null;
      if (cur) kernels.push(cur);
      continue;
    }
    if (!cur) continue;
    m = /(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/.exec(line);
    if (m) [cur.stack, cur.spillSt, cur.spillLd] = [Number(m[1]), Number(m[2]), Number(m[3])];
    m = /Used (\d+) registers/.exec(line);
    if (m) cur.regs = Number(m[1]);
    m = /(\d+) bytes smem/.exec(line);
    if (m) cur.smem = Number(m[1]);
  }
  return kernels;
}

// Theoretical occupancy (resident warps / maximum warps) of a kernel at `threads` per block.
function occupancy(regs, threads, smemPerBlock) {
  const warps = Math.ceil(threads / 32);
  const regsPerWarp = Math.ceil((Math.max(regs, 1) * 32) / 256) * 256;
  const byRegs = Math.floor(lim.regs / (regsPerWarp * warps));
  const byThreads = Math.floor(lim.threads / threads);
  const bySmem = smemPerBlock > 0 ? Math.floor(lim.smem / (smemPerBlock + lim.reserved)) : Infinity;
  const blocks = Math.min(byRegs, byThreads, lim.blocks, bySmem);
  const limiter = blocks === bySmem ? 'smem' : blocks === byRegs ? 'regs' : blocks === byThreads ? 'threads' : 'blocks';
  return { blocks, frac: (blocks * warps) / (lim.threads / 32), limiter };
}

function launchOf(k) {
  if (k.kind === 'backward') return { threads: backwardThreads, smem: k.smem + backwardSmem };
  return { threads: forwardThreads, smem: k.smem };
}

const kernels = parse(ptxasText());
if (kernels.length === 0) {
  console.error('ptxas-report: no LIF kernels in the ptxas output');
  process.exit(2);
}
for (const k of kernels) {
  const l = launchOf(k);
  Object.assign(k, { threads: l.threads, smemBlock: l.smem, occ: occupancy(k.regs, l.threads, l.smem) });
}

const pct = (f) => `${Math.round(f * 1000) / 10}%`;
const range = (xs) => {
  const lo = Math.min(...xs),
    hi = Math.max(...xs);
  return lo === hi ? `${lo}` : `${lo}-${hi}`;
};
console.log(
  `ptxas -v, ${arch}: threads/block ${forwardThreads} (forward, reduce), ${backwardThreads} (backward, ` +
    `${backwardSmem / 1024} KB dynamic shared memory at K=${maxChunk}); limits per SM: ${lim.regs} registers, ` +
    `${lim.threads} threads, ${lim.blocks} blocks, ${lim.smem / 1024} KB shared memory`,
);
console.log('');
if (all) {
  console.log(
    '| kernel | syn | variant | registers | stack frame (B) | spill st/ld (B) | smem/block | blocks/SM | occupancy |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const k of kernels)
    console.log(
      `| ${k.kind} | ${k.syn ? 'yes' : 'no'} | ${k.variant || '-'} | ${k.regs} | ${k.stack} | ${k.spillSt}/${k.spillLd} | ` +
        `${k.smemBlock} | ${k.occ.blocks} (${k.occ.limiter}) | ${pct(k.occ.frac)} |`,
    );
} else {
  console.log(
    '| kernel | syn | kernels | registers | stack frame (B) | spill st/ld (B) | smem/block | occupancy (limit) |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  const groups = new Map();
  for (const k of kernels) {
    const key = `${k.kind}|${k.syn}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(k);
  }
  for (const ks of groups.values()) {
    const k0 = ks[0];
    const limiters = [...new Set(ks.map((k) => k.occ.limiter))].join(', ');
    const occs = ks.map((k) => k.occ.frac);
    const occ =
      Math.min(...occs) === Math.max(...occs) ? pct(occs[0]) : `${pct(Math.min(...occs))}-${pct(Math.max(...occs))}`;
    console.log(
      `| ${k0.kind} | ${k0.kind === 'reduce' ? '-' : k0.syn ? 'yes' : 'no'} | ${ks.length} | ${range(ks.map((k) => k.regs))} | ` +
        `${range(ks.map((k) => k.stack))} | ${range(ks.map((k) => k.spillSt))}/${range(ks.map((k) => k.spillLd))} | ` +
        `${range(ks.map((k) => k.smemBlock))} | ${occ} (${limiters}) |`,
    );
  }
}

if (checkMode) {
  const local = kernels.filter((k) => k.stack > 0 || k.spillSt > 0 || k.spillLd > 0);
  const heavy = kernels.filter((k) => k.kind === 'forward' && k.regs > maxForwardRegs);
  for (const k of local)
    console.log(`FAIL: ${k.kind} ${k.variant} syn=${k.syn}: ${k.stack} B stack, ${k.spillSt}/${k.spillLd} B spills`);
  for (const k of heavy)
    console.log(`FAIL: forward ${k.variant} syn=${k.syn}: ${k.regs} registers > ${maxForwardRegs}`);
  if (local.length || heavy.length) process.exit(1);
  console.log(`check passed: no local memory in ${kernels.length} kernels, forward <= ${maxForwardRegs} registers`);
}
