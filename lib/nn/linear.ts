// torch.nn.Linear: y = x . W^T + b over the last dimension, with its backward. Dense inputs run
// one GEMM; spike inputs that are mostly zero run the event-driven path (CPU).
import { alloc, copyTo, type Storage } from '../storage.js';
import { Tensor, checkTensor } from '../tensor.js';
import { checkOptions, readBool, readInt } from '../validate.js';
import { resolveDevice } from '../backend.js';
import { defaultBound, initGenerator, uniformFill } from './init.js';
import { Module } from './module.js';
import { PendingStack, ensureGrad, wantsGrad } from './pending.js';
import * as ops from './synapse-ops.js';
import { sparseNonzeros } from './sparse.js';

/** Options of {@link Linear}. */
export interface LinearOptions {
  /** Size of the last input dimension. */
  inFeatures: number;
  /** Size of the last output dimension. */
  outFeatures: number;
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /** 'cpu' (default), 'cuda', 'cuda:N' or 'auto'. */
  device?: string;
  /**
   * Seed of the initial weights (an integer in [0, 2^32)). Without it the layer draws from the
   * shared generator (see `manualSeed`).
   */
  seed?: number;
}

const KEYS = ['inFeatures', 'outFeatures', 'bias', 'device', 'seed'] as const;

interface LinearPending {
  outputShape: number[];
  inputShape: number[];
  /** A copy of the input (M x inFeatures), kept for the weight gradient. */
  input: Storage;
  /** Nonzero count of the input when it took the event-driven path, else -1. */
  nnz: number;
}

/**
 * A fully connected layer, as `torch.nn.Linear`: `y = x · Wᵀ + b` on an input `(..., inFeatures)`,
 * giving `(..., outFeatures)`. Parameters `weight` `(outFeatures, inFeatures)` and `bias`
 * `(outFeatures)`, initialised as PyTorch does: uniform in ±1/sqrt(inFeatures).
 *
 * On the CPU, an input with at most a fraction {@link SPARSE_DENSITY_THRESHOLD} of nonzero elements (spikes) runs
 * the event-driven path: each nonzero input adds its weighted column. Both paths give the same
 * result up to float32 rounding, and neither depends on the thread count.
 *
 * In training mode each forward keeps its input until its `backward` (the newest first).
 * `backward` uses the parameters' values at the time of the backward call.
 */
export class Linear extends Module {
  /** Size of the last input dimension. */
  readonly inFeatures: number;
  /** Size of the last output dimension. */
  readonly outFeatures: number;
  readonly #pending = new PendingStack<LinearPending>();
  #lastPath: 'dense' | 'sparse' | null = null;

  constructor(opts: LinearOptions) {
    super();
    const o = checkOptions<LinearOptions>(opts, KEYS, 'Linear', false);
    const inF = readInt(o.inFeatures, 'Linear: inFeatures', undefined, 1, 2 ** 31 - 1);
    const outF = readInt(o.outFeatures, 'Linear: outFeatures', undefined, 1, 2 ** 31 - 1);
    const hasBias = readBool(o.bias, 'Linear: bias', true);
    const seed = o.seed === undefined ? undefined : readInt(o.seed, 'Linear: seed', undefined, 0, 2 ** 32 - 1);
    const device = resolveDevice(o.device, 'Linear: device');
    if (inF * outF > 2 ** 32 - 1)
      throw new RangeError(`Linear: inFeatures * outFeatures must be < 2^32, got ${inF * outF}`);
    this.inFeatures = inF;
    this.outFeatures = outF;
    const rng = initGenerator(seed);
    const bound = defaultBound(inF);
    const w = Tensor.from(uniformFill(outF * inF, bound, rng), [outF, inF], { device });
    w.requiresGrad = true;
    this.registerParameter('weight', w);
    let b: Tensor | null = null;
    if (hasBias) {
      b = Tensor.from(uniformFill(outF, bound, rng), [outF], { device });
      b.requiresGrad = true;
    }
    this.registerParameter('bias', b);
    this._setDevice(device);
  }

  /** The weight `(outFeatures, inFeatures)`. */
  get weight(): Tensor {
    return this.getParameter('weight')!;
  }

  /** The bias `(outFeatures)`, or null. */
  get bias(): Tensor | null {
    return this.getParameter('bias');
  }

  /** Number of forward calls waiting for their backward. */
  get pendingCalls(): number {
    return this.#pending.length;
  }

  /** Discards every pending call (their backward can no longer run). */
  clearPending(): void {
    this.#pending.clear();
  }

