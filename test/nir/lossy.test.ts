// What becomes of each layer option in NIR, both directions: one test per row of the README's table
// ("NIR files" > "Layer options in NIR"), named `row: ...` after it. An option NIR cannot express
// is refused by toNir with ERR_NIR_LOSSY naming the layer index, name and option, or, with
// allowLossy, reported in `lost`; fromNir then builds what the table says. Then sinabs' own
// models (rebuilt from the manifest's options and parameters): toNir reports a loss exactly where
// the manifest says sinabs' round trip changed the outputs, and with allowLossy writes the graph
// sinabs' exporter wrote.
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { goldenDir as sharedGoldenDir } from '../support/golden-dir.js';
import {
  AvgPool2d,
  Conv2d,
  ErrorCodes,
  ExpLeakSqueeze,
  Flatten,
  Gaussian,
  IAFSqueeze,
  LIF,
  LIFSqueeze,
  Linear,
  MaxSpike,
  MembraneReset,
  MembraneSubtract,
  MultiSpike,
  Sequential,
  SingleExponential,
  SingleSpike,
  SpikelayersError,
  SumPool2d,
  Tensor,
  ThresholdScaledLIFSqueeze,
  fromNir,
  readNir,
  toNir,
  type ModuleLike,
  type NirArray,
  type NirExport,
  type NirGraph,
} from '../../lib/index.js';

const lin = (i: number, o: number, bias = true): Linear => new Linear({ inFeatures: i, outFeatures: o, bias, seed: 3 });
const seq = (...m: ModuleLike[]): Sequential => new Sequential(...m);
const arr = (g: NirGraph, id: string, name: string): NirArray => g.nodes[id]!.params[name] as NirArray;
const values = (a: NirArray): number[] => Array.from(a.data, Number);

/** toNir refuses the model, naming the layer and option; with allowLossy it returns exactly `lost` (layer, option, value). */
function lossy(model: ModuleLike, inputShape: number[], lost: [number, string, string, string][]): NirExport {
  let err: unknown = null;
  try {
    toNir(model, { inputShape });
  } catch (e) {
    err = e;
  }
  expect(err, 'toNir without allowLossy').to.be.instanceOf(SpikelayersError);
  expect((err as SpikelayersError).code).to.equal(ErrorCodes.NIR_LOSSY);
  for (const [index, type, option, value] of lost)
    expect((err as Error).message).to.include(`layer ${index} ('${index}', ${type}): ${option} = ${value} -> NIR `);
  expect((err as Error).message).to.include('allowLossy');
  const g = toNir(model, { inputShape, allowLossy: true });
  expect(g.lost.map((l) => [l.index, l.type, l.option, l.value])).to.deep.equal(lost);
  for (const l of g.lost) {
    expect(l.layer).to.equal(String(l.index));
    expect(l.nir).to.match(/^NIR (gets|has no field)/);
  }
  return g;
}
/** toNir exports without a loss. */
function lossless(model: ModuleLike, inputShape: number[]): NirExport {
  const g = toNir(model, { inputShape });
  expect(g.lost).to.deep.equal([]);
  return g;
}
const rebuilt = (g: NirGraph, batchSize = 2): Sequential => fromNir(g, { batchSize });
const child = <T>(s: Sequential, name: string): T => s.namedChildren().find(([n]) => n === name)![1] as T;

