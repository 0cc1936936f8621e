// Reading safetensors: the whole file is validated (header, entries, coverage of the data buffer)
// before any tensor is made, then F32, F64, F16, BF16 and U8 are decoded into float32 Tensors, or
// with `keepDtype` into Tensors of their own dtype (see lib/safetensors.ts for the rules and the
// errors).
import { readFileSync, type PathLike } from 'node:fs';
import { floatBitsFromHalf } from '../dtype.js';
import { MAX_ELEMENTS, Tensor, describe } from '../tensor.js';
import { checkOptions } from '../validate.js';
import {
  ELEMENT_SIZE,
  TENSOR_DTYPE,
  LITTLE_ENDIAN,
  METADATA_KEY,
  OTHER_DTYPES,
  SAFETENSORS_MAX_HEADER,
  type SafetensorsContents,
  type SafetensorsDtype,
  type SafetensorsReadOptions,
} from './format.js';

const TENSOR_FIELDS = ['dtype', 'shape', 'data_offsets'];

/**
 * Reads safetensors bytes: the tensors, the metadata and the dtype each tensor had in the file.
 * The whole input is validated before any tensor is made (see the module documentation for the
 * rules and the errors thrown).
 *
 * @param bytes - The file's bytes (a Uint8Array such as a Buffer, or an ArrayBuffer).
 * @param options - `{ keepDtype: true }` keeps F16, BF16 and U8 tensors in their dtype.
 * @returns `{ tensors, metadata, dtypes }`.
 * @throws RangeError / TypeError for a malformed file or an unsupported dtype.
 */
export function parseSafetensors(
  bytes: Uint8Array | ArrayBuffer,
  options?: SafetensorsReadOptions,
): SafetensorsContents {
  return parse(bytes, 'parseSafetensors', options);
}

/**
 * The tensors of safetensors bytes, as float32 Tensors by name. {@link parseSafetensors} also
 * returns the metadata.
 *
 * @param bytes - The file's bytes (a Uint8Array such as a Buffer, or an ArrayBuffer).
 * @param options - `{ keepDtype: true }` keeps F16, BF16 and U8 tensors in their dtype.
 * @throws RangeError / TypeError for a malformed file or an unsupported dtype.
 */
export function decodeSafetensors(
  bytes: Uint8Array | ArrayBuffer,
  options?: SafetensorsReadOptions,
): Record<string, Tensor> {
  return parse(bytes, 'decodeSafetensors', options).tensors;
}

/**
 * Reads a safetensors file (e.g. written by `safetensors.torch.save_file(layer.state_dict(), path)`)
 * into float32 Tensors by name, ready for `layer.loadStateDict()`. For the metadata, use
 * `parseSafetensors(readFileSync(path))`.
 *
 * @param path - The file to read.
 * @param options - `{ keepDtype: true }` keeps F16, BF16 and U8 tensors in their dtype.
 * @throws RangeError / TypeError for a malformed file or an unsupported dtype (the message starts
 *   with the path); file system errors as Node reports them.
 */
export function loadSafetensors(path: PathLike, options?: SafetensorsReadOptions): Record<string, Tensor> {
  const what = `loadSafetensors: ${String(path)}`;
  readOptions(options, what);
  const bytes = readFileSync(path);
  return parse(bytes, what, options).tensors;
}

function readOptions(options: unknown, what: string): boolean {
  const o = checkOptions<SafetensorsReadOptions>(options, ['keepDtype'], what, true, '{ keepDtype }');
  if (o.keepDtype !== undefined && typeof o.keepDtype !== 'boolean')
    throw new TypeError(`${what}: options.keepDtype must be a boolean, got ${describe(o.keepDtype)}`);
  return o.keepDtype === true;
}

interface Entry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  begin: number;
  end: number;
}

function parse(input: Uint8Array | ArrayBuffer, what: string, options: unknown): SafetensorsContents {
  const keep = readOptions(options, what);
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
    const at = dataStart + e.begin,
      count = (e.end - e.begin) / ELEMENT_SIZE[e.dtype];
    const t =
      keep && TENSOR_DTYPE[e.dtype] !== 'float32'
        ? Tensor._adoptDtype(TENSOR_DTYPE[e.dtype], raw(bytes, view, at, count, e.dtype), e.shape)
        : Tensor._adopt(decode(view, at, count, e.dtype), e.shape);
    define(tensors, e.name, t);
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
        `${label} has dtype ${dtype}, which spikelayers does not load (it loads F32, F64, F16, BF16 and U8)`,
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
      for (let k = 0; k < count; ++k) bits[k] = floatBitsFromHalf(view.getUint16(at + 2 * k, true));
      break;
    case 'U8':
      out.set(new Uint8Array(view.buffer, view.byteOffset + at, count));
      break;
  }
  return out;
}

/** `count` elements of a 16-bit or 8-bit dtype at byte `at`, as their own bits (a copy). */
function raw(
  bytes: Uint8Array,
  view: DataView,
  at: number,
  count: number,
  dtype: SafetensorsDtype,
): Uint16Array | Uint8Array {
  if (dtype === 'U8') return bytes.slice(at, at + count);
  const out = new Uint16Array(count);
  for (let k = 0; k < count; ++k) out[k] = view.getUint16(at + 2 * k, true);
  return out;
}

/** Sets an own enumerable property (safe for names such as '__proto__'). */
function define<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)}`;
}
