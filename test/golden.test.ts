// Every LIF case of the sinabs 3.1.3 golden file, through the public API: spikes exactly,
// states/recordings/gradients within each case's suggested tolerance against the f64 columns.
// Forward calls of a segment are backwarded in reverse order before each cut.
import { expect } from 'chai';
import { LIF, Tensor } from '../lib/index.js';
import { goldenPath, loadGolden, makeLif, tensorOf, type GoldenCase, type ResTensor } from './golden-data.js';

const cases = loadGolden();

function maxAbsDiff(a: Float32Array, ref: number[]): { d: number; at: number } {
  let d = 0, at = -1;
  for (let k = 0; k < ref.length; ++k) {
    const e = Math.abs(a[k]! - ref[k]!);
    if (!(e <= d)) { d = e; at = k; }
  }
  return { d, at };
}

function expectClose(what: string, got: Tensor | null | undefined, ref: ResTensor, atol: number): void {
  expect(got, `${what} missing`).to.be.instanceOf(Tensor);
  expect(got!.shape, `${what} shape`).to.deep.equal(ref.shape);
  const { d, at } = maxAbsDiff(got!.toFloat32Array(), ref.f64);
  expect(d, `${what}: max |diff| ${d} at ${at} (got ${got!.toFloat32Array()[at]}, ref ${ref.f64[at]}) > atol ${atol}`).to.be.at.most(atol);
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
    if (call.op === 'reset_states') { flush(); layer.resetStates(); return; }
    if (call.op === 'detach_states') { flush(); layer.detachStates(); return; }
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
      if (call.recordings.i_syn) expectClose(`call ${idx} recordings.i_syn`, layer.recordings.iSyn, call.recordings.i_syn, tol.state_atol);
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
    expect(rel, `${name}.grad: max|diff|/max|ref| = ${rel} > ${tol.grad_param_rtol}`).to.be.at.most(tol.grad_param_rtol);
  }
}

describe('golden: sinabs 3.1.3 LIF reference vectors', function () {
  if (!cases) {
    it('golden file present', function () {
      if (process.env.CI) expect.fail(`golden file not found at ${goldenPath}`);
      console.log(`      skipped: golden file not found at ${goldenPath} (set SPIKELAYERS_GOLDEN)`);
      this.skip();
    });
    return;
  }
  it('holds the expected cases', function () {
    expect(cases.filter((c) => c.layer === 'LIF').length).to.be.greaterThan(80);
    expect(cases.filter((c) => c.layer !== 'LIF').length).to.be.greaterThan(4);
  });
  for (const c of cases) {
    it(`${c.name} (${c.layer}) [${c.tags.filter((t) => !t.startsWith('layer:')).join(' ')}]`, function () {
      runGoldenCase(c);
    });
  }
});
