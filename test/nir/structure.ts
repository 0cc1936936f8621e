// A structural check of a NIR file, read with h5wasm directly (not with readNir), from the rules of
// the golden set's README (sections 1 and 2): the root holds exactly `version` and `node`; every
// node group holds a scalar variable-length UTF-8 `type` and exactly the parameter names of its
// type (with `v_reset` in IF and LIF in the current layout, without it in nir 1.0.4's); floats are
// little-endian float32, integers little-endian int64; the shapes follow the rules of each type and
// connect along the chain from `input` to `output` (per-sample shapes, batch dimension left out).
import { expect } from 'chai';

type H5 = (typeof import('h5wasm/node'))['default'];
type Layout = '1.0.4' | 'current';

interface Param {
  dtype: 'f32' | 'i64';
  /** The rank, or null for any rank >= 0. */
  rank: number | null;
}
const f = (rank: number | null): Param => ({ dtype: 'f32', rank });
const i = (rank: number | null): Param => ({ dtype: 'i64', rank });

/** The parameters of each node type (README section 2). `v_reset` is added for IF and LIF in the current layout. */
const SPEC: Record<string, Record<string, Param>> = {
  Input: { shape: i(1) },
  Output: { shape: i(1) },
  Affine: { weight: f(2), bias: f(1) },
  Conv2d: { weight: f(4), bias: f(1), stride: i(1), padding: i(1), dilation: i(1), groups: i(0), input_shape: i(1) },
  SumPool2d: { kernel_size: i(1), stride: i(1), padding: i(1) },
  Flatten: { start_dim: i(0), end_dim: i(0), input_type: i(1) },
  IF: { r: f(null), v_threshold: f(null) },
  LIF: { tau: f(null), r: f(null), v_leak: f(null), v_threshold: f(null) },
  LI: { tau: f(null), r: f(null), v_leak: f(null) },
};

const same = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((x, k) => x === b[k]);
/** Whether `p` broadcasts against `s` from the right (NIR keeps a LIF's parameters in tau's shape). */
const broadcasts = (p: readonly number[], s: readonly number[]): boolean =>
  p.length <= s.length && p.every((d, k) => d === 1 || d === s[s.length - p.length + k]);

