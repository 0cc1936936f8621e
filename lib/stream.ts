/**
 * Node streams over a spiking layer: feed a long sequence chunk by chunk, get the layer's output
 * chunk by chunk, with the state carried from one chunk to the next.
 *
 *   import { pipeline } from 'node:stream/promises';
 *   await pipeline(source, layerStream(lif), sink);   // source yields (B, T, ...neurons) Tensors
 *
 *   for await (const spikes of layerIterate(lif, chunks)) { ... }
 *
 * A layer keeps its state between forward calls (sinabs' rule: same batch size and neuron shape,
 * the previous state is used). Splitting a sequence along time into chunks and running them one
 * after another therefore gives the same output, bit for bit, as one call over the whole sequence.
 * These functions rely on exactly that: they run the layer once per chunk, in order, with
 * `forwardAsync` (the kernels run on the libuv thread pool, so the event loop keeps turning).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { DTYPES } from './dtype.js';
import { Tensor, checkTensor, describe } from './tensor.js';
import { checkOptions, readBool, readCount } from './validate.js';

/**
 * What the stream functions need from a layer: an async forward over `(B, T, ...neurons)` that
 * continues from the layer's state, and an `eval()` that switches off the recording of data for a
 * backward. `LIF` (and every sinabs-style layer of this package) fits.
 */
export interface StreamableLayer {
  /** Runs the layer over one chunk, continuing from its state, and resolves to the output. */
  forwardAsync(input: Tensor): Promise<Tensor>;
  /** Puts the layer in inference mode. */
  eval(): unknown;
}

/** Options of {@link layerStream}. */
export interface LayerStreamOptions {
  /**
   * How many chunks each side of the stream buffers before it pushes back (default 4): `write()`
   * returns false once this many input chunks wait, and the layer stops running ahead once this
   * many outputs wait to be read. A positive integer.
   */
  highWaterMark?: number;
  /**
   * Put the layer in eval mode when the stream is created (default true). In training mode every
   * forward stays pending for a backward and keeps its input and checkpoints, so an endless stream
   * would keep an ever-growing amount of memory. The mode is not restored when the stream ends.
   * With `eval: false` the layer's mode is left as it is.
   */
  eval?: boolean;
}

/** Options of {@link layerIterate}. */
export interface LayerIterateOptions {
  /** Put the layer in eval mode when `layerIterate` is called (default true); see {@link LayerStreamOptions.eval}. */
  eval?: boolean;
}

const DEFAULT_HIGH_WATER_MARK = 4;

/**
 * A Transform stream (object mode) that runs `layer` over each Tensor written to it and emits the
 * outputs, one per input chunk, in order.
 *
 * Chunks are `(B, T, ...neurons)` Tensors on the layer's device. The first chunk fixes the batch
 * size B and the neuron shape; later chunks must have the same (only T may change), because the
 * layer would otherwise start from a fresh or resampled state and the chunks would no longer
 * continue one sequence. A chunk with T = 0 is checked and then dropped (it produces no output).
 * The state continues from whatever the layer held before the stream started; call
 * `layer.resetStates()` first to start from zeros.
 *
 * Errors are stream errors: a chunk that is not a usable Tensor (`TypeError`, or a
 * `SpikelayersError` with code `ERR_TENSOR_DISPOSED`), a chunk of the wrong shape (`RangeError`,
 * naming the chunk's index and both shapes), or a rejection of the layer's `forwardAsync`. With
 * `pipeline()` from `node:stream/promises` they reject the pipeline and destroy the other streams.
 * The stream closes only after a forward in flight has settled, so once `pipeline()` has settled
 * (fulfilled or rejected) the layer is idle and its synchronous methods may be called.
 *
 * The input Tensors are not modified or disposed; each output is a new Tensor owned by the reader.
 *
 * @param layer - The layer to run (a `LIF`, or any object with `forwardAsync` and `eval`).
 * @param options - `highWaterMark` (default 4 chunks) and `eval` (default true).
 * @returns A Transform in object mode: write input chunks, read output chunks.
 * @throws TypeError when `layer` lacks `forwardAsync`/`eval` or an option is unknown or of the wrong type.
 * @throws RangeError when `highWaterMark` is not a positive integer.
 */
export function layerStream(layer: StreamableLayer, options?: LayerStreamOptions): Transform {
  const what = 'layerStream';
  checkLayer(layer, what);
  const opts = readOptions(options, what, true);
  if (opts.eval) layer.eval();
  return new LayerTransform(layer, opts.highWaterMark, new ChunkGuard(what));
}

/**
 * The async-iterator form of {@link layerStream}: runs `layer` over each Tensor of `source`, in
 * order, and yields the outputs. The same chunk rules and errors apply (here they reject the
 * generator's `next()`). Nothing runs ahead: a chunk is taken from `source` and run only when the
 * consumer asks for the next output. Ending the loop early (`break`) closes `source` if it is an
 * iterator with `return()` (a Readable stream is destroyed).
 *
 * @param layer - The layer to run (a `LIF`, or any object with `forwardAsync` and `eval`).
 * @param source - An iterable or async iterable of `(B, T, ...neurons)` Tensors (an array, a
 *   generator, an object-mode Readable, ...).
 * @param options - `eval` (default true): put the layer in eval mode now.
 * @returns An async generator of the output Tensors.
 * @throws TypeError (synchronously) when `layer` or `source` is unusable or an option is invalid.
 */
