// NIR import against the files sinabs exported (../shared/golden/nir, README there): every file
// reads into the graph the manifest lists; the model fromNir builds reproduces what sinabs'
// from_nir built from the same file (`roundtrip.output`); the two files sinabs cannot import
// (0-d LIF parameters, [C, H, W] LIF parameters) are checked against a float64 simulation of the
// documented mapping written here, and s08 also against sinabs' in-memory round trip. Error cases
// use files written with h5wasm.
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ErrorCodes,
  ExpLeakSqueeze,
  SpikelayersError,
  Tensor,
  fromNir,
  readNir,
  type NirArray,
  type NirGraph,
} from '../../lib/index.js';
import { conv2dRef } from '../support/reference-nn.js';

interface MTensor {
  shape: number[];
  dtype: string;
  data: number[];
}
interface MParam {
  shape: number[];
  dtype: string;
  gzip: boolean;
  value?: number | number[];
}
interface MModel {
  name: string;
  batch_size: number;
  num_timesteps: number;
  file: string;
  input: MTensor;
  output_sinabs: MTensor;
  sinabs_parameters: Record<string, MTensor>;
  nir_graph: {
    version: string;
    edges: [string, string][];
    nodes: Record<string, { type: string; params: Record<string, MParam> }>;
  };
  roundtrip: { from_nir: { ok: boolean }; output?: MTensor; modules?: { name: string; type: string }[] };
  roundtrip_in_memory?: { from_nir: { ok: boolean }; output?: MTensor };
}

// this file runs as dist/test/nir/import.test.js
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const goldenDir = process.env.SPIKELAYERS_NIR_GOLDEN ?? path.resolve(repoRoot, '../shared/golden/nir');
const present = existsSync(path.join(goldenDir, 'manifest.json'));
if (!present) console.log(`  (NIR import tests skipped: no golden files at ${goldenDir})`);

const sets: { dir: string; models: MModel[] }[] = present
  ? ['', 'nir-1.0.4'].map((sub) => {
      const dir = path.join(goldenDir, sub);
      return {
        dir,
        models: (JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { models: MModel[] }).models,
      };
    })
  : [];

const f32 = (xs: ArrayLike<number>): number[] => Array.from(xs, (x) => Math.fround(x));
/** Spike counts compared as numbers: -0 (MultiSpike on a negative quotient) equals 0. */
const plain = (xs: ArrayLike<number>): number[] => Array.from(xs, (x) => (x === 0 ? 0 : x));

// ---- float64 simulation of the documented mapping (README section 6.2), on (B*T, ...) rows ----

interface Sim {
  shape: number[];
  data: Float64Array;
}
const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
const arr = (g: NirGraph, id: string, name: string): NirArray => {
  const v = g.nodes[id]!.params[name]!;
  if (v.kind !== 'array') throw new Error(`${id}.${name} is not an array`);
  return v;
};
/** A parameter per neuron of a row of N neurons: one value, or N values. */
const perNeuron = (a: NirArray, N: number): ((k: number) => number) => {
  if (a.data.length === 1) return () => Number(a.data[0]);
  if (a.data.length !== N) throw new Error(`parameter of ${a.data.length} values for ${N} neurons`);
  return (k) => Number(a.data[k]);
};

