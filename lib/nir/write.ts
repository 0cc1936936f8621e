// Writer of NIR files: a NirGraph as the HDF5 layout readNir reads (and nir.read accepts).
import { existsSync, rmSync } from 'node:fs';
import { describe } from '../tensor.js';
import { fmt } from '../nn/shape.js';
import { ErrorCodes, SpikelayersError } from '../errors.js';
import type { NirGraph, NirNode, NirValue } from './read.js';
import { checkOptions } from '../validate.js';

/** The NIR file layouts {@link writeNir} writes. */
export const NIR_VERSIONS = ['1.0.4', 'current'] as const;
/** `'1.0.4'`: nir 1.0.4's layout; `'current'`: the layout of nir's main branch (from 1.0.8.dev9 on). */
export type NirVersion = (typeof NIR_VERSIONS)[number];

/** The `version` string written with the current layout: the nir version whose reader and writer it follows. */
export const NIR_CURRENT_VERSION = '1.0.8.dev9+g7232ada';

/** Options of {@link writeNir}. */
export interface WriteNirOptions {
  /**
   * The layout to write (default `'current'`). `'1.0.4'`: no `v_reset` (nir 1.0.4's `IF` and `LIF`
   * refuse it; a nonzero one cannot be written), nothing compressed. `'current'`: `IF` and `LIF`
   * with `v_reset` (zeros shaped like `v_threshold` where the graph has none), and gzip (level 4)
   * on the values nir's writer compresses: `v_reset`, `Input`/`Output` `shape`, `Flatten`
   * `input_type` (not on 0-d values, which HDF5 cannot chunk).
   */
  nirVersion?: NirVersion;
  /** The string stored as the root `version` dataset. Default: `'1.0.4'`, or {@link NIR_CURRENT_VERSION}. */
  version?: string;
}

/** The node types that have a `v_reset` (nir main), and the parameter whose shape it takes. */
const WITH_V_RESET: Record<string, string> = { IF: 'v_threshold', LIF: 'v_threshold' };
/** The parameters nir main's writer stores gzip-compressed (it makes them as NumPy arrays). */
const GZIP: Record<string, readonly string[]> = {
  IF: ['v_reset'],
  LIF: ['v_reset'],
  Input: ['shape'],
  Output: ['shape'],
  Flatten: ['input_type'],
};

/** A node's parameters as the layout stores them: v_reset dropped (1.0.4) or added (current). */
function layoutParams(id: string, n: NirNode, layout: NirVersion): Record<string, NirValue> {
  const params: Record<string, NirValue> = { ...n.params };
  const vr = params.v_reset;
  if (layout === '1.0.4') {
    if (vr === undefined) return params;
    if (vr.kind !== 'array' || Array.from(vr.data, Number).some((x) => x !== 0))
      throw new SpikelayersError(
        ErrorCodes.NIR_UNSUPPORTED,
        `writeNir: node '${id}' (${n.type}): parameter 'v_reset' is not zero everywhere, which nir 1.0.4's layout cannot hold (it has no v_reset); write the current layout`,
      );
    delete params.v_reset;
    return params;
  }
  const like = WITH_V_RESET[n.type];
  if (like !== undefined && vr === undefined) {
    const t = params[like];
    if (t === undefined || t.kind !== 'array')
      throw new RangeError(
        `writeNir: node '${id}' (${n.type}): parameter '${like}' must be a numeric array (v_reset takes its shape)`,
      );
    params.v_reset = { kind: 'array', dtype: 'float32', shape: t.shape.slice(), data: new Float32Array(t.data.length) };
  }
  return params;
}

interface H5GroupW {
  create_group(name: string): H5GroupW;
  create_dataset(args: {
    name: string;
    data: unknown;
    shape?: number[];
    dtype?: string;
    chunks?: number[];
    compression?: 'gzip';
    compression_opts?: number;
  }): unknown;
}

