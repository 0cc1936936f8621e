// Event data: the SHD-layout HDF5 reader (files written in that layout by test/support/hdf5-writer.ts and
// read back through h5wasm), binning into (B, T, units) counts against hand-computed tensors,
// the batch iterator (shuffle by seed, dropLast) and the errors for bad files and options.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventDataset, SpikelayersError, loadShd } from '../lib/index.js';
import { writeHdf5, writeShd, type H5Type } from './support/hdf5-writer.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'spikelayers-data-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const tmp = (): string => join(dir, `f${fileNo++}.h5`);

/** Three samples whose binning with T = 4, maxTime = 1 s, 5 units is worked out by hand below. */
const SAMPLES = [
  // bins of 0.25 s: 0 -> 0, 0.1 -> 0, 0.3 -> 1 (twice, unit 2), 0.55 -> 2, 0.99 -> 3, 1.0 and 1.2 are outside
  { times: [0.0, 0.1, 0.3, 0.3, 0.55, 0.99, 1.0, 1.2], units: [0, 4, 2, 2, 1, 3, 0, 1], label: 2 },
  { times: [], units: [], label: 0 },
  // 0.2499 -> bin 0, 0.25 -> bin 1 (a bin's start belongs to it), 0.74 -> bin 2
  { times: [0.2499, 0.25, 0.74], units: [1, 1, 4], label: 1 },
];
/** The expected (3, 4, 5) counts, written out cell by cell. */
function expectedCounts(): Float32Array {
  const e = new Float32Array(3 * 4 * 5);
  const at = (b: number, t: number, u: number): number => (b * 4 + t) * 5 + u;
  e[at(0, 0, 0)] = 1;
  e[at(0, 0, 4)] = 1;
  e[at(0, 1, 2)] = 2;
  e[at(0, 2, 1)] = 1;
  e[at(0, 3, 3)] = 1;
  e[at(2, 0, 1)] = 1;
  e[at(2, 1, 1)] = 1;
  e[at(2, 2, 4)] = 1;
  return e;
}

async function expectDataError(p: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  let err: unknown = null;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'an error').to.be.instanceOf(SpikelayersError);
  expect((err as SpikelayersError).code).to.equal(code);
  expect((err as Error).message).to.match(pattern);
}

