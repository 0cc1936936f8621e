import { Tensor } from './tensor.js';
import { readNumber } from './validate.js';

/** Updates parameters in place from their `.grad`. */
export interface Optimizer {
  step(): void;
  zeroGrad(): void;
}

function checkParams(params: unknown, what: string): Tensor[] {
  if (!Array.isArray(params) || !params.every((p) => p instanceof Tensor))
    throw new TypeError(`${what}: params must be an array of Tensors (e.g. layer.parameters())`);
  return (params as Tensor[]).filter((p) => p.requiresGrad);
}

function checkLr(lr: unknown, what: string): number {
  return readNumber(lr, `${what}: lr`, undefined, { min: 0, minExclusive: true });
}

/** Plain stochastic gradient descent: p -= lr * grad. */
export class SGD implements Optimizer {
  readonly #params: Tensor[];
  readonly lr: number;
  constructor(params: Tensor[], opts: { lr: number }) {
    this.#params = checkParams(params, 'SGD');
    this.lr = checkLr(opts?.lr, 'SGD');
  }
  step(): void {
    for (const p of this.#params) {
      if (!p.grad) continue;
      const d = p.toFloat32Array(), g = p.grad.toFloat32Array();
      for (let k = 0; k < d.length; ++k) d[k] -= this.lr * g[k]!;
      p._writeHost(d);
    }
  }
  zeroGrad(): void {
    for (const p of this.#params) p.grad = null;
  }
}

/** Adam (Kingma & Ba), with an optional lower bound on the parameter values (e.g. tau >= 1). */
export class Adam implements Optimizer {
  readonly #params: Tensor[];
  readonly #m: Float64Array[];
  readonly #v: Float64Array[];
  #t = 0;
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly min: number;
  constructor(params: Tensor[], opts: { lr: number; beta1?: number; beta2?: number; eps?: number; min?: number }) {
    this.#params = checkParams(params, 'Adam');
    this.lr = checkLr(opts?.lr, 'Adam');
    const unit = { min: 0, max: 1, maxExclusive: true };
    this.beta1 = readNumber(opts.beta1, 'Adam: beta1', 0.9, unit);
    this.beta2 = readNumber(opts.beta2, 'Adam: beta2', 0.999, unit);
    this.eps = readNumber(opts.eps, 'Adam: eps', 1e-8, { min: 0, minExclusive: true });
    // -Infinity (no bound) is allowed besides finite numbers
    this.min = opts.min === -Infinity ? -Infinity : readNumber(opts.min, 'Adam: min', -Infinity);
    this.#m = this.#params.map((p) => new Float64Array(p.size));
    this.#v = this.#params.map((p) => new Float64Array(p.size));
  }
  step(): void {
    this.#t += 1;
    const b1 = 1 - this.beta1 ** this.#t, b2 = 1 - this.beta2 ** this.#t;
    this.#params.forEach((p, j) => {
      if (!p.grad) return;
      const d = p.toFloat32Array(), g = p.grad.toFloat32Array(), m = this.#m[j]!, v = this.#v[j]!;
      for (let k = 0; k < d.length; ++k) {
        m[k] = this.beta1 * m[k]! + (1 - this.beta1) * g[k]!;
        v[k] = this.beta2 * v[k]! + (1 - this.beta2) * g[k]! * g[k]!;
        const upd = (this.lr * (m[k]! / b1)) / (Math.sqrt(v[k]! / b2) + this.eps);
        d[k] = Math.max(this.min, d[k]! - upd);
      }
      p._writeHost(d);
    });
  }
  zeroGrad(): void {
    for (const p of this.#params) p.grad = null;
  }
}
