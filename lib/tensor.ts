import { resolveDevice } from './backend.js';
import {
  allocDtype,
  checkDtype,
  cpuOnly,
  dtypeData,
  decodeToFloat32,
  encodeFloat32,
  isDtype,
  itemSize,
  type Dtype,
  type DtypeArray,
} from './dtype.js';
import { ErrorCodes, SpikelayersError } from './errors.js';
import { copyTo, hostCopy, isHost, place, release, share, toHost, type Storage } from './storage.js';

/** Largest element count a Tensor may hold (a Float32Array's limit in V8). */
export const MAX_ELEMENTS = 2 ** 32 - 1;

/** Options of Tensor.from / Tensor.zeros. */
export interface TensorOptions {
  /** 'cpu' (default), 'cuda' (= 'cuda:0'), 'cuda:N', or 'auto' (CUDA when usable, else CPU).
   * Where CUDA is unusable, 'cuda' throws an Error whose `code` and message say why. */
  device?: string;
  /** The element type: 'float32' (default), 'float16', 'bfloat16' or 'uint8'. Tensors of the other
   * dtypes live on the cpu. See {@link Tensor.from} for how data is read for each. */
  dtype?: Dtype;
}

/** Host data of a tensor whose dtype is not float32: bit patterns (16-bit floats) or bytes (uint8). */
type RawData = Uint16Array | Uint8Array;

/** Checks a shape and returns its element count. */
export function checkShape(shape: unknown, what: string): number {
  if (!Array.isArray(shape)) throw new TypeError(`${what} must be an array of non-negative integers`);
  let n = 1;
  for (let k = 0; k < shape.length; ++k) {
    const d = shape[k];
    if (typeof d !== 'number') throw new TypeError(`${what}[${k}] must be a number, got ${typeof d}`);
    if (!Number.isInteger(d) || d < 0) throw new RangeError(`${what}[${k}] must be a non-negative integer, got ${d}`);
    n *= d;
  }
  if (n > MAX_ELEMENTS)
    throw new RangeError(`${what} [${shape.join(', ')}] has ${n} elements, more than the maximum ${MAX_ELEMENTS}`);
  return n;
}

/**
 * A float32 n-dimensional array (row-major). Its data is private: `toFloat32Array()` returns a
 * copy, so a Tensor handed to a layer cannot change behind the layer's back.
 * Parameters of a layer are Tensors too, with `grad` and `requiresGrad`.
 */
export class Tensor {
  #data: Storage | null;
  readonly #shape: readonly number[];
  #device: string;
  // dtype (see lib/dtype.ts): a float32 tensor keeps its data in #data; any other dtype keeps host
  // data in #raw (and #data is null)
  readonly #dtype: Dtype;
  #raw: RawData | null;
  /** Accumulated gradient (parameters only), or null. */
  grad: Tensor | null = null;
  /** Whether a layer accumulates a gradient into `grad`. */
  requiresGrad = false;

  private constructor(
    data: Storage | null,
    shape: readonly number[],
    device = 'cpu',
    raw: { dtype: Dtype; data: RawData } | null = null,
  ) {
    this.#data = data;
    this.#shape = Object.freeze(shape.slice());
    this.#device = device;
    this.#dtype = raw ? raw.dtype : 'float32';
    this.#raw = raw ? raw.data : null;
  }

  /** The element type: 'float32', 'float16', 'bfloat16' or 'uint8'. */
  get dtype(): Dtype {
    return this.#dtype;
  }

