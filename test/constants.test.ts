// The kind numbers and the checkpoint interval exist once, in native/core/lif_math.h and
// lif_args.h. The addon exports them (`constants`); the TypeScript side reads them from there.
// This ties the three together: the header text, the built addon, and what lib/ passes.
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from '../lib/backend.js';
import { SCALAR_FIELDS, packScalars } from '../lib/neurons/kernel.js';
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

  describe("the packed scalars ('scalars': one Float64Array instead of eighteen named fields)", function () {
    const named = {
      B: 2,
      T: 3,
      N: 2,
      spike: c.spike.multi,
      reset: c.reset.subtract,
      surr: c.surrogate.singleExponential,
      hasSyn: false,
      theta: 0.75,
      hasMin: false,
      normInput: true,
      K: c.checkpointInterval,
    };
    const arrays = (): Record<string, Float32Array> => ({
      alphaMem: Float32Array.of(0.5, 0.9),
      x: Float32Array.from({ length: 12 }, (_, k) => 0.3 * k - 0.4),
      v0: Float32Array.of(0.1, -0.2, 0.3, 0),
      out: new Float32Array(12),
      v1: new Float32Array(4),
    });

    it("the field order of lib/neurons/kernel.ts is the addon's (constants.scalarFields), and packScalars follows it", function () {
      expect([...c.scalarFields]).to.deep.equal([...SCALAR_FIELDS]);
      // every field a distinct value (booleans true = 1): each lands at its own slot
      const flags = new Set(['hasSyn', 'hasMin', 'normInput', 'emulate']);
      const o: Record<string, number | boolean> = {};
      SCALAR_FIELDS.forEach((k, i) => (o[k] = flags.has(k) ? true : 10 + i));
      const s = packScalars(o as never);
      SCALAR_FIELDS.forEach((k, i) => expect(s[i], k).to.equal(flags.has(k) ? 1 : 10 + i));
    });

    it('packed and named fields give the same outputs, bit for bit', function () {
      const a = arrays(),
        b = arrays();
      const sumA = native().lifForward({ ...named, ...a } as never);
      const sumB = native().lifForward({ ...a, ...b, scalars: packScalars(named as never).slice() } as never);
      expect(sumB).to.equal(sumA);
      expect(Buffer.from(b.out!.buffer).equals(Buffer.from(a.out!.buffer))).to.equal(true);
      expect(Buffer.from(b.v1!.buffer).equals(Buffer.from(a.v1!.buffer))).to.equal(true);
      // the packed fields win over named ones (here: a different threshold is ignored)
      const d = arrays();
      native().lifForward({ ...d, theta: 9, scalars: packScalars(named as never).slice() } as never);
      expect(Buffer.from(d.out!.buffer).equals(Buffer.from(a.out!.buffer))).to.equal(true);
    });

    it('bad packed scalars are TypeError/RangeError naming the field, and write nothing', function () {
      const at = (name: string): number => SCALAR_FIELDS.indexOf(name as (typeof SCALAR_FIELDS)[number]);
      const call = (s: unknown): { e: unknown; out: Float32Array } => {
        const a = arrays();
        a.out!.fill(7);
        try {
          native().lifForward({ ...a, scalars: s } as never);
        } catch (e) {
          return { e, out: a.out! };
        }
        return { e: null, out: a.out! };
      };
      const withField = (name: string, v: number): Float64Array => {
        const s = packScalars(named as never).slice();
        s[at(name)] = v;
        return s;
      };
      const cases: [unknown, ErrorConstructor, RegExp][] = [
        [new Float32Array(18), TypeError, /'scalars' must be a Float64Array/],
        [[1, 2, 3], TypeError, /'scalars' must be a Float64Array/],
        [new Float64Array(17), RangeError, /'scalars' must have 18 elements/],
        [withField('B', 0), RangeError, /'B' must be an integer/],
        [withField('N', 1.5), RangeError, /'N' must be an integer/],
        [withField('T', NaN), RangeError, /'T' must be an integer/],
        [withField('spike', 99), RangeError, /'spike'/],
        [withField('hasSyn', 2), RangeError, /'hasSyn' must be 0 or 1/],
        [withField('emulate', 0.5), RangeError, /'emulate' must be 0 or 1/],
        [withField('K', 0), RangeError, /'K' must be an integer/],
        [withField('outType', 1), RangeError, /'outType' must be 0 \(float32\) or 3 \(uint8\)/],
        [withField('B', 3), RangeError, /'x'|'v0'|'out'/], // arrays too short for B = 3
      ];
      for (const [s, type, re] of cases) {
        const { e, out } = call(s);
        expect(e, String(re)).to.be.instanceOf(type);
        expect((e as Error).message).to.match(re);
        expect(
          [...out].every((v) => v === 7),
          `${String(re)}: out untouched`,
        ).to.equal(true);
      }
    });
  });
});
