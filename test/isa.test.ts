// The CPU kernels are compiled for generic x86-64, x86-64-v2, x86-64-v3 and x86-64-v4 (AVX-512)
// and picked at run time (SPIKELAYERS_CPU_ISA forces one). All builds must give the same bits: the kernels use IEEE
// operations only, with no FMA contraction. Each build runs in a child process (the choice is
// made once per process) and the hashes of every output are compared.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Gaussian, LIF, MembraneReset, Tensor, backendInfo } from '../lib/index.js';
import { uniform } from './support/random.js';

const BUILDS = ['generic', 'x86-64-v2', 'x86-64-v3', 'x86-64-v4'];

function digest(): string {
  const h = createHash('sha256');
  for (const opts of [
    { tauMem: 20 },
    { tauMem: 12, tauSyn: 5, minVMem: -0.3, surrogateGradFn: new Gaussian(), resetFn: new MembraneReset() },
  ]) {
    const l = new LIF(opts);
    const n = 4 * 70 * 300;
    const y = l.forward(Tensor.from(uniform(1, n, -0.5, 2.5), [4, 70, 300]));
    const g = l.backward(Tensor.from(uniform(2, n, -0.5, 0.5), [4, 70, 300]));
    for (const t of [y, g, l.vMem!, l.tauMem!.grad!]) h.update(new Uint8Array(t.toFloat32Array().buffer));
  }
  return `${backendInfo().cpuKernels} ${h.digest('hex')}`;
}

if (process.env.SPIKELAYERS_ISA_CHILD) {
  console.log(digest());
} else {
  describe('CPU kernel builds', function () {
    it('generic, x86-64-v2, x86-64-v3 and x86-64-v4 give bit-identical results', function () {
      if (process.arch !== 'x64') {
        console.log(`      skipped: only one kernel build on ${process.arch}`);
        this.skip();
      }
      const self = fileURLToPath(import.meta.url);
      const runs = BUILDS.map((isa) => {
        const r = spawnSync(process.execPath, [self], {
          env: { ...process.env, SPIKELAYERS_ISA_CHILD: '1', SPIKELAYERS_CPU_ISA: isa },
          encoding: 'utf8',
        });
        expect(r.status, r.stderr).to.equal(0);
        return r.stdout.trim().split(' ');
      });
      const available = runs.filter(([used], k) => used === BUILDS[k]);
      console.log(`      builds run: ${available.map(([u]) => u).join(', ')}`);
      expect(available.length, 'at least the generic build ran').to.be.greaterThan(0);
      for (const [, hash] of runs) expect(hash).to.equal(runs[0]![1]);
    });
  });
}
