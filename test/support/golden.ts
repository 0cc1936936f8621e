// Loads the sinabs 3.1.3 reference vectors (see ../shared/golden/README.md), builds layers
// from their options and runs a case through the public API (the golden runner). The file lives beside the repository (shared/golden);
// SPIKELAYERS_GOLDEN_DIR may name another golden folder, SPIKELAYERS_GOLDEN the file itself.
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import { goldenFile } from './golden-dir.js';
import {
  ExpLeak,
  IAF,
  Gaussian,
  Heaviside,
  LIF,
  MaxSpike,
  MembraneReset,
  MembraneSubtract,
  MultiGaussian,
  MultiSpike,
  PeriodicExponential,
  SingleExponential,
  SingleSpike,
  Tensor,
  type LIFOptions,
} from '../../lib/index.js';

export interface InTensor {
  shape: number[];
  data: number[];
}
export interface ResTensor {
  shape: number[];
  f32: number[];
  f64: number[];
}
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

export const goldenPath = process.env.SPIKELAYERS_GOLDEN ?? goldenFile('lif_cases.json');

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
    sf === 'MultiSpike'
      ? MultiSpike
      : sf === 'SingleSpike'
        ? SingleSpike
        : sf === 'MaxSpike'
          ? new MaxSpike({ maxNumSpikesPerBin: o.spike_fn.max_num_spikes_per_bin })
          : (() => {
              throw new Error(`unknown spike_fn ${sf}`);
            })();
  const rf = o.reset_fn;
  const resetFn =
    rf.type === 'MembraneSubtract'
      ? new MembraneSubtract({ subtractValue: rf.subtract_value })
      : new MembraneReset({ resetValue: rf.reset_value });
  const s = o.surrogate_grad_fn;
  const surrogateGradFn =
    s.type === 'SingleExponential'
      ? new SingleExponential({ gradWidth: s.grad_width, gradScale: s.grad_scale })
      : s.type === 'Heaviside'
        ? new Heaviside({ window: s.window })
        : s.type === 'Gaussian'
          ? new Gaussian({ mu: s.mu, sigma: s.sigma, gradScale: s.grad_scale })
          : s.type === 'MultiGaussian'
            ? new MultiGaussian({ mu: s.mu, sigma: s.sigma, h: s.h, s: s.s, gradScale: s.grad_scale })
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
    return new ExpLeak({
      tauMem: tauOpt(o.tau_mem)!,
      shape: o.shape,
      trainAlphas: o.train_alphas,
      minVMem: o.min_v_mem,
      normInput: o.norm_input,
      recordStates: o.record_states,
    });
  }
  if (c.layer === 'IAF') {
    const l = lifOptionsOf({ ...c, options: { ...c.options, tau_mem: 1 } });
    return new IAF({
      spikeThreshold: l.spikeThreshold,
      spikeFn: l.spikeFn!,
      resetFn: l.resetFn,
      surrogateGradFn: l.surrogateGradFn,
      tauSyn: l.tauSyn,
      minVMem: l.minVMem,
      shape: l.shape,
      recordStates: l.recordStates,
    });
  }
  return new LIF(lifOptionsOf(c));
}

// ---- the golden runner ------------------------------------------------------------------------

function maxAbsDiff(a: Float32Array, ref: number[]): { d: number; at: number } {
  let d = 0,
    at = -1;
  for (let k = 0; k < ref.length; ++k) {
    const e = Math.abs(a[k]! - ref[k]!);
    if (!(e <= d)) {
      d = e;
      at = k;
    }
  }
  return { d, at };
}

function expectClose(what: string, got: Tensor | null | undefined, ref: ResTensor, atol: number): void {
  expect(got, `${what} missing`).to.be.instanceOf(Tensor);
  expect(got!.shape, `${what} shape`).to.deep.equal(ref.shape);
  const { d, at } = maxAbsDiff(got!.toFloat32Array(), ref.f64);
  expect(
    d,
    `${what}: max |diff| ${d} at ${at} (got ${got!.toFloat32Array()[at]}, ref ${ref.f64[at]}) > atol ${atol}`,
  ).to.be.at.most(atol);
}

