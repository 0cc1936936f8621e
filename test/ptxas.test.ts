// Resource usage of the LIF CUDA kernels (scripts/ptxas-report.mjs): no LIF kernel may use local
// memory (stack frame or spills) and the forward must fit in 40 registers on sm_90. The compile
// needs nvcc and is skipped, with the reason, without it; the report's own checks run everywhere
// on saved ptxas logs.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const script = path.join(repo, 'scripts/ptxas-report.mjs');

function report(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A ptxas -v log of one forward and one backward kernel with the given resource usage. */
function log(fwdRegs: number, bwdStack: number, bwdSpill: number): string {
  const fwd = '_ZN2sl12_GLOBAL__N_114forward_kernelILNS_9SpikeKindE0ELNS_9ResetKindE0ELb0EEEvNS_13LifKernelArgsE';
  const bwd =
    '_ZN2sl12_GLOBAL__N_115backward_kernelILNS_9SpikeKindE0ELNS_9ResetKindE0ELNS_8SurrKindE0ELb1EEEvNS_13LifKernelArgsE';
  return [
    `ptxas info    : Compiling entry function '${fwd}' for 'sm_90'`,
    `ptxas info    : Function properties for ${fwd}`,
    '    0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads',
    `ptxas info    : Used ${fwdRegs} registers, used 0 barriers`,
    `ptxas info    : Compiling entry function '${bwd}' for 'sm_90'`,
    `ptxas info    : Function properties for ${bwd}`,
    `    ${bwdStack} bytes stack frame, ${bwdSpill} bytes spill stores, ${bwdSpill} bytes spill loads`,
    'ptxas info    : Used 64 registers, used 0 barriers',
    '',
  ].join('\n');
}

describe('LIF CUDA kernels: ptxas resource usage', function () {
  let dir = '';
  before(() => (dir = mkdtempSync(path.join(tmpdir(), 'ptxas-test-'))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const check = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return report(['--log', file, '--check']);
  };

  it('the check passes a log without local memory and a 40-register forward', function () {
    const r = check('ok.log', log(40, 0, 0));
    expect(r.status, r.out).to.equal(0);
    expect(r.out).to.match(/check passed: no local memory in 2 kernels/);
  });

  it('the check fails on a stack frame, on spills and on a forward over 40 registers', function () {
    for (const [name, text, why] of [
      ['stack.log', log(32, 384, 0), /384 B stack/],
      ['spill.log', log(32, 0, 8), /8\/8 B spills/],
      ['regs.log', log(64, 0, 0), /64 registers > 40/],
    ] as const) {
      const r = check(name, text);
      expect(r.status, `${name}: ${r.out}`).to.equal(1);
      expect(r.out).to.match(why);
    }
  });

  it('the occupancy column follows the registers and the backward shared memory (sm_90)', function () {
    const file = path.join(dir, 'occ.log');
    writeFileSync(file, log(32, 0, 0));
    const r = report(['--log', file, '--all', '--threads', '128', '--backward-smem', '32768']);
    expect(r.status, r.out).to.equal(0);
    // forward: 32 registers x 128 threads -> 16 blocks of 4 warps = 64 warps; backward: 33 KB per
    // block (1 KB reserved) in 228 KB -> 6 blocks of 4 warps = 24 of 64 warps
    expect(r.out).to.match(/\| forward \| no \| Multi\/Subtract \| 32 \| 0 \| 0\/0 \| 0 \| 16 \(regs\) \| 100% \|/);
    expect(r.out).to.match(
      /\| backward \| yes \| Multi\/Subtract\/SingleExp \| 64 \| 0 \| 0\/0 \| 32768 \| 6 \(smem\) \| 37\.5% \|/,
    );
  });

  it('no LIF kernel uses local memory and the forward fits in 40 registers (nvcc, sm_90)', function () {
    this.timeout(600000);
    const probe = spawnSync('nvcc', ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      console.log('      skipped: nvcc is not on PATH, so the CUDA kernels cannot be compiled here');
      this.skip();
    }
    const r = report(['--check']);
    expect(r.status, r.out).to.equal(0);
    expect(r.out).to.match(/check passed/);
  });
});
