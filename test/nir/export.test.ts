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
import { goldenDir as sharedGoldenDir } from '../support/golden-dir.js';
import {
  AvgPool2d,
  ErrorCodes,
  Flatten,
  IAFSqueeze,
  LIF,
  LIFSqueeze,
  Linear,
  NIR_CURRENT_VERSION,
  Sequential,
  SpikelayersError,
  Tensor,
  fromNir,
  readNir,
  toNir,
  writeNir,
  type NirArray,
  type NirGraph,
  type NirVersion,
} from '../../lib/index.js';
import { checkNirStructure } from './structure.js';

interface MTensor {
  shape: number[];
  data: number[];
}
interface MEntry {
  path: string;
  kind: 'group' | 'dataset';
  shape?: number[];
  dtype?: { class: string; bits?: number; byte_order?: string; encoding?: string; length?: string };
  compression?: string | null;
  compression_opts?: number;
}
interface MModel {
  name: string;
  batch_size: number;
  file: string;
  input: MTensor;
  output_sinabs: MTensor;
  hdf5: { entries: MEntry[] };
  export: { write_kwargs_used?: { compression?: string | null } };
  roundtrip: { output?: MTensor };
  roundtrip_in_memory?: { output?: MTensor };
}

const goldenDir = process.env.SPIKELAYERS_NIR_GOLDEN ?? path.join(sharedGoldenDir, 'nir');
const present = existsSync(path.join(goldenDir, 'manifest.json'));
/** The node whose edge leads to the Output node. */
const chainEnd = (g: NirGraph): string => g.edges.find(([, b]) => g.nodes[b]!.type === 'Output')![0];
const plain = (xs: ArrayLike<number>): number[] => Array.from(xs, (x) => (x === 0 ? 0 : x));

/** The manifest's description of a dataset's datatype in h5wasm's terms. */
function h5Type(d: NonNullable<MEntry['dtype']>): { type: number; size: number; vlen?: boolean } {
  if (d.class === 'string') return { type: 3, size: 4, vlen: d.length === 'variable' };
  return { type: d.class === 'float' ? 1 : 0, size: d.bits! / 8 };
}

/** Each set with the layout its files have: nir main writes the current one, nir 1.0.4 its own. */
const sets: { dir: string; layout: NirVersion; models: MModel[] }[] = present
  ? [
      { sub: '', layout: 'current' as const },
      { sub: 'nir-1.0.4', layout: '1.0.4' as const },
    ].map(({ sub, layout }) => {
      const dir = path.join(goldenDir, sub);
      const list = (JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { models: MModel[] }).models;
      return { dir, layout, models: list };
    })
  : [];

/** Two graphs are the same: version, node ids, types, parameter names, kinds, dtypes, shapes, values; edges as a set. */
function expectSameGraph(got: NirGraph, want: NirGraph, what: string): void {
  expect(got.version, `${what}: version`).to.equal(want.version);
  expect(Object.keys(got.nodes).sort(), `${what}: node ids`).to.deep.equal(Object.keys(want.nodes).sort());
  for (const [id, n] of Object.entries(want.nodes)) {
    const o = got.nodes[id]!;
    expect(o.type, `${what}: node '${id}' type`).to.equal(n.type);
    expect(Object.keys(o.params).sort(), `${what}: node '${id}' parameters`).to.deep.equal(
      Object.keys(n.params).sort(),
    );
    for (const k of Object.keys(n.params)) {
      const a = n.params[k] as NirArray,
        b = o.params[k] as NirArray;
      expect([b.kind, b.dtype, b.shape], `${what}: ${id}.${k}`).to.deep.equal([a.kind, a.dtype, a.shape]);
      expect(Array.from(b.data, Number), `${what}: ${id}.${k} values`).to.deep.equal(Array.from(a.data, Number));
    }
  }
  const key = (e: [string, string]): string => e.join('->');
  expect(got.edges.map(key).sort(), `${what}: edges`).to.deep.equal(want.edges.map(key).sort());
}