describe('NIR layer options: the README table, row by row', function () {
  it('row: Linear / Conv2d weight and bias; bias: false -> a zero bias (not a loss: same outputs)', function () {
    const m = seq(lin(3, 2, false));
    const g = lossless(m, [3]);
    expect(g.nodes['0']!.type).to.equal('Affine');
    expect(values(arr(g, '0', 'weight'))).to.deep.equal(Array.from(m.stateDict()['0.weight']!.toFloat32Array()));
    expect(values(arr(g, '0', 'bias'))).to.deep.equal([0, 0]);
    const back = rebuilt(g);
    const x = Tensor.from([0.5, -1, 2, 1, 0.25, -0.5], [2, 3]);
    expect(Array.from(back.forward(x).toFloat32Array())).to.deep.equal(Array.from(m.forward(x).toFloat32Array()));
    const c = seq(
      new Conv2d({
        inChannels: 1,
        outChannels: 2,
        kernelSize: [3, 2],
        stride: [2, 1],
        padding: [1, 0],
        bias: false,
        seed: 1,
      }),
    );
    const gc = lossless(c, [1, 5, 4]);
    expect(values(arr(gc, '0', 'bias'))).to.deep.equal([0, 0]);
    expect(values(arr(gc, '0', 'stride'))).to.deep.equal([2, 1]);
    expect(values(arr(gc, '0', 'padding'))).to.deep.equal([1, 0]);
    expect(values(arr(gc, '0', 'dilation'))).to.deep.equal([1, 1]);
    expect(arr(gc, '0', 'groups')).to.deep.include({ shape: [], data: [1] });
    expect(values(arr(gc, '0', 'input_shape'))).to.deep.equal([5, 4]);
    expect(values(arr(gc, 'output', 'shape'))).to.deep.equal([2, 3, 3]);
  });

  it('row: SumPool2d kernel and stride (padding 0); AvgPool2d has no NIR node', function () {
    const g = lossless(seq(new SumPool2d({ kernelSize: [2, 3], stride: [1, 2] })), [1, 4, 7]);
    expect(values(arr(g, '0', 'kernel_size'))).to.deep.equal([2, 3]);
    expect(values(arr(g, '0', 'stride'))).to.deep.equal([1, 2]);
    expect(values(arr(g, '0', 'padding'))).to.deep.equal([0, 0]);
    expect(child<SumPool2d>(rebuilt(g), '0').outputShape([2, 1, 4, 7])).to.deep.equal([2, 1, 3, 3]);
    expect(() => toNir(seq(new AvgPool2d({ kernelSize: 2 })), { inputShape: [1, 4, 4], allowLossy: true }))
      .to.throw(SpikelayersError, 'AvgPool2d')
      .with.property('code', ErrorCodes.NIR_UNSUPPORTED);
  });

  it('row: Flatten startDim / endDim counted without the batch; startDim 0 cannot be exported', function () {
    const g = lossless(seq(new Flatten({ startDim: 2, endDim: -1 })), [2, 3, 4]);
    expect(arr(g, '0', 'start_dim').data).to.deep.equal([1]);
    expect(arr(g, '0', 'end_dim').data).to.deep.equal([-1]);
    expect(values(arr(g, '0', 'input_type'))).to.deep.equal([2, 3, 4]);
    const f = child<Flatten>(rebuilt(g), '0');
    expect([f.startDim, f.endDim]).to.deep.equal([2, -1]);
    expect(() => toNir(seq(new Flatten({ startDim: 0 })), { inputShape: [2], allowLossy: true }))
      .to.throw(SpikelayersError, 'startDim 0')
      .with.property('code', ErrorCodes.NIR_UNSUPPORTED);
  });

  it('row: tauMem -> tau (in steps), and back', function () {
    const tau = Tensor.from([4, 8, 16], [3]);
    const g = lossless(seq(new LIFSqueeze({ tauMem: tau, normInput: false, batchSize: 2 })), [3]);
    expect(values(arr(g, '0', 'tau'))).to.deep.equal([4, 8, 16]);
    expect(Array.from(child<LIFSqueeze>(rebuilt(g), '0').tauMem!.toFloat32Array())).to.deep.equal([4, 8, 16]);
    const ge = lossless(seq(new ExpLeakSqueeze({ tauMem: 6, batchSize: 2 })), [3]);
    expect(arr(ge, '0', 'tau')).to.deep.include({ shape: [] });
    expect(Array.from(child<ExpLeakSqueeze>(rebuilt(ge), '0').tauMem!.toFloat32Array())).to.deep.equal([6]);
  });

  it('row: spikeThreshold -> v_threshold in the shape of tau (IF: of the layer), and back', function () {
    const tau = Tensor.from([4, 8, 16], [3]);
    const g = lossless(seq(new LIFSqueeze({ tauMem: tau, spikeThreshold: 0.75, normInput: false, batchSize: 2 })), [3]);
    expect(values(arr(g, '0', 'v_threshold'))).to.deep.equal([0.75, 0.75, 0.75]);
    const l = child<LIFSqueeze>(rebuilt(g), '0');
    expect(Array.from(l.spikeThreshold!.toFloat32Array())).to.deep.equal([0.75]);
    const gi = lossless(seq(new IAFSqueeze({ spikeThreshold: 0.5, minVMem: -0.5, batchSize: 1 })), [2, 2]);
    expect(arr(gi, '0', 'v_threshold')).to.deep.include({ shape: [2, 2] });
    expect(values(arr(gi, '0', 'v_threshold'))).to.deep.equal([0.5, 0.5, 0.5, 0.5]);
    // per-neuron thresholds (a threshold-scaled layer) keep their values
    const th = Tensor.from([0.5, 1, 2], [3]);
    const gs = lossless(seq(new ThresholdScaledLIFSqueeze({ tauMem: tau, normInput: false, batchSize: 2 }, th)), [3]);
    expect(values(arr(gs, '0', 'v_threshold'))).to.deep.equal([0.5, 1, 2]);
    // one tau and per-neuron thresholds: NIR wants one shape, so tau takes the thresholds' shape
    const g1 = lossless(seq(new ThresholdScaledLIFSqueeze({ tauMem: 5, normInput: false, batchSize: 2 }, th)), [3]);
    expect(arr(g1, '0', 'tau')).to.deep.include({ shape: [3] });
    expect(values(arr(g1, '0', 'tau'))).to.deep.equal([5, 5, 5]);
    expect(values(arr(g1, '0', 'v_threshold'))).to.deep.equal([0.5, 1, 2]);
  });

  it('row: dt: no field; tau counts steps (dt = 1) both ways, so alpha = exp(-1/tau) is the same', function () {
    const m = new LIFSqueeze({ tauMem: Tensor.from([3, 7], [2]), normInput: false, batchSize: 1 });
    const g = lossless(m, [2]);
    expect(Object.keys(g.nodes.model!.params).sort()).to.deep.equal(['r', 'tau', 'v_leak', 'v_reset', 'v_threshold']);
    const back = child<LIFSqueeze>(rebuilt(g, 1), 'model');
    expect(Array.from(back.alphaMemCalculated.toFloat32Array())).to.deep.equal(
      Array.from(m.alphaMemCalculated.toFloat32Array()),
    );
    expect(Array.from(back.alphaMemCalculated.toFloat32Array())).to.deep.equal([
      Math.fround(Math.exp(-1 / 3)),
      Math.fround(Math.exp(-1 / 7)),
    ]);
  });

  it('row: tauSyn (LIF and IAF): lost; fromNir builds no synaptic current', function () {
    const g = lossy(
      seq(lin(3, 2), new LIFSqueeze({ tauMem: 5, tauSyn: 3, normInput: false, batchSize: 2 })),
      [3],
      [[1, 'LIFSqueeze', 'tauSyn', '3']],
    );
    expect(g.nodes['1']!.type).to.equal('LIF');
    expect(child<LIFSqueeze>(rebuilt(g), '1').tauSyn).to.equal(null);
    const gi = lossy(
      seq(lin(3, 2), new IAFSqueeze({ tauSyn: Tensor.from([2, 4], [2]), minVMem: -1, batchSize: 2 })),
      [3],
      [[1, 'IAFSqueeze', 'tauSyn', 'Tensor [2]']],
    );
    expect(gi.nodes['1']!.type).to.equal('IF');
    expect(child<IAFSqueeze>(rebuilt(gi), '1').hasSynapse).to.equal(false);
  });

  it('row: normInput: true (LIF, ExpLeak): lost (r = 1); fromNir builds normInput: false', function () {
    const g = lossy(seq(new LIFSqueeze({ tauMem: 5, batchSize: 2 })), [2], [[0, 'LIFSqueeze', 'normInput', 'true']]);
    expect(values(arr(g, '0', 'r'))).to.deep.equal([1]);
    expect(child<LIFSqueeze>(rebuilt(g), '0').normInput).to.equal(false);
    const ge = lossy(
      seq(new ExpLeakSqueeze({ tauMem: 5, normInput: true, batchSize: 2 })),
      [2],
      [[0, 'ExpLeakSqueeze', 'normInput', 'true']],
    );
    expect(ge.nodes['0']!.type).to.equal('LI');
    expect(child<ExpLeakSqueeze>(rebuilt(ge), '0').normInput).to.equal(false);
    lossless(seq(new ExpLeakSqueeze({ tauMem: 5, batchSize: 2 })), [2]); // ExpLeak's default is false
  });

  it('row: minVMem (LIF, ExpLeak): lost when set; fromNir builds none', function () {
    const g = lossy(
      seq(new LIFSqueeze({ tauMem: 5, normInput: false, minVMem: -2, batchSize: 2 })),
      [2],
      [[0, 'LIFSqueeze', 'minVMem', '-2']],
    );
    expect(child<LIFSqueeze>(rebuilt(g), '0').minVMem).to.equal(null);
    lossy(
      seq(new ExpLeakSqueeze({ tauMem: 5, minVMem: 0, batchSize: 2 })),
      [2],
      [[0, 'ExpLeakSqueeze', 'minVMem', '0']],
    );
  });

  it('row: minVMem (IAF): lost unless it is -spikeThreshold, which fromNir builds', function () {
    const g = lossy(
      seq(new IAFSqueeze({ spikeThreshold: 0.5, batchSize: 2 })),
      [2],
      [[0, 'IAFSqueeze', 'minVMem', 'null']],
    );
    expect(Array.from(child<IAFSqueeze>(rebuilt(g), '0').minVMem!.toFloat32Array())).to.deep.equal([-0.5]);
    lossy(
      seq(new IAFSqueeze({ spikeThreshold: 0.5, minVMem: -1, batchSize: 2 })),
      [2],
      [[0, 'IAFSqueeze', 'minVMem', '-1']],
    );
    lossless(seq(new IAFSqueeze({ spikeThreshold: 0.5, minVMem: -0.5, batchSize: 2 })), [2]);
  });

  it('row: spikeFn: lost unless MultiSpike (or MaxSpike without a limit); fromNir builds MultiSpike', function () {
    const mk = (spikeFn: unknown): LIFSqueeze =>
      new LIFSqueeze({ tauMem: 5, normInput: false, spikeFn: spikeFn as typeof MultiSpike, batchSize: 2 });
    const g = lossy(seq(mk(SingleSpike)), [2], [[0, 'LIFSqueeze', 'spikeFn', 'SingleSpike']]);
    expect(child<LIFSqueeze>(rebuilt(g), '0').spikeFn).to.equal(MultiSpike);
    lossy(seq(mk(new SingleSpike())), [2], [[0, 'LIFSqueeze', 'spikeFn', 'SingleSpike']]);
    lossy(
      seq(mk(new MaxSpike({ maxNumSpikesPerBin: 2 }))),
      [2],
      [[0, 'LIFSqueeze', 'spikeFn', 'MaxSpike (maxNumSpikesPerBin 2)']],
    );
    lossy(seq(mk({ forward: (v: Float32Array) => v })), [2], [[0, 'LIFSqueeze', 'spikeFn', 'a custom spike function']]);
    lossless(seq(mk(new MultiSpike())), [2]);
    lossless(seq(mk(new MaxSpike())), [2]);
  });

  it('row: resetFn: MembraneReset and a subtractValue other than the threshold are lost; fromNir subtracts the threshold', function () {
    const mk = (resetFn: MembraneReset | MembraneSubtract): IAFSqueeze =>
      new IAFSqueeze({ spikeThreshold: 2, minVMem: -2, resetFn, batchSize: 2 });
    const g = lossy(
      seq(mk(new MembraneReset({ resetValue: 0.25 }))),
      [2],
      [[0, 'IAFSqueeze', 'resetFn', 'MembraneReset (resetValue 0.25)']],
    );
    expect(values(arr(g, '0', 'v_reset'))).to.deep.equal([0, 0]);
    const r = child<IAFSqueeze>(rebuilt(g), '0').resetFn;
    expect(r).to.be.instanceOf(MembraneSubtract);
    expect((r as MembraneSubtract).subtractValue).to.equal(null);
    lossy(
      seq(mk(new MembraneSubtract({ subtractValue: 1 }))),
      [2],
      [[0, 'IAFSqueeze', 'resetFn', 'MembraneSubtract (subtractValue 1)']],
    );
    lossless(seq(mk(new MembraneSubtract({ subtractValue: 2 }))), [2]);
  });

  it('row: surrogateGradFn: lost unless SingleExponential (gradWidth 0.5, gradScale 1), which fromNir builds', function () {
    const mk = (surrogateGradFn: SingleExponential | Gaussian): LIFSqueeze =>
      new LIFSqueeze({ tauMem: 5, normInput: false, surrogateGradFn, batchSize: 2 });
    const g = lossy(
      seq(mk(new Gaussian())),
      [2],
      [[0, 'LIFSqueeze', 'surrogateGradFn', 'Gaussian (mu 0, sigma 0.5, gradScale 1)']],
    );
    const s = child<LIFSqueeze>(rebuilt(g), '0').surrogateGradFn as SingleExponential;
    expect([s.kind, s.gradWidth, s.gradScale]).to.deep.equal(['SingleExponential', 0.5, 1]);
    lossy(
      seq(mk(new SingleExponential({ gradWidth: 1 }))),
      [2],
      [[0, 'LIFSqueeze', 'surrogateGradFn', 'SingleExponential (gradWidth 1, gradScale 1)']],
    );
    lossless(seq(mk(new SingleExponential({ gradWidth: 0.5, gradScale: 1 }))), [2]);
  });

  it('row: trainAlphas: lost; tau = -1/ln(alpha), and fromNir trains tau', function () {
    const m = new LIFSqueeze({ tauMem: Tensor.from([5, 20], [2]), normInput: false, trainAlphas: true, batchSize: 2 });
    const g = lossy(seq(m), [2], [[0, 'LIFSqueeze', 'trainAlphas', 'true']]);
    const alpha = Array.from(m.alphaMem!.toFloat32Array());
    const tau = values(arr(g, '0', 'tau'));
    // float64 -1/ln(alpha) of the float32 alphas, to float32 rounding of the layer's own computation
    for (let k = 0; k < 2; ++k) expect(Math.abs(tau[k]! + 1 / Math.log(alpha[k]!)) / tau[k]!).to.be.below(1e-6);
    expect(child<LIFSqueeze>(rebuilt(g), '0').trainAlphas).to.equal(false);
  });

  it('row: a layer on (B, T, ...) input (no squeeze): lost; T goes into the Input and Output shapes, fromNir builds a squeeze layer', function () {
    const g = lossy(
      seq(lin(4, 3), new LIF({ tauMem: 5, normInput: false })),
      [10, 4],
      [[1, 'LIF', 'time dimension', '(B, T, ...) input with T = 10']],
    );
    expect(values(arr(g, 'input', 'shape'))).to.deep.equal([10, 4]);
    expect(values(arr(g, 'output', 'shape'))).to.deep.equal([10, 3]);
    expect(arr(g, '1', 'tau').shape).to.deep.equal([]);
    expect(child<LIFSqueeze>(rebuilt(g), '1')).to.be.instanceOf(LIFSqueeze);
  });

  it('row: batchSize / numTimesteps: not in the file and not a loss; fromNir takes batchSize', function () {
    const g = lossless(seq(new LIFSqueeze({ tauMem: 5, normInput: false, numTimesteps: 4 })), [3]);
    expect(values(arr(g, 'input', 'shape'))).to.deep.equal([3]);
    expect(child<LIFSqueeze>(rebuilt(g, 5), '0').batchSize).to.equal(5);
    // the first dimension toNir infers shapes with satisfies every squeeze layer
    const two = seq(new IAFSqueeze({ batchSize: 2, minVMem: -1 }), new IAFSqueeze({ batchSize: 3, minVMem: -1 }));
    lossless(two, [2]);
  });

  it('row: recordStates, shape, device, seed, the state: run-time settings, not exported and not a loss', function () {
    const m = new LIFSqueeze({ tauMem: 5, normInput: false, recordStates: true, seed: 4, shape: [2, 2], batchSize: 2 });
    m.forward(Tensor.from([1, 2, 3, 4, 5, 6, 7, 8], [4, 2]));
    expect(m.vMem).to.not.equal(null);
    const back = child<LIFSqueeze>(rebuilt(lossless(seq(m), [2])), '0');
    expect(back.recordStates).to.equal(false);
    expect(back.vMem).to.equal(null);
  });

  it('row: r, v_leak, v_reset on import: r and v_reset are ignored (as sinabs does), v_leak must be 0, LI r must be 1', function () {
    const m = seq(lin(3, 2), new IAFSqueeze({ spikeThreshold: 0.5, minVMem: -0.5, batchSize: 2 }));
    const g = lossless(m, [3]);
    const odd: NirGraph = {
      ...g,
      nodes: {
        ...g.nodes,
        '1': {
          type: 'IF',
          params: {
            ...g.nodes['1']!.params,
            r: { kind: 'array', dtype: 'float32', shape: [2], data: Float32Array.of(2, 3) },
            v_reset: { kind: 'array', dtype: 'float32', shape: [2], data: Float32Array.of(-1, 0.5) },
          },
        },
      },
    };
    const x = Tensor.from(
      Array.from({ length: 24 }, (_, k) => ((k * 37) % 11) / 2 - 1.5),
      [8, 3],
    );
    const a = rebuilt(g).forward(x).toFloat32Array();
    expect(a.some((v) => v > 0)).to.equal(true);
    expect(Array.from(rebuilt(odd).forward(x).toFloat32Array())).to.deep.equal(Array.from(a));
    const li = lossless(seq(new ExpLeakSqueeze({ tauMem: 5, batchSize: 2 })), [2]);
    const badR: NirGraph = {
      ...li,
      nodes: {
        ...li.nodes,
        '0': {
          type: 'LI',
          params: {
            ...li.nodes['0']!.params,
            r: { kind: 'array', dtype: 'float32', shape: [], data: Float32Array.of(2) },
          },
        },
      },
    };
    expect(() => rebuilt(badR))
      .to.throw(SpikelayersError, "node '0' (LI): parameter 'r' must be 1")
      .with.property('code', ErrorCodes.NIR_UNSUPPORTED);
  });

  it('several losses are all listed, in layer order', function () {
    const m = seq(
      lin(3, 2),
      new LIFSqueeze({ tauMem: 5, tauSyn: 2, spikeFn: SingleSpike, batchSize: 2 }),
      lin(2, 2),
      new IAFSqueeze({ batchSize: 2 }),
    );
    lossy(
      m,
      [3],
      [
        [1, 'LIFSqueeze', 'tauSyn', '2'],
        [1, 'LIFSqueeze', 'normInput', 'true'],
        [1, 'LIFSqueeze', 'spikeFn', 'SingleSpike'],
        [3, 'IAFSqueeze', 'minVMem', 'null'],
      ],
    );
  });
});

