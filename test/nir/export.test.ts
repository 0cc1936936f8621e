// NIR export: the model fromNir rebuilt from each sinabs-exported file (../shared/golden/nir)
// goes back through toNir and writeNir. The graph must be the file's (same nodes, types,
// parameter values bit for bit, edges as a set; only the all-zero v_reset is left out), the
// written file must have the file's HDF5 layout (paths, shapes, datatypes: the manifest's h5py
// listing), and the re-read model must give sinabs' from_nir output again (or, for the two files
// sinabs cannot import, the original model's output, which the import tests tie to the mapping).
import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AvgPool2d,
  ErrorCodes,
  LIF,
  Sequential,
  SpikelayersError,
  Tensor,
  fromNir,
  readNir,
  toNir,
  writeNir,
  type NirArray,
  type NirGraph,
} from '../../lib/index.js';

interface MTensor {
  shape: number[];
  data: number[];
}
interface MEntry {
  path: string;
  kind: 'group' | 'dataset';
  shape?: number[];
  dtype?: { class: string; bits?: number; byte_order?: string; encoding?: string; length?: string };
}
interface MModel {
  name: string;
  batch_size: number;
  file: string;
  input: MTensor;
  output_sinabs: MTensor;
  hdf5: { entries: MEntry[] };
  roundtrip: { output?: MTensor };
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const goldenDir = process.env.SPIKELAYERS_NIR_GOLDEN ?? path.resolve(repoRoot, '../shared/golden/nir');
const present = existsSync(path.join(goldenDir, 'manifest.json'));
const models: MModel[] = present
  ? (JSON.parse(readFileSync(path.join(goldenDir, 'manifest.json'), 'utf8')) as { models: MModel[] }).models
  : [];
/** The node whose edge leads to the Output node. */
const chainEnd = (g: NirGraph): string => g.edges.find(([, b]) => g.nodes[b]!.type === 'Output')![0];
const plain = (xs: ArrayLike<number>): number[] => Array.from(xs, (x) => (x === 0 ? 0 : x));

/** The manifest's description of a dataset's datatype in h5wasm's terms. */
function h5Type(d: NonNullable<MEntry['dtype']>): { type: number; size: number; vlen?: boolean } {
  if (d.class === 'string') return { type: 3, size: 4, vlen: d.length === 'variable' };
  return { type: d.class === 'float' ? 1 : 0, size: d.bits! / 8 };
}

(present ? describe : describe.skip)('NIR export (toNir, writeNir) of the rebuilt golden models', function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'spikelayers-nir-export-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  for (const m of models) {
    it(`${m.name}: graph, file layout and output survive the round trip`, async function () {
      const g = await readNir(path.join(goldenDir, m.file));
      const net = fromNir(g, { batchSize: m.batch_size });
      const out = toNir(net, { inputShape: m.input.shape });
      // the graph: the file's, without v_reset (zero everywhere in these files)
      expect(Object.keys(out.nodes).sort()).to.deep.equal(Object.keys(g.nodes).sort());
      for (const [id, n] of Object.entries(g.nodes)) {
        const o = out.nodes[id]!;
        expect(o.type, id).to.equal(n.type);
        const names = Object.keys(n.params).filter((k) => k !== 'v_reset');
        expect(Object.keys(o.params).sort(), id).to.deep.equal(names.sort());
        if (n.params.v_reset)
          expect(Array.from((n.params.v_reset as NirArray).data).every((x) => x === 0)).to.equal(true);
        for (const k of names) {
          const a = n.params[k] as NirArray,
            b = o.params[k] as NirArray;
          expect(b.shape, `${id}.${k}`).to.deep.equal(a.shape);
          expect(b.dtype, `${id}.${k}`).to.equal(a.dtype);
          expect(Array.from(b.data, Number), `${id}.${k}`).to.deep.equal(Array.from(a.data, Number));
        }
      }
      const key = (e: [string, string]): string => e.join('->');
      expect(out.edges.map(key).sort()).to.deep.equal(g.edges.map(key).sort());

      // the file: every path of the original but v_reset, with its shape and datatype
      const file = path.join(dir, m.file);
      await writeNir(file, out, { version: g.version! });
      const h5 = (await import('h5wasm/node')).default;
      await h5.ready;
      const f = new h5.File(file, 'r');
      try {
        const want = m.hdf5.entries.filter((e) => !e.path.endsWith('/v_reset'));
        expect(
          f
            .paths()
            .map((p) => p.replace(/^\//, ''))
            .sort(),
        ).to.deep.equal(want.map((e) => e.path).sort());
        for (const e of want) {
          const ent = f.get(e.path);
          if (e.kind === 'group') {
            expect(ent, e.path).to.be.instanceOf(h5.Group);
            continue;
          }
          expect(ent, e.path).to.be.instanceOf(h5.Dataset);
          const ds = ent as InstanceType<typeof h5.Dataset>;
          expect(ds.shape, e.path).to.deep.equal(e.shape);
          const t = h5Type(e.dtype!);
          expect(ds.metadata.type, e.path).to.equal(t.type);
          if (t.type === 3) {
            expect(ds.metadata.vlen, e.path).to.equal(t.vlen);
            expect(ds.metadata.cset, `${e.path} is UTF-8`).to.equal(1);
          } else {
            expect(ds.metadata.size, e.path).to.equal(t.size);
            expect(ds.metadata.littleEndian, e.path).to.equal(true);
          }
        }
      } finally {
        f.close();
      }

      // the model read back from the written file
      const back = fromNir(await readNir(file), { batchSize: m.batch_size });
      const y = back.forward(Tensor.from(m.input.data, m.input.shape)).toFloat32Array();
      const want = m.roundtrip.output ?? m.output_sinabs;
      if (g.nodes[chainEnd(g)]!.type === 'LI') {
        // a membrane output: the float32 bound of the import test, (K + 2) * T * eps32 * max|v|
        const K = m.input.shape.at(-1)!,
          T = m.input.shape[0]! / m.batch_size;
        const tol = (K + 2) * T * 2 ** -24 * Math.max(1, ...want.data.map(Math.abs));
        for (let k = 0; k < y.length; ++k) expect(Math.abs(y[k]! - want.data[k]!), `element ${k}`).to.be.below(tol);
      } else expect(plain(y)).to.deep.equal(plain(f32(want.data)));
    });
  }
});

const f32 = (xs: number[]): number[] => xs.map((x) => Math.fround(x));

describe('NIR export errors', function () {
  it('a layer without a NIR node, a trainAlphas layer, bad options: named errors', function () {
    const pool = Sequential.fromNamed([['p', new AvgPool2d({ kernelSize: 2 })]]);
    expect(() => toNir(pool, { inputShape: [1, 1, 4, 4] }))
      .to.throw(SpikelayersError, "layer 'p' (AvgPool2d): cannot be exported")
      .with.property('code', ErrorCodes.NIR_UNSUPPORTED);
    const alphas = new LIF({ tauMem: 5, trainAlphas: true });
    expect(() => toNir(alphas, { inputShape: [1, 3, 2] }))
      .to.throw(SpikelayersError, "layer 'model' (LIF): trainAlphas")
      .with.property('code', ErrorCodes.NIR_UNSUPPORTED);
    expect(() => toNir(new LIF({ tauMem: 5 }), { inputShape: [] })).to.throw(TypeError, 'inputShape');
    expect(() => toNir({} as LIF, { inputShape: [1] })).to.throw(TypeError, 'model');
  });

  it('a bare LIF exports as node "model" with its threshold in the shape of tau', function () {
    const g = toNir(new LIF({ tauMem: Tensor.from([5, 6, 7], [3]), spikeThreshold: 0.5 }), { inputShape: [2, 4, 3] });
    expect(g.edges).to.deep.equal([
      ['input', 'model'],
      ['model', 'output'],
    ]);
    const th = g.nodes.model!.params.v_threshold as NirArray;
    expect(th.shape).to.deep.equal([3]);
    expect(Array.from(th.data)).to.deep.equal([0.5, 0.5, 0.5]);
    expect((g.nodes.input!.params.shape as NirArray).data).to.deep.equal([4, 3]);
    expect((g.nodes.output!.params.shape as NirArray).data).to.deep.equal([4, 3]);
  });
});
