/**
 * Reader of NIR files (Neuromorphic Intermediate Representation, stored as HDF5) into a plain
 * {@link NirGraph}. Layout read:
 *
 *   version          optional scalar string: the nir version that wrote the file
 *   node             group: the top-level node, a NIRGraph
 *     type           scalar string 'NIRGraph'
 *     nodes/<id>     one group per node: a scalar string dataset `type` and one child per
 *                    parameter (a dataset, or a group for a dictionary value)
 *     edges          (E, 2) strings: [source id, target id]
 *
 * Datasets may be contiguous or gzip-compressed, 0-d (scalar) or arrays; the file is read with
 * h5wasm (the HDF5 library compiled to WebAssembly), loaded on first use.
 */
import { ErrorCodes, SpikelayersError } from '../errors.js';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { openHdf5 } from '../data/hdf5.js';

/** A numeric parameter: its shape (`[]` for a 0-d value) and its values in row-major order. */
export interface NirArray {
  readonly kind: 'array';
  /** The stored element type, e.g. 'float32', 'float64', 'int64'. */
  readonly dtype: string;
  readonly shape: number[];
  /** Floats as stored (Float32Array or Float64Array); integers as numbers. */
  readonly data: Float32Array | Float64Array | number[];
}
/** A string parameter (a scalar string dataset) or an array of strings. */
export interface NirString {
  readonly kind: 'string';
  readonly shape: number[];
  readonly value: string | string[];
}
/** A parameter that is a dictionary (an HDF5 group), e.g. `metadata`. */
export interface NirDict {
  readonly kind: 'dict';
  readonly entries: Record<string, NirValue>;
}
/** One parameter value of a node. */
export type NirValue = NirArray | NirString | NirDict;

/** One node: its NIR type (`Affine`, `LIF`, ...) and its parameters by name. */
export interface NirNode {
  readonly type: string;
  readonly params: Record<string, NirValue>;
}

/** A NIR graph: nodes by id and the edges `[source, target]` in the order stored. */
export interface NirGraph {
  /** The nir version that wrote the file (`version` at the root), or null when it is absent. */
  readonly version: string | null;
  readonly nodes: Record<string, NirNode>;
  readonly edges: [string, string][];
}

const H5T_INTEGER = 0,
  H5T_FLOAT = 1,
  H5T_STRING = 3;

interface H5Meta {
  type: number;
  size: number;
  signed: boolean;
  shape: number[] | null;
}
interface H5DatasetLike {
  metadata: H5Meta;
  shape: number[] | null;
  value: unknown;
}
interface H5GroupLike {
  keys(): string[];
  get(name: string): unknown;
}

/**
 * The size the file's HDF5 superblock declares (base address + end-of-file address), when the
 * signature is at offset 0 and the superblock is of a version this reads (0 to 3); else null.
 */
function declaredSize(path: string): number | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const b = Buffer.alloc(64);
    const n = readSync(fd, b, 0, 64, 0);
    const sig = [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a];
    if (n < 16 || !sig.every((x, k) => b[k] === x)) return null;
    const version = b[8]!;
    const O = version <= 1 ? b[13]! : b[9]!;
    if (O !== 4 && O !== 8) return null;
    // v0: the addresses start at 24, v1 at 28 (after the indexed-storage K), v2/v3 at 12
    const at = version === 0 ? 24 : version === 1 ? 28 : version <= 3 ? 12 : -1;
    if (at < 0 || at + 3 * O > n) return null;
    const addr = (k: number): number => (O === 8 ? Number(b.readBigUInt64LE(k)) : b.readUInt32LE(k));
    return addr(at) + addr(at + 2 * O);
  } finally {
    closeSync(fd);
  }
}

function formatError(path: string, what: string): never {
  throw new SpikelayersError(ErrorCodes.NIR_FORMAT, `readNir: '${path}': ${what}`);
}

/**
 * Reads a NIR file (an HDF5 file as written by `nir.write`, nir 1.0.4 or later) into a
 * {@link NirGraph}: every node with its type and parameters, and the edges as stored. Nothing is
 * checked beyond the layout (use {@link fromNir} to build a network from the graph).
 *
 * @throws TypeError for a path that is not a non-empty string. SpikelayersError with code
 *   `ERR_DATA_FILE` when the file is missing, not HDF5 or truncated (shorter than its superblock says), `ERR_NIR_FORMAT` when the file lacks
 *   the `node` group, a node's `type` or the edges, or holds a value of an unexpected kind (the
 *   message names the HDF5 path).
 */
