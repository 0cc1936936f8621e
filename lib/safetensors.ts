/**
 * safetensors files: the format PyTorch, sinabs users and the Hugging Face tools share for
 * tensors, e.g. a layer's `stateDict()`.
 *
 * The format (https://github.com/huggingface/safetensors):
 *
 *   bytes 0..8         N, the header length: an unsigned 64-bit little-endian integer
 *   bytes 8..8+N       the header: UTF-8 JSON, an object that starts with '{', padded at the end
 *                      with spaces (0x20); the reference writer pads so that 8 + N is a multiple of 8
 *   bytes 8+N..        the data buffer
 *
 * The header maps each tensor name to `{ "dtype": "F32", "shape": [2, 3], "data_offsets": [b, e] }`
 * (bytes [b, e) of the data buffer, row-major, little-endian) and may hold
 * `"__metadata__": { string: string }`. The tensors cover the data buffer exactly: in the order of
 * their offsets, each starts where the previous one ends, the first at 0 and the last at the end
 * of the file. An empty tensor (a 0 in its shape) has `[b, b]`.
 *
 * Writing: tensors are written as F32, in the reference writer's order (by name, compared as UTF-8
 * bytes), the header compact, `__metadata__` first, padded with spaces to a multiple of 8 bytes:
 * the same bytes as `safetensors.torch.save_file` for the same float32 tensors.
 *
 * Reading: F32, F64, F16 and BF16 are read into float32 Tensors (F16, BF16: exactly; F64: rounded
 * to the nearest float32, beyond the float32 range to ±Infinity). Other dtypes are refused.
 *
 * Errors (the message always says what is wrong and, where it applies, which tensor):
 * - `RangeError`: sizes and offsets: a file shorter than 8 bytes, a header length beyond the end of
 *   the file or above 100,000,000 bytes (the reference reader's limit), a tensor whose byte range
 *   does not match its shape and dtype, offsets beyond the data buffer, overlapping tensors, bytes
 *   of the data buffer that belong to no tensor, more elements than a Tensor may hold.
 * - `TypeError`: structure: a header that is not UTF-8, does not start with '{', is not JSON or not
 *   a JSON object; a tensor entry that is not an object or has missing or extra fields or fields of
 *   the wrong type; an unknown or unsupported dtype; `__metadata__` that is not an object of
 *   strings. When writing: arguments of the wrong type, a tensor named `__metadata__`, names or
 *   metadata that are not well-formed Unicode.
 */
import { readFileSync, writeFileSync, type PathLike } from 'node:fs';
import { endianness } from 'node:os';
import { MAX_ELEMENTS, Tensor, checkTensor, describe } from './tensor.js';

/** The dtypes spikelayers reads (all become float32 Tensors). */
export type SafetensorsDtype = 'F32' | 'F64' | 'F16' | 'BF16';

/** Everything in a safetensors file: see {@link parseSafetensors}. */
export interface SafetensorsContents {
  /** The tensors by name, in the order of their data offsets (except that names which are array
   * indices, such as '0', come first in numeric order, as JavaScript orders such keys). */
  tensors: Record<string, Tensor>;
  /** The `__metadata__` entry, or null when the file has none. */
  metadata: Record<string, string> | null;
  /** The dtype each tensor had in the file, by name. */
  dtypes: Record<string, SafetensorsDtype>;
}

/** Largest header the reference reader accepts (bytes). */
const SAFETENSORS_MAX_HEADER = 100_000_000;

const METADATA_KEY = '__metadata__';
const ELEMENT_SIZE: Record<SafetensorsDtype, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };
/** Dtypes of the format that spikelayers does not read (for a precise error message). */
const OTHER_DTYPES = new Set([
  'BOOL',
  'U8',
  'I8',
  'I16',
  'U16',
  'I32',
  'U32',
  'I64',
  'U64',
  'C64',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
  'F8_E5M2',
  'F8_E4M3',
  'F8_E8M0',
  'F8_E4M3FNUZ',
  'F8_E5M2FNUZ',
]);
const TENSOR_FIELDS = ['dtype', 'shape', 'data_offsets'];
const LITTLE_ENDIAN = endianness() === 'LE';
const UTF8 = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

// ---- writing -----------------------------------------------------------------------------------

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

// ---- reading -----------------------------------------------------------------------------------

/**
 * Reads safetensors bytes: the tensors, the metadata and the dtype each tensor had in the file.
 * The whole input is validated before any tensor is made (see the module documentation for the
 * rules and the errors thrown).
 *
 * @param bytes - The file's bytes (a Uint8Array such as a Buffer, or an ArrayBuffer).
 * @returns `{ tensors, metadata, dtypes }`.
 * @throws RangeError / TypeError for a malformed file or an unsupported dtype.
 */
