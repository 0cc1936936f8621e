// The kind numbers and the checkpoint interval exist once, in native/core/lif_math.h and
// lif_args.h. The addon exports them (`constants`); the TypeScript side reads them from there.
// This ties the three together: the header text, the built addon, and what lib/ passes.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from '../lib/backend.js';
import {
  CHECKPOINT_INTERVAL,
  Gaussian,
  Heaviside,
  MaxSpike,
  MembraneReset,
  MembraneSubtract,
  MultiGaussian,
  MultiSpike,
  PeriodicExponential,
  SingleExponential,
  SingleSpike,
} from '../lib/index.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The enumerators of `enum class <name>` in a header, in order, with their values. */
function enumOf(src: string, name: string): [string, number][] {
  const m = new RegExp(`enum class ${name} : int \\{([^}]*)\\}`).exec(src);
  if (!m) throw new Error(`enum ${name} not found`);
  return [...m[1]!.matchAll(/(\w+)\s*=\s*(\d+)/g)].map((e) => [e[1]!, Number(e[2])]);
}

const lowerFirst = (s: string): string => s[0]!.toLowerCase() + s.slice(1);

describe('kernel constants: one definition, exported by the addon', function () {
  const c = native().constants;
  const header = readFileSync(join(repo, 'native', 'core', 'lif_math.h'), 'utf8');

  for (const [family, enumName] of [
    ['spike', 'SpikeKind'],
    ['reset', 'ResetKind'],
    ['surrogate', 'SurrKind'],
  ] as const) {
    it(`constants.${family} equals enum ${enumName} of native/core/lif_math.h`, function () {
      const fromHeader = Object.fromEntries(enumOf(header, enumName).map(([k, v]) => [lowerFirst(k), v]));
      expect(Object.keys(fromHeader).length).to.be.greaterThan(2);
      expect({ ...c[family] }).to.deep.equal(fromHeader);
      expect(Object.isFrozen(c[family]), 'frozen').to.equal(true);
    });
  }

  it('the checkpoint interval: CHECKPOINT_INTERVAL, the addon and native/core/lif_args.h agree', function () {
    const args = readFileSync(join(repo, 'native', 'core', 'lif_args.h'), 'utf8');
    const m = /constexpr int64_t kCheckpointInterval = (\d+);/.exec(args);
    expect(m, 'kCheckpointInterval in lif_args.h').to.not.equal(null);
    expect(c.checkpointInterval).to.equal(Number(m![1]));
    expect(CHECKPOINT_INTERVAL).to.equal(c.checkpointInterval);
    expect(c.checkpointInterval).to.be.at.most(c.maxDeviceCheckpointInterval);
  });

  it("the activation classes lower to the addon's kinds", function () {
    expect(MultiSpike.prototype._native().spike).to.equal(c.spike.multi);
    expect(SingleSpike.prototype._native().spike).to.equal(c.spike.single);
    expect(new MaxSpike({ maxNumSpikesPerBin: 2 })._native().spike).to.equal(c.spike.multi);
    expect(new MembraneSubtract()._native(1).reset).to.equal(c.reset.subtract);
    expect(new MembraneReset()._native(1).reset).to.equal(c.reset.reset);
    expect(new SingleExponential()._native(1).surr).to.equal(c.surrogate.singleExponential);
    expect(new Heaviside()._native(1).surr).to.equal(c.surrogate.heaviside);
    expect(new Gaussian()._native(1).surr).to.equal(c.surrogate.gaussian);
    expect(new MultiGaussian()._native(1).surr).to.equal(c.surrogate.multiGaussian);
    expect(new PeriodicExponential()._native(1).surr).to.equal(c.surrogate.periodicExponential);
  });

  it('the addon accepts exactly the exported kinds: one past the last is a RangeError naming the field', function () {
    const base = {
      B: 1,
      T: 1,
      N: 1,
      spike: c.spike.multi,
      reset: c.reset.subtract,
      surr: c.surrogate.singleExponential,
      hasSyn: false,
      theta: 1,
      hasMin: false,
      normInput: false,
      K: c.checkpointInterval,
      alphaMem: Float32Array.of(0.5),
      x: Float32Array.of(2),
      v0: new Float32Array(1),
      out: new Float32Array(1),
      v1: new Float32Array(1),
    };
    const last = (o: Record<string, number>): number => Math.max(...Object.values(o));
    expect(native().lifForward(base as never)).to.equal(2);
    expect(native().lifForward({ ...base, surr: last(c.surrogate) } as never)).to.equal(2);
    for (const [key, fam] of [
      ['spike', c.spike],
      ['reset', c.reset],
      ['surr', c.surrogate],
    ] as const)
      expect(() => native().lifForward({ ...base, [key]: last(fam) + 1 } as never), key).to.throw(
        RangeError,
        new RegExp(key),
      );
  });
});
