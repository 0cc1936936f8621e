// torch.nn.Conv2d (groups 1, dilation 1, zero padding): im2col, one GEMM with the weight, and a
// transpose back to NCHW; the backward runs the same pieces in reverse.
import type { NativeIm2colArgs } from '#binding';
import { alloc, copyTo, release, type Storage } from '../storage.js';
import { Tensor, checkTensor } from '../tensor.js';
import { checkOptions, readBool, readInt, readPair } from '../validate.js';
import { resolveDevice } from '../backend.js';
import { initWeightAndBias } from './init.js';
import { Module } from './module.js';
import { PendingStack, ensureGrad, wantsGrad } from './pending.js';
import * as ops from './synapse-ops.js';
import { sparseNonzeros } from './sparse.js';
import { readInputGrad, type InputGradOptions } from './backward-options.js';

/** Options of {@link Conv2d}. */
export interface Conv2dOptions {
  /** Input channels C. */
  inChannels: number;
  /** Output channels O. */
  outChannels: number;
  /** Kernel size: k or [kH, kW]. */
  kernelSize: number | [number, number];
  /** Stride: s or [sH, sW] (default 1). */
  stride?: number | [number, number];
  /** Zero padding on every side: p or [pH, pW] (default 0). */
  padding?: number | [number, number];
  /** Whether the layer has a bias (default true). */
  bias?: boolean;
  /** Only 1 is supported (accepted for PyTorch compatibility). */
  dilation?: number | [number, number];
  /** Only 1 is supported (accepted for PyTorch compatibility). */
  groups?: number;
  /** 'cpu' (default), 'cuda', 'cuda:N' or 'auto'. */
  device?: string;
  /**
   * Seed of the initial weights (an integer in [0, 2^32)). Without it the layer draws from the
   * shared generator (see `manualSeed`).
   */
  seed?: number;
}

const KEYS = [
  'inChannels',
  'outChannels',
  'kernelSize',
  'stride',
  'padding',
  'bias',
  'dilation',
  'groups',
  'device',
  'seed',
] as const;

interface Conv2dPending {
  outputShape: number[];
  inputShape: number[];
  /** A copy of the input (N, C, H, W), kept for the weight gradient (im2col is recomputed in backward). */
  input: Storage;
  /** Nonzero count of the input when it took the event-driven path, else -1. */
  nnz: number;
}

/** The geometry of one call, in the native argument names. */
type Geom = Omit<NativeIm2colArgs, 'x' | 'cols' | 'emulate'>;