// ---- sinabs' own models ---------------------------------------------------------------------

interface MTensor {
  shape: number[];
  data: number[];
}
interface MModule {
  index: number;
  type: string;
  options: Record<string, unknown>;
  nir_node: string;
}
interface MModel {
  name: string;
  batch_size: number;
  file: string;
  input: MTensor;
  model: { container: string; modules: MModule[] };
  sinabs_parameters: Record<string, MTensor>;
  roundtrip: { matches_original?: boolean };
  roundtrip_in_memory?: { matches_original?: boolean };
}

const goldenDir = process.env.SPIKELAYERS_NIR_GOLDEN ?? path.join(sharedGoldenDir, 'nir');
const present = existsSync(path.join(goldenDir, 'manifest.json'));
const models: MModel[] = present
  ? (JSON.parse(readFileSync(path.join(goldenDir, 'manifest.json'), 'utf8')) as { models: MModel[] }).models
  : [];

/**
 * The losses the golden README (section 5, "What the mapping loses") names for each case whose
 * round trip changed sinabs' outputs: layer index and option.
 */
const README_LOSSES: Record<string, [number, string][]> = {
  s01_linear_lif: [[1, 'normInput']],
  s04_linear_iaf_nobias: [[1, 'minVMem']],
  s07_linear_lif_tau_syn: [[1, 'tauSyn']],
  s09_conv_iaf_sumpool_linear_iaf: [
    [1, 'minVMem'],
    [5, 'minVMem'],
  ],
  s11_single_iaf_layer: [[0, 'minVMem']],
  s12_linear_lif_single_spike_reset: [
    [1, 'spikeFn'],
    [1, 'resetFn'],
  ],
  s13_linear_lif_unsqueezed: [[1, 'time dimension']],
};

