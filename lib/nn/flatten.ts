// Reshaping layers: torch's nn.Flatten and sinabs' FlattenTime / UnflattenTime. They move no
// data: the output shares the input's storage (host array or device buffer), and the backward
// reshapes the gradient back to the shape of the call's input.
import { ErrorCodes, codedError } from '../errors.js';
import { Tensor, checkTensor } from '../tensor.js';
import { checkOptions, readInt } from '../validate.js';
import { Module } from './module.js';
import { fmt } from './shape.js';

/** Options of {@link Flatten} (torch's `start_dim`, `end_dim` in camelCase). */
export interface FlattenOptions {
  /** First dimension to merge (default 1); negative values count from the end. */
  startDim?: number;
  /** Last dimension to merge (default -1, the last); negative values count from the end. */
  endDim?: number;
}

/** Options of {@link UnflattenTime}. */
export interface UnflattenTimeOptions {
  /** The batch size B: the input's first dimension B*T is split into (B, T). Required. */
  batchSize: number;
}

interface PendingShapes {
  input: number[];
  output: number[];
}

function nothingPending(what: string): Error {
  return codedError(
    ErrorCodes.NOTHING_PENDING,
    `${what}: no forward call is pending (run forward in training mode first)`,
  );
}

/**
 * The common part of the reshaping layers: a stateless module whose output is a view of its
 * input with another shape. In training mode every forward pushes the shapes of its call; a
 * backward pops the most recent one (several forwards, then backwards in reverse order).
 */
export abstract class ReshapeModule extends Module {
  #pending: PendingShapes[] = [];

  /** Internal (Sequential): the layer moves no data, so it runs on any device. */
  get _anyDevice(): boolean {
    return true;
  }

  /**
   * The output shape of a forward of an input of shape `inputShape`. Throws the RangeError that
   * `forward` would throw for that shape (and changes nothing).
   */
  abstract outputShape(inputShape: readonly number[]): number[];

  /** Number of forward calls waiting for their backward. */
  get pendingCalls(): number {
    return this.#pending.length;
  }

  /** Reshapes `input` (no copy: the output shares the input's data). */
  forward(input: Tensor): Tensor {
    const x = checkTensor(input, 'forward: input');
    const inShape = x.shape;
    const outShape = this.outputShape(inShape);
    if (this.training) this.#pending.push({ input: inShape, output: outShape });
    return x._view(outShape);
  }

  /** The gradient of the most recent pending forward, reshaped back to that call's input shape (no copy). */
  backward(gradOutput: Tensor): Tensor {
    const g = checkTensor(gradOutput, 'backward: gradOutput');
    const rec = this.#pending[this.#pending.length - 1];
    if (!rec) throw nothingPending('backward');
    const gs = g.shape;
    if (gs.length !== rec.output.length || gs.some((d, k) => d !== rec.output[k]))
      throw new RangeError(
        `backward: gradOutput must have the shape of the pending call's output ${fmt(rec.output)}, got ${fmt(gs)}`,
      );
    this.#pending.pop();
    return g._view(rec.input);
  }

  /** Internal (Sequential): forgets the most recent pending forward (a failed network call). */
  _discardLastForward(): void {
    this.#pending.pop();
  }

  /** Discards pending calls (as the stateful layers do), so that a network stays aligned. */
  override resetStates(): void {
    this.#pending = [];
  }

  /** Discards pending calls (as the stateful layers do). */
  override detachStates(): void {
    this.#pending = [];
  }

  protected override _onZeroGrad(): void {
    this.#pending = [];
  }
}

/** A dimension index `d` of a tensor of rank `rank` (negative from the end), or -1 when out of range. */
function wrapDim(d: number, rank: number): number {
  const r = Math.max(rank, 1); // torch: a 0-d tensor wraps like a 1-d one
  const w = d < 0 ? d + r : d;
  return w >= 0 && w < r ? w : -1;
}