  /** Bytes of data: size x bytes per element of the dtype (4, 2, 2, 1). */
  get nbytes(): number {
    return this.size * itemSize(this.#dtype);
  }

  /** Internal: wraps host data of a non-float32 dtype without copying (the caller gives it up). */
  static _adoptDtype(dtype: Dtype, data: DtypeArray, shape: readonly number[]): Tensor {
    if (dtype === 'float32') return new Tensor(data as Float32Array, shape);
    return new Tensor(null, shape, 'cpu', { dtype, data: data as RawData });
  }

  /** 'cpu' or 'cuda:N'. */
  get device(): string {
    return this.#device;
  }

  /** Wraps storage without copying (internal: the caller gives up the storage). */
  static _adopt(data: Storage, shape: readonly number[], device = 'cpu'): Tensor {
    return new Tensor(data, shape, device);
  }

  /**
   * A tensor holding a copy of `data` with the given shape.
   *
   * With `dtype` (default 'float32'): for 'float16' and 'bfloat16', a Uint16Array is taken as the
   * elements' bit patterns, and numbers (an array, a Float32Array, other typed arrays) are rounded
   * to float32, then to the dtype (nearest, ties to even). For 'uint8', values must be integers
   * 0..255 (a RangeError names the first that is not). Tensors of these dtypes are cpu tensors.
   */
  static from(data: Float32Array | ArrayLike<number>, shape: number[], opts?: TensorOptions): Tensor {
    const n = checkShape(shape, 'Tensor.from: shape');
    if (opts !== undefined && (opts === null || typeof opts !== 'object'))
      throw new TypeError('Tensor.from: opts must be an object such as { device: "cpu" }');
    let device = 'cpu';
    if (opts) {
      for (const k of Object.keys(opts))
        if (k !== 'device' && k !== 'dtype')
          throw new TypeError(`Tensor.from: unknown option '${k}' (expected 'device' or 'dtype')`);
      device = resolveDevice(opts.device, 'Tensor.from: opts.device');
      if (opts.dtype !== undefined && checkDtype(opts.dtype, 'Tensor.from: opts.dtype') !== 'float32')
        return fromDtype(data, shape, n, opts.dtype, device);
    }
    let copy: Float32Array;
    if (data instanceof Float32Array) {
      copy = data.slice();
    } else if (Array.isArray(data) || ArrayBuffer.isView(data)) {
      if (
        ArrayBuffer.isView(data) &&
        !(data as unknown as { length?: number }).length &&
        (data as ArrayBufferView).byteLength
      )
        throw new TypeError('Tensor.from: data must be a Float32Array or an array of numbers');
      const src = data as ArrayLike<number>;
      copy = new Float32Array(src.length);
      for (let k = 0; k < src.length; ++k) {
        const v = src[k];
        if (typeof v !== 'number' && typeof v !== 'bigint')
          throw new TypeError(`Tensor.from: data[${k}] must be a number, got ${typeof v}`);
        copy[k] = Number(v);
      }
    } else {
      throw new TypeError(`Tensor.from: data must be a Float32Array or an array of numbers, got ${describe(data)}`);
    }
    if (copy.length !== n)
      throw new RangeError(`Tensor.from: data has ${copy.length} elements but shape [${shape.join(', ')}] needs ${n}`);
    return new Tensor(place(device, copy), shape, device);
  }

  /** A scalar (0-d) tensor. */
  static scalar(value: number): Tensor {
    if (typeof value !== 'number') throw new TypeError(`Tensor.scalar: value must be a number, got ${typeof value}`);
    return new Tensor(Float32Array.of(value), []);
  }

  /** A tensor of zeros. */
  static zeros(shape: number[], opts?: TensorOptions): Tensor {
    const n = checkShape(shape, 'Tensor.zeros: shape');
    const device = opts?.device !== undefined ? resolveDevice(opts.device, 'Tensor.zeros: opts.device') : 'cpu';
    if (opts?.dtype !== undefined && checkDtype(opts.dtype, 'Tensor.zeros: opts.dtype') !== 'float32') {
      cpuOnly(opts.dtype, device, 'Tensor.zeros');
      return Tensor._adoptDtype(opts.dtype, allocDtype(opts.dtype, n), shape);
    }
    return new Tensor(place(device, new Float32Array(n)), shape, device);
  }

  /** A tensor filled with `value`. */
  static full(shape: number[], value: number): Tensor {
    const n = checkShape(shape, 'Tensor.full: shape');
    if (typeof value !== 'number') throw new TypeError('Tensor.full: value must be a number');
    return new Tensor(new Float32Array(n).fill(value), shape);
  }

  /** The dimensions, e.g. [B, T, N]. */
  get shape(): number[] {
    return this.#shape.slice();
  }

  /** @internal The dimensions without a copy (frozen): for the layers' per-call checks. */
  _shapeRef(): readonly number[] {
    return this.#shape;
  }

  /** Number of dimensions. */
  get rank(): number {
    return this.#shape.length;
  }

  /** Number of elements. */
  get size(): number {
    return this.#shape.reduce((a, b) => a * b, 1);
  }

  /** True after dispose(). */
  get disposed(): boolean {
    return this.#data === null && this.#raw === null;
  }

  /** A copy of the data on the host (downloaded from the GPU for a CUDA tensor), as float32
   * values whatever the dtype (exact: every float16, bfloat16 and uint8 value is a float32). */
  toFloat32Array(): Float32Array {
    if (this.#dtype !== 'float32') return decodeToFloat32(this.#dtype, this.#rawLive());
    return hostCopy(this._storage());
  }

  /** The data as a plain array (a copy). */
  toArray(): number[] {
    return Array.from(this.toFloat32Array());
  }

  /** The value of a single-element tensor. */
  item(): number {
    const d = this.toFloat32Array();
    if (d.length !== 1) throw new RangeError(`item(): the tensor has ${d.length} elements, not 1`);
    return d[0]!;
  }

  /**
   * A copy on `device` ('cpu', 'cuda', 'cuda:N', 'auto'), or, given a dtype name ('float32',
   * 'float16', 'bfloat16', 'uint8'), a copy converted to that dtype (as PyTorch's `to(dtype)`):
   * to the 16-bit floats by rounding to nearest, ties to even; to uint8 only integers 0..255
   * (else a RangeError naming the element); to float32 exactly.
   */
  to(device: string): Tensor;
  to(dtype: Dtype): Tensor;
  to(device: string): Tensor {
    if (isDtype(device)) return this.#toDtype(device);
    if (this.#dtype !== 'float32') {
      const d = resolveDevice(device, 'Tensor.to: device');
      cpuOnly(this.#dtype, d, 'Tensor.to');
      return this.#rawCopy(this.#shape);
    }
    const d = resolveDevice(device, 'Tensor.to: device');
    return new Tensor(copyTo(d, this._storage()), this.#shape, d);
  }

  /** A deep copy on the same device. */
  clone(): Tensor {
    if (this.#dtype !== 'float32') return this.#rawCopy(this.#shape);
    const t = new Tensor(copyTo(this.device, this._storage()), this.#shape, this.device);
    t.requiresGrad = this.requiresGrad;
    return t;
  }

  /** A copy with another shape of the same size. */
  reshape(shape: number[]): Tensor {
    const n = checkShape(shape, 'reshape: shape');
    if (this.#dtype !== 'float32') {
      if (n !== this.size) throw new RangeError(`reshape: cannot view ${this.size} elements as [${shape.join(', ')}]`);
      return this.#rawCopy(shape);
    }
    const d = this._storage();
    if (n !== d.length) throw new RangeError(`reshape: cannot view ${d.length} elements as [${shape.join(', ')}]`);
    return new Tensor(copyTo(this.device, d), shape, this.device);
  }

  /**
   * Internal (reshaping layers): a tensor of another shape with the same element count that
   * shares this tensor's storage (host array or device memory); nothing is copied. The two tensors
   * alias one another's data, but each owns it: disposing one leaves the other usable, and device
   * memory is returned when both are gone. Public code uses `reshape`, which copies.
   */
  _view(shape: readonly number[]): Tensor {
    if (this.#dtype !== 'float32') {
      const r = this.#rawLive();
      if (shape.reduce((a, b) => a * b, 1) !== r.length)
        throw new RangeError(`internal: cannot view ${r.length} elements as [${shape.join(', ')}]`);
      return new Tensor(null, shape, 'cpu', { dtype: this.#dtype, data: r });
    }
    const s = this._storage();
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== s.length) throw new RangeError(`internal: cannot view ${s.length} elements as [${shape.join(', ')}]`);
    return new Tensor(share(s), shape, this.#device);
  }

  /**
   * Internal (async calls): another owner of this tensor's data, same shape and device, taken
   * when the call is issued, so that disposing this tensor meanwhile cannot take the data from
   * the call.
   */
  _share(): Tensor {
    if (this.#dtype !== 'float32') return this._view(this.#shape); // host-only: the array keeps it
    return new Tensor(share(this._storage()), this.#shape, this.#device);
  }

  /**
   * Gives up the data now. Using the tensor afterwards is an Error with code ERR_TENSOR_DISPOSED;
   * disposing twice is harmless. GPU memory goes back to the device's memory cache as soon as no
   * one else uses it (an async call in flight, a view of the data); forgotten tensors are
   * released by the garbage collector.
   */
  dispose(): void {
    release(this.#data);
    this.#data = null;
    this.#raw = null;
  }

  /**
   * Internal (Module.to): moves this tensor's data, and its gradient's, to `device` in place, so
   * that every holder of the tensor (an optimizer, a container) sees it on the new device.
   * `device` must already be resolved ('cpu' or 'cuda:N').
   */
  _relocate(device: string): void {
    if (this.#dtype !== 'float32') cpuOnly(this.#dtype, device, 'to');
    if (device !== this.#device) {
      this.#data = copyTo(device, this._storage());
      this.#device = device;
    }
    if (this.grad) this.grad._relocate(device);
  }

  /** Internal: replaces the data with `data` (same size) on `device`, without a copy. */
  _replace(data: Storage, device: string): void {
    if (data.length !== this._storage().length) throw new RangeError('internal: size mismatch in _replace');
    this.#data = data;
    this.#device = device;
  }

  /** Internal: the live storage (no copy), host or device. */
  _storage(): Storage {
    if (this.#data === null) {
      if (this.#raw !== null)
        throw new TypeError(
          `this operation needs a float32 tensor, the tensor is ${this.#dtype} (convert it with .to('float32'))`,
        );
      throw new SpikelayersError(ErrorCodes.DISPOSED, 'the tensor was disposed and cannot be used');
    }
    return this.#data;
  }

  /** Internal: the live host data in the tensor's own dtype (no copy): a Float32Array for
   * float32 (cpu tensors only), bit patterns for the 16-bit floats, bytes for uint8. */
  _hostData(): DtypeArray {
    return this.#dtype === 'float32' ? this._data() : this.#rawLive();
  }

  #rawLive(): RawData {
    if (this.#raw === null)
      throw new SpikelayersError(ErrorCodes.DISPOSED, 'the tensor was disposed and cannot be used');
    return this.#raw;
  }

  #rawCopy(shape: readonly number[]): Tensor {
    return new Tensor(null, shape, 'cpu', { dtype: this.#dtype, data: this.#rawLive().slice() });
  }

  #toDtype(dtype: Dtype): Tensor {
    if (dtype === this.#dtype) return this.clone();
    if (dtype === 'float32') return new Tensor(this.toFloat32Array(), this.#shape);
    cpuOnly(dtype, this.#device, 'Tensor.to');
    const values = this.#dtype === 'float32' ? toHost(this._storage()) : this.toFloat32Array();
    return Tensor._adoptDtype(dtype, encodeFloat32(dtype, values, `Tensor.to('${dtype}')`), this.#shape);
  }

  /** Internal: the live host data (no copy). */
  _data(): Float32Array {
    const s = this._storage();
    if (!isHost(s))
      throw new TypeError(`this operation needs a cpu tensor, the tensor is on ${this.device} (use .to('cpu'))`);
    return s;
  }

  /** Internal: replace the data in place (same size), used by optimizers and loadStateDict. */
  _assign(values: Float32Array): void {
    const d = this._data();
    if (values.length !== d.length) throw new RangeError('internal: size mismatch in _assign');
    d.set(values);
  }

  /** Internal: writes host values (same size) into the tensor, wherever its data lives. */
  _writeHost(values: Float32Array): void {
    const s = this._storage();
    if (values.length !== s.length) throw new RangeError('internal: size mismatch in _writeHost');
    if (isHost(s)) s.set(values);
    else s.upload(values);
  }

  /** Internal: sets every element to `value`. */
  _fill(value: number): void {
    const s = this._storage();
    if (isHost(s)) s.fill(value);
    else if (value === 0) s.zero();
    else s.upload(new Float32Array(s.length).fill(value));
  }

  toString(): string {
    const d = this.disposed ? null : this.#data === null ? this.toFloat32Array() : hostCopy(this.#data);
    const body =
      d === null
        ? 'disposed'
        : Array.from(d.subarray(0, 8))
            .map((v) => +v.toPrecision(6))
            .join(', ') + (d.length > 8 ? ', ...' : '');
    const dt = this.#dtype === 'float32' ? '' : `, dtype=${this.#dtype}`;
    return `Tensor(shape=[${this.#shape.join(', ')}], device=${this.device}${dt}, [${body}])`;
  }
}

/** Short description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (ArrayBuffer.isView(v)) return (v as object).constructor.name;
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return typeof v;
}

/** Checks that `v` is a usable Tensor of one of the `accept`ed dtypes (float32 unless told). */
export function checkTensor(v: unknown, what: string, accept: readonly Dtype[] = FLOAT32_ONLY): Tensor {
  if (!(v instanceof Tensor)) throw new TypeError(`${what} must be a Tensor, got ${describe(v)}`);
  if (v.disposed) throw new SpikelayersError(ErrorCodes.DISPOSED, `${what} was disposed and cannot be used`);
  if (!accept.includes(v.dtype))
    throw new TypeError(
      `${what} must be a ${accept.join(' or ')} tensor, got a ${v.dtype} tensor` +
        (accept.includes('float32') ? " (convert it with .to('float32'))" : ''),
    );
  return v;
}

const FLOAT32_ONLY: readonly Dtype[] = Object.freeze(['float32']);

/** Tensor.from for the dtypes other than float32 (see Tensor.from). */
function fromDtype(data: unknown, shape: number[], n: number, dtype: Dtype, device: string): Tensor {
  cpuOnly(dtype, device, 'Tensor.from');
  // numbers are read as float32 (the checks of a float32 tensor), then rounded to the dtype
  const raw = dtypeData(data, dtype, 'Tensor.from', (len) => Tensor.from(data as ArrayLike<number>, [len])._data());
  if (raw.length !== n)
    throw new RangeError(`Tensor.from: data has ${raw.length} elements but shape [${shape.join(', ')}] needs ${n}`);
  return Tensor._adoptDtype(dtype, raw, shape);
}
