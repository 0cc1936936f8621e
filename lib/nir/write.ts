// Writer of NIR files: a NirGraph as the HDF5 layout readNir reads (and nir.read accepts).
import { existsSync, rmSync } from 'node:fs';
import { describe } from '../tensor.js';
import { ErrorCodes, SpikelayersError } from '../errors.js';
import type { NirGraph, NirValue } from './read.js';

/** Options of {@link writeNir}. */
export interface WriteNirOptions {
  /** The string stored as the root `version` dataset. Default: the graph's `version`, else '1.0.4'. */
  version?: string;
}

interface H5GroupW {
  create_group(name: string): H5GroupW;
  create_dataset(args: { name: string; data: unknown; shape?: number[]; dtype?: string }): unknown;
}

function writeValue(g: H5GroupW, name: string, v: NirValue, at: string): void {
  if (v === null || typeof v !== 'object')
    throw new TypeError(`writeNir: '${at}' must be a NirValue, got ${describe(v)}`);
  if (v.kind === 'dict') {
    const sub = g.create_group(name);
    for (const [k, e] of Object.entries(v.entries)) writeValue(sub, k, e, `${at}/${k}`);
  } else if (v.kind === 'string') {
    if (typeof v.value === 'string') g.create_dataset({ name, data: v.value });
    else g.create_dataset({ name, data: v.value, shape: v.shape });
  } else if (v.kind === 'array') {
    const n = v.shape.reduce((a, b) => a * b, 1);
    if (v.data.length !== n)
      throw new RangeError(`writeNir: '${at}' has ${v.data.length} values for its shape [${v.shape.join(', ')}]`);
    if (v.dtype === 'float32' || v.dtype === 'float64') {
      const data = v.dtype === 'float32' ? Float32Array.from(v.data) : Float64Array.from(v.data);
      g.create_dataset({ name, data, shape: v.shape, dtype: v.dtype === 'float32' ? '<f' : '<d' });
    } else if (/^u?int(8|16|32|64)$/.test(v.dtype)) {
      const d = Array.from(v.data, Number);
      if (!d.every((x) => Number.isSafeInteger(x))) throw new RangeError(`writeNir: '${at}' holds non-integers`);
      g.create_dataset({ name, data: BigInt64Array.from(d, BigInt), shape: v.shape, dtype: '<q' });
    } else throw new TypeError(`writeNir: '${at}' has dtype '${v.dtype}' (float32, float64 or an integer type)`);
  } else throw new TypeError(`writeNir: '${at}' must be a NirValue, got kind ${describe((v as NirValue).kind)}`);
}

/**
 * Writes a {@link NirGraph} (e.g. from {@link toNir}) as a NIR HDF5 file, replacing any file at
 * `path`: a root `version` string and the group `node` (type `NIRGraph`, one group per node with
 * its `type` and parameters, and the `(E, 2)` string `edges`). Strings are variable-length UTF-8,
 * floats little-endian float32 (float64 where the graph has it), integers int64, 0-d values
 * scalar datasets; nothing is compressed.
 *
 * @throws TypeError / RangeError for a malformed graph (naming the node and parameter).
 *   SpikelayersError `ERR_DATA_FILE` when the file cannot be written.
 */
export async function writeNir(path: string, graph: NirGraph, opts?: WriteNirOptions): Promise<void> {
  if (typeof path !== 'string' || path === '')
    throw new TypeError(`writeNir: path must be a non-empty string, got ${describe(path)}`);
  if (graph === null || typeof graph !== 'object' || typeof graph.nodes !== 'object' || !Array.isArray(graph.edges))
    throw new TypeError(`writeNir: graph must be a NirGraph ({ nodes, edges }), got ${describe(graph)}`);
  const version = opts?.version ?? graph.version ?? '1.0.4';
  if (typeof version !== 'string') throw new TypeError(`writeNir: version must be a string, got ${describe(version)}`);
  for (const [id, n] of Object.entries(graph.nodes)) {
    if (n === null || typeof n !== 'object' || typeof n.type !== 'string')
      throw new TypeError(`writeNir: node '${id}' must be { type: string, params }, got ${describe(n)}`);
    if (Object.prototype.hasOwnProperty.call(n.params, 'type'))
      throw new RangeError(`writeNir: node '${id}' has a parameter named 'type', which the layout reserves`);
  }
  const flat: string[] = [];
  for (const [k, e] of graph.edges.entries()) {
    if (!Array.isArray(e) || e.length !== 2 || !e.every((x) => typeof x === 'string' && x in graph.nodes))
      throw new RangeError(`writeNir: edge ${k} must be a [source, target] pair of node ids, got ${describe(e)}`);
    flat.push(e[0], e[1]);
  }
  const h5 = (await import('h5wasm/node')).default;
  await h5.ready;
  if (existsSync(path)) rmSync(path);
  let file: InstanceType<typeof h5.File>;
  try {
    file = new h5.File(path, 'w');
  } catch (e) {
    throw new SpikelayersError(ErrorCodes.DATA_FILE, `writeNir: cannot write '${path}' (${(e as Error).message})`);
  }
  try {
    const root = file as unknown as H5GroupW;
    root.create_dataset({ name: 'version', data: version });
    const top = root.create_group('node');
    top.create_dataset({ name: 'type', data: 'NIRGraph' });
    const nodes = top.create_group('nodes');
    for (const [id, n] of Object.entries(graph.nodes)) {
      const g = nodes.create_group(id);
      g.create_dataset({ name: 'type', data: n.type });
      for (const [k, v] of Object.entries(n.params)) writeValue(g, k, v, `node '${id}' (${n.type}): parameter '${k}'`);
    }
    top.create_dataset({ name: 'edges', data: flat, shape: [graph.edges.length, 2] });
  } finally {
    file.close();
  }
}