/**
 * torch.nn.Flatten: merges the dimensions `startDim..endDim` (inclusive; negative values count
 * from the end) into one. The default (1, -1) turns (N, C, H, W) into (N, C*H*W). A 0-d input
 * becomes a 1-d tensor of one element, as in torch.
 *
 * On (B, T, ...) input use `{ startDim: 2 }`: the default would merge time into the features.
 */
export class Flatten extends ReshapeModule {
  /** The first merged dimension as given (may be negative). */
  readonly startDim: number;
  /** The last merged dimension as given (may be negative). */
  readonly endDim: number;

  constructor(options?: FlattenOptions) {
    super();
    const o = checkOptions<FlattenOptions>(options, ['startDim', 'endDim'], 'Flatten');
    this.startDim = readInt(o.startDim, 'Flatten: startDim', 1);
    this.endDim = readInt(o.endDim, 'Flatten: endDim', -1);
    if (this.startDim >= 0 === this.endDim >= 0 && this.startDim > this.endDim)
      throw new RangeError(`Flatten: startDim (${this.startDim}) must not come after endDim (${this.endDim})`);
  }

  outputShape(inputShape: readonly number[]): number[] {
    const r = inputShape.length;
    const s = wrapDim(this.startDim, r),
      e = wrapDim(this.endDim, r);
    const range = `expected ${-Math.max(r, 1)}..${Math.max(r, 1) - 1}`;
    if (s < 0)
      throw new RangeError(
        `forward: startDim ${this.startDim} is out of range for an input of rank ${r} (${range}), shape ${fmt(inputShape)}`,
      );
    if (e < 0)
      throw new RangeError(
        `forward: endDim ${this.endDim} is out of range for an input of rank ${r} (${range}), shape ${fmt(inputShape)}`,
      );
    if (s > e)
      throw new RangeError(
        `forward: startDim ${this.startDim} (dimension ${s}) comes after endDim ${this.endDim} (dimension ${e}) for an input of shape ${fmt(inputShape)}`,
      );
    if (r === 0) return [1];
    const merged = inputShape.slice(s, e + 1).reduce((a, b) => a * b, 1);
    return [...inputShape.slice(0, s), merged, ...inputShape.slice(e + 1)];
  }

  protected override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`;
  }
}

/** sinabs.layers.FlattenTime: (B, T, ...) -> (B*T, ...), i.e. Flatten({ startDim: 0, endDim: 1 }). */
export class FlattenTime extends Flatten {
  constructor(options?: Record<string, never>) {
    checkOptions(options, [], 'FlattenTime');
    super({ startDim: 0, endDim: 1 });
  }

  override outputShape(inputShape: readonly number[]): number[] {
    if (inputShape.length < 2)
      throw new RangeError(`forward: input must have rank >= 2, (B, T, ...); got shape ${fmt(inputShape)}`);
    return super.outputShape(inputShape);
  }
}

/**
 * sinabs.layers.UnflattenTime: (B*T, ...) -> (B, T, ...), sample-major (row b*T + t is sample
 * b at step t); T is inferred per call from the input's first dimension.
 */
export class UnflattenTime extends ReshapeModule {
  /** The batch size B. */
  readonly batchSize: number;

  constructor(options: UnflattenTimeOptions) {
    super();
    const o = checkOptions<UnflattenTimeOptions>(options, ['batchSize'], 'UnflattenTime', false);
    this.batchSize = readInt(o.batchSize, 'UnflattenTime: batchSize', undefined, 1);
  }

  outputShape(inputShape: readonly number[]): number[] {
    if (inputShape.length < 1) throw new RangeError('forward: input must have rank >= 1, (B*T, ...); got a 0-d tensor');
    const M = inputShape[0]!;
    if (M % this.batchSize !== 0)
      throw new RangeError(
        `forward: input first dimension ${M} (shape ${fmt(inputShape)}) is not a multiple of batchSize ${this.batchSize}`,
      );
    return [this.batchSize, M / this.batchSize, ...inputShape.slice(1)];
  }

  protected override extraRepr(): string {
    return `batch_size=${this.batchSize}`;
  }
}
