import { resolveDevice } from './backend.js';
import { ErrorCodes, SpikelayersError } from './errors.js';

/** Largest element count a Tensor may hold (a Float32Array's limit in V8). */
export const MAX_ELEMENTS = 2 ** 32 - 1;

/** Options of Tensor.from / Tensor.zeros. */
export interface TensorOptions {
  /** 'cpu' (default). 'cuda' / 'cuda:N' throw an Error saying why CUDA cannot be used. */
  device?: string;
}

/** Checks a shape and returns its element count. */
export function checkShape(shape: unknown, what: string): number {
  if (!Array.isArray(shape)) throw new TypeError(`${what} must be an array of non-negative integers`);
  let n = 1;
  for (let k = 0; k < shape.length; ++k) {
    const d = shape[k];
    if (typeof d !== 'number') throw new TypeError(`${what}[${k}] must be a number, got ${typeof d}`);
    if (!Number.isInteger(d) || d < 0)
      throw new RangeError(`${what}[${k}] must be a non-negative integer, got ${d}`);
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
  #data: Float32Array | null;
  readonly #shape: readonly number[];
  readonly device: string = 'cpu';
  /** Accumulated gradient (parameters only), or null. */
  grad: Tensor | null = null;
  /** Whether a layer accumulates a gradient into `grad`. */
  requiresGrad = false;

  private constructor(data: Float32Array, shape: readonly number[]) {
    this.#data = data;
    this.#shape = Object.freeze(shape.slice());
  }

  /** Wraps an array without copying (internal: the caller gives up the array). */
  static _adopt(data: Float32Array, shape: readonly number[]): Tensor {
    return new Tensor(data, shape);
  }

  /** A tensor holding a copy of `data` with the given shape. */
  static from(data: Float32Array | ArrayLike<number>, shape: number[], opts?: TensorOptions): Tensor {
    const n = checkShape(shape, 'Tensor.from: shape');
    if (opts !== undefined && (opts === null || typeof opts !== 'object'))
      throw new TypeError('Tensor.from: opts must be an object such as { device: "cpu" }');
    if (opts) {
      for (const k of Object.keys(opts))
        if (k !== 'device') throw new TypeError(`Tensor.from: unknown option '${k}' (expected 'device')`);
      resolveDevice(opts.device, 'Tensor.from: opts.device');
    }
    let copy: Float32Array;
    if (data instanceof Float32Array) {
      copy = data.slice();
    } else if (Array.isArray(data) || ArrayBuffer.isView(data)) {
      if (ArrayBuffer.isView(data) && !(data as unknown as { length?: number }).length && (data as ArrayBufferView).byteLength)
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
      throw new RangeError(
        `Tensor.from: data has ${copy.length} elements but shape [${shape.join(', ')}] needs ${n}`,
      );
    return new Tensor(copy, shape);
  }

  /** A scalar (0-d) tensor. */
  static scalar(value: number): Tensor {
    if (typeof value !== 'number') throw new TypeError(`Tensor.scalar: value must be a number, got ${typeof value}`);
    return new Tensor(Float32Array.of(value), []);
  }

  /** A tensor of zeros. */
  static zeros(shape: number[], opts?: TensorOptions): Tensor {
    const n = checkShape(shape, 'Tensor.zeros: shape');
    if (opts?.device !== undefined) resolveDevice(opts.device, 'Tensor.zeros: opts.device');
    return new Tensor(new Float32Array(n), shape);
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

  /** A copy of the data. */
  toFloat32Array(): Float32Array {
    return this._data().slice();
  }

  /** The data as a plain array (a copy). */
  toArray(): number[] {
    return Array.from(this._data());
  }

  /** The value of a single-element tensor. */
  item(): number {
    const d = this._data();
    if (d.length !== 1) throw new RangeError(`item(): the tensor has ${d.length} elements, not 1`);
    return d[0]!;
  }

  /** A copy on `device` ('cpu' only in this build). */
  to(device: string): Tensor {
    resolveDevice(device, 'Tensor.to: device');
    return new Tensor(this._data().slice(), this.#shape);
  }

  /** A deep copy. */
  clone(): Tensor {
    const t = new Tensor(this._data().slice(), this.#shape);
    t.requiresGrad = this.requiresGrad;
    return t;
  }

  /** A tensor with the same data and another shape of the same size. */
  reshape(shape: number[]): Tensor {
    const n = checkShape(shape, 'reshape: shape');
    const d = this._data();
    if (n !== d.length) throw new RangeError(`reshape: cannot view ${d.length} elements as [${shape.join(', ')}]`);
    return new Tensor(d.slice(), shape);
  }

  /** Frees the data now. Using the tensor afterwards is an Error with code ERR_TENSOR_DISPOSED. */
  dispose(): void {
    this.#data = null;
  }

  /** Internal: the live data (no copy). */
  _data(): Float32Array {
    if (this.#data === null)
      throw new SpikelayersError(ErrorCodes.DISPOSED, 'the tensor was disposed and cannot be used');
    return this.#data;
  }

  /** Internal: replace the data in place (same size), used by optimizers and loadStateDict. */
  _assign(values: Float32Array): void {
    const d = this._data();
    if (values.length !== d.length) throw new RangeError('internal: size mismatch in _assign');
    d.set(values);
  }

  toString(): string {
    const d = this.#data;
    const body = d === null ? 'disposed' : Array.from(d.subarray(0, 8)).map((v) => +v.toPrecision(6)).join(', ') + (d.length > 8 ? ', ...' : '');
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