const tensorOf = (t: MTensor | number): Tensor | number =>
  typeof t === 'number' ? t : t.shape.length === 0 ? t.data[0]! : Tensor.from(t.data, t.shape);

/** The sinabs model of a case, from the manifest's options and parameters. */
function sinabsModel(m: MModel): ModuleLike {
  const P = m.sinabs_parameters;
  const key = (mod: MModule, name: string): string =>
    m.model.container === 'single module' ? name : `${mod.index}.${name}`;
  const built: [string, ModuleLike][] = m.model.modules.map((mod) => {
    const o = mod.options;
    const num = (k: string): number | null => (o[k] === null || o[k] === undefined ? null : Number(o[k]));
    const common = {
      batchSize: m.batch_size,
      tauSyn: P[key(mod, 'tau_syn')] ? tensorOf(P[key(mod, 'tau_syn')]!) : null,
      minVMem: num('min_v_mem'),
      spikeFn: o.spike_fn === 'SingleSpike' ? SingleSpike : MultiSpike,
      resetFn: String(o.reset_fn).startsWith('MembraneReset') ? new MembraneReset() : new MembraneSubtract(),
    };
    const th = P[key(mod, 'spike_threshold')];
    const tau = P[key(mod, 'tau_mem')];
    let layer: ModuleLike;
    switch (mod.type) {
      case 'Linear': {
        const l = lin(Number(o.in_features), Number(o.out_features), Boolean(o.bias));
        l.loadStateDict(
          o.bias
            ? { weight: tensorOf(P[key(mod, 'weight')]!), bias: tensorOf(P[key(mod, 'bias')]!) }
            : { weight: tensorOf(P[key(mod, 'weight')]!) },
        );
        layer = l;
        break;
      }
      case 'Conv2d': {
        const c = new Conv2d({
          inChannels: Number(o.in_channels),
          outChannels: Number(o.out_channels),
          kernelSize: o.kernel_size as [number, number],
          stride: o.stride as [number, number],
          padding: o.padding as [number, number],
          bias: Boolean(o.bias),
        });
        c.loadStateDict(
          o.bias
            ? { weight: tensorOf(P[key(mod, 'weight')]!), bias: tensorOf(P[key(mod, 'bias')]!) }
            : { weight: tensorOf(P[key(mod, 'weight')]!) },
        );
        layer = c;
        break;
      }
      case 'SumPool2d':
        layer = new SumPool2d({ kernelSize: Number(o.kernel_size), ...(o.stride ? { stride: Number(o.stride) } : {}) });
        break;
      case 'Flatten':
        layer = new Flatten({ startDim: Number(o.start_dim), endDim: Number(o.end_dim) });
        break;
      case 'IAFSqueeze':
        layer = new IAFSqueeze({ ...common, spikeThreshold: tensorOf(th!) as number });
        break;
      case 'ExpLeakSqueeze':
        layer = new ExpLeakSqueeze({
          tauMem: tensorOf(tau!),
          normInput: Boolean(o.norm_input),
          minVMem: common.minVMem,
          batchSize: m.batch_size,
        });
        break;
      case 'LIFSqueeze': {
        const opts = { ...common, tauMem: tensorOf(tau!), normInput: Boolean(o.norm_input) };
        // a per-neuron threshold: the threshold-scaled layer carries it
        layer =
          th!.shape.length === 0
            ? new LIFSqueeze({ ...opts, spikeThreshold: th!.data[0]! })
            : new ThresholdScaledLIFSqueeze(opts, Tensor.from(th!.data, th!.shape));
        break;
      }
      case 'LIF': {
        // spikelayers' LIF takes one threshold: this layer is built with 1 (its v_threshold is not compared)
        const { batchSize: _b, ...rest } = common;
        layer = new LIF({ ...rest, tauMem: tensorOf(tau!), normInput: Boolean(o.norm_input) });
        break;
      }
      default:
        throw new Error(`no builder for ${mod.type}`);
    }
    return [mod.nir_node, layer];
  });
  return m.model.container === 'single module' ? built[0]![1] : Sequential.fromNamed(built);
}

