// NIR import against the files sinabs exported (../shared/golden/nir, README there): every file
// reads into the graph the manifest lists; the model fromNir builds reproduces what sinabs'
// from_nir built from the same file (`roundtrip.output`); the two files sinabs cannot import
// (0-d LIF parameters, [C, H, W] LIF parameters) are checked against a float64 simulation of the
// documented mapping (test/support/nir-reference.ts), and s08 also against sinabs' in-memory round
// trip. Error cases are in import-errors.test.ts.
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ExpLeakSqueeze, Tensor, fromNir, readNir, type NirArray, type NirGraph } from '../../lib/index.js';
import { arr, chainOf, simulate } from '../support/nir-reference.js';
import { goldenDir as sharedGoldenDir } from '../support/golden-dir.js';

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
const goldenDir = process.env.SPIKELAYERS_NIR_GOLDEN ?? path.join(sharedGoldenDir, 'nir');
const present = existsSync(path.join(goldenDir, 'manifest.json'));
if (!present) console.log(`  (NIR import tests skipped: no golden files at ${goldenDir})`);

describe('NIR golden files', function () {
  it('are present (required with CI set)', function () {
    if (present) return;
    if (process.env.CI) expect.fail(`NIR golden files not found at ${goldenDir}`);
    this.skip();
  });
});

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

  it("edited copies of s02 (the reader probes nir accepts) give sinabs' from_nir output", async function () {
    // written with h5wasm from the graph as read: 'type' as fixed-length ASCII, tau as float64, no
    // version, no v_reset, the edges reversed
    const m = sets[0]!.models.find((x) => x.name.startsWith('s02'))!;
    const g = await readNir(path.join(goldenDir, m.file));
    const h5 = (await import('h5wasm/node')).default;
    await h5.ready;
    const dir = mkdtempSync(path.join(tmpdir(), 'spikelayers-nir-probe-'));
    try {
      const p = path.join(dir, 'edited.nir');
      const f = new h5.File(p, 'w');
      try {
        const top = f.create_group('node');
        top.create_dataset({ name: 'type', data: 'NIRGraph' });
        const nodes = top.create_group('nodes');
        for (const [id, n] of Object.entries(g.nodes)) {
          const grp = nodes.create_group(id);
          grp.create_dataset({ name: 'type', data: n.type, dtype: `A${n.type.length}` });
          for (const [name, v] of Object.entries(n.params)) {
            if (name === 'v_reset') continue;
            const a = v as NirArray;
            const dtype = a.dtype === 'int64' ? '<q' : name === 'tau' ? '<d' : '<f';
            const data =
              a.dtype === 'int64' ? BigInt64Array.from(a.data as number[], BigInt) : Float64Array.from(a.data);
            grp.create_dataset({ name, data, shape: a.shape, dtype });
          }
        }
        top.create_dataset({ name: 'edges', data: [...g.edges].reverse().flat(), shape: [g.edges.length, 2] });
      } finally {
        f.close();
      }
      const e = await readNir(p);
      expect(e.version).to.equal(null);
      expect(e.nodes['1']!.params.tau).to.deep.include({ dtype: 'float64' });
      expect(e.nodes['1']!.params).to.not.have.property('v_reset');
      expect(e.nodes['1']!.type).to.equal('LIF');
      expect(plain(runModel(e, m))).to.deep.equal(plain(m.roundtrip.output!.data));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

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
