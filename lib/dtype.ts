// Element types of a Tensor: their names, sizes, and the exact conversions between float32 and
// the 16-bit floats (IEEE binary16 and bfloat16, round to nearest, ties to even) and uint8.

/**
 * The element type of a Tensor:
 * - `'float32'` (default): IEEE single precision, what every layer computes in;
 * - `'float16'`: IEEE half precision (binary16), 2 bytes;
 * - `'bfloat16'`: the upper 16 bits of a float32 (8-bit exponent, 7-bit mantissa), 2 bytes;
 * - `'uint8'`: integers 0..255, 1 byte (e.g. compact spike counts).
 */
export type Dtype = 'float32' | 'float16' | 'bfloat16' | 'uint8';

/** Every dtype, in a fixed order. */
export const DTYPES: readonly Dtype[] = Object.freeze(['float32', 'float16', 'bfloat16', 'uint8']);

/** The host array a dtype's elements are kept in: values for float32 and uint8, bit patterns for the 16-bit floats. */
export type DtypeArray = Float32Array | Uint16Array | Uint8Array;

const SIZES: Readonly<Record<Dtype, number>> = { float32: 4, float16: 2, bfloat16: 2, uint8: 1 };

/** Bytes per element of `dtype`. */
export function itemSize(dtype: Dtype): number {
  return SIZES[dtype];
}

/** Whether `v` names a dtype. */
export function isDtype(v: unknown): v is Dtype {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(SIZES, v);
}

/** Checks a dtype argument; throws a TypeError naming `what` and the accepted names. */
export function checkDtype(v: unknown, what: string, accepted: readonly Dtype[] = DTYPES): Dtype {
  if (!isDtype(v) || !accepted.includes(v)) {
    const got = typeof v === 'string' ? `'${v}'` : v === null ? 'null' : typeof v;
    throw new TypeError(`${what} must be ${accepted.map((d) => `'${d}'`).join(', ')}; got ${got}`);
  }
  return v;
}

/** An empty (zeroed) host array of `n` elements of `dtype`. */
export function allocDtype(dtype: Dtype, n: number): DtypeArray {
  if (dtype === 'float32') return new Float32Array(n);
  if (dtype === 'uint8') return new Uint8Array(n);
  return new Uint16Array(n);
}

// ---- scalar conversions -------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The bit pattern of the float32 nearest to `x` (as Math.fround rounds). */
export function float32Bits(x: number): number {
  f32[0] = x;
  return u32[0]!;
}

/** The float32 with bit pattern `bits`. */
export function float32FromBits(bits: number): number {
  u32[0] = bits >>> 0;
  return f32[0]!;
}

/**
 * The IEEE half bit pattern nearest to the float32 `x` (x is first rounded to float32): round to
 * nearest, ties to even; beyond the half range (|x| >= 65520) ±Infinity; below half the smallest
 * subnormal ±0 (sign kept). A NaN stays a NaN with its sign and the upper 10 bits of its payload,
 * made quiet (as the x86 F16C conversion does).
 */
export function float32ToFloat16Bits(x: number): number {
  return halfFromFloatBits(float32Bits(x));
}

/** The half bit pattern of the float32 with bit pattern `f` (see {@link float32ToFloat16Bits}). */
export function halfFromFloatBits(f: number): number {
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  const mant = f & 0x7fffff;
  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  const e = exp - 127 + 15; // the half's biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // a half subnormal (or zero): value / 2^-24 = m * 2^(e - 14), m with the implicit bit
    if (e < -10) return sign; // below 2^-25: rounds to zero
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h += 1; // a carry makes the smallest normal
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h += 1; // a carry may reach Infinity
  return sign | h;
}