export function parseSafetensors(bytes: Uint8Array | ArrayBuffer): SafetensorsContents {
  return parse(bytes, 'parseSafetensors');
}

/**
 * The tensors of safetensors bytes, as float32 Tensors by name. {@link parseSafetensors} also
 * returns the metadata.
 *
 * @param bytes - The file's bytes (a Uint8Array such as a Buffer, or an ArrayBuffer).
 * @throws RangeError / TypeError for a malformed file or an unsupported dtype.
 */
export function decodeSafetensors(bytes: Uint8Array | ArrayBuffer): Record<string, Tensor> {
  return parse(bytes, 'decodeSafetensors').tensors;
}

/**
 * Reads a safetensors file (e.g. written by `safetensors.torch.save_file(layer.state_dict(), path)`)
 * into float32 Tensors by name, ready for `layer.loadStateDict()`. For the metadata, use
 * `parseSafetensors(readFileSync(path))`.
 *
 * @param path - The file to read.
 * @throws RangeError / TypeError for a malformed file or an unsupported dtype (the message starts
 *   with the path); file system errors as Node reports them.
 */
export function loadSafetensors(path: PathLike): Record<string, Tensor> {
  const bytes = readFileSync(path);
  return parse(bytes, `loadSafetensors: ${String(path)}`).tensors;
}

interface Entry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function parse(input: Uint8Array | ArrayBuffer, what: string): SafetensorsContents {
  let bytes: Uint8Array;
  if (input instanceof Uint8Array) bytes = input;
  else if (input instanceof ArrayBuffer) bytes = new Uint8Array(input);
  else
    throw new TypeError(
      `${what}: bytes must be a Uint8Array (e.g. a Buffer) or an ArrayBuffer, got ${describe(input)}`,
    );

  // -- header length and header
  if (bytes.length < 8)
    throw new RangeError(
      `${what}: the file is ${bytes.length} bytes long, too short for a safetensors file (at least 8 bytes: the header length)`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(SAFETENSORS_MAX_HEADER))
    throw new RangeError(
      `${what}: the header length is ${n64} bytes, more than the limit of ${SAFETENSORS_MAX_HEADER}`,
    );
  const n = Number(n64);
  if (8 + n > bytes.length)
    throw new RangeError(
      `${what}: the header length is ${n} bytes, beyond the end of the file (${bytes.length - 8} bytes follow the length field)`,
    );
  if (n === 0 || bytes[8] !== 0x7b)
    throw new TypeError(
      `${what}: the header must be a JSON object starting with '{'` +
        (n === 0 ? ', but it is empty' : `, but it starts with byte 0x${bytes[8]!.toString(16).padStart(2, '0')}`),
    );
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    throw new TypeError(`${what}: the header is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new TypeError(`${what}: the header is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    throw new TypeError(
      `${what}: the header must be a JSON object, got ${Array.isArray(header) ? 'an array' : header === null ? 'null' : typeof header}`,
    );

  // -- entries
  let metadata: Record<string, string> | null = null;
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header)) {
    if (name === METADATA_KEY) {
      metadata = readMetadata(info, what);
      continue;
    }
    entries.push(readEntry(name, info, what));
  }

  // -- the tensors must cover the data buffer exactly
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  for (const e of entries)
    if (e.end > dataLength)
      throw new RangeError(
        `${what}: tensor '${e.name}' has data_offsets [${e.begin}, ${e.end}], beyond the end of the data buffer (${dataLength} bytes)`,
      );
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: Entry | null = null;
  for (const e of entries) {
    if (e.begin > covered)
      throw new RangeError(
        `${what}: bytes [${covered}, ${e.begin}) of the data buffer belong to no tensor (a gap before tensor '${e.name}'); ` +
          'the tensors must cover the data buffer without gaps',
      );
    if (e.begin < covered)
      throw new RangeError(
        `${what}: tensor '${e.name}' (bytes [${e.begin}, ${e.end})) overlaps tensor '${previous!.name}' (bytes [${previous!.begin}, ${previous!.end}))`,
      );
    covered = e.end;
    previous = e;
  }
  if (covered !== dataLength)
    throw new RangeError(
      `${what}: the last ${dataLength - covered} bytes of the data buffer (from offset ${covered} of ${dataLength}) belong to no tensor`,
    );

  // -- decode
  const tensors: Record<string, Tensor> = {};
  const dtypes: Record<string, SafetensorsDtype> = {};
  for (const e of entries) {
    define(
      tensors,
      e.name,
      Tensor._adopt(decode(view, dataStart + e.begin, (e.end - e.begin) / ELEMENT_SIZE[e.dtype], e.dtype), e.shape),
    );
    define(dtypes, e.name, e.dtype);
  }
  return { tensors, metadata, dtypes };
}

