/**
 * Spike functions, reset mechanisms and surrogate gradients, mirroring sinabs.activation with
 * sinabs' defaults. They are descriptions: the math runs in the native kernels
 * (native/core/lif_math.h), chosen once per call.
 */

// Kernel kind numbers (native/core/lif_math.h).
export const SPIKE_MULTI = 0;
export const SPIKE_SINGLE = 1;
export const SPIKE_GIVEN = 2;
export const SPIKE_NONE = 3;
export const RESET_SUBTRACT = 0;
export const RESET_RESET = 1;
export const RESET_NONE = 2;
export const SURR_SINGLE_EXPONENTIAL = 0;
export const SURR_HEAVISIDE = 1;
export const SURR_GAUSSIAN = 2;
export const SURR_MULTI_GAUSSIAN = 3;
export const SURR_PERIODIC_EXPONENTIAL = 4;
export const SURR_GIVEN = 5;

const f = Math.fround;
const SQRT_2PI = Math.sqrt(2 * Math.PI);

function checkOptions(what: string, opts: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts))
    throw new TypeError(`${what}: options must be an object`);
  for (const k of Object.keys(opts)) {
    if (!allowed.includes(k)) {
      const camel = k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      const hint = allowed.includes(camel) ? ` (did you mean '${camel}'?)` : ` (expected one of ${allowed.map((a) => `'${a}'`).join(', ')})`;
      throw new TypeError(`${what}: unknown option '${k}'${hint}`);
    }
  }
  return opts as Record<string, unknown>;
}

function num(what: string, name: string, v: unknown, dflt: number, check?: (x: number) => boolean, expect?: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw new TypeError(`${what}: ${name} must be a number, got ${v === null ? 'null' : typeof v}`);
  if (!Number.isFinite(v) || (check && !check(v)))
    throw new RangeError(`${what}: ${name} must be ${expect ?? 'a finite number'}, got ${v}`);
  return v;
}

// ---- spike functions --------------------------------------------------------------------------

/** sinabs.activation.MultiSpike: `[u > 0] * trunc(u / threshold)` spikes per step, no limit. */
export class MultiSpike {
  readonly kind = 'MultiSpike';
  /** @internal */ _native(): { spike: number; maxSpikes: number } {
    return { spike: SPIKE_MULTI, maxSpikes: Infinity };
  }
}

/** sinabs.activation.SingleSpike: one spike when `u >= threshold`. */
export class SingleSpike {
  readonly kind = 'SingleSpike';
  /** @internal */ _native(): { spike: number; maxSpikes: number } {
    return { spike: SPIKE_SINGLE, maxSpikes: Infinity };
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
    const o = checkOptions('MaxSpike', opts, ['maxNumSpikesPerBin']);
    const m = o.maxNumSpikesPerBin;
    if (m === undefined || m === null) this.maxNumSpikesPerBin = null;
    else this.maxNumSpikesPerBin = num('MaxSpike', 'maxNumSpikesPerBin', m, 1, (x) => x >= 0, 'a non-negative number');
  }
  /** @internal */ _native(): { spike: number; maxSpikes: number } {
    return { spike: SPIKE_MULTI, maxSpikes: this.maxNumSpikesPerBin === null ? Infinity : this.maxNumSpikesPerBin };
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
    const o = checkOptions('MembraneSubtract', opts, ['subtractValue']);
    this.subtractValue = o.subtractValue === undefined || o.subtractValue === null ? null : num('MembraneSubtract', 'subtractValue', o.subtractValue, 0);
  }
  /** @internal */ _native(theta: number): { reset: number; thetaSub: number; resetValue: number } {
    return { reset: RESET_SUBTRACT, thetaSub: this.subtractValue === null ? theta : f(this.subtractValue), resetValue: 0 };
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
    const o = checkOptions('MembraneReset', opts, ['resetValue']);
    this.resetValue = num('MembraneReset', 'resetValue', o.resetValue, 0);
  }
  /** @internal */ _native(theta: number): { reset: number; thetaSub: number; resetValue: number } {
    return { reset: RESET_RESET, thetaSub: theta, resetValue: f(this.resetValue) };
  }
}

