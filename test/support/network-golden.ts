// The sinabs 3.1.3 network reference vectors (shared/golden/network_cases.json, described in
// NETWORKS.md beside it): loading, building each case's Sequential from its `modules` with
// spikelayers classes, and running its calls with the comparisons NETWORKS.md prescribes.
// SPIKELAYERS_GOLDEN_DIR may name another golden folder, SPIKELAYERS_NETWORK_GOLDEN another file of
// the same format.
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  AvgPool2d,
  Conv2d,
  Linear,
  SumOverTime,
  SumPool2d,
  crossEntropyLoss,
  ExpLeak,
  ExpLeakSqueeze,
  Flatten,
  IAF,
  IAFSqueeze,
  LIF,
  LIFSqueeze,
  Sequential,
  Tensor,
  type ModuleLike,
} from '../../lib/index.js';
import { goldenFile } from './golden-dir.js';
import { lifOptionsOf, type GoldenCase, type InTensor, type ResTensor } from './golden.js';

/** A result tensor of the file (float32 and float64 columns). */
export type NetResult = ResTensor;

export interface NetCall {
  op: 'forward' | 'reset_states';
  T?: number;
  input?: InTensor;
  grad_output?: InTensor;
  labels?: number[];
  output?: ResTensor;
  intermediate?: Record<string, ResTensor>;
  state_after?: Record<string, { v_mem?: ResTensor; i_syn?: ResTensor }>;
  omitted?: string[];
  loss?: ResTensor;
  grad_input?: ResTensor;
}

export interface NetTolerance {
  forward_rtol: number;
  loss_rtol?: number;
  grad_input_rtol?: number;
  grad_param_rtol?: number;
}

/** One entry of a case's `modules`: the type and the PyTorch/sinabs constructor options. */
export interface ModuleSpec {
  type: string;
  in_features?: number;
  out_features?: number;
  bias?: boolean;
  in_channels?: number;
  out_channels?: number;
  kernel_size?: number;
  stride?: number | null;
  padding?: number;
  dilation?: number;
  groups?: number;
  padding_mode?: string;
  ceil_mode?: boolean;
  count_include_pad?: boolean;
  divisor_override?: number | null;
  start_dim?: number;
  end_dim?: number;
  tau_mem?: number | InTensor;
  tau_syn?: number | InTensor | null;
  min_v_mem?: number | null;
  train_alphas?: boolean;
  shape?: number[] | null;
  norm_input?: boolean;
  record_states?: boolean;
  batch_size?: number | null;
  num_timesteps?: number | null;
  [option: string]: unknown;
}

export interface NetCase {
  name: string;
  description: string;
  tags: string[];
  input_layout: string;
  batch_size: number;
  mode: 'train' | 'eval';
  loss: { type: 'weighted_sum' | 'cross_entropy_time_sum' } | null;
  modules: ModuleSpec[];
  state_dict_keys: string[];
  state_dict: Record<string, InTensor & { kind: string; requires_grad: boolean }>;
  trainable: string[];
  calls: NetCall[];
  loss_total?: ResTensor;
  grad_parameters?: Record<string, ResTensor>;
  safetensors?: { file: string; bytes: number; sha256: string };
  suggested_tolerance: NetTolerance;
}

export const networkGoldenPath = process.env.SPIKELAYERS_NETWORK_GOLDEN ?? goldenFile('network_cases.json');
/** Where the case's `safetensors.file` paths are relative to. */
export const networkGoldenDir = path.dirname(networkGoldenPath);

/** The cases, or null when the file is absent. */
export function loadNetworkGolden(): NetCase[] | null {
  if (!existsSync(networkGoldenPath)) return null;
  const d = JSON.parse(readFileSync(networkGoldenPath, 'utf8'));
  if (d.format !== 'sinabs-network-golden-v1') throw new Error(`unexpected network golden format ${d.format}`);
  return d.cases as NetCase[];
}

const SPIKING = new Set(['LIF', 'IAF', 'LIFSqueeze', 'IAFSqueeze']);
const NEURON = new Set([...SPIKING, 'ExpLeak', 'ExpLeakSqueeze']);

function expectOnly(m: ModuleSpec, fixed: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(fixed))
    if (k in m && m[k] !== v)
      throw new Error(`${m.type}: ${k}=${JSON.stringify(m[k])} is not supported by this runner`);
}

function tauOpt(v: unknown): number | Tensor | null | undefined {
  if (v === null || v === undefined || typeof v === 'number') return v as number | null | undefined;
  const t = v as InTensor;
  return Tensor.from(Float32Array.from(t.data), t.shape);
}