function expectSpikes(what: string, got: Tensor, ref: ResTensor): void {
  expect(got.shape, `${what} shape`).to.deep.equal(ref.shape);
  const g = got.toFloat32Array();
  for (let k = 0; k < ref.f64.length; ++k)
    if (g[k] !== ref.f64[k]) expect.fail(`${what}: spike count ${g[k]} != ${ref.f64[k]} at element ${k}`);
}

function gradOf(layer: LIF, name: string): Tensor | null {
  const p = layer.namedParameters().find(([n]) => n === name);
  if (!p) throw new Error(`no parameter ${name}`);
  return p[1].grad;
}

/**
 * Runs one golden case through `layer` (default: a new one from the case, on `device`): spikes
 * exactly, states/recordings/gradients within the case's suggested tolerance of the f64 columns.
 * Forward calls of a segment are backwarded in reverse order before each cut.
 */
export function runGoldenCase(c: GoldenCase, layer?: LIF, device = 'cpu'): void {
  layer ??= device === 'cpu' ? makeLif(c) : makeLif(c).to(device);
  const on = (t: Tensor): Tensor => (device === 'cpu' ? t : t.to(device));
  const tol = c.suggested_tolerance;
  const segment: { call: (typeof c.calls)[number]; idx: number }[] = [];
  const flush = (): void => {
    for (let k = segment.length - 1; k >= 0; --k) {
      const { call, idx } = segment[k]!;
      const gi = layer!.backward(on(tensorOf(call.grad_output!)));
      expectClose(`call ${idx} grad_input`, gi, call.grad_input!, tol.grad_input_atol);
    }
    segment.length = 0;
  };
  c.calls.forEach((call, idx) => {
    if (call.op === 'reset_states') {
      flush();
      layer.resetStates();
      return;
    }
    if (call.op === 'detach_states') {
      flush();
      layer.detachStates();
      return;
    }
    const input = on(tensorOf(call.input!));
    const st = layer.shape;
    if (st && st.slice(1).join() !== input.shape.slice(2).join()) flush(); // re-creation cuts
    const out = layer.forward(input);
    if (c.layer === 'ExpLeak') expectClose(`call ${idx} output`, out, call.output!, tol.state_atol);
    else expectSpikes(`call ${idx} output`, out, call.output!);
    expectClose(`call ${idx} v_mem`, layer.vMem, call.state_after!.v_mem!, tol.state_atol);
    if (call.state_after!.i_syn) expectClose(`call ${idx} i_syn`, layer.iSyn, call.state_after!.i_syn, tol.state_atol);
    else expect(layer.iSyn, 'i_syn without tau_syn').to.equal(null);
    if (call.recordings) {
      expectClose(`call ${idx} recordings.v_mem`, layer.recordings.vMem, call.recordings.v_mem!, tol.state_atol);
      if (call.recordings.i_syn)
        expectClose(`call ${idx} recordings.i_syn`, layer.recordings.iSyn, call.recordings.i_syn, tol.state_atol);
    }
    segment.push({ call, idx });
  });
  flush();
  for (const name of c.trainable_parameters) {
    const ref = c.grad_parameters[name]!;
    const g = gradOf(layer, name);
    expect(g, `${name}.grad`).to.be.instanceOf(Tensor);
    expect(g!.shape, `${name}.grad shape`).to.deep.equal(ref.shape);
    const refMax = Math.max(...ref.f64.map(Math.abs));
    const { d } = maxAbsDiff(g!.toFloat32Array(), ref.f64);
    const rel = refMax > 0 ? d / refMax : d;
    expect(rel, `${name}.grad: max|diff|/max|ref| = ${rel} > ${tol.grad_param_rtol}`).to.be.at.most(
      tol.grad_param_rtol,
    );
  }
}
