// torch.optim.SGD: weight decay, momentum with dampening, Nesterov. The update runs in the native
// kernel (native/core/ops_thread.h) where the parameter lives; the momentum buffers are tensors
// on the parameter's device.
import { Tensor } from '../tensor.js';
import { checkOptions, readBool, readNumber } from '../validate.js';
import { ops } from '../nn/tensor-ops.js';
import { OptimizerBase, readLr, stateTensor } from './base.js';

/** Options of {@link SGD} (torch.optim.SGD's, in camelCase). */
export interface SGDOptions {
  /** Learning rate (> 0). Required. */
  lr: number;
  /** Momentum factor (default 0: none). */
  momentum?: number;
  /** Dampening of the momentum (default 0). */
  dampening?: number;
  /** L2 penalty added to the gradient: g + weightDecay * p (default 0). */
  weightDecay?: number;
  /** Nesterov momentum (default false; needs momentum > 0 and dampening 0). */
  nesterov?: boolean;
}

interface SgdHyper {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

const KEYS = ['lr', 'momentum', 'dampening', 'weightDecay', 'nesterov'] as const;

function parse(opts: unknown, what: string): SgdHyper {
  const o = checkOptions<SGDOptions>(opts, KEYS, what, false);
  const h: SgdHyper = {
    lr: readLr(o.lr, what),
    momentum: readNumber(o.momentum, `${what}: momentum`, 0, { min: 0 }),
    dampening: readNumber(o.dampening, `${what}: dampening`, 0),
    weightDecay: readNumber(o.weightDecay, `${what}: weightDecay`, 0, { min: 0 }),
    nesterov: readBool(o.nesterov, `${what}: nesterov`, false),
  };
  if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0))
    throw new RangeError(
      `${what}: nesterov needs momentum > 0 and dampening 0, got momentum ${h.momentum}, dampening ${h.dampening}`,
    );
  return h;
}

/**
 * Stochastic gradient descent with PyTorch's update (torch.optim.SGD):
 *
 *   g = grad + weightDecay * p
 *   buf = g (first step) or momentum * buf + (1 - dampening) * g      (when momentum > 0)
 *   g = nesterov ? g + momentum * buf : buf
 *   p = p - lr * g
 *
 * Parameters on the host or on a GPU (with their gradients on the same device); only those with
 * `requiresGrad` are updated.
 */
export class SGD extends OptimizerBase {
  #h: SgdHyper;

  constructor(params: Tensor[], opts: SGDOptions) {
    super(params, 'SGD');
    this.#h = parse(opts, 'SGD');
  }

  /** The learning rate. */
  get lr(): number {
    return this.#h.lr;
  }
  set lr(v: number) {
    this.#h = { ...this.#h, lr: readLr(v, 'SGD') };
  }

  step(): void {
    const grads = this.grads();
    const h = this.#h;
    const { n, emulate } = ops();
    this.params.forEach((p, k) => {
      const g = grads[k];
      if (!g) return;
      let s = this.state.get(k);
      const first = h.momentum !== 0 && !s;
      let buf: Tensor | undefined;
      if (h.momentum !== 0) {
        buf = stateTensor(s?.momentumBuffer as Tensor | undefined, p);
        if (!s) this.state.set(k, (s = {}));
        s.momentumBuffer = buf;
      }
      n.sgdStep({
        n: p.size,
        p: p._storage(),
        g: g._storage(),
        buf: buf?._storage(),
        first,
        lr: h.lr,
        weightDecay: h.weightDecay,
        momentum: h.momentum,
        dampening: h.dampening,
        nesterov: h.nesterov,
        hasMin: false,
        emulate,
      });
    });
  }

  protected hyper(): Record<string, number | boolean> {
    return { ...this.#h };
  }
  protected stateKeys(): Record<string, 'tensor' | 'count'> {
    return { momentumBuffer: 'tensor' };
  }
  protected setHyper(h: Record<string, number | boolean>): void {
    this.#h = parse(h, 'SGD.loadStateDict: paramGroups[0]');
  }
}
