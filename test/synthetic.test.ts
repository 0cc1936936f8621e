// The synthetic event dataset: determinism by seed, shape and statistics against the generating
// formulas, that twin classes need timing to be told apart (and that timing suffices), and that
// networks with random (untrained) weights classify it at about chance.
import { expect } from 'chai';
import { LIF, Tensor } from '../lib/index.js';
import { classPatterns, syntheticEvents } from '../lib/index.js';
import type { EventDataset } from '../lib/index.js';
import { rng } from './support/random.js';

const SMALL = { numSamples: 300, numClasses: 10, numUnits: 200, unitsPerClass: 20 };

/** Per-sample features: counts per unit summed over `bins` equal time windows (bins = 1: no timing). */
function features(ds: EventDataset, bins: number): Float64Array[] {
  return Array.from({ length: ds.length }, (_, i) => {
    const f = new Float64Array(bins * ds.numUnits);
    const t = ds.times[i]!,
      u = ds.units[i]!;
    for (let k = 0; k < t.length; ++k)
      f[Math.min(bins - 1, Math.floor((t[k]! / ds.maxTime) * bins)) * ds.numUnits + u[k]!]! += 1;
    return f;
  });
}

/** Nearest-centroid accuracy (train on the first `nTrain` samples, test on the rest). */
function nearestCentroid(
  ds: EventDataset,
  bins: number,
  nTrain: number,
  candidates: (label: number) => number[],
): number {
  const f = features(ds, bins);
  const dim = f[0]!.length;
  const cent = Array.from({ length: ds.numClasses }, () => new Float64Array(dim));
  const cnt = new Array<number>(ds.numClasses).fill(0);
  for (let i = 0; i < nTrain; ++i) {
    const c = ds.labels[i]!;
    cnt[c]! += 1;
    for (let d = 0; d < dim; ++d) cent[c]![d]! += f[i]![d]!;
  }
  cent.forEach((v, c) => v.forEach((_, d) => (v[d] = v[d]! / cnt[c]!)));
  let ok = 0;
  for (let i = nTrain; i < ds.length; ++i) {
    let best = -1,
      bestD = Infinity;
    for (const c of candidates(ds.labels[i]!)) {
      let dd = 0;
      for (let d = 0; d < dim; ++d) dd += (f[i]![d]! - cent[c]![d]!) ** 2;
      if (dd < bestD) [best, bestD] = [c, dd];
    }
    if (best === ds.labels[i]) ++ok;
  }
  return ok / (ds.length - nTrain);
}