/** Writes one value into `g`; with `g` null only checks it (the pass before the file is touched). */
function writeValue(g: H5GroupW | null, name: string, v: NirValue, at: string, gzip = false): void {
  if (v === null || typeof v !== 'object')
    throw new TypeError(`writeNir: ${at} must be a NirValue, got ${describe(v)}`);
  if (v.kind === 'dict') {
    const sub = g?.create_group(name) ?? null;
    for (const [k, e] of Object.entries(v.entries)) writeValue(sub, k, e, `${at}/${k}`);
  } else if (v.kind === 'string') {
    const n = v.shape.reduce((a, b) => a * b, 1);
    if (typeof v.value === 'string' ? v.shape.length !== 0 : !Array.isArray(v.value) || v.value.length !== n)
      throw new RangeError(
        `writeNir: ${at} must be one string of shape [] or ${n} strings for its shape ${fmt(v.shape)}`,
      );
    if (typeof v.value === 'string') g?.create_dataset({ name, data: v.value });
    else g?.create_dataset({ name, data: v.value, shape: v.shape });
  } else if (v.kind === 'array') {
    const n = v.shape.reduce((a, b) => a * b, 1);
    if (v.data.length !== n)
      throw new RangeError(`writeNir: ${at} has ${v.data.length} values for its shape [${v.shape.join(', ')}]`);
    // gzip needs chunked storage: one chunk holding the whole array, as h5py makes it
    const z =
      gzip && v.shape.length > 0 && n > 0
        ? { chunks: v.shape.slice(), compression: 'gzip' as const, compression_opts: 4 }
        : {};
    if (v.dtype === 'float32' || v.dtype === 'float64') {
      const data = v.dtype === 'float32' ? Float32Array.from(v.data) : Float64Array.from(v.data);
      g?.create_dataset({ name, data, shape: v.shape, dtype: v.dtype === 'float32' ? '<f' : '<d', ...z });
    } else if (/^u?int(8|16|32|64)$/.test(v.dtype)) {
      const d = Array.from(v.data, Number);
      if (!d.every((x) => Number.isSafeInteger(x))) throw new RangeError(`writeNir: ${at} holds non-integers`);
      g?.create_dataset({ name, data: BigInt64Array.from(d, BigInt), shape: v.shape, dtype: '<q', ...z });
    } else throw new TypeError(`writeNir: ${at} has dtype '${v.dtype}' (float32, float64 or an integer type)`);
  } else throw new TypeError(`writeNir: ${at} must be a NirValue, got kind ${describe((v as NirValue).kind)}`);
}

/**
 * Writes a {@link NirGraph} (e.g. from {@link toNir}) as a NIR HDF5 file, replacing any file at
 * `path`: a root `version` string and the group `node` (type `NIRGraph`, one group per node with
 * its `type` and parameters, and the `(E, 2)` string `edges`), in the layout of `nirVersion`
 * (see {@link WriteNirOptions}). Strings are variable-length UTF-8, floats little-endian float32
 * (float64 where the graph has it), integers int64, 0-d values scalar datasets. The graph is
 * checked in full before the file is touched.
 *
 * @throws TypeError / RangeError for bad options or a malformed graph (naming the node and
 *   parameter). SpikelayersError `ERR_NIR_UNSUPPORTED` for a nonzero `v_reset` in the `'1.0.4'`
 *   layout, `ERR_DATA_FILE` when the file cannot be written.
 */
export async function writeNir(path: string, graph: NirGraph, opts?: WriteNirOptions): Promise<void> {
  if (typeof path !== 'string' || path === '')
    throw new TypeError(`writeNir: path must be a non-empty string, got ${describe(path)}`);
  if (graph === null || typeof graph !== 'object' || typeof graph.nodes !== 'object' || !Array.isArray(graph.edges))
    throw new TypeError(`writeNir: graph must be a NirGraph ({ nodes, edges }), got ${describe(graph)}`);
  const o = checkOptions<WriteNirOptions>(opts, ['nirVersion', 'version'], 'writeNir: opts', true);
  const layout = o.nirVersion ?? 'current';
  if (!NIR_VERSIONS.includes(layout))
    throw new RangeError(
      `writeNir: nirVersion must be one of ${NIR_VERSIONS.map((v) => `'${v}'`).join(', ')}, got ${describe(layout)}`,
    );
  const version = o.version ?? (layout === '1.0.4' ? '1.0.4' : NIR_CURRENT_VERSION);
  if (typeof version !== 'string') throw new TypeError(`writeNir: version must be a string, got ${describe(version)}`);
  const stored: [string, string, Record<string, NirValue>][] = [];
  for (const [id, n] of Object.entries(graph.nodes)) {
    if (
      n === null ||
      typeof n !== 'object' ||
      typeof n.type !== 'string' ||
      n.params === null ||
      typeof n.params !== 'object'
    )
      throw new TypeError(`writeNir: node '${id}' must be { type: string, params }, got ${describe(n)}`);
    if (Object.prototype.hasOwnProperty.call(n.params, 'type'))
      throw new RangeError(`writeNir: node '${id}' has a parameter named 'type', which the layout reserves`);
    const params = layoutParams(id, n, layout);
    for (const [k, v] of Object.entries(params)) writeValue(null, k, v, `node '${id}' (${n.type}): parameter '${k}'`);
    stored.push([id, n.type, params]);
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
    for (const [id, type, params] of stored) {
      const g = nodes.create_group(id);
      g.create_dataset({ name: 'type', data: type });
      const gz = layout === 'current' ? (GZIP[type] ?? []) : [];
      for (const [k, v] of Object.entries(params))
        writeValue(g, k, v, `node '${id}' (${type}): parameter '${k}'`, gz.includes(k));
    }
    top.create_dataset({ name: 'edges', data: flat, shape: [graph.edges.length, 2] });
  } finally {
    file.close();
  }
}
