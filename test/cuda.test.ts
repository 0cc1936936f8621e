// The CUDA build and the behaviour without a GPU. Where a GPU is present, the GPU comparisons live
// in cuda-device.test.ts; here: the embedded GPU code, the probe, and the clear error.
import { expect } from 'chai';
import { LIF, Tensor, backendInfo } from '../lib/index.js';
import { fatbinEntries } from './support/fatbin.js';

const info = backendInfo();

/**
 * The architectures the loaded binary must hold SASS for, PTX for the highest: those of the release
 * build (CMakeLists.txt's SPIKELAYERS_CUDA_ARCHS), or the comma-separated list in
 * SPIKELAYERS_EXPECT_SM (e.g. `90`) for a build made for one card, as the GPU check makes.
 */
function expectedArchs(): number[] {
  const env = process.env.SPIKELAYERS_EXPECT_SM;
  if (env === undefined || env.trim() === '') return [75, 80, 86, 89, 90];
  const archs = env.split(',').map((s) => Number(s.trim()));
  if (!archs.every((a) => Number.isInteger(a) && a >= 50 && a < 1000))
    throw new RangeError(`SPIKELAYERS_EXPECT_SM must list architectures such as 90 or 80,90, got '${env}'`);
  return archs.sort((a, b) => a - b);
}
const archs = expectedArchs();
const ptxArch = archs[archs.length - 1]!;

describe('CUDA build', function () {
  it(`embeds SASS for ${archs.map((a) => `sm_${a}`).join(', ')} and PTX for compute_${ptxArch}`, function () {
    if (!info.cuda.built) {
      if (process.env.CI) expect.fail('CI builds with SPIKELAYERS_REQUIRE_CUDA, but the loaded binary has no CUDA');
      console.log(`      skipped: the loaded binary was built without CUDA (${info.binary})`);
      this.skip();
    }
    const entries = fatbinEntries(info.binary);
    const sass = new Set(entries.filter((e) => e.kind === 'sass').map((e) => e.arch));
    const ptx = new Set(entries.filter((e) => e.kind === 'ptx').map((e) => e.arch));
    for (const arch of archs) expect(sass.has(arch), `SASS for sm_${arch}`).to.equal(true);
    expect(ptx.has(ptxArch), `PTX for compute_${ptxArch}`).to.equal(true);
  });

  it('reports the CUDA status with a reason and a stable code', function () {
    expect(info.cuda).to.include.keys(
      'built',
      'available',
      'code',
      'reason',
      'runtimeVersion',
      'driverVersion',
      'devices',
    );
    if (!info.cuda.available) {
      expect(info.cuda.code).to.match(/^ERR_CUDA_/);
      expect(info.cuda.reason.length).to.be.greaterThan(10);
    } else {
      expect(info.cuda.devices.some((d) => d.usable)).to.equal(true);
    }
  });

  it("device 'cuda' without a usable GPU throws an Error with the probe's reason and code", function () {
    if (info.cuda.available) {
      console.log(`      skipped: a GPU is present (${info.cuda.devices[0]?.name}); see the CUDA device tests`);
      this.skip();
    }
    for (const make of [
      () => new LIF({ tauMem: 20, device: 'cuda' }),
      () => Tensor.from([1, 2], [2], { device: 'cuda:0' }),
      () => Tensor.zeros([2]).to('cuda'),
      () => new LIF({ tauMem: 20 }).to('cuda'),
    ]) {
      let err: unknown;
      try {
        make();
      } catch (e) {
        err = e;
      }
      expect(err, 'an error').to.be.instanceOf(Error);
      expect((err as { code?: string }).code).to.equal(info.cuda.code);
      expect((err as Error).message).to.contain(info.cuda.reason);
    }
  });

  it('SPIKELAYERS_DEVICE=cpu is reported as the reason when set', function () {
    const saved = process.env.SPIKELAYERS_DEVICE;
    process.env.SPIKELAYERS_DEVICE = 'cpu';
    try {
      const c = backendInfo().cuda;
      expect(c.available).to.equal(false);
      expect(c.disabledByEnv).to.equal(true);
      if (info.cuda.available) expect(c.code).to.equal('ERR_CUDA_DISABLED');
    } finally {
      if (saved === undefined) delete process.env.SPIKELAYERS_DEVICE;
      else process.env.SPIKELAYERS_DEVICE = saved;
    }
  });
});
