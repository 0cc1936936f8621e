// The squeeze variants: LIF, IAF and ExpLeak on (B*T, ...neurons) input, as a thin mixin that
// reshapes input, out and gradients around the base layer's calls.
import { DTYPES } from '../dtype.js';
import { Tensor, checkTensor } from '../tensor.js';
import { readCount } from '../validate.js';
import { ExpLeak, type ExpLeakOptions } from './expleak.js';
import { IAF, type IAFOptions } from './iaf.js';
import { LIF } from './lif.js';
import type { BackwardOptions, ForwardOptions, LIFOptions } from './options.js';

/** The extra options of the squeeze variants: at least one is required; given both, they must agree with the input. */
export interface SqueezeOptions {
  /** Batch size B; the number of steps is inferred from the input's first dimension B*T. */
  batchSize?: number;
  /** Number of steps T; the batch size is inferred. */
  numTimesteps?: number;
}

// TypeScript requires `any[]` constructor arguments for a mixin base (TS2545).
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type LayerCtor = new (...args: any[]) => LIF;

function squeezeOptions(
  name: string,
  options: unknown,
): { rest: Record<string, unknown>; batchSize: number | null; numTimesteps: number | null } {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new TypeError(`${name}: expected an options object with batchSize or numTimesteps`);
  const { batchSize, numTimesteps, ...rest } = options as Record<string, unknown> & SqueezeOptions;
  const b = readCount(batchSize, `${name}: batchSize`, null),
    t = readCount(numTimesteps, `${name}: numTimesteps`, null);
  if (b === null && t === null) throw new TypeError(`${name}: batchSize or numTimesteps is required`);
  return { rest, batchSize: b, numTimesteps: t };
}

/** What the squeeze variants add to their base layer. */
export interface SqueezeMembers {
  /** The batch size, or null when inferred from numTimesteps. */
  batchSize: number | null;
  /** The number of steps, or null when inferred from batchSize. */
  numTimesteps: number | null;
}

/** Adds (B*T, ...neurons) input handling to a layer class. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- mixin constructor type (TS2545)
function Squeeze<TBase extends LayerCtor>(Base: TBase, name: string): TBase & (new (...args: any[]) => SqueezeMembers) {
  return class extends Base {
    /** The batch size, or null when inferred from numTimesteps. */
    batchSize: number | null;
    /** The number of steps, or null when inferred from batchSize. */
    numTimesteps: number | null;

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a mixin constructor must take any[] (TS2545)
    constructor(...args: any[]) {
      const { rest, batchSize, numTimesteps } = squeezeOptions(name, args[0]);
      super(rest);
      this.batchSize = batchSize;
      this.numTimesteps = numTimesteps;
    }

    /** sinabs' class name, e.g. 'IAFSqueeze' (what toString and network errors print). */
    override get typeName(): string {
      return name;
    }

    /** (B*T, ...neurons) -> (B, T, ...neurons), sharing the data. */
    _unsqueeze(t: unknown, what: string): Tensor {
      const x = checkTensor(t, what, DTYPES); // the layer checks the dtype
      const shape = x.shape;
      if (shape.length < 1) throw new RangeError(`${what} must have rank >= 1, (B*T, ...neurons); got a scalar`);
      const M = shape[0]!;
      let B: number, T: number;
      if (this.batchSize !== null) {
        B = this.batchSize;
        T = M / B;
        if (this.numTimesteps !== null && T !== this.numTimesteps)
          throw new RangeError(
            `${what}: first dimension ${M} is not batchSize ${B} x numTimesteps ${this.numTimesteps}`,
          );
      } else {
        T = this.numTimesteps!;
        B = M / T;
      }
      if (!Number.isInteger(B) || !Number.isInteger(T) || B < 1 || T < 1)
        throw new RangeError(
          `${what}: first dimension ${M} is not a multiple of ${this.batchSize !== null ? `batchSize ${this.batchSize}` : `numTimesteps ${this.numTimesteps}`}`,
        );
      return x._view([B, T, ...shape.slice(1)]);
    }

    _squeeze(t: Tensor, like: Tensor): Tensor {
      return t._view(like.shape);
    }

    _opts<O extends ForwardOptions | BackwardOptions>(opts: O | undefined, what: string): O | undefined {
      if (!opts || typeof opts !== 'object' || opts.out === undefined) return opts;
      return { ...opts, out: this._unsqueeze(opts.out, `${what}: out`) };
    }

    /** Runs the layer over (B*T, ...neurons) input; returns spikes of the same shape. */
    override forward(input: Tensor, opts?: ForwardOptions): Tensor {
      const x = this._unsqueeze(input, 'forward: input');
      const y = super.forward(x, this._opts(opts, 'forward'));
      return opts?.out ?? this._squeeze(y, input);
    }

    override async forwardAsync(input: Tensor, opts?: ForwardOptions): Promise<Tensor> {
      const x = this._unsqueeze(input, 'forwardAsync: input');
      const y = await super.forwardAsync(x, this._opts(opts, 'forwardAsync'));
      return opts?.out ?? this._squeeze(y, input);
    }

    /** Backward of the latest pending call, gradients shaped (B*T, ...neurons). */
    override backward(gradOutput: Tensor, opts?: BackwardOptions): Tensor {
      const g = this._unsqueeze(gradOutput, 'backward: gradOutput');
      const y = super.backward(g, this._opts(opts, 'backward'));
      return opts?.out ?? this._squeeze(y, gradOutput);
    }

    override async backwardAsync(gradOutput: Tensor, opts?: BackwardOptions): Promise<Tensor> {
      const g = this._unsqueeze(gradOutput, 'backwardAsync: gradOutput');
      const y = await super.backwardAsync(g, this._opts(opts, 'backwardAsync'));
      return opts?.out ?? this._squeeze(y, gradOutput);
    }
  };
}

/** sinabs.layers.LIFSqueeze: LIF on (B*T, ...neurons) input; needs batchSize or numTimesteps. */
export class LIFSqueeze extends Squeeze(LIF, 'LIFSqueeze') {
  constructor(options: LIFOptions & SqueezeOptions) {
    super(options);
  }
}

/** sinabs.layers.IAFSqueeze: IAF on (B*T, ...neurons) input; needs batchSize or numTimesteps. */
export class IAFSqueeze extends Squeeze(IAF, 'IAFSqueeze') {
  constructor(options: IAFOptions & SqueezeOptions) {
    super(options);
  }
}

/** sinabs.layers.ExpLeakSqueeze: ExpLeak on (B*T, ...neurons) input; needs batchSize or numTimesteps. */
export class ExpLeakSqueeze extends Squeeze(ExpLeak, 'ExpLeakSqueeze') {
  constructor(options: ExpLeakOptions & SqueezeOptions) {
    super(options);
  }
}