/** The float32 bit pattern of a half (exact: every half is a float32; NaN payloads kept). */
export function floatBitsFromHalf(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  let e = 127 - 15 + 1; // subnormal: normalise (value = mant * 2^-24)
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e -= 1;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** The value of the half with bit pattern `h`. */
export function float16BitsToFloat32(h: number): number {
  return float32FromBits(floatBitsFromHalf(h));
}

/**
 * The bfloat16 bit pattern nearest to the float32 `x` (x is first rounded to float32): round to
 * nearest, ties to even (subnormals included; overflow to ±Infinity). A NaN stays a NaN with its
 * sign and upper payload bits, made quiet.
 */
export function float32ToBfloat16Bits(x: number): number {
  return bfloatFromFloatBits(float32Bits(x));
}

/** The bfloat16 bit pattern of the float32 with bit pattern `f`. */
export function bfloatFromFloatBits(f: number): number {
  if ((f & 0x7f800000) === 0x7f800000 && (f & 0x7fffff) !== 0) return (f >>> 16) | 0x0040;
  // f + 0x7fff + lsb cannot pass 2^32 for a non-NaN f, so plain arithmetic is exact
  return Math.floor(((f >>> 0) + 0x7fff + ((f >>> 16) & 1)) / 65536) & 0xffff;
}

/** The value of the bfloat16 with bit pattern `b`. */
export function bfloat16BitsToFloat32(b: number): number {
  return float32FromBits((b & 0xffff) << 16);
}

// ---- array conversions --------------------------------------------------------------------------

/**
 * float32 values as a `dtype` array: exact rounding for the 16-bit floats; for uint8 every value
 * must be an integer in [0, 255] (else a RangeError naming `what` and the element).
 */
export function encodeFloat32(dtype: Dtype, src: Float32Array, what: string): DtypeArray {
  const n = src.length;
  if (dtype === 'float32') return src.slice();
  const bits = new Uint32Array(src.buffer, src.byteOffset, n);
  if (dtype === 'float16') {
    const out = new Uint16Array(n);
    for (let k = 0; k < n; ++k) out[k] = halfFromFloatBits(bits[k]!);
    return out;
  }
  if (dtype === 'bfloat16') {
    const out = new Uint16Array(n);
    for (let k = 0; k < n; ++k) out[k] = bfloatFromFloatBits(bits[k]!);
    return out;
  }
  const out = new Uint8Array(n);
  for (let k = 0; k < n; ++k) {
    const v = src[k]!;
    if (!(v >= 0 && v <= 255 && Number.isInteger(v)))
      throw new RangeError(`${what}: uint8 holds integers 0..255, element ${k} is ${v}`);
    out[k] = v;
  }
  return out;
}

/** A `dtype` array's values as float32 (exact for every dtype). */
export function decodeToFloat32(dtype: Dtype, src: DtypeArray): Float32Array {
  if (dtype === 'float32') return (src as Float32Array).slice();
  const n = src.length;
  const out = new Float32Array(n);
  if (dtype === 'uint8') {
    out.set(src);
    return out;
  }
  const bits = new Uint32Array(out.buffer);
  if (dtype === 'bfloat16') for (let k = 0; k < n; ++k) bits[k] = src[k]! << 16;
  else for (let k = 0; k < n; ++k) bits[k] = floatBitsFromHalf(src[k]!);
  return out;
}

// ---- helpers of Tensor ---------------------------------------------------------------------------

/** Tensors of dtypes other than float32 live on the cpu (for now): a TypeError elsewhere. */
export function cpuOnly(dtype: Dtype, device: string, what: string): void {
  if (dtype !== 'float32' && device !== 'cpu')
    throw new TypeError(
      `${what}: ${dtype} tensors live on the cpu, not on ${device}; convert with .to('float32') first`,
    );
}

/**
 * The host array of a non-float32 tensor made from `data` (see Tensor.from): a Uint16Array is
 * taken as 16-bit float bit patterns, a Uint8Array as uint8 values; numbers must be integers
 * 0..255 for uint8 and are otherwise read by `asFloat32` (given their count) and rounded.
 */
export function dtypeData(
  data: unknown,
  dtype: Dtype,
  what: string,
  asFloat32: (length: number) => Float32Array,
): DtypeArray {
  if (dtype === 'uint8' && data instanceof Uint8Array) return data.slice();
  if ((dtype === 'float16' || dtype === 'bfloat16') && data instanceof Uint16Array) return data.slice();
  const len = (data as { length?: unknown } | null)?.length;
  const n = typeof len === 'number' && Number.isInteger(len) && len >= 0 ? len : 0;
  if (dtype === 'uint8' && (Array.isArray(data) || ArrayBuffer.isView(data))) {
    const src = data as ArrayLike<unknown>;
    const out = new Uint8Array(n);
    for (let k = 0; k < n; ++k) {
      const v = src[k];
      if (typeof v !== 'number') throw new TypeError(`${what}: data[${k}] must be a number, got ${typeof v}`);
      if (!(Number.isInteger(v) && v >= 0 && v <= 255))
        throw new RangeError(`${what}: data[${k}] is ${v}; uint8 holds integers 0..255`);
      out[k] = v;
    }
    return out;
  }
  return encodeFloat32(dtype, asFloat32(n), what);
}