  /** Internal (Sequential): forgets the newest pending call (a network call that failed later on). */
  _discardLastForward(): void {
    this.#pending.pop();
  }

  /** The output shape for an input shape (throws the RangeError `forward` would throw). */
  outputShape(inputShape: readonly number[]): number[] {
    const shape = inputShape;
    if (shape.length < 1 || shape[shape.length - 1] !== this.inFeatures)
      throw new RangeError(
        `Linear.forward: input must have shape (..., ${this.inFeatures}), got [${shape.join(', ')}]`,
      );
    return [...shape.slice(0, -1), this.outFeatures];
  }

  /** Internal (tests): the path of the last forward, 'dense' or 'sparse'. */
  get _lastPath(): 'dense' | 'sparse' | null {
    return this.#lastPath;
  }

  /** y = x · Wᵀ + b for `input` `(..., inFeatures)`; returns `(..., outFeatures)`. */
  forward(input: Tensor): Tensor {
    const what = 'Linear.forward';
    const x = checkTensor(input, `${what}: input`);
    const shape = x.shape;
    if (shape.length < 1 || shape[shape.length - 1] !== this.inFeatures)
      throw new RangeError(`${what}: input must have shape (..., ${this.inFeatures}), got [${shape.join(', ')}]`);
    if (x.device !== this.device)
      throw new TypeError(`${what}: input is on ${x.device} but the layer is on ${this.device}; move one with .to()`);
    const K = this.inFeatures,
      N = this.outFeatures,
      M = x.size / K;
    const outShape = [...shape.slice(0, -1), N];
    if (M * N > 2 ** 32 - 1)
      throw new RangeError(`${what}: the output [${outShape.join(', ')}] would have more than 2^32 - 1 elements`);
    const xs = x._storage();
    const W = this.weight._storage();
    const b = this.bias?._storage();
    const y = alloc(this.device, M * N);
    const nnz = sparseNonzeros(xs);
    const sparse = nnz >= 0;
    if (sparse) {
      const wT = new Float32Array(K * N);
      ops.transpose({ batch: 1, rows: N, cols: K, src: W, dst: wT });
      ops.linearSparseForward({
        M,
        N,
        K,
        x: xs as Float32Array,
        wT,
        bias: b as Float32Array | undefined,
        y: y as Float32Array,
      });
    } else {
      ops.gemm({ M, N, K, transB: true, A: xs, B: W, C: y, bias: b });
    }
    this.#lastPath = sparse ? 'sparse' : 'dense';
    // a snapshot: the caller's tensor may be written in place later (e.g. a layer's `out` option)
    if (this.training)
      this.#pending.push({
        outputShape: outShape,
        inputShape: shape,
        input: copyTo(this.device, xs),
        nnz: sparse ? nnz : -1,
      });
    return Tensor._adopt(y, outShape, this.device);
  }

  /**
   * Backward of the newest pending forward: returns dL/dinput (the input's shape) and adds
   * dL/dweight and dL/dbias into `weight.grad` and `bias.grad` (created on first use; parameters
   * with `requiresGrad` false are skipped).
   */
  backward(gradOutput: Tensor): Tensor {
    const what = 'Linear.backward';
    const dev = this.device;
    const { rec, grad } = this.#pending.top(gradOutput, dev, what);
    const w = this.weight,
      b = this.bias;
    const gw = wantsGrad(w, dev, `${what}: weight`);
    const gb = wantsGrad(b, dev, `${what}: bias`);
    const K = this.inFeatures,
      N = this.outFeatures,
      M = grad.size / N;
    const g = grad._storage();
    const dx = alloc(dev, M * K);
    ops.gemm({ M, N: K, K: N, A: g, B: w._storage(), C: dx });
    if (gw) {
      const dW = ensureGrad(w, dev)._storage();
      if (rec.nnz >= 0 && rec.input instanceof Float32Array && ops.sparseAllowed(rec.input))
        ops.linearSparseWeightGrad({
          M,
          N,
          K,
          accumulate: true,
          x: rec.input,
          gradOut: g as Float32Array,
          gradWeight: dW as Float32Array,
        });
      else ops.gemm({ M: N, N: K, K: M, transA: true, accumulate: true, A: g, B: rec.input, C: dW });
    }
    if (gb) ops.sumRows({ M, N, accumulate: true, src: g, dst: ensureGrad(b!, dev)._storage() });
    this.#pending.pop();
    return Tensor._adopt(dx, rec.inputShape, dev);
  }

  protected override _moveExtra(device: string): void {
    this.#pending.moveTo(device);
  }

  protected override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? 'True' : 'False'}`;
  }
}
