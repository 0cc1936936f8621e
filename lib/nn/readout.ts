// Readouts over time: turn a network's (B, T, ...F) output (or the squeezed (B*T, ...F) output of
// the *Squeeze layers, rows sample-major: row b*T + t is sample b at step t) into one (B, ...F)
// value per sample, e.g. the logits of a cross-entropy loss. Each is a Module with forward and
// backward (a stack of pending calls, as every layer). Kernels: native/core/ops_thread.h.
import { resolveDevice } from '../backend.js';
import { Tensor, checkTensor } from '../tensor.js';
import { alloc, type Storage } from '../storage.js';
import { checkOptions, readInt } from '../validate.js';
import { PendingStack } from './pending.js';
import { Module } from './module.js';
import { checkDevice, fmt, ops } from './tensor-ops.js';

/** Options of the readouts. */
export interface ReadoutOptions {
  /**
   * Batch size B of a squeezed (B*T, ...F) input (T is inferred per call as rows / B). Absent:
   * the input is (B, T, ...F).
   */
  batchSize?: number;
  /** Where the layer computes: 'cpu' (default), 'cuda', 'cuda:N' or 'auto'. */
  device?: string;
}

interface PendingReadout {
  inputShape: number[];
  outputShape: number[];
  B: number;
  T: number;
  F: number;
  arg: Storage | null;
}

const MODES = { sum: 0, max: 1, last: 2 } as const;

abstract class TimeReadout extends Module {
  /** B of a squeezed input, or null for (B, T, ...F) inputs. */
  readonly batchSize: number | null;
  readonly #mode: number;
  readonly #pending = new PendingStack<PendingReadout>();

  protected constructor(opts: ReadoutOptions | undefined, name: string, mode: keyof typeof MODES) {
    super();
    const o = checkOptions<ReadoutOptions>(opts, ['batchSize', 'device'], name);
    this.batchSize = o.batchSize === undefined ? null : readInt(o.batchSize, `${name}: batchSize`, undefined, 1);
    this.#mode = MODES[mode];
    this._setDevice(resolveDevice(o.device, `${name}: device`));
  }

  /** Number of forward calls waiting for their backward. */
  get pendingCalls(): number {
    return this.#pending.length;
  }

  #geometry(shape: number[], what: string): Omit<PendingReadout, 'arg'> {
    if (this.batchSize === null) {
      if (shape.length < 2)
        throw new RangeError(`${what}: input must have shape (B, T, ...features), got ${fmt(shape)}`);
      const [B, T] = shape as [number, number];
      const feat = shape.slice(2);
      const F = feat.reduce((a, b) => a * b, 1);
      if (B < 1 || T < 1 || F < 1)
        throw new RangeError(`${what}: input ${fmt(shape)} must have B, T and features >= 1`);
      return { inputShape: shape, outputShape: [B, ...feat], B, T, F };
    }
    const B = this.batchSize;
    if (shape.length < 1) throw new RangeError(`${what}: input must have shape (B*T, ...features), got ${fmt(shape)}`);
    const rows = shape[0]!;
    if (rows < 1 || rows % B !== 0)
      throw new RangeError(
        `${what}: the first dimension ${rows} of input ${fmt(shape)} must be a positive multiple of batchSize ${B}`,
      );
    const feat = shape.slice(1);
    const F = feat.reduce((a, b) => a * b, 1);
    if (F < 1) throw new RangeError(`${what}: input ${fmt(shape)} has no features`);
    return { inputShape: shape, outputShape: [B, ...feat], B, T: rows / B, F };
  }

  /** The output shape for an input shape (throws the RangeError `forward` would throw). */
  outputShape(inputShape: readonly number[]): number[] {
    return this.#geometry(inputShape.slice(), `${this.typeName}.forward`).outputShape;
  }

  /** Reduces over time: (B, T, ...F) or (B*T, ...F) -> (B, ...F). */
  forward(input: Tensor): Tensor {
    const what = `${this.typeName}.forward`;
    const x = checkTensor(input, `${what}: input`);
    checkDevice(x, this.device, `${what}: input`);
    const geo = this.#geometry(x.shape, what);
    const y = alloc(this.device, geo.B * geo.F);
    const arg = this.#mode === 1 ? alloc(this.device, geo.B * geo.F) : null;
    const { n, emulate } = ops();
    n.timeForward({
      B: geo.B,
      T: geo.T,
      F: geo.F,
      mode: this.#mode,
      x: x._storage(),
      y,
      arg: arg ?? undefined,
      emulate,
    });
    if (this.training) this.#pending.push({ ...geo, arg });
    return Tensor._adopt(y, geo.outputShape, this.device);
  }

  /** dL/d(input) of the most recent pending forward, from dL/d(output) (B, ...F). */
  backward(gradOutput: Tensor): Tensor {
    const what = `${this.typeName}.backward`;
    const { rec, grad: g } = this.#pending.top(gradOutput, this.device, what);
    const gradIn = alloc(this.device, rec.B * rec.T * rec.F);
    const { n, emulate } = ops();
    n.timeBackward({
      B: rec.B,
      T: rec.T,
      F: rec.F,
      mode: this.#mode,
      gradOut: g._storage(),
      arg: rec.arg ?? undefined,
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

  override resetStates(): void {
    this.#pending.clear();
  }
  override detachStates(): void {
    this.#pending.clear();
  }
  protected override _onZeroGrad(): void {
    this.#pending.clear();
  }
  protected override _onTrainingChange(mode: boolean): void {
    if (!mode) this.#pending.clear();
  }
  protected override _moveExtra(device: string): void {
    this.#pending.moveTo(device);
  }
  protected override extraRepr(): string {
    return this.batchSize === null ? '' : `batch_size=${this.batchSize}`;
  }
}

/**
 * Sum over time, e.g. spike counts per class: `z[b, f] = Σ_t x[b, t, f]` (summed in double).
 * Backward broadcasts: `dx[b, t, f] = dz[b, f]` for every t. With `batchSize` the input is the
 * squeezed (B*T, ...F) output of a *Squeeze layer — the readout of sinabs' cross-entropy examples,
 * `output.reshape(B, T, C).sum(1)`.
 */
export class SumOverTime extends TimeReadout {
  constructor(opts?: ReadoutOptions) {
    super(opts, 'SumOverTime', 'sum');
  }
}

/**
 * Maximum over time of a membrane readout (e.g. a non-spiking ExpLeak layer):
 * `z[b, f] = max_t x[b, t, f]`. Backward passes `dz` to the first step that attains the maximum
 * (torch.max over a dimension) and zero to the other steps. NaN propagates.
 */
export class MaxOverTime extends TimeReadout {
  constructor(opts?: ReadoutOptions) {
    super(opts, 'MaxOverTime', 'max');
  }
}

/**
 * The last time step of a membrane readout: `z[b, f] = x[b, T-1, f]`; backward passes `dz` to the
 * last step and zero to the others.
 */
export class LastStep extends TimeReadout {
  constructor(opts?: ReadoutOptions) {
    super(opts, 'LastStep', 'last');
  }
}
