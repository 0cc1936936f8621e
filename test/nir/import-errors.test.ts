// NIR import: malformed files (written to a temporary folder with h5wasm) and graphs that fromNir
// cannot map; each error's class, code and the node and parameter its message names. Also
// per-neuron IF thresholds, which the golden files do not have, against the float64 simulation.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

const rejects = async (p: Promise<unknown>): Promise<Error> => {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
};

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

describe('NIR bad files and graphs beyond chains (written to a temporary folder)', function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'spikelayers-nir-bad-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  const f32 = (d: number[], shape: number[]): NirArray => ({
    kind: 'array',
    dtype: 'float32',
    shape,
    data: Float32Array.from(d),
  });
  const i64 = (d: number[], shape = [d.length]): NirArray => ({ kind: 'array', dtype: 'int64', shape, data: d });
  const fill = (shape: number[], v: number): NirArray =>
    f32(new Array<number>(shape.reduce((a, b) => a * b, 1)).fill(v), shape);
  /** Writes any graph with h5wasm, unchecked (edges may name nodes that do not exist). */
  async function writeGraph(name: string, g: NirGraph): Promise<string> {
    const h5 = (await import('h5wasm/node')).default;
    await h5.ready;
    const p = path.join(dir, name);
    const f = new h5.File(p, 'w');
    try {
      f.create_dataset({ name: 'version', data: '1.0.4' });
      const top = f.create_group('node');
      top.create_dataset({ name: 'type', data: 'NIRGraph' });
      const nodes = top.create_group('nodes');
      for (const [id, n] of Object.entries(g.nodes)) {
        const gr = nodes.create_group(id);
        gr.create_dataset({ name: 'type', data: n.type });
        for (const [k, v] of Object.entries(n.params)) {
          const a = v as NirArray;
          if (a.dtype === 'int64')
            gr.create_dataset({
              name: k,
              data: BigInt64Array.from(a.data as number[], BigInt),
              shape: a.shape,
              dtype: '<q',
            });
          else gr.create_dataset({ name: k, data: Float32Array.from(a.data), shape: a.shape, dtype: '<f' });
        }
      }
      top.create_dataset({ name: 'edges', data: g.edges.flat(), shape: [g.edges.length, 2] });
    } finally {
      f.close();
    }
    return p;
  }
  /** Input [3] -> Affine 3->2 ('0') -> IF ('1') -> Output [2], with changes. */
  const base = (): NirGraph => ({
    version: null,
    nodes: {
      input: { type: 'Input', params: { shape: i64([3]) } },
      '0': { type: 'Affine', params: { weight: fill([2, 3], 0.5), bias: fill([2], 0) } },
      '1': { type: 'IF', params: { r: fill([2], 1), v_threshold: fill([2], 1) } },
      output: { type: 'Output', params: { shape: i64([2]) } },
    },
    edges: [
      ['input', '0'],
      ['0', '1'],
      ['1', 'output'],
    ],
  });
  const edit = (nodes: Record<string, NirGraph['nodes'][string] | null>, edges?: [string, string][]): NirGraph => {
    const g = base();
    const all = { ...g.nodes, ...nodes } as Record<string, NirGraph['nodes'][string] | null>;
    return {
      version: null,
      nodes: Object.fromEntries(Object.entries(all).filter(([, n]) => n !== null)) as NirGraph['nodes'],
      edges: edges ?? g.edges,
    };
  };
  /** fromNir of the file throws `cls` (with `code`) whose message includes every one of `parts`. */
  async function fails(
    name: string,
    g: NirGraph,
    cls: new (...args: never[]) => Error,
    code: string | null,
    ...parts: string[]
  ) {
    const read = await readNir(await writeGraph(name, g));
    let err: unknown = null;
    let built: unknown = 'nothing';
    try {
      built = fromNir(read, { batchSize: 2 });
    } catch (e) {
      err = e;
    }
    expect(built, 'nothing is returned').to.equal('nothing');
    expect(err, name).to.be.instanceOf(cls);
    if (code !== null) expect((err as SpikelayersError).code, name).to.equal(code);
    for (const p of parts) expect((err as Error).message, name).to.include(p);
  }

  it('the file the bad ones are edited from is fine', async function () {
    const net = fromNir(await readNir(await writeGraph('good.nir', base())), { batchSize: 2 });
    expect(net.forward(Tensor.from([1, 1, 1, 1, 1, 1], [2, 3])).shape).to.deep.equal([2, 2]);
  });

  it('a truncated file, cut anywhere: ERR_DATA_FILE saying so, no crash', async function () {
    const whole = await writeGraph('whole.nir', base());
    const bytes = readFileSync(whole);
    for (const frac of [0.02, 0.25, 0.5, 0.75, 0.99]) {
      const p = path.join(dir, `cut-${frac}.nir`);
      writeFileSync(p, bytes.subarray(0, Math.floor(bytes.length * frac)));
      const e = await rejects(readNir(p));
      expect(e, `cut at ${frac}`).to.be.instanceOf(SpikelayersError);
      expect((e as SpikelayersError).code).to.equal(ErrorCodes.DATA_FILE);
      expect(e.message).to.include(`'${p}' is truncated: it has ${Math.floor(bytes.length * frac)} bytes`);
    }
    const stub = path.join(dir, 'stub.nir');
    writeFileSync(stub, bytes.subarray(0, 6));
    expect(((await rejects(readNir(stub))) as SpikelayersError).code).to.equal(ErrorCodes.DATA_FILE);
  });

  it('an unknown node type: ERR_NIR_UNSUPPORTED naming the node and its type', async function () {
    await fails(
      'foo.nir',
      edit({ '1': { type: 'Foo', params: {} } }),
      SpikelayersError,
      ErrorCodes.NIR_UNSUPPORTED,
      "node '1' has type 'Foo'",
    );
  });

  it('a missing required parameter: ERR_NIR_FORMAT naming node and parameter', async function () {
    await fails(
      'no-bias.nir',
      edit({ '0': { type: 'Affine', params: { weight: fill([2, 3], 0.5) } } }),
      SpikelayersError,
      ErrorCodes.NIR_FORMAT,
      "node '0' (Affine): parameter 'bias' is missing",
    );
    await fails(
      'no-threshold.nir',
      edit({ '1': { type: 'IF', params: { r: fill([2], 1) } } }),
      SpikelayersError,
      ErrorCodes.NIR_FORMAT,
      "node '1' (IF): parameter 'v_threshold' is missing",
    );
  });

  it('shapes that do not connect: RangeError naming the node, the parameter and the shape that arrives', async function () {
    await fails(
      'affine-in.nir',
      edit({ input: { type: 'Input', params: { shape: i64([4]) } } }),
      RangeError,
      null,
      "node '0' (Affine): parameter 'weight' does not fit the input of shape [4] (per sample) that node 'input' gives",
    );
    await fails(
      'if-thresholds.nir',
      edit({ '1': { type: 'IF', params: { r: fill([3], 1), v_threshold: f32([1, 2, 3], [3]) } } }),
      RangeError,
      null,
      "node '1' (IF): parameter 'v_threshold' does not fit the input of shape [2] (per sample) that node '0' gives",
    );
    await fails(
      'lif-tau.nir',
      edit({
        '1': {
          type: 'LIF',
          params: { tau: fill([4], 5), v_threshold: fill([4], 1), v_leak: fill([4], 0), r: fill([4], 1) },
        },
      }),
      RangeError,
      null,
      "node '1' (LIF): parameter 'tau' does not fit the input of shape [2] (per sample) that node '0' gives",
    );
    await fails(
      'output.nir',
      edit({ output: { type: 'Output', params: { shape: i64([3]) } } }),
      RangeError,
      null,
      "node 'output' (Output): parameter 'shape' is [3], but node '1' gives [2] (per sample)",
    );
    const conv: NirGraph = {
      version: null,
      nodes: {
        input: { type: 'Input', params: { shape: i64([1, 6, 6]) } },
        c: {
          type: 'Conv2d',
          params: {
            weight: fill([2, 1, 3, 3], 0.1),
            bias: fill([2], 0),
            stride: i64([1, 1]),
            padding: i64([0, 0]),
            input_shape: i64([5, 5]),
          },
        },
        f: { type: 'Flatten', params: { start_dim: i64([0], []), end_dim: i64([-1], []), input_type: i64([2, 4, 4]) } },
        output: { type: 'Output', params: { shape: i64([32]) } },
      },
      edges: [
        ['input', 'c'],
        ['c', 'f'],
        ['f', 'output'],
      ],
    };
    await fails(
      'conv-in.nir',
      conv,
      RangeError,
      null,
      "node 'c' (Conv2d): parameter 'input_shape' is [5, 5], but the input of shape [1, 6, 6] (per sample) that node 'input' gives has [6, 6]",
    );
    conv.nodes.c!.params.input_shape = i64([6, 6]);
    conv.nodes.f!.params.input_type = i64([2, 5, 5]);
    await fails(
      'flatten-in.nir',
      conv,
      RangeError,
      null,
      "node 'f' (Flatten): parameter 'input_type' is [2, 5, 5], but the input of shape [2, 4, 4] (per sample) that node 'c' gives has [2, 4, 4]",
    );
  });

  it('edges naming nodes that do not exist: ERR_NIR_FORMAT naming the edge and the node', async function () {
    await fails(
      'dangling.nir',
      edit({}, [
        ['input', '0'],
        ['0', '1'],
        ['1', 'outptu'],
      ]),
      SpikelayersError,
      ErrorCodes.NIR_FORMAT,
      "edge 2 (1 -> outptu) names node 'outptu', which the graph does not have",
    );
  });

  it('graphs beyond chains: a skip connection, recurrence and a cycle are ERR_NIR_UNSUPPORTED naming the node', async function () {
    const chain = base().edges;
    await fails(
      'skip.nir',
      edit({}, [...chain, ['0', 'output']]),
      SpikelayersError,
      ErrorCodes.NIR_UNSUPPORTED,
      "node '0' has more than one outgoing edge (to '1' and 'output'); only chains are supported",
    );
    await fails(
      'recurrent.nir',
      edit({ '1': { type: 'IF', params: { r: fill([2], 1), v_threshold: fill([2], 1) } } }, [...chain, ['1', '1']]),
      SpikelayersError,
      ErrorCodes.NIR_UNSUPPORTED,
      "node '1' has more than one",
    );
    await fails(
      'cycle.nir',
      edit({}, [
        ['input', '0'],
        ['0', '1'],
        ['1', '0'],
      ]),
      SpikelayersError,
      ErrorCodes.NIR_UNSUPPORTED,
      "node '0' has more than one incoming edge (from 'input' and '1')",
    );
  });
});
