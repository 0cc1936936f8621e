/**
 * Spike functions, reset mechanisms and surrogate gradients, mirroring sinabs.activation with
 * sinabs' defaults. They are descriptions: the math runs in the native kernels
 * (native/core/lif_math.h), chosen once per call; the kind numbers come from the addon.
 */

import type { ResetKind, SpikeKind, SurrogateKind } from '#binding';
import { kernelConstants as K } from './kinds.js';
import { checkOptions, readNumber } from './validate.js';

const f = Math.fround;
const SQRT_2PI = Math.sqrt(2 * Math.PI);

type Opts = Record<string, unknown>;
const options = (what: string, opts: unknown, allowed: readonly string[]): Opts =>
  checkOptions<Opts>(opts, allowed, what, true, '');
const POSITIVE = { min: 0, minExclusive: true } as const;
const NON_NEGATIVE = { min: 0 } as const;

// ---- spike functions --------------------------------------------------------------------------

/** sinabs.activation.MultiSpike: `[u > 0] * trunc(u / threshold)` spikes per step, no limit. */
export class MultiSpike {
  readonly kind = 'MultiSpike';
  /** @internal */ _native(): { spike: SpikeKind; maxSpikes: number } {
    return { spike: K().spike.multi, maxSpikes: Infinity };
  }
}

/** sinabs.activation.SingleSpike: one spike when `u >= threshold`. */
export class SingleSpike {
  readonly kind = 'SingleSpike';
  /** @internal */ _native(): { spike: SpikeKind; maxSpikes: number } {
    return { spike: K().spike.single, maxSpikes: Infinity };
  }
}

export interface MaxSpikeOptions {
  /** Largest spike count per step, or null for no limit (then identical to MultiSpike). */
  maxNumSpikesPerBin?: number | null;
}

/** sinabs.activation.MaxSpike: MultiSpike clamped to `maxNumSpikesPerBin`. */
export class MaxSpike {
  readonly kind = 'MaxSpike';
  readonly maxNumSpikesPerBin: number | null;
  constructor(opts?: MaxSpikeOptions) {
    const o = options('MaxSpike', opts, ['maxNumSpikesPerBin']);
    const m = o.maxNumSpikesPerBin;
    if (m === undefined || m === null) this.maxNumSpikesPerBin = null;
    else this.maxNumSpikesPerBin = readNumber(m, 'MaxSpike: maxNumSpikesPerBin', 1, NON_NEGATIVE);
  }
  /** @internal */ _native(): { spike: SpikeKind; maxSpikes: number } {
    return { spike: K().spike.multi, maxSpikes: this.maxNumSpikesPerBin === null ? Infinity : this.maxNumSpikesPerBin };
  }
}

/** A user spike function: spike counts per element from the pre-spike membrane. */
export interface CustomSpikeFn {
  forward(vMem: Float32Array, spikeThreshold: number): Float32Array | ArrayLike<number>;
}

export type SpikeFnSpec = typeof MultiSpike | typeof SingleSpike | MultiSpike | SingleSpike | MaxSpike | CustomSpikeFn;

// ---- reset functions --------------------------------------------------------------------------

export interface MembraneSubtractOptions {
  /** Value subtracted per spike; null (default) subtracts the spike threshold. */
  subtractValue?: number | null;
}

/** sinabs.activation.MembraneSubtract: `r = u - s * subtractValue` (gradient not detached). */
export class MembraneSubtract {
  readonly kind = 'MembraneSubtract';
  readonly subtractValue: number | null;
  constructor(opts?: MembraneSubtractOptions) {
    const o = options('MembraneSubtract', opts, ['subtractValue']);
    this.subtractValue =
      o.subtractValue === undefined || o.subtractValue === null
        ? null
        : readNumber(o.subtractValue, 'MembraneSubtract: subtractValue', 0);
  }
  /** @internal */ _native(theta: number): { reset: ResetKind; thetaSub: number; resetValue: number } {
    return {
      reset: K().reset.subtract,
      thetaSub: this.subtractValue === null ? theta : f(this.subtractValue),
      resetValue: 0,
    };
  }
}

export interface MembraneResetOptions {
  /** Value added after the reset (default 0). sinabs adds it to every neuron, spiking or not. */
  resetValue?: number;
}

/** sinabs.activation.MembraneReset: `r = u * [s == 0] + resetValue`. */
export class MembraneReset {
  readonly kind = 'MembraneReset';
  readonly resetValue: number;
  constructor(opts?: MembraneResetOptions) {
    const o = options('MembraneReset', opts, ['resetValue']);
    this.resetValue = readNumber(o.resetValue, 'MembraneReset: resetValue', 0);
  }
  /** @internal */ _native(theta: number): { reset: ResetKind; thetaSub: number; resetValue: number } {
    return { reset: K().reset.reset, thetaSub: theta, resetValue: f(this.resetValue) };
  }
}

export type ResetFnSpec = MembraneSubtract | MembraneReset;

// ---- surrogate gradients ----------------------------------------------------------------------

interface SurrogateNative {
  surr: SurrogateKind;
  params: Float32Array;
}

abstract class SurrogateBase {
  abstract readonly kind: string;
  /** @internal */ abstract _native(theta: number): SurrogateNative;
}