/** One module of a case, built with its sinabs/torch options mapped to spikelayers'. */
export function buildModule(m: ModuleSpec): ModuleLike {
  switch (m.type) {
    case 'Linear':
      return new Linear({ inFeatures: m.in_features!, outFeatures: m.out_features!, bias: m.bias });
    case 'Conv2d':
      expectOnly(m, { dilation: 1, groups: 1, padding_mode: 'zeros' });
      return new Conv2d({
        inChannels: m.in_channels!,
        outChannels: m.out_channels!,
        kernelSize: m.kernel_size!,
        stride: m.stride!,
        padding: m.padding,
        bias: m.bias,
      });
    case 'AvgPool2d':
      expectOnly(m, { padding: 0, ceil_mode: false, count_include_pad: true, divisor_override: null });
      return new AvgPool2d({ kernelSize: m.kernel_size!, ...(m.stride === null ? {} : { stride: m.stride }) });
    case 'SumPool2d':
      expectOnly(m, { ceil_mode: false });
      return new SumPool2d({ kernelSize: m.kernel_size!, ...(m.stride === null ? {} : { stride: m.stride }) });
    case 'Flatten':
      return new Flatten({ startDim: m.start_dim, endDim: m.end_dim });
  }
  if (!NEURON.has(m.type)) throw new Error(`unknown module type ${m.type}`);
  const squeeze: Record<string, number> = {};
  if (m.batch_size !== undefined && m.batch_size !== null) squeeze.batchSize = m.batch_size;
  if (m.num_timesteps !== undefined && m.num_timesteps !== null) squeeze.numTimesteps = m.num_timesteps;
  if (m.type === 'ExpLeak' || m.type === 'ExpLeakSqueeze') {
    const o = {
      tauMem: tauOpt(m.tau_mem)!,
      shape: m.shape,
      trainAlphas: m.train_alphas,
      minVMem: m.min_v_mem,
      normInput: m.norm_input,
      recordStates: m.record_states,
    };
    return m.type === 'ExpLeak' ? new ExpLeak(o) : new ExpLeakSqueeze({ ...o, ...squeeze });
  }
  const l = lifOptionsOf({ options: { ...m, tau_mem: m.tau_mem ?? 1 } } as unknown as GoldenCase);
  if (m.type === 'IAF' || m.type === 'IAFSqueeze') {
    const o = {
      spikeThreshold: l.spikeThreshold,
      spikeFn: l.spikeFn!,
      resetFn: l.resetFn,
      surrogateGradFn: l.surrogateGradFn,
      tauSyn: l.tauSyn,
      minVMem: l.minVMem,
      shape: l.shape,
      recordStates: l.recordStates,
    };
    return m.type === 'IAF' ? new IAF(o) : new IAFSqueeze({ ...o, ...squeeze });
  }
  return m.type === 'LIF' ? new LIF(l) : new LIFSqueeze({ ...l, ...squeeze });
}

/** The case's `state_dict` as Tensors (values rounded to float32 as NETWORKS.md says). */
export function caseStateDict(c: NetCase): Record<string, Tensor> {
  return Object.fromEntries(
    Object.entries(c.state_dict).map(([k, t]) => [k, Tensor.from(Float32Array.from(t.data), t.shape)]),
  );
}

/** The fresh model of a case with its state_dict loaded. */
export function buildModel(c: NetCase): Sequential {
  const m = new Sequential(...c.modules.map(buildModule));
  m.loadStateDict(caseStateDict(c));
  return m;
}

// ---- comparisons (NETWORKS.md, "Tolerances") -----------------------------------------------------

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let k = 0; k < a.length; ++k) m = Math.max(m, Math.abs(a[k]!));
  return m;
}

function maxDiff(a: ArrayLike<number>, ref: ArrayLike<number>): { d: number; at: number } {
  let d = 0,
    at = -1;
  for (let k = 0; k < ref.length; ++k) {
    const e = Math.abs(a[k]! - ref[k]!);
    if (!(e <= d)) [d, at] = [e, k];
  }
  return { d, at };
}

/** Largest deviation seen per kind (relative, with the rule's normalisation), for reports. */
export type Worst = Record<'forward' | 'loss' | 'grad_input' | 'grad_param', number>;

function close(
  what: string,
  got: Tensor | null | undefined,
  ref: ResTensor,
  rtol: number,
  norm: 'max1' | 'max',
  worst: Worst,
  kind: keyof Worst,
): void {
  expect(got, `${what} missing`).to.be.instanceOf(Tensor);
  expect(got!.shape, `${what} shape`).to.deep.equal(ref.shape);
  const g = got!.toFloat32Array();
  const m = maxAbs(ref.f64);
  const scale = norm === 'max1' ? Math.max(1, m) : m;
  const { d, at } = maxDiff(g, ref.f64);
  worst[kind] = Math.max(worst[kind], scale > 0 ? d / scale : d);
  if (!(d <= rtol * scale))
    expect.fail(
      `${what}: max|diff| ${d.toExponential(3)} at ${at} (got ${g[at]}, ref ${ref.f64[at]}) > ${rtol} x ${scale.toPrecision(4)} (rel ${(d / (scale || 1)).toExponential(3)})`,
    );
}

function exact(what: string, got: Tensor, ref: ResTensor): void {
  expect(got.shape, `${what} shape`).to.deep.equal(ref.shape);
  const g = got.toFloat32Array();
  let bad = 0,
    first = -1;
  for (let k = 0; k < ref.f64.length; ++k) if (g[k] !== ref.f64[k]) (bad++, first < 0 && (first = k));
  if (bad) expect.fail(`${what}: ${bad} spike count(s) differ, first at ${first}: ${g[first]} != ${ref.f64[first]}`);
}

