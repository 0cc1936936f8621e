// Loads the sinabs 3.1.3 reference vectors (see ../shared/golden/README.md) and builds layers
// from their options. The file lives beside the repository (shared/golden); SPIKELAYERS_GOLDEN
// may point elsewhere.
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import {
  ExpLeak, IAF, Gaussian, Heaviside, LIF, MaxSpike, MembraneReset, MembraneSubtract, MultiGaussian, MultiSpike,
  PeriodicExponential, SingleExponential, SingleSpike, Tensor, type LIFOptions,
} from '../lib/index.js';

export interface InTensor { shape: number[]; data: number[] }
export interface ResTensor { shape: number[]; f32: number[]; f64: number[] }
export interface GoldenCall {
  op: 'forward' | 'reset_states' | 'detach_states';
  input?: InTensor;
  grad_output?: InTensor;
  output?: ResTensor;
  state_after?: Record<string, ResTensor>;
  recordings?: Record<string, ResTensor>;
  grad_input?: ResTensor;
}
export interface GoldenCase {
  name: string;
  layer: 'LIF' | 'IAF' | 'ExpLeak';
  tags: string[];
  options: Record<string, any>;
  parameters: Record<string, InTensor>;
  derived: Record<string, ResTensor>;
  trainable_parameters: string[];
  calls: GoldenCall[];
  grad_parameters: Record<string, ResTensor>;
  suggested_tolerance: { state_atol: number; grad_input_atol: number; grad_param_rtol: number };
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const goldenPath = process.env.SPIKELAYERS_GOLDEN ?? path.resolve(repoRoot, '../shared/golden/lif_cases.json');

export function loadGolden(): GoldenCase[] | null {
  if (!existsSync(goldenPath)) return null;
  const d = JSON.parse(readFileSync(goldenPath, 'utf8'));
  if (d.format !== 'sinabs-lif-golden-v1') throw new Error(`unexpected golden format ${d.format}`);
  return d.cases as GoldenCase[];
}

export function tensorOf(t: InTensor): Tensor {
  return Tensor.from(Float32Array.from(t.data), t.shape);
}

function tauOpt(v: number | InTensor | null | undefined): number | Tensor | null | undefined {
  if (v === null || v === undefined || typeof v === 'number') return v;
  return tensorOf(v);
}

/** sinabs options of a golden case -> LIF options. */
export function lifOptionsOf(c: GoldenCase): LIFOptions {
  const o = c.options;
  const sf = o.spike_fn?.type;
  const spikeFn =
    sf === 'MultiSpike' ? MultiSpike
    : sf === 'SingleSpike' ? SingleSpike
    : sf === 'MaxSpike' ? new MaxSpike({ maxNumSpikesPerBin: o.spike_fn.max_num_spikes_per_bin })
    : (() => { throw new Error(`unknown spike_fn ${sf}`); })();
  const rf = o.reset_fn;
  const resetFn = rf.type === 'MembraneSubtract'
    ? new MembraneSubtract({ subtractValue: rf.subtract_value })
    : new MembraneReset({ resetValue: rf.reset_value });
  const s = o.surrogate_grad_fn;
  const surrogateGradFn =
    s.type === 'SingleExponential' ? new SingleExponential({ gradWidth: s.grad_width, gradScale: s.grad_scale })
    : s.type === 'Heaviside' ? new Heaviside({ window: s.window })
    : s.type === 'Gaussian' ? new Gaussian({ mu: s.mu, sigma: s.sigma, gradScale: s.grad_scale })
    : s.type === 'MultiGaussian' ? new MultiGaussian({ mu: s.mu, sigma: s.sigma, h: s.h, s: s.s, gradScale: s.grad_scale })
    : new PeriodicExponential({ gradWidth: s.grad_width, gradScale: s.grad_scale });
  return {
    tauMem: tauOpt(o.tau_mem)!,
    tauSyn: tauOpt(o.tau_syn),
    spikeThreshold: o.spike_threshold,
    spikeFn,
    resetFn,
    surrogateGradFn,
    minVMem: o.min_v_mem,
    trainAlphas: o.train_alphas,
    shape: o.shape,
    normInput: o.norm_input,
    recordStates: o.record_states,
  };
}

/** The golden case's layer: LIF, IAF or ExpLeak, built from its sinabs options. */
export function makeLif(c: GoldenCase): LIF {
  if (c.layer === 'ExpLeak') {
    const o = c.options;
    return new ExpLeak({ tauMem: tauOpt(o.tau_mem)!, shape: o.shape, trainAlphas: o.train_alphas, minVMem: o.min_v_mem, normInput: o.norm_input, recordStates: o.record_states });
  }
  if (c.layer === 'IAF') {
    const l = lifOptionsOf({ ...c, options: { ...c.options, tau_mem: 1 } });
    return new IAF({ spikeThreshold: l.spikeThreshold, spikeFn: l.spikeFn!, resetFn: l.resetFn, surrogateGradFn: l.surrogateGradFn, tauSyn: l.tauSyn, minVMem: l.minVMem, shape: l.shape, recordStates: l.recordStates });
  }
  return new LIF(lifOptionsOf(c));
}
