// 2-D pooling layers: torch's nn.AvgPool2d and sinabs' SumPool2d, on (N, C, H, W) inputs, with no
// padding and floor mode. Kernels: native/core/ops_thread.h (window sums in double).
import { resolveDevice } from '../backend.js';
import { Tensor, checkTensor } from '../tensor.js';
import { alloc, copyTo, type Storage } from '../storage.js';
import { checkOptions, readPair } from '../validate.js';
import { PendingStack } from './pending.js';
import { Module } from './module.js';
import { checkDevice, fmt, ops } from './tensor-ops.js';

/** Options of {@link AvgPool2d} and {@link SumPool2d}. */
export interface Pool2dOptions {
  /** Window size: an integer or [kH, kW]. Required. */
  kernelSize: number | [number, number];
  /** Step between windows: an integer or [sH, sW] (default: kernelSize). */
  stride?: number | [number, number] | null;
  /** Where the layer computes: 'cpu' (default), 'cuda', 'cuda:N' or 'auto'. */
  device?: string;
}

interface PendingPool {
  inputShape: number[];
  outputShape: number[];
  /** SumPool2d: a copy of the output (its zero windows block the gradient). */
  out: Storage | null;
}

const KEYS = ['kernelSize', 'stride', 'device'] as const;

/** The common part of the pooling layers; `sum` selects window sums instead of means. */
abstract class Pool2d extends Module {
  /** [kH, kW]. */
  readonly kernelSize: [number, number];
  /** [sH, sW]. */
  readonly stride: [number, number];
  readonly #sum: boolean;
  readonly #pending = new PendingStack<PendingPool>();

  protected constructor(opts: Pool2dOptions, name: string, sum: boolean) {
    super();
    const o = checkOptions<Pool2dOptions>(opts, KEYS, name, false);
    if (o.kernelSize === undefined) throw new TypeError(`${name}: kernelSize is required (an integer or [kH, kW])`);
    this.kernelSize = readPair(o.kernelSize, `${name}: kernelSize`, undefined, 1);
    this.stride =
      o.stride === undefined || o.stride === null
        ? [...this.kernelSize]
        : readPair(o.stride, `${name}: stride`, undefined, 1);
    this.#sum = sum;
    this._setDevice(resolveDevice(o.device, `${name}: device`));
  }

  /** Number of forward calls waiting for their backward. */
  get pendingCalls(): number {
    return this.#pending.length;
  }

  /** The output shape for an input of shape `shape` (throws the RangeError forward would throw). */
  outputShape(shape: readonly number[], what = `${this.typeName}.forward`): number[] {
    if (shape.length !== 4) throw new RangeError(`${what}: input must have shape (N, C, H, W), got ${fmt(shape)}`);
    const [N, C, H, W] = shape as [number, number, number, number];
    const [kH, kW] = this.kernelSize,
      [sH, sW] = this.stride;
    if (N < 1 || C < 1) throw new RangeError(`${what}: input ${fmt(shape)} must have N >= 1 and C >= 1`);
    if (H < kH || W < kW)
      throw new RangeError(`${what}: input ${fmt(shape)} is smaller than the kernel [${kH}, ${kW}]`);
    return [N, C, Math.floor((H - kH) / sH) + 1, Math.floor((W - kW) / sW) + 1];
  }

  #args(shape: readonly number[]) {
    const [N, C, H, W] = shape as [number, number, number, number];
    return {
      N,
      C,
      H,
      W,
      kH: this.kernelSize[0],
      kW: this.kernelSize[1],
      sH: this.stride[0],
      sW: this.stride[1],
      sum: this.#sum,
    };
  }

  /** Pools `input` (N, C, H, W) to (N, C, Ho, Wo); in training mode the call stays pending for `backward`. */
  forward(input: Tensor): Tensor {
    const what = `${this.typeName}.forward`;
    const x = checkTensor(input, `${what}: input`);
    checkDevice(x, this.device, `${what}: input`);
    const outShape = this.outputShape(x.shape, what);
    const y = alloc(
      this.device,
      outShape.reduce((a, b) => a * b, 1),
    );
    const { n, emulate } = ops();
    n.poolForward({ ...this.#args(x.shape), x: x._storage(), y, emulate });
    if (this.training)
      this.#pending.push({
        inputShape: x.shape,
        outputShape: outShape,
        out: this.#sum ? copyTo(this.device, y) : null,
      });
    return Tensor._adopt(y, outShape, this.device);
  }

  /** dL/d(input) of the most recent pending forward, from dL/d(output). */
  backward(gradOutput: Tensor): Tensor {
    const what = `${this.typeName}.backward`;
    const { rec, grad: g } = this.#pending.top(gradOutput, this.device, what);
    const gradIn = alloc(
      this.device,
      rec.inputShape.reduce((a, b) => a * b, 1),
    );
    const { n, emulate } = ops();
    n.poolBackward({
      ...this.#args(rec.inputShape),
      gradOut: g._storage(),
      out: rec.out ?? undefined,
      gradIn,
      emulate,
    });
    this.#pending.pop();
    return Tensor._adopt(gradIn, rec.inputShape, this.device);
  }

  /** Internal (Sequential): forgets the most recent pending forward (a failed network call). */
  _discardLastForward(): void {
    this.#pending.pop();
  }

  /** Discards the pending calls (the layer has no state), as the stateful layers do. */
  override resetStates(): void {
    this.#pending.clear();
  }
  override detachStates(): void {
    this.#pending.clear();
  }
  protected override _onZeroGrad(): void {
    this.#pending.clear();
  }
  protected override _moveExtra(device: string): void {
    this.#pending.moveTo(device);
  }

  protected override extraRepr(): string {
    const k = this.kernelSize,
      s = this.stride;
    const pair = (p: [number, number]) => (p[0] === p[1] ? `${p[0]}` : `(${p[0]}, ${p[1]})`);
    return `kernel_size=${pair(k)}, stride=${pair(s)}, padding=0`;
  }
}

/**
 * torch.nn.AvgPool2d with padding 0, floor mode and count_include_pad: the mean of each window.
 * Rows and columns that no window covers are dropped and get zero gradient. Window sums are
 * taken in double, in a fixed order.
 *
 *   const pool = new AvgPool2d({ kernelSize: 2 });     // stride 2
 *   const y = pool.forward(x);                         // (N, C, H, W) -> (N, C, H/2, W/2)
 */
export class AvgPool2d extends Pool2d {
  constructor(opts: Pool2dOptions) {
    super(opts, 'AvgPool2d', false);
  }
}

/**
 * sinabs.layers.SumPool2d: the sum of each window (no padding, floor mode). As in sinabs (torch's
 * LPPool2d with p = 1) the gradient is **zero for every element of a window whose output is
 * exactly 0**, and passes unchanged elsewhere; after a spiking layer most windows hold no spike,
 * so most of the gradient is blocked.
 */
export class SumPool2d extends Pool2d {
  constructor(opts: Pool2dOptions) {
    super(opts, 'SumPool2d', true);
  }
}