function readMetadata(info: unknown, what: string): Record<string, string> {
  if (info === null || typeof info !== 'object' || Array.isArray(info))
    throw new TypeError(`${what}: '${METADATA_KEY}' must be an object of strings, got ${jsonType(info)}`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(info)) {
    if (typeof v !== 'string')
      throw new TypeError(`${what}: '${METADATA_KEY}' value '${k}' must be a string, got ${jsonType(v)}`);
    define(out, k, v);
  }
  return out;
}

function readEntry(name: string, info: unknown, what: string): Entry {
  const label = `${what}: tensor '${name}'`;
  if (info === null || typeof info !== 'object' || Array.isArray(info))
    throw new TypeError(`${label} must be an object { dtype, shape, data_offsets }, got ${jsonType(info)}`);
  const fields = Object.keys(info);
  const missing = TENSOR_FIELDS.filter((f) => !fields.includes(f));
  if (missing.length) throw new TypeError(`${label} lacks the field(s) ${missing.map((f) => `'${f}'`).join(', ')}`);
  const extra = fields.filter((f) => !TENSOR_FIELDS.includes(f));
  if (extra.length)
    throw new TypeError(
      `${label} has unknown field(s) ${extra.map((f) => `'${f}'`).join(', ')} (expected 'dtype', 'shape', 'data_offsets')`,
    );
  const { dtype, shape, data_offsets: offsets } = info as { dtype: unknown; shape: unknown; data_offsets: unknown };

  if (typeof dtype !== 'string')
    throw new TypeError(`${label}: dtype must be a string such as "F32", got ${jsonType(dtype)}`);
  if (!(dtype in ELEMENT_SIZE)) {
    if (OTHER_DTYPES.has(dtype))
      throw new TypeError(
        `${label} has dtype ${dtype}, which spikelayers does not load (it loads F32, F64, F16 and BF16, as float32)`,
      );
    throw new TypeError(`${label} has dtype '${dtype}', which is not a safetensors dtype`);
  }
  const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (!Array.isArray(shape) || !shape.every(isCount))
    throw new TypeError(`${label}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount))
    throw new TypeError(
      `${label}: data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`,
    );
  const [begin, end] = offsets as [number, number];
  if (begin > end) throw new RangeError(`${label}: data_offsets [${begin}, ${end}] end before they begin`);
  const d = dtype as SafetensorsDtype;
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  const needed = elements * ELEMENT_SIZE[d];
  if (needed !== end - begin)
    throw new RangeError(
      `${label}: shape [${shape.join(', ')}] of ${d} needs ${needed} bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  if (elements > MAX_ELEMENTS)
    throw new RangeError(`${label} has ${elements} elements, more than a Tensor may hold (${MAX_ELEMENTS})`);
  return { name, dtype: d, shape: shape as number[], begin, end };
}

/** `count` elements of `dtype` at byte `at`, as float32 (bit-exact for F32, F16, BF16). */
function decode(view: DataView, at: number, count: number, dtype: SafetensorsDtype): Float32Array {
  const out = new Float32Array(count);
  const bits = new Uint32Array(out.buffer);
  switch (dtype) {
    case 'F32':
      if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(new Uint8Array(view.buffer, view.byteOffset + at, count * 4));
      else for (let k = 0; k < count; ++k) bits[k] = view.getUint32(at + 4 * k, true);
      break;
    case 'F64':
      for (let k = 0; k < count; ++k) out[k] = view.getFloat64(at + 8 * k, true); // rounds to nearest, ties to even
      break;
    case 'BF16':
      for (let k = 0; k < count; ++k) bits[k] = view.getUint16(at + 2 * k, true) << 16;
      break;
    case 'F16':
      for (let k = 0; k < count; ++k) bits[k] = halfToFloatBits(view.getUint16(at + 2 * k, true));
      break;
  }
  return out;
}

/** The float32 bit pattern of an IEEE half (every half is exactly a float32; NaN payloads kept). */
function halfToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // Inf, NaN
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0; // ±0
  // subnormal half: normalise (value = mant * 2^-24)
  let e = 127 - 15 + 1;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e -= 1;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

// ---- helpers -----------------------------------------------------------------------------------

/** Sets an own enumerable property (safe for names such as '__proto__'). */
function define<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
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

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}
