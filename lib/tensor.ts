import { resolveDevice } from './backend.js';
import { ErrorCodes, SpikelayersError } from './errors.js';
import { copyTo, hostCopy, isHost, place, release, share, type Storage } from './storage.js';

/** Largest element count a Tensor may hold (a Float32Array's limit in V8). */
export const MAX_ELEMENTS = 2 ** 32 - 1;

/** Options of Tensor.from / Tensor.zeros. */
export interface TensorOptions {
  /** 'cpu' (default), 'cuda' (= 'cuda:0'), 'cuda:N', or 'auto' (CUDA when usable, else CPU).
   * Where CUDA is unusable, 'cuda' throws an Error whose `code` and message say why. */
  device?: string;
}

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
  /** Accumulated gradient (parameters only), or null. */
  grad: Tensor | null = null;
  /** Whether a layer accumulates a gradient into `grad`. */
  requiresGrad = false;

  private constructor(data: Storage, shape: readonly number[], device = 'cpu') {
    this.#data = data;
    this.#shape = Object.freeze(shape.slice());
    this.#device = device;
  }

  /** 'cpu' or 'cuda:N'. */
  get device(): string {
    return this.#device;
  }

  /** Wraps storage without copying (internal: the caller gives up the storage). */
  static _adopt(data: Storage, shape: readonly number[], device = 'cpu'): Tensor {
    return new Tensor(data, shape, device);
  }

  /** A tensor holding a copy of `data` with the given shape. */
  static from(data: Float32Array | ArrayLike<number>, shape: number[], opts?: TensorOptions): Tensor {
    const n = checkShape(shape, 'Tensor.from: shape');
    if (opts !== undefined && (opts === null || typeof opts !== 'object'))
      throw new TypeError('Tensor.from: opts must be an object such as { device: "cpu" }');
    let device = 'cpu';
    if (opts) {
      for (const k of Object.keys(opts))
        if (k !== 'device') throw new TypeError(`Tensor.from: unknown option '${k}' (expected 'device')`);
      device = resolveDevice(opts.device, 'Tensor.from: opts.device');
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
    return this.#data === null;
  }

  /** A copy of the data on the host (downloaded from the GPU for a CUDA tensor). */
  toFloat32Array(): Float32Array {
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

  /** A copy on `device` ('cpu', 'cuda', 'cuda:N', 'auto'). */
  to(device: string): Tensor {
    const d = resolveDevice(device, 'Tensor.to: device');
    return new Tensor(copyTo(d, this._storage()), this.#shape, d);
  }

  /** A deep copy on the same device. */
  clone(): Tensor {
    const t = new Tensor(copyTo(this.device, this._storage()), this.#shape, this.device);
    t.requiresGrad = this.requiresGrad;
    return t;
  }

  /** A copy with another shape of the same size. */
  reshape(shape: number[]): Tensor {
    const n = checkShape(shape, 'reshape: shape');
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
  }

  /**
   * Internal (Module.to): moves this tensor's data, and its gradient's, to `device` in place, so
   * that every holder of the tensor (an optimizer, a container) sees it on the new device.
   * `device` must already be resolved ('cpu' or 'cuda:N').
   */
  _relocate(device: string): void {
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
    if (this.#data === null)
      throw new SpikelayersError(ErrorCodes.DISPOSED, 'the tensor was disposed and cannot be used');
    return this.#data;
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
    const d = this.#data === null ? null : hostCopy(this.#data);
    const body =
      d === null
        ? 'disposed'
        : Array.from(d.subarray(0, 8))
            .map((v) => +v.toPrecision(6))
            .join(', ') + (d.length > 8 ? ', ...' : '');
    return `Tensor(shape=[${this.#shape.join(', ')}], device=${this.device}, [${body}])`;
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

/** Checks that `v` is a usable Tensor. */
export function checkTensor(v: unknown, what: string): Tensor {
  if (!(v instanceof Tensor)) throw new TypeError(`${what} must be a Tensor, got ${describe(v)}`);
  if (v.disposed) throw new SpikelayersError(ErrorCodes.DISPOSED, `${what} was disposed and cannot be used`);
  return v;
}
