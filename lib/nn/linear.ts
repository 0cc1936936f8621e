// torch.nn.Linear: y = x . W^T + b over the last dimension, with its backward. Dense inputs run
// one GEMM; spike inputs that are mostly zero run the event-driven path (CPU).
import { alloc, copyTo, release, type Storage } from '../storage.js';
import { Tensor, checkTensor } from '../tensor.js';
import { checkOptions, readBool, readInt } from '../validate.js';
import type { NativeCsr } from '#binding';
import { resolveDevice } from '../backend.js';
import { initWeightAndBias } from './init.js';
import { Module } from './module.js';
import { PendingStack, ensureGrad, wantsGrad } from './pending.js';
import * as ops from './synapse-ops.js';
import { readInputGrad, type InputGradOptions } from './backward-options.js';
import { LINEAR_SPARSE_FORWARD_THRESHOLD, LINEAR_SPARSE_WEIGHT_GRAD_THRESHOLD, SPARSE_MIN_ELEMENTS } from './sparse.js';

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
  /**
   * What the weight gradient needs of the input (M x inFeatures), a snapshot taken by the forward
   * (the caller's tensor may be written in place later, e.g. by a layer's `out` option): the CSR
   * index of its nonzeros when it was built, else a copy of the input.
   */
  input: Storage | null;
  csr: NativeCsr | null;
}

/**
 * A fully connected layer, as `torch.nn.Linear`: `y = x · Wᵀ + b` on an input `(..., inFeatures)`,
 * giving `(..., outFeatures)`. Parameters `weight` `(outFeatures, inFeatures)` and `bias`
 * `(outFeatures)`, initialised as PyTorch does: uniform in ±1/sqrt(inFeatures).
 *
 * On the CPU, the forward builds a CSR index of the input's nonzero elements (spikes) once; with
 * at most a fraction {@link LINEAR_SPARSE_FORWARD_THRESHOLD} of nonzeros the forward runs the
 * event-driven path (each nonzero input adds its weighted row of Wᵀ), and with at most
 * {@link LINEAR_SPARSE_WEIGHT_GRAD_THRESHOLD} the weight gradient does (each nonzero input adds
 * its weighted row of dY), reusing the index the forward kept. Both paths give the same result up
 * to float32 rounding, and neither depends on the thread count.
 *
 * In training mode each forward keeps a snapshot of its input (the CSR index, or a copy when the
 * input is dense) until its `backward` (the newest first); `backward(g, { inputGrad: false })`
 * skips dL/dinput (a network's first layer).
 * `backward` uses the parameters' values at the time of the backward call.
 */
export class Linear extends Module {
  /** Size of the last input dimension. */
  readonly inFeatures: number;
  /** Size of the last output dimension. */
  readonly outFeatures: number;
  readonly #pending = new PendingStack<LinearPending>();
  #lastPath: 'dense' | 'sparse' | null = null;
  #lastWeightGradPath: 'dense' | 'sparse' | null = null;
  /** Internal (Sequential): `backward` takes {@link InputGradOptions}. */
  readonly _takesBackwardOptions = true;

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
    const { weight, bias } = initWeightAndBias([outF, inF], inF, hasBias, device, seed);
    this.registerParameter('weight', weight);
    this.registerParameter('bias', bias);
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

  /** Internal (tests): the path of the last weight gradient, 'dense' or 'sparse'. */
  get _lastWeightGradPath(): 'dense' | 'sparse' | null {
    return this.#lastWeightGradPath;
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
    const size = M * K;
    let csr: NativeCsr | null = null;
    if (ops.sparseAllowed(xs) && size >= SPARSE_MIN_ELEMENTS) {
      // one CSR index per call: the forward's events, and in training the weight gradient's
      const limit = Math.max(LINEAR_SPARSE_FORWARD_THRESHOLD, this.training ? LINEAR_SPARSE_WEIGHT_GRAD_THRESHOLD : 0);
      csr = ops.csrIfSparse(xs, M, K, limit * size);
    }
    const sparse = csr !== null && csr.cols.length <= LINEAR_SPARSE_FORWARD_THRESHOLD * size;
    if (sparse) {
      const wT = new Float32Array(K * N);
      ops.transpose({ batch: 1, rows: N, cols: K, src: W, dst: wT });
      ops.linearCsrForward({ M, N, K, ...csr!, wT, bias: b as Float32Array | undefined, y: y as Float32Array });
    } else {
      ops.gemm({ M, N, K, transB: true, A: xs, B: W, C: y, bias: b });
    }
    this.#lastPath = sparse ? 'sparse' : 'dense';
    // a snapshot (the CSR index is one): the caller's tensor may be written in place later
    if (this.training)
      this.#pending.push({
        outputShape: outShape,
        inputShape: shape,
        input: csr ? null : copyTo(this.device, xs),
        csr,
      });
    return Tensor._adopt(y, outShape, this.device);
  }

  /**
   * Backward of the newest pending forward: returns dL/dinput (the input's shape) and adds
   * dL/dweight and dL/dbias into `weight.grad` and `bias.grad` (created on first use; parameters
   * with `requiresGrad` false are skipped). With `{ inputGrad: false }` dL/dinput is not computed
   * and null is returned; the parameter gradients are the same.
   */
  backward(gradOutput: Tensor): Tensor;
  backward(gradOutput: Tensor, options: { inputGrad: false }): null;
  backward(gradOutput: Tensor, options?: InputGradOptions): Tensor | null;
  backward(gradOutput: Tensor, options?: InputGradOptions): Tensor | null {
    const what = 'Linear.backward';
    const wantInput = readInputGrad(options, what);
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
    let dx: Storage | null = null;
    if (wantInput) {
      dx = alloc(dev, M * K);
      ops.gemm({ M, N: K, K: N, A: g, B: w._storage(), C: dx });
    }
    if (gw) {
      const dW = ensureGrad(w, dev)._storage();
      const csr = rec.csr;
      if (
        csr &&
        csr.cols.length <= LINEAR_SPARSE_WEIGHT_GRAD_THRESHOLD * M * K &&
        ops.sparseAllowed(dW) &&
        ops.sparseAllowed(g)
      ) {
        ops.linearCsrWeightGrad({ M, N, K, accumulate: true, ...csr, gradOut: g, gradWeight: dW });
        this.#lastWeightGradPath = 'sparse';
      } else {
        this.#lastWeightGradPath = 'dense';
        // a CSR index over the weight gradient's threshold (or kept before a move to a device): densified
        const xs = rec.input ?? copyTo(dev, ops.csrToDense(csr!, M, K));
        try {
          ops.gemm({ M: N, N: K, K: M, transA: true, accumulate: true, A: g, B: xs, C: dW });
        } finally {
          if (!rec.input) release(xs);
        }
      }
    }
    if (gb) ops.sumRows({ M, N, accumulate: true, src: g, dst: ensureGrad(b!, dev)._storage() });
    this.#pending.pop();
    return dx ? Tensor._adopt(dx, rec.inputShape, dev) : null;
  }

  protected override _moveExtra(device: string): void {
    this.#pending.moveTo(device);
  }

  protected override extraRepr(): string {
    return `in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? 'True' : 'False'}`;
  }
}