/** Checks the file; returns the node types along the chain (for the caller's own checks). */
export async function checkNirStructure(file: string, layout: Layout): Promise<string[]> {
  const h5: H5 = (await import('h5wasm/node')).default;
  await h5.ready;
  const fh = new h5.File(file, 'r');
  try {
    const ds = (p: string): InstanceType<H5['Dataset']> => {
      const e = fh.get(p);
      expect(e, p).to.be.instanceOf(h5.Dataset);
      return e as InstanceType<H5['Dataset']>;
    };
    const str = (p: string): string => {
      const d = ds(p);
      expect(d.metadata.type, `${p} is a string`).to.equal(3);
      expect(d.metadata.vlen, `${p} is variable-length`).to.equal(true);
      expect(d.metadata.cset, `${p} is UTF-8`).to.equal(1);
      expect(d.shape, `${p} is scalar`).to.deep.equal([]);
      return d.value as string;
    };
    expect(fh.keys().sort(), 'root').to.deep.equal(['node', 'version']);
    str('version');
    expect(str('node/type')).to.equal('NIRGraph');
    expect((fh.get('node') as InstanceType<H5['Group']>).keys().sort(), 'node').to.deep.equal([
      'edges',
      'nodes',
      'type',
    ]);
    const nodesG = fh.get('node/nodes') as InstanceType<H5['Group']>;
    const ids = nodesG.keys();
    const edges = ds('node/edges');
    expect(edges.metadata.type, 'edges are strings').to.equal(3);
    expect(edges.metadata.vlen, 'edges are variable-length').to.equal(true);
    expect(edges.metadata.cset, 'edges are UTF-8').to.equal(1);
    expect(edges.shape!.length === 2 && edges.shape![1] === 2, 'edges are (E, 2)').to.equal(true);
    const flat = edges.value as string[];
    const next = new Map<string, string>();
    for (let k = 0; k < flat.length; k += 2) {
      expect(ids, `edge ${k / 2} source`).to.include(flat[k]);
      expect(ids, `edge ${k / 2} target`).to.include(flat[k + 1]);
      expect(next.has(flat[k]!), `one edge out of '${flat[k]}'`).to.equal(false);
      next.set(flat[k]!, flat[k + 1]!);
    }

    const params: Record<string, Record<string, { shape: number[]; data: number[] }>> = {};
    const types: Record<string, string> = {};
    for (const id of ids) {
      const at = `node/nodes/${id}`;
      const type = str(`${at}/type`);
      types[id] = type;
      const spec = SPEC[type];
      expect(spec, `${at}: type '${type}'`).to.not.equal(undefined);
      const names = Object.keys(spec!);
      if (layout === 'current' && (type === 'IF' || type === 'LIF')) names.push('v_reset');
      const g = fh.get(at) as InstanceType<H5['Group']>;
      expect(
        g
          .keys()
          .filter((k) => k !== 'type')
          .sort(),
        `${at}: parameter names`,
      ).to.deep.equal(names.slice().sort());
      params[id] = {};
      for (const name of names) {
        const p = name === 'v_reset' ? f(null) : spec![name]!;
        const d = ds(`${at}/${name}`);
        const m = d.metadata;
        if (p.dtype === 'f32') {
          expect([m.type, m.size, m.littleEndian], `${at}/${name}: <f4`).to.deep.equal([1, 4, true]);
        } else {
          expect([m.type, m.size, m.signed, m.littleEndian], `${at}/${name}: <i8`).to.deep.equal([0, 8, true, true]);
        }
        const shape = d.shape ?? [];
        if (p.rank !== null) expect(shape.length, `${at}/${name}: rank`).to.equal(p.rank);
        const v = d.value as unknown;
        const data =
          typeof v === 'number' || typeof v === 'bigint'
            ? [Number(v)]
            : Array.from(v as ArrayLike<number | bigint>, (x) => Number(x));
        params[id]![name] = { shape, data };
      }
      const P = params[id]!;
      if (type === 'IF' || type === 'LIF' || type === 'LI') {
        const like = P[type === 'IF' ? 'v_threshold' : 'tau']!.shape;
        for (const [name, v] of Object.entries(P))
          expect(v.shape, `${at}/${name}: the shape of the other parameters`).to.deep.equal(like);
        expect(
          P.r!.data.every((x) => x === 1),
          `${at}/r is 1`,
        ).to.equal(true);
        if (P.v_leak)
          expect(
            P.v_leak.data.every((x) => x === 0),
            `${at}/v_leak is 0`,
          ).to.equal(true);
        if (P.v_reset)
          expect(
            P.v_reset.data.every((x) => x === 0),
            `${at}/v_reset is 0`,
          ).to.equal(true);
      }
      for (const name of ['stride', 'padding', 'dilation', 'input_shape', 'kernel_size'])
        if (P[name]) expect(P[name].shape, `${at}/${name}: a pair`).to.deep.equal([2]);
    }

    // the chain and its per-sample shapes
    const input = ids.filter((id) => types[id] === 'Input');
    expect(input, 'one Input node').to.have.length(1);
    const chain: string[] = [];
    let at = input[0]!;
    let s = params[at]!.shape!.data;
    const seen = new Set([at]);
    while (types[at] !== 'Output') {
      const n = next.get(at);
      expect(n, `an edge out of '${at}'`).to.not.equal(undefined);
      expect(seen.has(n!), `no cycle through '${n}'`).to.equal(false);
      seen.add(n!);
      at = n!;
      chain.push(types[at]!);
      const P = params[at]!;
      const where = `node '${at}' (${types[at]})`;
      switch (types[at]) {
        case 'Affine': {
          const [O, K] = P.weight!.shape as [number, number];
          expect(s.at(-1), `${where}: weight [out, in] takes the input's last dimension`).to.equal(K);
          expect(P.bias!.shape, `${where}: bias [out]`).to.deep.equal([O]);
          s = [...s.slice(0, -1), O];
          break;
        }
        case 'Conv2d': {
          const [O, C, kH, kW] = P.weight!.shape as [number, number, number, number];
          expect(s.length, `${where}: a [C, H, W] input`).to.equal(3);
          expect(s[0], `${where}: weight's input channels`).to.equal(C);
          expect(P.bias!.shape, `${where}: bias [Cout]`).to.deep.equal([O]);
          expect(P.input_shape!.data, `${where}: input_shape = (H, W) of its input`).to.deep.equal(s.slice(1));
          expect(P.groups!.data, `${where}: groups`).to.deep.equal([1]);
          const [sH, sW] = P.stride!.data as [number, number];
          const [pH, pW] = P.padding!.data as [number, number];
          const [dH, dW] = P.dilation!.data as [number, number];
          s = [
            O,
            Math.floor((s[1]! + 2 * pH - dH * (kH - 1) - 1) / sH) + 1,
            Math.floor((s[2]! + 2 * pW - dW * (kW - 1) - 1) / sW) + 1,
          ];
          break;
        }
        case 'SumPool2d': {
          const [kH, kW] = P.kernel_size!.data as [number, number];
          const [sH, sW] = P.stride!.data as [number, number];
          expect(P.padding!.data, `${where}: padding`).to.deep.equal([0, 0]);
          s = [s[0]!, Math.floor((s[1]! - kH) / sH) + 1, Math.floor((s[2]! - kW) / sW) + 1];
          break;
        }
        case 'Flatten': {
          expect(P.input_type!.data, `${where}: input_type = its input shape`).to.deep.equal(s);
          const r = s.length;
          const a = P.start_dim!.data[0]!,
            b = P.end_dim!.data[0]!;
          const st = a < 0 ? a + r : a,
            en = b < 0 ? b + r : b;
          s = [...s.slice(0, st), s.slice(st, en + 1).reduce((x, y) => x * y, 1), ...s.slice(en + 1)];
          break;
        }
        case 'IF':
          expect(P.v_threshold!.shape, `${where}: the full layer shape`).to.deep.equal(s);
          break;
        case 'LIF':
        case 'LI':
          expect(
            broadcasts(P.tau!.shape, s),
            `${where}: tau ${JSON.stringify(P.tau!.shape)} fits ${JSON.stringify(s)}`,
          ).to.equal(true);
          break;
        case 'Output':
          expect(
            same(P.shape!.data, s),
            `${where}: shape ${JSON.stringify(P.shape!.data)} = ${JSON.stringify(s)}`,
          ).to.equal(true);
          break;
        default:
          expect.fail(`${where}: not a chain node`);
      }
    }
    expect(seen.size, 'every node on the chain').to.equal(ids.length);
    return chain;
  } finally {
    fh.close();
  }
}