/**
 * A 2-D convolution, as `torch.nn.Conv2d` with `groups=1`, `dilation=1` and
 * `padding_mode='zeros'`: a cross-correlation of the zero-padded input `(N, C, H, W)` with the
 * weight `(O, C, kH, kW)`, plus the bias `(O)`, giving `(N, O, Ho, Wo)` with
 * `Ho = floor((H + 2·pH − kH) / sH) + 1` (likewise Wo). Grouped and dilated convolutions are not
 * supported: `groups` and `dilation` other than 1 are rejected. Parameters are initialised as
 * PyTorch does: uniform in ±1/sqrt(C·kH·kW).
 *
 * On the CPU, an input with at most a fraction {@link SPARSE_DENSITY_THRESHOLD} of nonzero
 * elements (spikes) runs the event-driven path for the output and the weight gradient: only the
 * nonzero entries of the unfolded input are multiplied. Both paths give the same result up to
 * float32 rounding, and neither depends on the thread count.
 *
 * In training mode each forward keeps its input until its `backward` (the newest first).
 * `backward` uses the parameters' values at the time of the backward call.
 */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  /** [kH, kW]. */
  readonly kernelSize: readonly [number, number];
  /** [sH, sW]. */
  readonly stride: readonly [number, number];
  /** [pH, pW]. */
  readonly padding: readonly [number, number];
  readonly #pending = new PendingStack<Conv2dPending>();
  /** Internal (Sequential): `backward` takes {@link InputGradOptions}. */
  readonly _takesBackwardOptions = true;
  #lastPath: 'dense' | 'sparse' | null = null;

  constructor(opts: Conv2dOptions) {
    super();
    const o = checkOptions<Conv2dOptions>(opts, KEYS, 'Conv2d', false);
    const C = readInt(o.inChannels, 'Conv2d: inChannels', undefined, 1, 2 ** 31 - 1);
    const O = readInt(o.outChannels, 'Conv2d: outChannels', undefined, 1, 2 ** 31 - 1);
    const k = readPair(o.kernelSize, 'Conv2d: kernelSize', undefined, 1);
    const s = readPair(o.stride, 'Conv2d: stride', 1, 1);
    const p = readPair(o.padding, 'Conv2d: padding', 0, 0);
    const d = readPair(o.dilation, 'Conv2d: dilation', 1, 1);
    if (d[0] !== 1 || d[1] !== 1)
      throw new RangeError(
        `Conv2d: dilation must be 1 (dilated convolutions are not supported), got [${d.join(', ')}]`,
      );
    const groups = readInt(o.groups, 'Conv2d: groups', 1, 1);
    if (groups !== 1)
      throw new RangeError(`Conv2d: groups must be 1 (grouped convolutions are not supported), got ${groups}`);
    const hasBias = readBool(o.bias, 'Conv2d: bias', true);
    const seed = o.seed === undefined ? undefined : readInt(o.seed, 'Conv2d: seed', undefined, 0, 2 ** 32 - 1);
    const device = resolveDevice(o.device, 'Conv2d: device');
    const fanIn = C * k[0] * k[1];
    if (O * fanIn > 2 ** 32 - 1)
      throw new RangeError(`Conv2d: the weight would have ${O * fanIn} elements, more than 2^32 - 1`);
    this.inChannels = C;
    this.outChannels = O;
    this.kernelSize = Object.freeze(k);
    this.stride = Object.freeze(s);
    this.padding = Object.freeze(p);
    const { weight, bias } = initWeightAndBias([O, C, k[0], k[1]], fanIn, hasBias, device, seed);
    this.registerParameter('weight', weight);
    this.registerParameter('bias', bias);
    this._setDevice(device);
  }

  /** The weight `(O, C, kH, kW)`. */
  get weight(): Tensor {
    return this.getParameter('weight')!;
  }

  /** The bias `(O)`, or null. */
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

  /** Internal (tests): the path of the last forward, 'dense' or 'sparse'. */
  get _lastPath(): 'dense' | 'sparse' | null {
    return this.#lastPath;
  }

  /** The output shape for an input shape (throws a RangeError naming the input otherwise). */
  outputShape(inputShape: readonly number[]): number[] {
    const g = this.#geom(inputShape, 'Conv2d.outputShape');
    return [g.N, this.outChannels, ho(g), wo(g)];
  }

  #geom(shape: readonly number[], what: string): Geom {
    const [kH, kW] = this.kernelSize,
      [sH, sW] = this.stride,
      [pH, pW] = this.padding;
    const expect = `(N, ${this.inChannels}, H, W) with H + ${2 * pH} >= ${kH} and W + ${2 * pW} >= ${kW}`;
    if (shape.length !== 4 || shape[1] !== this.inChannels || shape[2]! + 2 * pH < kH || shape[3]! + 2 * pW < kW)
      throw new RangeError(`${what}: input must have shape ${expect}, got [${shape.join(', ')}]`);
    return { N: shape[0]!, C: shape[1]!, H: shape[2]!, W: shape[3]!, kH, kW, sH, sW, pH, pW };
  }

  /** The convolution of `input` `(N, C, H, W)`; returns `(N, O, Ho, Wo)`. */
  forward(input: Tensor): Tensor {
    const what = 'Conv2d.forward';
    const x = checkTensor(input, `${what}: input`);
    const g = this.#geom(x.shape, what);
    if (x.device !== this.device)
      throw new TypeError(`${what}: input is on ${x.device} but the layer is on ${this.device}; move one with .to()`);
    const O = this.outChannels,
      HW = ho(g) * wo(g),
      rows = g.N * HW,
      ck = g.C * g.kH * g.kW;
    const outShape = [g.N, O, ho(g), wo(g)];
    if (rows * ck > 2 ** 32 - 1 || rows * O > 2 ** 32 - 1)
      throw new RangeError(
        `${what}: input [${x.shape.join(', ')}] is too large (the unfolded input would have ${rows * ck} elements, more than 2^32 - 1)`,
      );
    const dev = this.device;
    const xs = x._storage();
    const cols = alloc(dev, rows * ck);
    const yT = alloc(dev, rows * O);
    const y = alloc(dev, rows * O);
    const nnz = sparseNonzeros(xs);
    try {
      ops.im2col({ ...g, x: xs, cols });
      const W = this.weight._storage(),
        b = this.bias?._storage();
      if (nnz >= 0) {
        // event-driven: each nonzero of the unfolded input adds its weighted row of W^T
        const wT = new Float32Array(O * ck);
        ops.transpose({ batch: 1, rows: O, cols: ck, src: W, dst: wT });
        ops.linearSparseForward({
          M: rows,
          N: O,
          K: ck,
          x: cols as Float32Array,
          wT,
          bias: b as Float32Array | undefined,
          y: yT as Float32Array,
        });
      } else {
        ops.gemm({ M: rows, N: O, K: ck, transB: true, A: cols, B: W, C: yT, bias: b });
      }
      ops.transpose({ batch: g.N, rows: HW, cols: O, src: yT, dst: y });
    } catch (e) {
      release(y);
      throw e;
    } finally {
      release(cols);
      release(yT);
    }
    this.#lastPath = nnz >= 0 ? 'sparse' : 'dense';
    // a snapshot: the caller's tensor may be written in place later (e.g. a layer's `out` option)
    if (this.training) this.#pending.push({ outputShape: outShape, inputShape: x.shape, input: copyTo(dev, xs), nnz });
    return Tensor._adopt(y, outShape, dev);
  }

  /**
   * Backward of the newest pending forward: returns dL/dinput `(N, C, H, W)` and adds dL/dweight
   * and dL/dbias into `weight.grad` and `bias.grad` (created on first use; parameters with
   * `requiresGrad` false are skipped). With `{ inputGrad: false }` dL/dinput is not computed and
   * null is returned (the first layer of a network, whose input needs no gradient); the parameter
   * gradients are the same.
   */
  backward(gradOutput: Tensor): Tensor;
  backward(gradOutput: Tensor, options: { inputGrad: false }): null;
  backward(gradOutput: Tensor, options?: InputGradOptions): Tensor | null;
  backward(gradOutput: Tensor, options?: InputGradOptions): Tensor | null {
    const what = 'Conv2d.backward';
    const wantInput = readInputGrad(options, what);
    const dev = this.device;
    const { rec, grad } = this.#pending.top(gradOutput, dev, what);
    const w = this.weight,
      b = this.bias;
    const gw = wantsGrad(w, dev, `${what}: weight`);
    const gb = wantsGrad(b, dev, `${what}: bias`);
    const g = this.#geom(rec.inputShape, what);
    const O = this.outChannels,
      HW = ho(g) * wo(g),
      rows = g.N * HW,
      ck = g.C * g.kH * g.kW;
    const gT = alloc(dev, rows * O);
    const dcols = wantInput ? alloc(dev, rows * ck) : null;
    const dx = wantInput ? alloc(dev, g.N * g.C * g.H * g.W) : null;
    let cols: Storage | null = null;
    try {
      // dY (N, O, HW) -> dY' (N, HW, O) = (rows, O)
      ops.transpose({ batch: g.N, rows: O, cols: HW, src: grad._storage(), dst: gT });
      if (dx && dcols) {
        ops.gemm({ M: rows, N: ck, K: O, A: gT, B: w._storage(), C: dcols });
        ops.col2im({ ...g, x: dx, cols: dcols });
      }
      if (gw) {
        cols = alloc(dev, rows * ck);
        ops.im2col({ ...g, x: rec.input, cols });
        const dW = ensureGrad(w, dev)._storage();
        if (rec.nnz >= 0 && ops.sparseAllowed(cols) && ops.sparseAllowed(dW))
          ops.linearSparseWeightGrad({
            M: rows,
            N: O,
            K: ck,
            accumulate: true,
            x: cols,
            gradOut: gT as Float32Array,
            gradWeight: dW,
          });
        else ops.gemm({ M: O, N: ck, K: rows, transA: true, accumulate: true, A: gT, B: cols, C: dW });
      }
      if (gb) ops.sumRows({ M: rows, N: O, accumulate: true, src: gT, dst: ensureGrad(b!, dev)._storage() });
    } catch (e) {
      release(dx);
      throw e;
    } finally {
      release(gT);
      release(dcols);
      release(cols);
    }
    this.#pending.pop();
    return dx ? Tensor._adopt(dx, rec.inputShape, dev) : null;
  }

  protected override _moveExtra(device: string): void {
    this.#pending.moveTo(device);
  }

  protected override extraRepr(): string {
    const pair = (p: readonly number[]) => `(${p[0]}, ${p[1]})`;
    let s = `${this.inChannels}, ${this.outChannels}, kernel_size=${pair(this.kernelSize)}, stride=${pair(this.stride)}`;
    if (this.padding[0] || this.padding[1]) s += `, padding=${pair(this.padding)}`;
    if (!this.bias) s += ', bias=False';
    return s;
  }
}

function ho(g: Geom): number {
  return Math.floor((g.H + 2 * g.pH - g.kH) / g.sH) + 1;
}
function wo(g: Geom): number {
  return Math.floor((g.W + 2 * g.pW - g.kW) / g.sW) + 1;
}