describe('loadShd (SHD-layout HDF5 files)', () => {
  for (const [timesType, unitsType, labelsType] of [
    ['f32', 'u16', 'u8'],
    ['f64', 'i32', 'i64'],
    ['f32', 'u8', 'u16'],
  ] as H5Type[][]) {
    it(`reads and bins times ${timesType}, units ${unitsType}, labels ${labelsType} into hand-computed counts`, async () => {
      const path = tmp();
      writeShd(path, SAMPLES, { timesType, unitsType, labelsType, extra: true });
      const ds = await loadShd(path, { numSteps: 4, maxTime: 1, numUnits: 5 });
      expect(ds.length).to.equal(3);
      expect(Array.from(ds.labels)).to.deep.equal([2, 0, 1]);
      expect(ds.numClasses).to.equal(3);
      expect(ds.numUnits).to.equal(5);
      expect(ds.countOutside()).to.equal(2);
      const x = ds.bin([0, 1, 2]);
      expect(x.shape).to.deep.equal([3, 4, 5]);
      expect(Array.from(x.toFloat32Array())).to.deep.equal(Array.from(expectedCounts()));
      // the same through the batch iterator in file order
      const batches = [...ds.batches({ batchSize: 3 })];
      expect(batches).to.have.length(1);
      expect(Array.from(batches[0]!.input.toFloat32Array())).to.deep.equal(Array.from(expectedCounts()));
      expect(Array.from(batches[0]!.labels)).to.deep.equal([2, 0, 1]);
    });
  }

  it('reads float16 spike times (decoded exactly)', async () => {
    const path = tmp();
    // all exactly representable in float16; bins of 0.25 s
    writeShd(path, [{ times: [0, 0.125, 0.375, 0.5, 0.875, 1.25], units: [0, 1, 2, 3, 4, 0], label: 1 }], {
      timesType: 'f16',
    });
    const ds = await loadShd(path, { numSteps: 4, maxTime: 1, numUnits: 5 });
    expect(Array.from(ds.times[0]!)).to.deep.equal([0, 0.125, 0.375, 0.5, 0.875, 1.25]);
    const x = Array.from(ds.bin([0]).toFloat32Array());
    const e = new Array<number>(20).fill(0);
    e[0 * 5 + 0] = 1; // 0 -> bin 0
    e[0 * 5 + 1] = 1; // 0.125 -> bin 0
    e[1 * 5 + 2] = 1; // 0.375 -> bin 1
    e[2 * 5 + 3] = 1; // 0.5 -> bin 2
    e[3 * 5 + 4] = 1; // 0.875 -> bin 3; 1.25 is outside
    expect(x).to.deep.equal(e);
  });

  it('defaults: 700 units, 100 steps of 14 ms (maxTime 1.4 s)', async () => {
    const path = tmp();
    // (float32 1.4 is 1.39999998, inside the window: the last spike is at 1.41)
    writeShd(path, [{ times: [0.0135, 0.0145, 1.395, 1.41], units: [699, 0, 350, 1], label: 19 }]);
    const ds = await loadShd(path);
    expect([ds.numUnits, ds.numSteps, ds.maxTime, ds.numClasses]).to.deep.equal([700, 100, 1.4, 20]);
    const x = ds.bin([0]).toFloat32Array();
    expect(x.length).to.equal(100 * 700);
    const nonzero: [number, number, number][] = [];
    x.forEach((v, k) => v && nonzero.push([Math.floor(k / 700), k % 700, v]));
    // 0.0135 / 0.014 = 0.96 -> step 0; 0.0145 -> 1.04 -> step 1; 1.395 -> 99.6 -> step 99; 1.41 is outside
    expect(nonzero).to.deep.equal([
      [0, 699, 1],
      [1, 0, 1],
      [99, 350, 1],
    ]);
  });

  it('limit reads only the first samples', async () => {
    const path = tmp();
    writeShd(path, SAMPLES);
    const ds = await loadShd(path, { numUnits: 5, limit: 2 });
    expect(ds.length).to.equal(2);
    expect(Array.from(ds.labels)).to.deep.equal([2, 0]);
  });

  it('a missing dataset: ERR_DATA_FORMAT naming its path', async () => {
    const p1 = tmp();
    writeHdf5(p1, {
      spikes: { times: { type: 'f32', vlen: true, data: [[0.1]] }, units: { type: 'u16', vlen: true, data: [[1]] } },
    });
    await expectDataError(loadShd(p1), 'ERR_DATA_FORMAT', /has no dataset 'labels'/);
    const p2 = tmp();
    writeHdf5(p2, { spikes: { times: { type: 'f32', vlen: true, data: [[0.1]] } }, labels: { type: 'u8', data: [0] } });
    await expectDataError(loadShd(p2), 'ERR_DATA_FORMAT', /has no dataset 'spikes\/units'/);
    const p3 = tmp();
    writeHdf5(p3, { labels: { type: 'u8', data: [0] } });
    await expectDataError(loadShd(p3), 'ERR_DATA_FORMAT', /has no dataset 'spikes\/times'/);
  });

  it('a unit id out of range: ERR_DATA_FORMAT naming the sample and spike', async () => {
    const path = tmp();
    writeShd(path, [SAMPLES[0]!, SAMPLES[1]!, { times: [0.1, 0.2], units: [3, 700], label: 0 }]);
    await expectDataError(loadShd(path), 'ERR_DATA_FORMAT', /sample 2, spike 1: unit id 700 is outside \[0, 700\)/);
    await expectDataError(
      loadShd(path, { numUnits: 4 }),
      'ERR_DATA_FORMAT',
      /sample 0, spike 1: unit id 4 is outside \[0, 4\)/,
    );
  });

  it('other bad contents: negative times, mismatched lengths, labels beyond numClasses, fixed-size spikes', async () => {
    const neg = tmp();
    writeShd(neg, [
      { times: [0.1], units: [1], label: 0 },
      { times: [0.2, -0.1], units: [1, 2], label: 1 },
    ]);
    await expectDataError(loadShd(neg), 'ERR_DATA_FORMAT', /sample 1, spike 1: time -0.1\d* must be finite and >= 0/);
    const mism = tmp();
    writeHdf5(mism, {
      spikes: {
        times: { type: 'f32', vlen: true, data: [[0.1, 0.2]] },
        units: { type: 'u16', vlen: true, data: [[1]] },
      },
      labels: { type: 'u8', data: [0] },
    });
    await expectDataError(loadShd(mism), 'ERR_DATA_FORMAT', /sample 0 has 2 spike times but 1 unit ids/);
    const count = tmp();
    writeHdf5(count, {
      spikes: {
        times: { type: 'f32', vlen: true, data: [[0.1], [0.2]] },
        units: { type: 'u16', vlen: true, data: [[1], [2]] },
      },
      labels: { type: 'u8', data: [0] },
    });
    await expectDataError(loadShd(count), 'ERR_DATA_FORMAT', /spikes\/times has 2 samples, spikes\/units 2, labels 1/);
    const lab = tmp();
    writeShd(lab, [{ times: [0.1], units: [1], label: 5 }]);
    await expectDataError(loadShd(lab, { numClasses: 5 }), 'ERR_DATA_FORMAT', /sample 0 has label 5, outside \[0, 5\)/);
    const fixed = tmp();
    writeHdf5(fixed, {
      spikes: { times: { type: 'f32', data: [0.1] }, units: { type: 'u16', data: [1] } },
      labels: { type: 'u8', data: [0] },
    });
    await expectDataError(loadShd(fixed), 'ERR_DATA_FORMAT', /'spikes\/times' must hold variable-length arrays/);
    const empty = tmp();
    writeShd(empty, []);
    await expectDataError(loadShd(empty), 'ERR_DATA_FORMAT', /holds no samples/);
    const intTimes = tmp();
    writeShd(intTimes, [{ times: [1], units: [1], label: 0 }], { timesType: 'i32' });
    await expectDataError(loadShd(intTimes), 'ERR_DATA_FORMAT', /'spikes\/times' must hold floating-point spike times/);
  });

  it('a missing file or one that is not HDF5: ERR_DATA_FILE', async () => {
    await expectDataError(loadShd(join(dir, 'nope.h5')), 'ERR_DATA_FILE', /cannot read '.*nope\.h5': no such file/);
    const txt = join(dir, 'not.h5');
    writeFileSync(txt, 'this is not an HDF5 file\n');
    await expectDataError(loadShd(txt), 'ERR_DATA_FILE', /is not an HDF5 file \(no HDF5 signature\)/);
  });

  it('bad options: TypeError / RangeError naming the option', async () => {
    const path = tmp();
    writeShd(path, SAMPLES);
    let err: unknown = null;
    try {
      await loadShd(path, { numStep: 4 } as never);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(TypeError);
    expect((err as Error).message).to.match(/unknown option 'numStep' \(did you mean 'numSteps'\?\)/);
    err = null;
    try {
      await loadShd(path, { maxTime: 0 });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(RangeError);
    expect((err as Error).message).to.match(/loadShd: maxTime must be a finite number > 0, got 0/);
  });
});

describe('EventDataset batches', () => {
  /** n samples; sample i has i % 7 spikes of unit i % 5, label i % 3. */
  function dataset(n: number): EventDataset {
    const times: Float32Array[] = [],
      units: Uint16Array[] = [],
      labels: number[] = [];
    for (let i = 0; i < n; ++i) {
      const m = i % 7;
      times.push(Float32Array.from({ length: m }, (_, k) => (k + 0.5) / 8));
      units.push(new Uint16Array(m).fill(i % 5));
      labels.push(i % 3);
    }
    return new EventDataset({ times, units, labels }, { numUnits: 5, numSteps: 8, maxTime: 1 });
  }

  it('each batch is bin(indices) with the labels of those samples; shuffle is a permutation fixed by the seed', () => {
    const ds = dataset(23);
    const order = (seed: number): number[] =>
      [...ds.batches({ batchSize: 5, shuffle: true, seed })].flatMap((b) => Array.from(b.indices));
    const a = order(7),
      b = order(7),
      c = order(8);
    expect(a).to.deep.equal(b);
    expect(a).to.not.deep.equal(c);
    expect(a.slice().sort((x, y) => x - y)).to.deep.equal(Array.from({ length: 23 }, (_, i) => i));
    expect(a).to.not.deep.equal(Array.from({ length: 23 }, (_, i) => i));
    // the same seed gives the same order on another dataset of the same size
    expect(
      [...dataset(23).batches({ batchSize: 4, shuffle: true, seed: 7 })].flatMap((x) => Array.from(x.indices)),
    ).to.deep.equal(a);
    for (const batch of ds.batches({ batchSize: 5, shuffle: true, seed: 7 })) {
      const idx = Array.from(batch.indices);
      expect(Array.from(batch.labels)).to.deep.equal(idx.map((i) => i % 3));
      expect(batch.input.shape).to.deep.equal([idx.length, 8, 5]);
      // sample i: spikes at (k + 0.5) / 8 -> bin k, k < i % 7, all of unit i % 5
      const want = new Float32Array(idx.length * 40);
      idx.forEach((i, b) => {
        for (let k = 0; k < i % 7; ++k) want[b * 40 + k * 5 + (i % 5)] = 1;
      });
      expect(Array.from(batch.input.toFloat32Array())).to.deep.equal(Array.from(want));
    }
  });

  it('dropLast leaves out the short last batch; numBatches agrees', () => {
    const ds = dataset(10);
    expect([...ds.batches({ batchSize: 4 })].map((b) => b.labels.length)).to.deep.equal([4, 4, 2]);
    expect([...ds.batches({ batchSize: 4, dropLast: true })].map((b) => b.labels.length)).to.deep.equal([4, 4]);
    expect([...ds.batches({ batchSize: 5, dropLast: true })].map((b) => b.labels.length)).to.deep.equal([5, 5]);
    expect([...ds.batches({ batchSize: 11, dropLast: true })]).to.have.length(0);
    expect(ds.numBatches({ batchSize: 4 })).to.equal(3);
    expect(ds.numBatches({ batchSize: 4, dropLast: true })).to.equal(2);
  });

  it('split: disjoint, covering, seeded', () => {
    const ds = dataset(20);
    const [tr, te] = ds.split(0.25, 3);
    expect([tr.length, te.length]).to.deep.equal([15, 5]);
    const key = (d: EventDataset): string[] =>
      Array.from({ length: d.length }, (_, i) => `${d.labels[i]}:${d.times[i]!.length}:${d.units[i]![0] ?? '-'}`);
    expect([...key(tr), ...key(te)].sort()).to.deep.equal(key(ds).sort());
    const [, te2] = ds.split(0.25, 3);
    expect(key(te2)).to.deep.equal(key(te));
  });

  it('bad options and data: TypeError / RangeError naming them', () => {
    const ds = dataset(4);
    expect(() => ds.batches({ batchSize: 0 })).to.throw(
      RangeError,
      /EventDataset.batches: batchSize must be an integer in \[1, /,
    );
    expect(() => ds.batches({ shufle: true } as never)).to.throw(
      TypeError,
      /unknown option 'shufle' \(did you mean 'shuffle'\?\)/,
    );
    expect(() => ds.batches({ seed: -1 })).to.throw(RangeError, /seed must be an integer/);
    expect(() => ds.bin([4])).to.throw(RangeError, /indices\[0\] must be an integer in \[0, 4\), got 4/);
    expect(
      () =>
        new EventDataset(
          { times: [new Float32Array([0.1])], units: [new Uint16Array([9])], labels: [0] },
          { numUnits: 5 },
        ),
    ).to.throw(RangeError, /sample 0, spike 0: unit id 9 is outside \[0, 5\)/);
    expect(
      () => new EventDataset({ times: [[0.1] as never], units: [new Uint16Array([1])], labels: [0] }, { numUnits: 5 }),
    ).to.throw(TypeError, /spike times of sample 0 must be a Float32Array or Float64Array/);
    expect(
      () =>
        new EventDataset(
          { times: [new Float32Array([NaN])], units: [new Uint16Array([1])], labels: [0] },
          { numUnits: 5 },
        ),
    ).to.throw(RangeError, /sample 0, spike 0: time NaN must be finite and >= 0/);
  });
});