(present ? describe : describe.skip)("NIR export of sinabs' own models (rebuilt from the manifest)", function () {
  for (const m of models) {
    it(`${m.name}: a loss exactly where sinabs' round trip changed the outputs; with allowLossy, sinabs' graph`, async function () {
      const model = sinabsModel(m);
      const g = toNir(model, { inputShape: m.input.shape.slice(1), allowLossy: true });
      const names = g.lost.map((l) => [l.index, l.option]);
      expect(names).to.deep.equal(README_LOSSES[m.name] ?? []);
      const same = m.roundtrip.matches_original ?? m.roundtrip_in_memory?.matches_original;
      if (same !== undefined) expect(g.lost.length === 0, 'no loss <=> sinabs round trip identical').to.equal(same);
      if (g.lost.length === 0) expect(toNir(model, { inputShape: m.input.shape.slice(1) }).lost).to.deep.equal([]);
      // the graph: what sinabs' exporter wrote (s13: but the threshold, see sinabsModel)
      const file = await readNir(path.join(goldenDir, m.file));
      expect(Object.keys(g.nodes).sort()).to.deep.equal(Object.keys(file.nodes).sort());
      const key = (e: [string, string]): string => e.join('->');
      expect(g.edges.map(key).sort()).to.deep.equal(file.edges.map(key).sort());
      for (const [id, n] of Object.entries(file.nodes)) {
        expect(g.nodes[id]!.type, id).to.equal(n.type);
        expect(Object.keys(g.nodes[id]!.params).sort(), id).to.deep.equal(Object.keys(n.params).sort());
        for (const [k, v] of Object.entries(n.params)) {
          if (m.name === 's13_linear_lif_unsqueezed' && k === 'v_threshold') continue;
          const a = v as NirArray,
            b = g.nodes[id]!.params[k] as NirArray;
          expect([b.dtype, b.shape], `${id}.${k}`).to.deep.equal([a.dtype, a.shape]);
          expect(values(b), `${id}.${k}`).to.deep.equal(values(a));
        }
      }
    });
  }
});
