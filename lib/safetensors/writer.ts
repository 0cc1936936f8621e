// Writing safetensors: the reference writer's bytes for float32 tensors (see lib/safetensors.ts).
import { writeFileSync, type PathLike } from 'node:fs';
import { Tensor, checkTensor, describe } from '../tensor.js';
import { LITTLE_ENDIAN, METADATA_KEY } from './format.js';

const UTF8 = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The bytes of a safetensors file holding `tensors` as F32 (and `metadata` as `__metadata__`).
 * The output is what the reference writer produces for the same float32 tensors.
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
    entries.push({ name, key: UTF8.encode(name), tensor: checkTensor(t, `${what}: tensors['${name}']`) });
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
  // the reference writer's order: by dtype (all F32 here), then by name as UTF-8 bytes
  entries.sort((a, b) => compareBytes(a.key, b.key));

  const parts: string[] = [];
  if (meta)
    parts.push(
      `${JSON.stringify(METADATA_KEY)}:{${meta.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`,
    );
  const datas: Float32Array[] = [];
  let offset = 0;
  for (const { name, tensor } of entries) {
    const data = tensor.toFloat32Array();
    const end = offset + data.length * 4;
    parts.push(
      `${JSON.stringify(name)}:{"dtype":"F32","shape":[${tensor.shape.join(',')}],"data_offsets":[${offset},${end}]}`,
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
    else for (let k = 0; k < data.length; ++k) view.setFloat32(at + 4 * k, data[k]!, true);
    at += data.byteLength;
  }
  return out;
}

/**
 * Writes `tensors` (as F32) and optional `metadata` to a safetensors file at `path`, replacing
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