(present ? describe : describe.skip)('NIR export (toNir, writeNir) of the rebuilt golden models', function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'spikelayers-nir-export-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  for (const set of sets) {
    describe(`nirVersion '${set.layout}' (the files of ${set.layout === 'current' ? 'nir main' : 'nir 1.0.4'})`, function () {
      for (const m of set.models) {
        it(`${m.name}: nothing lost; the file written is the golden file's graph, layout and structure; read back, it gives the import's output`, async function () {
          const g = await readNir(path.join(set.dir, m.file));
          const net = fromNir(g, { batchSize: m.batch_size });
          const out = toNir(net, { inputShape: m.input.shape.slice(1) });
          expect(out.lost, 'an imported model exports without loss').to.deep.equal([]);
          // the graph in memory: the file's; toNir always gives IF and LIF their (zero) v_reset
          const inMemory: NirGraph = {
            version: g.version,
            edges: out.edges,
            nodes: Object.fromEntries(
              Object.entries(out.nodes).map(([id, n]) => {
                const { v_reset, ...rest } = n.params;
                const keep = set.layout === 'current' || !v_reset;
                if (v_reset) expect(Array.from((v_reset as NirArray).data).every((x) => x === 0)).to.equal(true);
                return [id, { type: n.type, params: keep ? n.params : rest }];
              }),
            ),
          };
          expectSameGraph(inMemory, g, 'toNir');

          // the file: read back, the golden file's graph (and version string)
          const file = path.join(dir, `${set.layout}-${m.file}`);
          await writeNir(file, out, { nirVersion: set.layout });
          const back = await readNir(file);
          expectSameGraph(back, g, 'file');

          // its HDF5 listing: the golden file's paths, shapes, datatypes and compression
          const h5 = (await import('h5wasm/node')).default;
          await h5.ready;
          const f = new h5.File(file, 'r');
          try {
            expect(
              f
                .paths()
                .map((p) => p.replace(/^\//, ''))
                .sort(),
            ).to.deep.equal(m.hdf5.entries.map((e) => e.path).sort());
            // s08 was written with compression=None (nir cannot gzip its 0-d v_reset): its shapes are
            // compressed here as nir compresses them in every other file
            const noGzip = m.export.write_kwargs_used?.compression === null;
            for (const e of m.hdf5.entries) {
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
              const gz =
                noGzip && /\/(v_reset|input_type)$|\/(input|output)\/shape$/.test(e.path) && e.shape!.length > 0
                  ? 4
                  : e.compression === 'gzip'
                    ? e.compression_opts
                    : null;
              const filters = ds.filters.map((x) => [x.name, x.cd_values[0]]);
              expect(filters, `${e.path} compression`).to.deep.equal(gz === null ? [] : [['deflate', gz]]);
            }
          } finally {
            f.close();
          }
          await checkNirStructure(file, set.layout);

          // the model read back from the written file
          const again = fromNir(back, { batchSize: m.batch_size });
          const y = again.forward(Tensor.from(m.input.data, m.input.shape)).toFloat32Array();
          const want = m.roundtrip.output ?? m.roundtrip_in_memory?.output ?? m.output_sinabs;
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
  }
});

const f32 = (xs: number[]): number[] => xs.map((x) => Math.fround(x));

describe('NIR export errors', function () {
  it('a layer without a NIR node, a nested Sequential, bad options: named errors', function () {
    const pool = Sequential.fromNamed([['p', new AvgPool2d({ kernelSize: 2 })]]);
    expect(() => toNir(pool, { inputShape: [1, 4, 4] }))
      .to.throw(SpikelayersError, "layer 0 ('p', AvgPool2d): cannot be exported")
      .with.property('code', ErrorCodes.NIR_UNSUPPORTED);
    const nested = new Sequential(new Linear({ inFeatures: 2, outFeatures: 2 }), new Sequential(new Flatten()));
    expect(() => toNir(nested, { inputShape: [2] }))
      .to.throw(SpikelayersError, "layer 1 ('1', Sequential): cannot be exported")
      .with.property('code', ErrorCodes.NIR_UNSUPPORTED);
    const flat0 = new Sequential(new Flatten({ startDim: 0 }));
    expect(() => toNir(flat0, { inputShape: [2, 3] }))
      .to.throw(SpikelayersError, "layer 0 ('0', Flatten): startDim 0 flattens the batch dimension")
      .with.property('code', ErrorCodes.NIR_UNSUPPORTED);
    expect(() => toNir(new Linear({ inFeatures: 3, outFeatures: 2 }), { inputShape: [4] })).to.throw(
      RangeError,
      "toNir: layer 0 ('model') on input of shape [1, 4]",
    );
    expect(() => toNir(new LIF({ tauMem: 5 }), { inputShape: [1.5] })).to.throw(TypeError, 'inputShape');
    expect(() => toNir(new LIF({ tauMem: 5 }), {} as { inputShape: number[] })).to.throw(TypeError, 'inputShape');
    expect(() => toNir(new LIF({ tauMem: 5 }), { inputShape: [2, 3], allowLossy: 1 as unknown as boolean })).to.throw(
      TypeError,
      'allowLossy',
    );
    expect(() => toNir(new LIF({ tauMem: 5 }), { inputShape: [2, 3], lossy: true } as never)).to.throw(
      TypeError,
      'lossy',
    );
    expect(() => toNir({} as LIF, { inputShape: [1] })).to.throw(TypeError, 'model');
  });

  it('writeNir: a bad nirVersion or graph is refused before the file is touched; nonzero v_reset cannot be 1.0.4', async function () {
    const dir = mkdtempSync(path.join(tmpdir(), 'spikelayers-nir-write-'));
    try {
      const file = path.join(dir, 'x.nir');
      const g = toNir(new IAFSqueeze({ batchSize: 1, minVMem: -1 }), { inputShape: [3] });
      expect(g.lost).to.deep.equal([]);
      const rejects = async (p: Promise<unknown>): Promise<Error> => {
        try {
          await p;
        } catch (e) {
          return e as Error;
        }
        throw new Error('expected a rejection');
      };
      const e1 = await rejects(writeNir(file, g, { nirVersion: '1.0.5' as NirVersion }));
      expect(e1).to.be.instanceOf(RangeError);
      expect(e1.message).to.include("nirVersion must be one of '1.0.4', 'current'");
      const e2 = await rejects(writeNir(file, g, { nirversion: '1.0.4' } as never));
      expect(e2).to.be.instanceOf(TypeError);
      const vr: NirArray = { kind: 'array', dtype: 'float32', shape: [3], data: Float32Array.of(0, -0.5, 0) };
      const bad: NirGraph = {
        ...g,
        nodes: { ...g.nodes, model: { type: 'IF', params: { ...g.nodes.model!.params, v_reset: vr } } },
      };
      const e3 = await rejects(writeNir(file, bad, { nirVersion: '1.0.4' }));
      expect(e3).to.be.instanceOf(SpikelayersError);
      expect((e3 as SpikelayersError).code).to.equal(ErrorCodes.NIR_UNSUPPORTED);
      expect(e3.message).to.include("node 'model' (IF): parameter 'v_reset' is not zero everywhere");
      const short: NirArray = { kind: 'array', dtype: 'float32', shape: [4], data: Float32Array.of(1, 1, 1) };
      const e4 = await rejects(
        writeNir(file, {
          ...g,
          nodes: { ...g.nodes, model: { type: 'IF', params: { ...g.nodes.model!.params, r: short } } },
        }),
      );
      expect(e4).to.be.instanceOf(RangeError);
      expect(e4.message).to.include("writeNir: node 'model' (IF): parameter 'r' has 3 values for its shape [4]");
      expect(existsSync(file), 'no file written').to.equal(false);
      // the current layout keeps a nonzero v_reset, and adds a zero one where the graph has none
      await writeNir(file, bad);
      expect(Array.from(((await readNir(file)).nodes.model!.params.v_reset as NirArray).data)).to.deep.equal([
        0, -0.5, 0,
      ]);
      const { v_reset: _drop, ...noReset } = g.nodes.model!.params;
      await writeNir(file, { ...g, nodes: { ...g.nodes, model: { type: 'IF', params: noReset } } });
      const back = await readNir(file);
      expect(back.version).to.equal(NIR_CURRENT_VERSION);
      expect(back.nodes.model!.params.v_reset).to.deep.include({ shape: [3], dtype: 'float32' });
      await writeNir(file, g, { nirVersion: '1.0.4', version: 'custom' });
      const old = await readNir(file);
      expect(old.version).to.equal('custom');
      expect(Object.keys(old.nodes.model!.params).sort()).to.deep.equal(['r', 'v_threshold']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bare LIF exports as node "model" with its threshold in the shape of tau', function () {
    const lif = new LIFSqueeze({
      tauMem: Tensor.from([5, 6, 7], [3]),
      spikeThreshold: 0.5,
      normInput: false,
      batchSize: 2,
    });
    const g = toNir(lif, { inputShape: [3] });
    expect(g.lost).to.deep.equal([]);
    expect(g.edges).to.deep.equal([
      ['input', 'model'],
      ['model', 'output'],
    ]);
    const th = g.nodes.model!.params.v_threshold as NirArray;
    expect(th.shape).to.deep.equal([3]);
    expect(Array.from(th.data)).to.deep.equal([0.5, 0.5, 0.5]);
    expect((g.nodes.input!.params.shape as NirArray).data).to.deep.equal([3]);
    expect((g.nodes.output!.params.shape as NirArray).data).to.deep.equal([3]);
  });
});