/** Loss of one call and dL/d(output), from the model output (float32). */
function callLoss(c: NetCase, call: NetCall, out: Tensor): { loss: number; grad: Tensor } {
  if (c.loss!.type === 'weighted_sum') {
    const g = Float32Array.from(call.grad_output!.data);
    const o = out.toFloat32Array();
    let s = 0;
    for (let k = 0; k < o.length; ++k) s += o[k]! * g[k]!;
    return { loss: s, grad: Tensor.from(g, call.grad_output!.shape, { device: out.device }) };
  }
  // cross_entropy_time_sum: z = output.reshape(B, T, C).sum(1) (the library's SumOverTime,
  // which reads (B*T, C) rows sample-major), CE(z, labels), grad broadcast back over T
  const squeezed = c.input_layout === '(B*T, *F)';
  const readout = new SumOverTime(squeezed ? { batchSize: c.batch_size, device: out.device } : { device: out.device });
  const z = readout.forward(out);
  const r = crossEntropyLoss(z, Int32Array.from(call.labels!));
  return { loss: r.loss, grad: readout.backward(r.grad) };
}

/**
 * Runs every call of a case on `model` (built fresh when not given) and checks every result
 * NETWORKS.md lists, on `device` (the model is moved there). Returns the largest relative
 * deviations seen.
 */
export function runNetworkCase(c: NetCase, model: Sequential = buildModel(c), device = 'cpu'): Worst {
  if (device !== 'cpu') model.to(device);
  const on = (t: Tensor): Tensor => (device === 'cpu' ? t : t.to(device));
  const tol = c.suggested_tolerance;
  const worst: Worst = { forward: 0, loss: 0, grad_input: 0, grad_param: 0 };
  const train = c.mode === 'train';
  if (!train) model.eval();
  const outputs = new Map<number, Tensor>();
  const hook = model.registerForwardHook((y, i) => void outputs.set(i, y));
  const last = c.modules.length - 1;
  const pending: { call: NetCall; idx: number; grad: Tensor }[] = [];
  let total = 0;
  const flush = (): void => {
    for (let k = pending.length - 1; k >= 0; --k) {
      const { call, idx, grad } = pending[k]!;
      const gi = model.backward(grad);
      close(`call ${idx} grad_input`, gi, call.grad_input!, tol.grad_input_rtol!, 'max', worst, 'grad_input');
    }
    pending.length = 0;
  };
  try {
    c.calls.forEach((call, idx) => {
      if (call.op === 'reset_states') {
        flush();
        model.resetStates();
        return;
      }
      outputs.clear();
      const input = on(Tensor.from(Float32Array.from(call.input!.data), call.input!.shape));
      const out = model.forward(input);
      const check = (what: string, i: number, got: Tensor, ref: ResTensor): void => {
        if (SPIKING.has(c.modules[i]!.type)) exact(what, got, ref);
        else close(what, got, ref, tol.forward_rtol, 'max1', worst, 'forward');
      };
      check(`call ${idx} output`, last, out, call.output!);
      for (const [k, ref] of Object.entries(call.intermediate ?? {}))
        check(`call ${idx} intermediate.${k}`, Number(k), outputs.get(Number(k))!, ref);
      for (const [k, st] of Object.entries(call.state_after ?? {})) {
        const layer = model.at(Number(k)) as LIF;
        if (st.v_mem)
          close(`call ${idx} state_after.${k}.v_mem`, layer.vMem, st.v_mem, tol.forward_rtol, 'max1', worst, 'forward');
        if (st.i_syn)
          close(`call ${idx} state_after.${k}.i_syn`, layer.iSyn, st.i_syn, tol.forward_rtol, 'max1', worst, 'forward');
      }
      if (!train) return;
      const { loss, grad } = callLoss(c, call, out);
      total += loss;
      const lref = call.loss!.f64[0]!;
      worst.loss = Math.max(worst.loss, Math.abs(loss - lref) / Math.max(1, Math.abs(lref)));
      expect(Math.abs(loss - lref), `call ${idx} loss ${loss} vs ${lref}`).to.be.at.most(
        tol.loss_rtol! * Math.max(1, Math.abs(lref)),
      );
      pending.push({ call, idx, grad });
    });
    if (!train) return worst;
    flush();
  } finally {
    hook.remove();
  }
  const tref = c.loss_total!.f64[0]!;
  expect(Math.abs(total - tref), `loss_total ${total} vs ${tref}`).to.be.at.most(
    tol.loss_rtol! * Math.max(1, Math.abs(tref)),
  );
  const params = new Map(model.namedParameters());
  for (const key of c.trainable) {
    const ref = c.grad_parameters![key]!;
    const p = params.get(key);
    expect(p, `parameter ${key}`).to.be.instanceOf(Tensor);
    close(`${key}.grad`, p!.grad, ref, tol.grad_param_rtol!, 'max', worst, 'grad_param');
  }
  return worst;
}