export type ResetFnSpec = MembraneSubtract | MembraneReset;

// ---- surrogate gradients ----------------------------------------------------------------------

interface SurrogateNative {
  surr: number;
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
    const o = checkOptions('SingleExponential', opts, ['gradWidth', 'gradScale']);
    this.gradWidth = num('SingleExponential', 'gradWidth', o.gradWidth, 0.5, (x) => x > 0, 'a positive number');
    this.gradScale = num('SingleExponential', 'gradScale', o.gradScale, 1.0);
  }
  /** @internal */ _native(theta: number): SurrogateNative {
    const w = f(theta * f(this.gradWidth));
    return { surr: SURR_SINGLE_EXPONENTIAL, params: Float32Array.of(f(this.gradScale) / w, 1 / w) };
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
    const o = checkOptions('Heaviside', opts, ['window']);
    this.window = num('Heaviside', 'window', o.window, 1.0);
  }
  /** @internal */ _native(theta: number): SurrogateNative {
    return { surr: SURR_HEAVISIDE, params: Float32Array.of(f(theta - f(this.window)), 1 / theta) };
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
    const o = checkOptions('Gaussian', opts, ['mu', 'sigma', 'gradScale']);
    this.mu = num('Gaussian', 'mu', o.mu, 0.0);
    this.sigma = num('Gaussian', 'sigma', o.sigma, 0.5, (x) => x > 0, 'a positive number');
    this.gradScale = num('Gaussian', 'gradScale', o.gradScale, 1.0);
  }
  /** @internal */ _native(_theta: number): SurrogateNative {
    const s = f(this.sigma);
    return { surr: SURR_GAUSSIAN, params: Float32Array.of(f(this.mu), -1 / (2 * s * s), f(this.gradScale) / (s * SQRT_2PI)) };
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
    const o = checkOptions('MultiGaussian', opts, ['mu', 'sigma', 'h', 's', 'gradScale']);
    this.mu = num('MultiGaussian', 'mu', o.mu, 0.0);
    this.sigma = num('MultiGaussian', 'sigma', o.sigma, 0.5, (x) => x > 0, 'a positive number');
    this.h = num('MultiGaussian', 'h', o.h, 0.15);
    this.s = num('MultiGaussian', 's', o.s, 6, (x) => x > 0, 'a positive number');
    this.gradScale = num('MultiGaussian', 'gradScale', o.gradScale, 1.0);
  }
  /** @internal */ _native(_theta: number): SurrogateNative {
    const sg = f(this.sigma), ss = f(f(this.s) * sg), gs = f(this.gradScale), h = f(this.h);
    return {
      surr: SURR_MULTI_GAUSSIAN,
      params: Float32Array.of(f(this.mu), -1 / (2 * sg * sg), (gs * (1 + h)) / (sg * SQRT_2PI), sg, -1 / (2 * ss * ss), (gs * h) / (ss * SQRT_2PI)),
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
    const o = checkOptions('PeriodicExponential', opts, ['gradWidth', 'gradScale']);
    this.gradWidth = num('PeriodicExponential', 'gradWidth', o.gradWidth, 0.5, (x) => x > 0, 'a positive number');
    this.gradScale = num('PeriodicExponential', 'gradScale', o.gradScale, 1.0);
  }
  /** @internal */ _native(_theta: number): SurrogateNative {
    return { surr: SURR_PERIODIC_EXPONENTIAL, params: Float32Array.of(1 / f(this.gradWidth), f(this.gradScale)) };
  }
}

/** A user surrogate: sigma(u) per element. */
export type CustomSurrogateFn = (vMem: Float32Array, spikeThreshold: number) => Float32Array | ArrayLike<number>;

export type Surrogate = SingleExponential | Heaviside | Gaussian | MultiGaussian | PeriodicExponential;
export type SurrogateSpec = Surrogate | CustomSurrogateFn;

export { checkOptions };