function simulate(g: NirGraph, order: string[], x: Sim, B: number): Sim {
  let cur = x;
  for (const id of order) {
    const type = g.nodes[id]!.type;
    const rows = cur.shape[0]!;
    if (type === 'Affine') {
      const W = arr(g, id, 'weight'),
        b = arr(g, id, 'bias');
      const [O, K] = W.shape as [number, number];
      const M = cur.data.length / K;
      const y = new Float64Array(M * O);
      for (let m = 0; m < M; ++m)
        for (let o = 0; o < O; ++o) {
          let s = Number(b.data[o]);
          for (let k = 0; k < K; ++k) s += cur.data[m * K + k]! * Number(W.data[o * K + k]);
          y[m * O + o] = s;
        }
      cur = { shape: [...cur.shape.slice(0, -1), O], data: y };
    } else if (type === 'Conv2d') {
      const W = arr(g, id, 'weight'),
        b = arr(g, id, 'bias');
      const [O, C, kH, kW] = W.shape as [number, number, number, number];
      const [sH, sW] = arr(g, id, 'stride').data as number[];
      const [pH, pW] = arr(g, id, 'padding').data as number[];
      const geom = { N: rows, C, H: cur.shape[2]!, W: cur.shape[3]!, O, kH, kW, sH: sH!, sW: sW!, pH: pH!, pW: pW! };
      const y = conv2dRef(cur.data, geom, Float64Array.from(W.data), Float64Array.from(b.data));
      cur = {
        shape: [rows, O, (geom.H + 2 * pH! - kH) / sH! + 1, (geom.W + 2 * pW! - kW) / sW! + 1].map(Math.floor),
        data: y,
      };
    } else if (type === 'SumPool2d') {
      const [kH, kW] = arr(g, id, 'kernel_size').data as number[];
      const [sH, sW] = arr(g, id, 'stride').data as number[];
      const [, C, H, Wd] = cur.shape as [number, number, number, number];
      const Ho = Math.floor((H - kH!) / sH!) + 1,
        Wo = Math.floor((Wd - kW!) / sW!) + 1;
      const y = new Float64Array(rows * C * Ho * Wo);
      for (let n = 0; n < rows * C; ++n)
        for (let i = 0; i < Ho; ++i)
          for (let j = 0; j < Wo; ++j) {
            let s = 0;
            for (let a = 0; a < kH!; ++a)
              for (let e = 0; e < kW!; ++e) s += cur.data[(n * H + i * sH! + a) * Wd + j * sW! + e]!;
            y[(n * Ho + i) * Wo + j] = s;
          }
      cur = { shape: [rows, C, Ho, Wo], data: y };
    } else if (type === 'Flatten') {
      // the files here flatten everything after the batch (start_dim 0, end_dim -1)
      expect(arr(g, id, 'start_dim').data[0]).to.equal(0);
      expect(arr(g, id, 'end_dim').data[0]).to.equal(-1);
      cur = { shape: [rows, prod(cur.shape.slice(1))], data: cur.data };
    } else if (type === 'LIF' || type === 'IF' || type === 'LI') {
      const N = prod(cur.shape.slice(1));
      const T = rows / B;
      const tau = type === 'IF' ? () => Infinity : perNeuron(arr(g, id, 'tau'), N);
      const thr = type === 'LI' ? () => NaN : perNeuron(arr(g, id, 'v_threshold'), N);
      const y = new Float64Array(cur.data.length);
      for (let b = 0; b < B; ++b)
        for (let k = 0; k < N; ++k) {
          const alpha = Math.exp(-1 / tau(k)),
            th = thr(k);
          let v = 0;
          for (let t = 0; t < T; ++t) {
            const at = (b * T + t) * N + k;
            v = alpha * v + cur.data[at]!;
            if (type === 'LI') {
              y[at] = v;
              continue;
            }
            const s = v > 0 ? Math.trunc(v / th) : 0;
            v -= s * th;
            if (type === 'IF') v = Math.max(v, -th);
            y[at] = s;
          }
        }
      cur = { shape: cur.shape, data: y };
    } else throw new Error(`no reference for ${type}`);
  }
  return cur;
}

/** The ids between Input and Output, following the edges (the test's own walk). */
function chainOf(g: NirGraph): string[] {
  const next = new Map(g.edges.map(([a, b]) => [a, b] as const));
  const out: string[] = [];
  const at = Object.keys(g.nodes).find((id) => g.nodes[id]!.type === 'Input')!;
  for (let n = next.get(at); n !== undefined && g.nodes[n]!.type !== 'Output'; n = next.get(n)) out.push(n);
  return out;
}

function runModel(g: NirGraph, m: MModel): Float32Array {
  const net = fromNir(g, { batchSize: m.batch_size });
  return net.forward(Tensor.from(m.input.data, m.input.shape)).toFloat32Array();
}