export interface SingleExponentialOptions {
  gradWidth?: number;
  gradScale?: number;
}
/** `gradScale / w * exp(-|u - threshold| / w)`, `w = threshold * gradWidth` (relative width). */
export class SingleExponential extends SurrogateBase {
  readonly kind = 'SingleExponential';
  readonly gradWidth: number;
  readonly gradScale: number;
  constructor(opts?: SingleExponentialOptions) {
    super();
    const o = options('SingleExponential', opts, ['gradWidth', 'gradScale']);
    this.gradWidth = readNumber(o.gradWidth, 'SingleExponential: gradWidth', 0.5, POSITIVE);
    this.gradScale = readNumber(o.gradScale, 'SingleExponential: gradScale', 1.0);
  }
  /** @internal */ _native(theta: number): SurrogateNative {
    const w = f(theta * f(this.gradWidth));
    return { surr: K().surrogate.singleExponential, params: Float32Array.of(f(this.gradScale) / w, 1 / w) };
  }
}

export interface HeavisideOptions {
  window?: number;
}
/** `[u >= threshold - window] / threshold` (window is absolute). */
export class Heaviside extends SurrogateBase {
  readonly kind = 'Heaviside';
  readonly window: number;
  constructor(opts?: HeavisideOptions) {
    super();
    const o = options('Heaviside', opts, ['window']);
    this.window = readNumber(o.window, 'Heaviside: window', 1.0);
  }
  /** @internal */ _native(theta: number): SurrogateNative {
    return { surr: K().surrogate.heaviside, params: Float32Array.of(f(theta - f(this.window)), 1 / theta) };
  }
}

export interface GaussianOptions {
  mu?: number;
  sigma?: number;
  gradScale?: number;
}
/** `gradScale * N(u - threshold; mu, sigma)`. */
export class Gaussian extends SurrogateBase {
  readonly kind = 'Gaussian';
  readonly mu: number;
  readonly sigma: number;
  readonly gradScale: number;
  constructor(opts?: GaussianOptions) {
    super();
    const o = options('Gaussian', opts, ['mu', 'sigma', 'gradScale']);
    this.mu = readNumber(o.mu, 'Gaussian: mu', 0.0);
    this.sigma = readNumber(o.sigma, 'Gaussian: sigma', 0.5, POSITIVE);
    this.gradScale = readNumber(o.gradScale, 'Gaussian: gradScale', 1.0);
  }
  /** @internal */ _native(_theta: number): SurrogateNative {
    const s = f(this.sigma);
    return {
      surr: K().surrogate.gaussian,
      params: Float32Array.of(f(this.mu), -1 / (2 * s * s), f(this.gradScale) / (s * SQRT_2PI)),
    };
  }
}

export interface MultiGaussianOptions {
  mu?: number;
  sigma?: number;
  h?: number;
  s?: number;
  gradScale?: number;
}
/** `gradScale * ((1+h) N(x; mu, sigma) - h N(x; sigma, s sigma) - h N(x; -sigma, s sigma))`, `x = u - threshold`. */
export class MultiGaussian extends SurrogateBase {
  readonly kind = 'MultiGaussian';
  readonly mu: number;
  readonly sigma: number;
  readonly h: number;
  readonly s: number;
  readonly gradScale: number;
  constructor(opts?: MultiGaussianOptions) {
    super();
    const o = options('MultiGaussian', opts, ['mu', 'sigma', 'h', 's', 'gradScale']);
    this.mu = readNumber(o.mu, 'MultiGaussian: mu', 0.0);
    this.sigma = readNumber(o.sigma, 'MultiGaussian: sigma', 0.5, POSITIVE);
    this.h = readNumber(o.h, 'MultiGaussian: h', 0.15);
    this.s = readNumber(o.s, 'MultiGaussian: s', 6, POSITIVE);
    this.gradScale = readNumber(o.gradScale, 'MultiGaussian: gradScale', 1.0);
  }
  /** @internal */ _native(_theta: number): SurrogateNative {
    const sg = f(this.sigma),
      ss = f(f(this.s) * sg),
      gs = f(this.gradScale),
      h = f(this.h);
    return {
      surr: K().surrogate.multiGaussian,
      params: Float32Array.of(
        f(this.mu),
        -1 / (2 * sg * sg),
        (gs * (1 + h)) / (sg * SQRT_2PI),
        sg,
        -1 / (2 * ss * ss),
        (gs * h) / (ss * SQRT_2PI),
      ),
    };
  }
}

export interface PeriodicExponentialOptions {
  gradWidth?: number;
  gradScale?: number;
}
/** Exponential peaks at every multiple of the threshold (gradWidth is absolute). */
export class PeriodicExponential extends SurrogateBase {
  readonly kind = 'PeriodicExponential';
  readonly gradWidth: number;
  readonly gradScale: number;
  constructor(opts?: PeriodicExponentialOptions) {
    super();
    const o = options('PeriodicExponential', opts, ['gradWidth', 'gradScale']);
    this.gradWidth = readNumber(o.gradWidth, 'PeriodicExponential: gradWidth', 0.5, POSITIVE);
    this.gradScale = readNumber(o.gradScale, 'PeriodicExponential: gradScale', 1.0);
  }
  /** @internal */ _native(_theta: number): SurrogateNative {
    return {
      surr: K().surrogate.periodicExponential,
      params: Float32Array.of(1 / f(this.gradWidth), f(this.gradScale)),
    };
  }
}

/** A user surrogate: sigma(u) per element. */
export type CustomSurrogateFn = (vMem: Float32Array, spikeThreshold: number) => Float32Array | ArrayLike<number>;

export type Surrogate = SingleExponential | Heaviside | Gaussian | MultiGaussian | PeriodicExponential;
export type SurrogateSpec = Surrogate | CustomSurrogateFn;
