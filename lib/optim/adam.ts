// torch.optim.Adam and torch.optim.AdamW. The update runs in the native kernel
// (native/core/ops_thread.h) where the parameter lives; exp_avg and exp_avg_sq are tensors on the
// parameter's device and the step count is kept per parameter, as in PyTorch.
import { Tensor } from '../tensor.js';
import { checkOptions, readNumber } from '../validate.js';
import { ops } from '../nn/tensor-ops.js';
import { OptimizerBase, readLr, stateTensor } from './base.js';

/** Options of {@link Adam} and {@link AdamW} (torch.optim's, in camelCase). */
export interface AdamOptions {
  /** Learning rate (> 0; default 1e-3). */
  lr?: number;
  /** [beta1, beta2] (default [0.9, 0.999]); or give `beta1` / `beta2` separately. */
  betas?: [number, number];
  /** Decay of the first moment, in [0, 1) (default 0.9). */
  beta1?: number;
  /** Decay of the second moment, in [0, 1) (default 0.999). */
  beta2?: number;
  /** Added to the denominator (> 0; default 1e-8). */
  eps?: number;
  /** Adam: L2 penalty added to the gradient (default 0). AdamW: decoupled decay p *= 1 - lr * wd (default 0.01). */
  weightDecay?: number;
  /** A lower bound applied to the parameters after each update (default none), e.g. tau >= 1. */
  min?: number;
}

interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  min: number;
}

const KEYS = ['lr', 'betas', 'beta1', 'beta2', 'eps', 'weightDecay', 'min'] as const;

function parse(opts: unknown, what: string, wdDefault: number): AdamHyper {
  const o = checkOptions<AdamOptions>(opts, KEYS, what);
  let b1: unknown = o.beta1,
    b2: unknown = o.beta2;
  if (o.betas !== undefined) {
    if (o.beta1 !== undefined || o.beta2 !== undefined)
      throw new TypeError(`${what}: give either betas or beta1/beta2, not both`);
    if (!Array.isArray(o.betas) || o.betas.length !== 2)
      throw new TypeError(`${what}: betas must be a pair [beta1, beta2]`);
    [b1, b2] = o.betas;
  }
  const beta = (v: unknown, name: string, d: number) =>
    readNumber(v, `${what}: ${name}`, d, { min: 0, max: 1, maxExclusive: true });
  const min = o.min;
  if (min !== undefined && (typeof min !== 'number' || Number.isNaN(min) || min === Infinity))
    throw (typeof min !== 'number' ? TypeError : RangeError)(
      `${what}: min must be a number below +Infinity, got ${String(min)}`,
    );
  return {
    lr: readLr(o.lr, what, 1e-3),
    beta1: beta(b1, o.betas ? 'betas[0]' : 'beta1', 0.9),
    beta2: beta(b2, o.betas ? 'betas[1]' : 'beta2', 0.999),
    eps: readNumber(o.eps, `${what}: eps`, 1e-8, { min: 0, minExclusive: true }),
    weightDecay: readNumber(o.weightDecay, `${what}: weightDecay`, wdDefault, { min: 0 }),
    min: min ?? -Infinity,
  };
}

abstract class AdamBase extends OptimizerBase {
  #h: AdamHyper;
  readonly #decoupled: boolean;
  readonly #name: string;

  protected constructor(params: Tensor[], opts: AdamOptions | undefined, name: string, decoupled: boolean) {
    super(params, name);
    this.#name = name;
    this.#decoupled = decoupled;
    this.#h = parse(opts, name, decoupled ? 0.01 : 0);
  }

  /** The learning rate. */
  get lr(): number {
    return this.#h.lr;
  }
  set lr(v: number) {
    this.#h = { ...this.#h, lr: readLr(v, this.#name) };
  }
  get beta1(): number {
    return this.#h.beta1;
  }
  get beta2(): number {
    return this.#h.beta2;
  }
  get eps(): number {
    return this.#h.eps;
  }
  get weightDecay(): number {
    return this.#h.weightDecay;
  }
  /** The lower bound of the parameters (-Infinity: none). */
  get min(): number {
    return this.#h.min;
  }

  step(): void {
    const grads = this.grads();
    const h = this.#h;
    const { n, emulate } = ops();
    this.params.forEach((p, k) => {
      const g = grads[k];
      if (!g) return;
      const s = this.state.get(k) ?? {};
      const m = stateTensor(s.expAvg as Tensor | undefined, p);
      const v = stateTensor(s.expAvgSq as Tensor | undefined, p);
      const step = ((s.step as number | undefined) ?? 0) + 1;
      n.adamStep({
        n: p.size,
        p: p._storage(),
        g: g._storage(),
        m: m._storage(),
        v: v._storage(),
        lr: h.lr,
        weightDecay: h.weightDecay,
        beta1: h.beta1,
        beta2: h.beta2,
        eps: h.eps,
        step,
        decoupled: this.#decoupled,
        hasMin: h.min !== -Infinity,
        min: h.min === -Infinity ? 0 : h.min,
        emulate,
      });
      this.state.set(k, { step, expAvg: m, expAvgSq: v });
    });
  }

  protected hyper(): Record<string, number | boolean> {
    return { ...this.#h };
  }
  protected stateKeys(): Record<string, 'tensor' | 'count'> {
    return { step: 'count', expAvg: 'tensor', expAvgSq: 'tensor' };
  }
  protected setHyper(h: Record<string, number | boolean>): void {
    const { min, ...rest } = h as Record<string, number>;
    this.#h = parse(
      { ...rest, ...(min === -Infinity ? {} : { min }) },
      `${this.#name}.loadStateDict: paramGroups[0]`,
      0,
    );
  }
}

/**
 * Adam (torch.optim.Adam, amsgrad off), with PyTorch's update per element:
 *
 *   g = grad + weightDecay * p
 *   m = lerp(m, g, 1 - beta1);  v = beta2 * v + (1 - beta2) * g * g
 *   p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * then `p = max(p, min)` when `min` is given. Defaults lr 1e-3, betas 0.9/0.999, eps 1e-8,
 * weightDecay 0.
 */
export class Adam extends AdamBase {
  constructor(params: Tensor[], opts?: AdamOptions) {
    super(params, opts, 'Adam', false);
  }
}

/**
 * AdamW (torch.optim.AdamW): Adam with decoupled weight decay, `p = p * (1 - lr * weightDecay)`
 * before the Adam update (the gradient is not changed). Defaults lr 1e-3, betas 0.9/0.999,
 * eps 1e-8, weightDecay 0.01.
 */
export class AdamW extends AdamBase {
  constructor(params: Tensor[], opts?: AdamOptions) {
    super(params, opts, 'AdamW', true);
  }
}