export function layerIterate(
  layer: StreamableLayer,
  source: AsyncIterable<Tensor> | Iterable<Tensor>,
  options?: LayerIterateOptions,
): AsyncGenerator<Tensor, void, undefined> {
  const what = 'layerIterate';
  checkLayer(layer, what);
  const isIterable =
    source !== null &&
    (typeof source === 'object' || typeof source === 'function') &&
    (typeof (source as AsyncIterable<Tensor>)[Symbol.asyncIterator] === 'function' ||
      typeof (source as Iterable<Tensor>)[Symbol.iterator] === 'function');
  if (!isIterable)
    throw new TypeError(`${what}: source must be an iterable or async iterable of Tensors, got ${describe(source)}`);
  const opts = readOptions(options, what, false);
  if (opts.eval) layer.eval();
  return iterate(layer, source, new ChunkGuard(what));
}

async function* iterate(
  layer: StreamableLayer,
  source: AsyncIterable<Tensor> | Iterable<Tensor>,
  guard: ChunkGuard,
): AsyncGenerator<Tensor, void, undefined> {
  for await (const chunk of source) {
    const x = guard.check(chunk);
    if (x !== null) yield await layer.forwardAsync(x);
  }
}

// ---- internals ---------------------------------------------------------------------------------

class LayerTransform extends Transform {
  readonly #layer: StreamableLayer;
  readonly #guard: ChunkGuard;
  /** The forward in flight, if any (settles, never rejects). */
  #running: Promise<void> | null = null;

  constructor(layer: StreamableLayer, highWaterMark: number, guard: ChunkGuard) {
    super({ objectMode: true, highWaterMark });
    this.#layer = layer;
    this.#guard = guard;
  }

  override _transform(chunk: unknown, _encoding: BufferEncoding, callback: TransformCallback): void {
    let x: Tensor | null;
    let run: Promise<Tensor>;
    try {
      x = this.#guard.check(chunk);
      if (x === null) {
        callback();
        return;
      }
      run = this.#layer.forwardAsync(x);
    } catch (e) {
      callback(e as Error);
      return;
    }
    this.#running = run
      .then(
        (out) => {
          this.#running = null;
          if (this.destroyed)
            out.dispose(); // nobody can read it any more
          else callback(null, out);
        },
        (err: unknown) => {
          this.#running = null;
          if (!this.destroyed) callback(err instanceof Error ? err : new Error(String(err)));
        },
      )
      .catch((err: unknown) => {
        // only if the stream machinery itself threw in the callback above
        this.destroy(err instanceof Error ? err : new Error(String(err)));
      });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Close only once the layer is idle again, so that code after a settled pipeline() may use it.
    const running = this.#running;
    if (running === null) callback(error);
    else void running.then(() => callback(error));
  }
}

/** Checks the chunks of one stream: Tensors of rank >= 2 with a fixed batch size and neuron shape. */
class ChunkGuard {
  readonly #what: string;
  #index = 0;
  /** Batch size and neuron shape, fixed by the first chunk. */
  #batch = -1;
  #neurons: number[] | null = null;

  constructor(what: string) {
    this.#what = what;
  }

  /** The chunk as a Tensor, or null for a chunk without time steps. */
  check(chunk: unknown): Tensor | null {
    const label = `${this.#what}: chunk ${this.#index++}`;
    const x = checkTensor(chunk, label, DTYPES); // the layer checks the dtype
    const shape = x.shape;
    if (shape.length < 2)
      throw new RangeError(`${label} must have rank >= 2, (B, T, ...neurons); got shape [${shape.join(', ')}]`);
    const [B, T, ...neurons] = shape as [number, number, ...number[]];
    if (this.#neurons === null) {
      if (B === 0 || neurons.some((d) => d === 0))
        throw new RangeError(
          `${label} has shape [${shape.join(', ')}]: the batch size and neuron dimensions must be >= 1`,
        );
      this.#batch = B;
      this.#neurons = neurons;
    } else {
      const want = `[${this.#batch}, T${this.#neurons.map((d) => `, ${d}`).join('')}]`;
      if (neurons.length !== this.#neurons.length || neurons.some((d, k) => d !== this.#neurons![k]))
        throw new RangeError(
          `${label} has neuron shape [${neurons.join(', ')}] (shape [${shape.join(', ')}]), but the stream's first chunk ` +
            `had [${this.#neurons.join(', ')}]: every chunk must have shape ${want}, only T may change`,
        );
      if (B !== this.#batch)
        throw new RangeError(
          `${label} has batch size ${B} (shape [${shape.join(', ')}]), but the stream's first chunk had ${this.#batch}: ` +
            `every chunk must have shape ${want}, only T may change`,
        );
    }
    return T === 0 ? null : x;
  }
}

function checkLayer(layer: unknown, what: string): void {
  if (layer === null || typeof layer !== 'object')
    throw new TypeError(`${what}: layer must be a layer such as a LIF, got ${describe(layer)}`);
  const l = layer as Partial<StreamableLayer>;
  if (typeof l.forwardAsync !== 'function' || typeof l.eval !== 'function')
    throw new TypeError(
      `${what}: layer must have forwardAsync() and eval() methods (a layer such as a LIF), got ${describe(layer)}`,
    );
}

function readOptions(
  options: unknown,
  what: string,
  withHighWaterMark: boolean,
): { highWaterMark: number; eval: boolean } {
  const names = withHighWaterMark ? ['highWaterMark', 'eval'] : ['eval'];
  const o = checkOptions<LayerStreamOptions>(options, names, what, true, `{ ${names[0]}: ... }`);
  return {
    highWaterMark: readCount(o.highWaterMark, `${what}: highWaterMark`, DEFAULT_HIGH_WATER_MARK),
    eval: readBool(o.eval, `${what}: eval`, true),
  };
}