(present ? describe : describe.skip)('NIR import (sinabs-exported files)', function () {
  for (const { dir, models } of sets) {
    const setName = path.basename(dir) === 'nir' ? 'nir main' : path.basename(dir);
    describe(setName, function () {
      for (const m of models) {
        describe(m.name, function () {
          let g: NirGraph;
          before(async function () {
            g = await readNir(path.join(dir, m.file));
          });

          it('reads the graph the manifest lists (version, nodes, types, parameter shapes and values, edges)', function () {
            expect(g.version).to.equal(m.nir_graph.version);
            expect(g.edges).to.deep.equal(m.nir_graph.edges);
            expect(Object.keys(g.nodes).sort()).to.deep.equal(Object.keys(m.nir_graph.nodes).sort());
            for (const [id, mn] of Object.entries(m.nir_graph.nodes)) {
              const n = g.nodes[id]!;
              expect(n.type, id).to.equal(mn.type);
              expect(Object.keys(n.params).sort(), id).to.deep.equal(Object.keys(mn.params).sort());
              for (const [name, mp] of Object.entries(mn.params)) {
                const p = n.params[name]!;
                expect(p.kind, `${id}.${name}`).to.equal('array');
                const a = p as NirArray;
                expect(a.shape, `${id}.${name}`).to.deep.equal(mp.shape);
                expect(a.dtype, `${id}.${name}`).to.equal(mp.dtype === '<f4' ? 'float32' : 'int64');
                if (mp.value !== undefined) {
                  const want = Array.isArray(mp.value) ? mp.value : [mp.value];
                  expect(Array.from(a.data, Number), `${id}.${name}`).to.deep.equal(
                    mp.dtype === '<f4' ? f32(want) : want,
                  );
                }
              }
            }
          });

          if (m.roundtrip.output) {
            it("the rebuilt model reproduces sinabs' from_nir output", function () {
              const want = m.roundtrip.output!;
              const got = runModel(g, m);
              expect(got.length).to.equal(want.data.length);
              const last = m.roundtrip.modules!.filter((x) => x.type !== 'Identity').at(-1)!;
              if (last.type === 'ExpLeakSqueeze') {
                // membrane output: float32 against sinabs' float32 in another summation order. Per step
                // each value gets one Linear rounding over K inputs and one leak update; old errors
                // decay (alpha < 1), so the gap stays below (K + 2) * T * eps32 * max|v|.
                const K = m.input.shape.at(-1)!;
                const scale = Math.max(1, ...want.data.map(Math.abs));
                const tol = (K + 2) * m.num_timesteps * 2 ** -24 * scale;
                for (let k = 0; k < got.length; ++k)
                  expect(Math.abs(got[k]! - want.data[k]!), `element ${k}`).to.be.below(tol);
              } else {
                expect(plain(got)).to.deep.equal(plain(want.data));
              }
            });
          }

          if (m.name.startsWith('s08') || m.name.startsWith('s10')) {
            it('sinabs cannot import it; the rebuilt model matches a float64 simulation of the mapping', function () {
              expect(m.roundtrip.from_nir.ok).to.equal(false);
              const got = runModel(g, m);
              const ref = simulate(
                g,
                chainOf(g),
                { shape: m.input.shape, data: Float64Array.from(m.input.data) },
                m.batch_size,
              );
              expect(plain(got)).to.deep.equal(plain(ref.data));
              // the mapping equals the original model here (norm_input False, no tau_syn or min_v_mem,
              // MultiSpike, subtract reset), so sinabs' own output is the same
              expect(plain(got)).to.deep.equal(plain(m.output_sinabs.data));
              if (m.roundtrip_in_memory?.output)
                expect(plain(got)).to.deep.equal(plain(m.roundtrip_in_memory.output.data));
            });

            it("the file's parameters are the original model's", function () {
              for (const [key, t] of Object.entries(m.sinabs_parameters)) {
                const [id, name] = key.split('.') as [string, string];
                const param = { weight: 'weight', bias: 'bias', tau_mem: 'tau', spike_threshold: 'v_threshold' }[name];
                if (!param) continue;
                expect(Array.from(arr(g, id, param).data), key).to.deep.equal(f32(t.data));
              }
            });
          }
        });
      }
    });
  }

  it('children are named by node id (s11: a bare layer is "model"); order comes from the edges', async function () {
    const s11 = await readNir(path.join(goldenDir, 's11_single_iaf_layer.nir'));
    const net = fromNir(s11, { batchSize: 2 });
    expect(Object.keys(net.stateDict()).every((k) => k.startsWith('model.'))).to.equal(true);
    const s09 = await readNir(path.join(goldenDir, 's09_conv_iaf_sumpool_linear_iaf.nir'));
    // the stored edges are not in chain order; reversing them changes nothing
    const rev = fromNir({ ...s09, edges: [...s09.edges].reverse() }, { batchSize: 2 });
    expect(Object.keys(rev.stateDict()).filter((k) => k.endsWith('weight'))).to.deep.equal(['0.weight', '4.weight']);
    expect([...rev].map((c) => (c as unknown as { typeName: string }).typeName)).to.deep.equal([
      'Conv2d',
      'IAFSqueeze',
      'SumPool2d',
      'Flatten',
      'Linear',
      'IAFSqueeze',
    ]);
    const s06 = await readNir(path.join(goldenDir, 's06_linear_expleak.nir'));
    expect(fromNir(s06, { batchSize: 2 }).at(1)).to.be.instanceOf(ExpLeakSqueeze);
  });
});

