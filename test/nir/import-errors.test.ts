// NIR import: malformed files (written to a temporary folder with h5wasm) and graphs that fromNir
// cannot map; each error's class, code and the node and parameter its message names. Also
// per-neuron IF thresholds, which the golden files do not have, against the float64 simulation.
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ErrorCodes,
  SpikelayersError,
  Tensor,
  fromNir,
  readNir,
  type NirArray,
  type NirGraph,
} from '../../lib/index.js';
import { simulate } from '../support/nir-reference.js';

/** Spike counts compared as numbers: -0 (MultiSpike on a negative quotient) equals 0. */
const plain = (xs: ArrayLike<number>): number[] => Array.from(xs, (x) => (x === 0 ? 0 : x));

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

  it('per-neuron IF thresholds (not in the golden files) against the float64 simulation, with clipping', function () {
    // inputs k/8 and thresholds 1/2, 1, 2: every membrane value is exact in float32
    const B = 2,
      T = 16,
      N = 3;
    const x: number[] = [];
    for (let k = 0; k < B * T * N; ++k) x.push((((k * 7919) % 41) - 17) / 8);
    const f = (d: number[], shape: number[]): NirArray => ({
      kind: 'array',
      dtype: 'float32',
      shape,
      data: Float32Array.from(d),
    });
    const g: NirGraph = {
      version: null,
      nodes: {
        input: { type: 'Input', params: {} },
        output: { type: 'Output', params: {} },
        a: { type: 'IF', params: { v_threshold: f([0.5, 1, 2], [3]), r: f([1, 1, 1], [3]) } },
      },
      edges: [
        ['a', 'output'],
        ['input', 'a'],
      ],
    };
    const net = fromNir(g, { batchSize: B });
    const got = net.forward(Tensor.from(x, [B * T, N])).toFloat32Array();
    const ref = simulate(g, ['a'], { shape: [B * T, N], data: Float64Array.from(x) }, B);
    expect(plain(got)).to.deep.equal(plain(ref.data));
    expect(ref.data.some((v) => v > 1)).to.equal(true); // several spikes in one step occur
    expect(Object.keys(net.stateDict())).to.include('a.v_mem');
  });

  it('Conv2d groups or dilation other than 1, SumPool2d padding: ERR_NIR_UNSUPPORTED naming the parameter', function () {
    const i = (d: number[], shape: number[]): NirArray => ({ kind: 'array', dtype: 'int64', shape, data: d });
    const f = (n: number, shape: number[]): NirArray => ({
      kind: 'array',
      dtype: 'float32',
      shape,
      data: new Float32Array(n),
    });
    const one = (node: NirGraph['nodes'][string]): NirGraph => ({
      version: null,
      nodes: { input: { type: 'Input', params: {} }, output: { type: 'Output', params: {} }, c: node },
      edges: [
        ['input', 'c'],
        ['c', 'output'],
      ],
    });
    const conv = (extra: Record<string, NirArray>) =>
      one({ type: 'Conv2d', params: { weight: f(2 * 2 * 9, [2, 2, 3, 3]), bias: f(2, [2]), ...extra } });
    expect(() => fromNir(conv({ groups: i([2], []) }), { batchSize: 1 }))
      .to.throw(SpikelayersError, "node 'c' (Conv2d): parameter 'groups' is 2")
      .with.property('code', ErrorCodes.NIR_UNSUPPORTED);
    expect(() => fromNir(conv({ dilation: i([2, 2], [2]) }), { batchSize: 1 })).to.throw(
      SpikelayersError,
      "parameter 'dilation' is [2, 2]",
    );
    expect(
      fromNir(conv({ stride: i([2, 1], [2]), padding: i([1, 0], [2]) }), { batchSize: 1 }).outputShape([1, 2, 6, 6]),
    ).to.deep.equal([1, 2, 3, 4]);
    const pool = one({ type: 'SumPool2d', params: { kernel_size: i([2, 2], [2]), padding: i([1, 1], [2]) } });
    expect(() => fromNir(pool, { batchSize: 1 })).to.throw(
      SpikelayersError,
      "node 'c' (SumPool2d): parameter 'padding' is [1, 1]",
    );
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
