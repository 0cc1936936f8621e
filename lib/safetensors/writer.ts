// Writing safetensors: the reference writer's bytes for float32, float16, bfloat16 and uint8
// tensors (see lib/safetensors.ts).
import { writeFileSync, type PathLike } from 'node:fs';
import { DTYPES, type DtypeArray } from '../dtype.js';
import { Tensor, checkTensor, describe } from '../tensor.js';
import { FILE_DTYPE, LITTLE_ENDIAN, METADATA_KEY } from './format.js';

const UTF8 = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The bytes of a safetensors file holding `tensors` (and `metadata` as `__metadata__`), each in
 * its dtype: float32 as F32, float16 as F16, bfloat16 as BF16, uint8 as U8. The output is what
 * the reference writer produces for the same tensors.
 *
 * @param tensors - Tensors by name (any device; they are read, not changed). 0-d and empty
 *   tensors are allowed. The name `__metadata__` is reserved.
 * @param metadata - Optional string-to-string metadata, e.g. `{ format: 'pt' }`.
 * @returns The file's bytes.
 * @throws TypeError for a non-object argument, a value that is not a Tensor, the reserved name,
 *   non-string metadata values, or names and strings that are not well-formed Unicode.
 * @throws SpikelayersError (ERR_TENSOR_DISPOSED) for a disposed tensor.
 */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Uint8Array {
  const what = 'encodeSafetensors';
  checkRecord(tensors, `${what}: tensors`, 'an object mapping names to Tensors');
  const entries: { name: string; key: Uint8Array; tensor: Tensor }[] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (name === METADATA_KEY)
      throw new TypeError(`${what}: '${METADATA_KEY}' is reserved for the metadata and cannot name a tensor`);
    checkUnicode(name, `${what}: tensor name '${name}'`);
    entries.push({ name, key: UTF8.encode(name), tensor: checkTensor(t, `${what}: tensors['${name}']`, DTYPES) });
  }
  let meta: [string, string][] | null = null;
  if (metadata !== undefined) {
    checkRecord(metadata, `${what}: metadata`, 'an object of strings');
    meta = Object.entries(metadata);
    for (const [k, v] of meta) {
      checkUnicode(k, `${what}: metadata key '${k}'`);
      if (typeof v !== 'string') throw new TypeError(`${what}: metadata['${k}'] must be a string, got ${describe(v)}`);
      checkUnicode(v, `${what}: metadata['${k}']`);
    }
  }
  // the reference writer's order: by dtype (descending alignment), then by name as UTF-8 bytes
  entries.sort(
    (a, b) => FILE_DTYPE[b.tensor.dtype].rank - FILE_DTYPE[a.tensor.dtype].rank || compareBytes(a.key, b.key),
  );

  const parts: string[] = [];
  if (meta)
    parts.push(
      `${JSON.stringify(METADATA_KEY)}:{${meta.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`,
    );
  const datas: DtypeArray[] = [];
  let offset = 0;
  for (const { name, tensor } of entries) {
    const data = tensor.dtype === 'float32' ? tensor.toFloat32Array() : tensor._hostData();
    const end = offset + data.byteLength;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"${FILE_DTYPE[tensor.dtype].name}","shape":[${tensor.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
    );
    datas.push(data);
    offset = end;
  }
  const json = UTF8.encode(`{${parts.join(',')}}`);
  const headerLength = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const data of datas) {
    if (LITTLE_ENDIAN) out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), at);
    else if (data instanceof Float32Array)
      for (let k = 0; k < data.length; ++k) view.setFloat32(at + 4 * k, data[k]!, true);
    else if (data instanceof Uint16Array)
      for (let k = 0; k < data.length; ++k) view.setUint16(at + 2 * k, data[k]!, true);
    else out.set(data, at);
    at += data.byteLength;
  }
  return out;
}

/**
 * Writes `tensors` (each in its dtype: F32, F16, BF16 or U8) and optional `metadata` to a safetensors file at `path`, replacing
 * any file there. See {@link encodeSafetensors} for the layout and errors; file system errors
 * are thrown as Node reports them.
 *
 * @param path - Where to write, e.g. 'lif.safetensors'.
 * @param tensors - Tensors by name, e.g. `layer.stateDict()`.
 * @param metadata - Optional string-to-string metadata.
 */
export function saveSafetensors(
  path: PathLike,
  tensors: Record<string, Tensor>,
  metadata?: Record<string, string>,
): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}

function checkRecord(v: unknown, what: string, expected: string): void {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Tensor)
    throw new TypeError(`${what} must be ${expected}, got ${describe(v)}`);
}

function checkUnicode(s: string, what: string): void {
  if (LONE_SURROGATE.test(s)) throw new TypeError(`${what} is not well-formed Unicode (it has a lone surrogate)`);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let k = 0; k < n; ++k) if (a[k] !== b[k]) return a[k]! - b[k]!;
  return a.length - b.length;
}