describe('NIR import errors', function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'spikelayers-nir-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  async function writeNir(name: string, build: (f: import('h5wasm').File) => void): Promise<string> {
    const h5 = (await import('h5wasm/node')).default;
    await h5.ready;
    const p = path.join(dir, name);
    const f = new h5.File(p, 'w');
    try {
      build(f);
    } finally {
      f.close();
    }
    return p;
  }
  const chain = (f: import('h5wasm').File, middle: (g: import('h5wasm').Group) => void): void => {
    f.create_dataset({ name: 'version', data: '1.0.4' });
    const top = f.create_group('node');
    top.create_dataset({ name: 'type', data: 'NIRGraph' });
    const nodes = top.create_group('nodes');
    nodes.create_group('input').create_dataset({ name: 'type', data: 'Input' });
    nodes.create_group('output').create_dataset({ name: 'type', data: 'Output' });
    middle(nodes.create_group('0'));
    top.create_dataset({ name: 'edges', data: ['input', '0', '0', 'output'], shape: [2, 2] });
  };
  const rejects = async (p: Promise<unknown>): Promise<Error> => {
    try {
      await p;
    } catch (e) {
      return e as Error;
    }
    throw new Error('expected a rejection');
  };

  it('a file that is not HDF5: ERR_DATA_FILE', async function () {
    const p = path.join(dir, 'text.nir');
    writeFileSync(p, 'not an HDF5 file\n');
    const e = await rejects(readNir(p));
    expect(e).to.be.instanceOf(SpikelayersError);
    expect((e as SpikelayersError).code).to.equal(ErrorCodes.DATA_FILE);
    expect(e.message).to.include('not an HDF5 file');
    const missing = await rejects(readNir(path.join(dir, 'absent.nir')));
    expect((missing as SpikelayersError).code).to.equal(ErrorCodes.DATA_FILE);
  });

  it('a node without its type: ERR_NIR_FORMAT naming the node', async function () {
    const p = await writeNir('no-type.nir', (f) =>
      chain(f, (g) => g.create_dataset({ name: 'tau', data: new Float32Array([10]) })),
    );
    const e = await rejects(readNir(p));
    expect((e as SpikelayersError).code).to.equal(ErrorCodes.NIR_FORMAT);
    expect(e.message).to.include("node '0' has no 'type'");
  });

  it('an HDF5 file without the graph: ERR_NIR_FORMAT', async function () {
    const p = await writeNir('empty.nir', (f) => f.create_dataset({ name: 'x', data: new Float32Array([1]) }));
    const e = await rejects(readNir(p));
    expect((e as SpikelayersError).code).to.equal(ErrorCodes.NIR_FORMAT);
    expect(e.message).to.include("no group 'node'");
  });

  it('an unsupported node type: reads, then fromNir throws ERR_NIR_UNSUPPORTED naming node and type', async function () {
    const p = await writeNir('foo.nir', (f) => chain(f, (g) => g.create_dataset({ name: 'type', data: 'CubaLIF' })));
    const g = await readNir(p);
    expect(g.nodes['0']!.type).to.equal('CubaLIF');
    expect(g.version).to.equal('1.0.4');
    expect(() => fromNir(g, { batchSize: 1 }))
      .to.throw(SpikelayersError, "node '0' has type 'CubaLIF'")
      .with.property('code', ErrorCodes.NIR_UNSUPPORTED);
  });

  it('gzip-compressed and 0-d parameters written with h5wasm read back; a missing parameter names it', async function () {
    const p = await writeNir('lif.nir', (f) =>
      chain(f, (g) => {
        g.create_dataset({ name: 'type', data: 'LIF' });
        g.create_dataset({ name: 'tau', data: new Float32Array([5, 6, 7]), compression: 'gzip', chunks: [3] });
        g.create_dataset({ name: 'v_leak', data: new Float32Array([0]), shape: [] });
      }),
    );
    const g = await readNir(p);
    expect(g.nodes['0']!.params.tau).to.deep.include({ kind: 'array', dtype: 'float32', shape: [3] });
    expect(Array.from((g.nodes['0']!.params.tau as NirArray).data)).to.deep.equal([5, 6, 7]);
    expect(g.nodes['0']!.params.v_leak).to.deep.include({ shape: [] });
    expect(() => fromNir(g, { batchSize: 1 }))
      .to.throw(SpikelayersError, "node '0' (LIF): parameter 'v_threshold' is missing")
      .with.property('code', ErrorCodes.NIR_FORMAT);
  });

  it('bad shapes, nonzero v_leak, graphs that are not chains, bad options', function () {
    const arrOf = (data: number[], shape: number[], dtype = 'float32'): NirArray => ({
      kind: 'array',
      dtype,
      shape,
      data: dtype === 'float32' ? Float32Array.from(data) : data,
    });
    const graph = (node: NirGraph['nodes'][string], edges?: [string, string][]): NirGraph => ({
      version: null,
      nodes: { input: { type: 'Input', params: {} }, output: { type: 'Output', params: {} }, '0': node },
      edges: edges ?? [
        ['input', '0'],
        ['0', 'output'],
      ],
    });
    const affine = { type: 'Affine', params: { weight: arrOf([1, 2, 3], [3]), bias: arrOf([0], [1]) } };
    expect(() => fromNir(graph(affine), { batchSize: 1 })).to.throw(
      RangeError,
      "node '0' (Affine): parameter 'weight' must be a matrix [out, in], got shape [3]",
    );
    const lif = {
      type: 'LIF',
      params: { tau: arrOf([5], []), v_threshold: arrOf([1], []), v_leak: arrOf([0.5], []) },
    };
    expect(() => fromNir(graph(lif), { batchSize: 1 }))
      .to.throw(SpikelayersError, "parameter 'v_leak' must be 0")
      .with.property('code', ErrorCodes.NIR_UNSUPPORTED);
    const ok = { type: 'LIF', params: { tau: arrOf([5], []), v_threshold: arrOf([1], []), v_leak: arrOf([0], []) } };
    expect(() =>
      fromNir(
        graph(ok, [
          ['input', '0'],
          ['input', 'output'],
        ]),
        { batchSize: 1 },
      ),
    ).to.throw(SpikelayersError, "node 'input' has more than one outgoing edge");
    expect(() => fromNir(graph(ok, [['input', '0']]), { batchSize: 1 })).to.throw(
      SpikelayersError,
      "node '0' has no outgoing edge",
    );
    expect(() =>
      fromNir(
        graph(ok, [
          ['input', 'output'],
          ['0', 'nowhere'],
        ]),
        { batchSize: 1 },
      ),
    ).to.throw(SpikelayersError, "names node 'nowhere'");
    expect(() => fromNir(graph(ok, [['input', 'output']]), { batchSize: 1 })).to.throw(
      SpikelayersError,
      "node(s) '0' are not on the chain",
    );
    expect(() => fromNir(graph(ok), { batchSize: 0 })).to.throw(RangeError, 'batchSize');
    expect(() => fromNir(graph(ok), {} as { batchSize: number })).to.throw(TypeError, 'batchSize');
    expect(() => fromNir(null as unknown as NirGraph, { batchSize: 1 })).to.throw(TypeError, 'graph');
  });
});