export async function readNir(path: string): Promise<NirGraph> {
  if (typeof path === 'string' && path !== '' && existsSync(path) && statSync(path).isFile()) {
    // a truncated file: say so (HDF5 itself would only report a file it cannot open)
    const want = declaredSize(path),
      size = statSync(path).size;
    if (want !== null && size < want)
      throw new SpikelayersError(
        ErrorCodes.DATA_FILE,
        `readNir: '${path}' is truncated: it has ${size} bytes, its HDF5 superblock declares ${want}`,
      );
  }
  const { h5, file } = await openHdf5(path, 'readNir');
  try {
    const isGroup = (x: unknown): x is H5GroupLike => x instanceof h5.Group;
    const isDataset = (x: unknown): x is H5DatasetLike => x instanceof h5.Dataset;
    const child = (g: H5GroupLike, name: string): unknown => {
      try {
        return g.keys().includes(name) ? g.get(name) : null;
      } catch {
        return null;
      }
    };
    const readString = (d: unknown, at: string): string => {
      if (!isDataset(d) || d.metadata.type !== H5T_STRING || (d.shape ?? []).length !== 0)
        formatError(path, `'${at}' must be a scalar string dataset`);
      const v = d.value;
      if (typeof v !== 'string') formatError(path, `'${at}' must be a scalar string dataset`);
      return v;
    };
    const readValue = (x: unknown, at: string): NirValue => {
      if (isGroup(x)) {
        const entries: Record<string, NirValue> = {};
        for (const k of x.keys()) entries[k] = readValue(x.get(k), `${at}/${k}`);
        return { kind: 'dict', entries };
      }
      if (!isDataset(x)) formatError(path, `'${at}' is neither a dataset nor a group`);
      const m = x.metadata;
      const shape = (x.shape ?? []).slice();
      const v = x.value;
      if (m.type === H5T_STRING) {
        if (typeof v === 'string') return { kind: 'string', shape, value: v };
        if (Array.isArray(v) && v.every((s) => typeof s === 'string'))
          return { kind: 'string', shape, value: v as string[] };
        formatError(path, `'${at}' holds strings h5wasm cannot decode`);
      }
      if (m.type === H5T_FLOAT && (m.size === 4 || m.size === 8)) {
        const dtype = m.size === 4 ? 'float32' : 'float64';
        if (typeof v === 'number')
          return { kind: 'array', dtype, shape, data: m.size === 4 ? Float32Array.of(v) : Float64Array.of(v) };
        if (v instanceof Float32Array || v instanceof Float64Array) return { kind: 'array', dtype, shape, data: v };
      }
      if (m.type === H5T_INTEGER) {
        const dtype = `${m.signed ? 'int' : 'uint'}${8 * m.size}`;
        const list: unknown[] =
          typeof v === 'number' || typeof v === 'bigint'
            ? [v]
            : ArrayBuffer.isView(v)
              ? Array.from(v as unknown as ArrayLike<number | bigint>)
              : [];
        const data = list.map((e) => Number(e));
        if (list.length > 0 && list.every((e, k) => BigInt(e as number | bigint) === BigInt(data[k]!)))
          return { kind: 'array', dtype, shape, data };
        if (list.length === 0 && shape.some((s) => s === 0)) return { kind: 'array', dtype, shape, data };
      }
      return formatError(path, `'${at}' holds a type that is neither a string, a float nor an integer`);
    };

    const version = child(file as unknown as H5GroupLike, 'version');
    const top = child(file as unknown as H5GroupLike, 'node');
    if (!isGroup(top)) formatError(path, "the file has no group 'node' (the top-level NIR graph)");
    const topType = readString(child(top, 'type'), 'node/type');
    if (topType !== 'NIRGraph') formatError(path, `'node/type' is '${topType}', expected 'NIRGraph'`);
    const nodesGroup = child(top, 'nodes');
    if (!isGroup(nodesGroup)) formatError(path, "the graph has no group 'node/nodes'");
    const nodes: Record<string, NirNode> = {};
    for (const id of nodesGroup.keys()) {
      const g = nodesGroup.get(id);
      const at = `node/nodes/${id}`;
      if (!isGroup(g)) formatError(path, `node '${id}': '${at}' must be a group`);
      if (!g.keys().includes('type')) formatError(path, `node '${id}' has no 'type' dataset ('${at}/type')`);
      const type = readString(g.get('type'), `${at}/type`);
      const params: Record<string, NirValue> = {};
      for (const k of g.keys()) if (k !== 'type') params[k] = readValue(g.get(k), `${at}/${k}`);
      nodes[id] = { type, params };
    }
    const edges: [string, string][] = [];
    const e = child(top, 'edges');
    if (e === null) formatError(path, "the graph has no dataset 'node/edges'");
    const ev = readValue(e, 'node/edges');
    const es = ev.kind === 'string' ? ev.shape : [];
    if (ev.kind === 'string' && es.length === 2 && es[1] === 2 && Array.isArray(ev.value)) {
      for (let k = 0; k < es[0]!; ++k) edges.push([ev.value[2 * k]!, ev.value[2 * k + 1]!]);
    } else if (!(ev.kind === 'array' && ev.data.length === 0) && !(ev.kind === 'string' && es[0] === 0)) {
      formatError(path, "'node/edges' must be an (E, 2) array of strings");
    }
    return { version: version === null ? null : readString(version, 'version'), nodes, edges };
  } finally {
    file.close();
  }
}