describe('syntheticEvents', () => {
  it('is deterministic: same options, same events; another seed, other samples with the same class patterns', () => {
    const a = syntheticEvents({ ...SMALL, numSamples: 20, seed: 5 });
    const b = syntheticEvents({ ...SMALL, numSamples: 20, seed: 5 });
    const c = syntheticEvents({ ...SMALL, numSamples: 20, seed: 6 });
    for (let i = 0; i < 20; ++i) {
      expect(Array.from(a.times[i]!)).to.deep.equal(Array.from(b.times[i]!));
      expect(Array.from(a.units[i]!)).to.deep.equal(Array.from(b.units[i]!));
    }
    expect(Array.from(a.times[0]!)).to.not.deep.equal(Array.from(c.times[0]!));
    const p = classPatterns(10, 200, 20, 1.4, 0),
      q = classPatterns(10, 200, 20, 1.4, 1);
    expect(Array.from(p[0]!.units)).to.not.deep.equal(Array.from(q[0]!.units));
    // twins share units, differ in times
    expect(Array.from(p[3]!.units)).to.deep.equal(Array.from(p[2]!.units));
    expect(Array.from(p[3]!.times)).to.not.deep.equal(Array.from(p[2]!.times));
    expect(new Set(p[0]!.units).size).to.equal(20);
  });

  it('defaults are SHD-shaped; events are sorted, in range, and the classes balanced', () => {
    const ds = syntheticEvents({ numSamples: 40 });
    expect([ds.numUnits, ds.numClasses, ds.numSteps, ds.maxTime]).to.deep.equal([700, 20, 100, 1.4]);
    expect(ds.bin([0, 1]).shape).to.deep.equal([2, 100, 700]);
    expect(Array.from(ds.labels)).to.deep.equal(Array.from({ length: 40 }, (_, i) => i % 20));
    for (let i = 0; i < ds.length; ++i) {
      const t = ds.times[i]!;
      for (let k = 1; k < t.length; ++k) expect(t[k]!).to.be.at.least(t[k - 1]!);
      expect(t[0]!).to.be.at.least(0);
      expect(t[t.length - 1]!).to.be.below(1.4);
    }
    expect(ds.countOutside()).to.equal(0);
  });

  it('mean spikes per sample match the generating formula', () => {
    const o = { ...SMALL, numSamples: 400, spikesPerUnit: 4, dropout: 0.25, noiseRate: 3 };
    const ds = syntheticEvents(o);
    let total = 0;
    for (const t of ds.times) total += t.length;
    // pattern: 20 units x (1 - 0.25) x 4 spikes = 60; noise: 3 Hz x 1.4 s x 200 units = 840
    // (pattern spikes lost at the window's edges: centres lie >= 0.1 s inside, shift + 2.5 sd of jitter < 0.1 s)
    const expected = 20 * 0.75 * 4 + 3 * 1.4 * 200;
    // standard error of the mean over 400 samples: sqrt(840 + pattern variance ~ 300) / 20 ~ 1.7
    expect(total / ds.length).to.be.closeTo(expected, 6);
  });

  it('twin classes: unit counts alone do not tell them apart, counts in time windows do', () => {
    const ds = syntheticEvents({ ...SMALL, numSamples: 600, seed: 2 });
    const twinOf = (c: number): number[] => [c, c ^ 1];
    const noTime = nearestCentroid(ds, 1, 400, twinOf);
    const withTime = nearestCentroid(ds, 14, 400, twinOf);
    // 200 test samples, two candidates each: chance 0.5 (sd 0.035)
    expect(noTime, 'counts per unit over the whole sample').to.be.within(0.35, 0.65);
    expect(withTime, 'counts per unit in 14 windows of 0.1 s').to.be.above(0.9);
    const all = Array.from({ length: 10 }, (_, c) => c);
    expect(
      nearestCentroid(ds, 14, 400, () => all),
      'all classes, with timing',
    ).to.be.above(0.9);
  });

  it('untrained networks (random weights, LIF layers) classify at about chance', () => {
    const ds = syntheticEvents({ ...SMALL, numSamples: 200, seed: 3 });
    const B = ds.length,
      T = ds.numSteps,
      U = ds.numUnits,
      H = 64,
      C = ds.numClasses;
    const x = ds.bin(Array.from({ length: B }, (_, i) => i)).toFloat32Array();
    /** y (B*T, out) = x (B*T, in) W^T + b, weights U(-g/sqrt(in), g/sqrt(in)) as PyTorch's init times a gain g. */
    const linear = (inp: Float32Array, nIn: number, nOut: number, r: () => number, gain: number): Float32Array => {
      const bound = gain / Math.sqrt(nIn);
      const w = Float64Array.from({ length: nIn * nOut }, () => (2 * r() - 1) * bound);
      const b = Float64Array.from({ length: nOut }, () => (2 * r() - 1) * bound);
      const rows = inp.length / nIn,
        out = new Float32Array(rows * nOut);
      for (let s = 0; s < rows; ++s)
        for (let j = 0; j < nOut; ++j) {
          let acc = b[j]!;
          for (let k = 0; k < nIn; ++k) acc += inp[s * nIn + k]! * w[j * nIn + k]!;
          out[s * nOut + j] = acc;
        }
      return out;
    };
    const accs: number[] = [];
    let outSpikes = 0;
    for (let net = 0; net < 6; ++net) {
      const r = rng(100 + net);
      // gains 40 and 20 so that both layers are active on this sparse input (~3% hidden spikes)
      const h = new LIF({ tauMem: 20 })
        .eval()
        .forward(Tensor.from(linear(x, U, H, r, 40), [B, T, H]))
        .toFloat32Array();
      const o = new LIF({ tauMem: 20 })
        .eval()
        .forward(Tensor.from(linear(h, H, C, r, 20), [B, T, C]))
        .toFloat32Array();
      let ok = 0;
      for (let b = 0; b < B; ++b) {
        const counts = new Float64Array(C);
        for (let t = 0; t < T; ++t) for (let c = 0; c < C; ++c) counts[c]! += o[(b * T + t) * C + c]!;
        outSpikes += counts.reduce((s, v) => s + v, 0);
        let best = 0;
        for (let c = 1; c < C; ++c) if (counts[c]! > counts[best]!) best = c;
        if (best === ds.labels[b]) ++ok;
      }
      accs.push(ok / B);
    }
    expect(outSpikes / (6 * B), 'output spikes per sample (the untrained networks are active)').to.be.above(1);
    const mean = accs.reduce((s, v) => s + v, 0) / accs.length;
    // chance is 1/10; a random map from classes to outputs has ~1 fixed point on average, so one
    // network's accuracy varies by ~0.1 and the mean of six by ~0.04
    expect(mean, `mean accuracy of 6 untrained networks (${accs.map((a) => a.toFixed(2)).join(', ')})`).to.be.below(
      0.25,
    );
  });

  it('bad options: TypeError / RangeError naming them', () => {
    expect(() => syntheticEvents({ numClass: 3 } as never)).to.throw(
      TypeError,
      /unknown option 'numClass' \(did you mean 'numClasses'\?\)/,
    );
    expect(() => syntheticEvents({ numClasses: 1 })).to.throw(
      RangeError,
      /syntheticEvents: numClasses must be an integer in \[2, /,
    );
    expect(() => syntheticEvents({ numUnits: 10, unitsPerClass: 11 })).to.throw(
      RangeError,
      /unitsPerClass must be an integer in \[1, 10\]/,
    );
    expect(() => syntheticEvents({ dropout: 1 })).to.throw(RangeError, /dropout must be a finite number >= 0 and < 1/);
  });
});
