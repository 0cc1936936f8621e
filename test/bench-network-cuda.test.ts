// The CUDA network rows of the benchmark (bench/network-cuda.ts) on a small network, run here
// through the CPU emulation of the CUDA launch (host arrays then run the CUDA kernels' per-thread
// code): every row completes, its bit-for-bit check against the reference step passes, and a
// perturbed result, a missing field or an error is flagged by the comparison and the verdict.
// No timing is asserted.
import { expect } from 'chai';
import { _cudaLaunchEmulation, _setCudaLaunchEmulation } from '../lib/backend.js';
import {
  compareNetworkResults,
  cudaNetworkTable,
  cudaNetworkVerdict,
  emulatedReference,
  networkInput,
  runCudaNetworkBench,
  type NetShape,
  type NetStepResult,
} from '../bench/network-cuda.js';
import type { NetworkRow } from '../bench/network.js';

const SMALL: NetShape = { B: 4, T: 12, IN: 24, HID: 10, OUT: 5 };
// the bench's inputs scaled up so that the small hidden layer spikes (about 30% of the steps on
// dense input, 7% on the 5% spikes): the hidden spikes then reach the second layer's gradient
const SCALE = 100;
const input = (kind: 'spikes5' | 'dense'): Float32Array => networkInput(SMALL, kind).map((v) => v * SCALE);

function copyResult(r: NetStepResult): NetStepResult {
  const map = (o: Record<string, Float32Array>) =>
    Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v.slice()]));
  return {
    linear0: r.linear0.slice(),
    linear2: r.linear2.slice(),
    hiddenSpikes: r.hiddenSpikes.slice(),
    outputSpikes: r.outputSpikes.slice(),
    logits: r.logits.slice(),
    loss: r.loss,
    grads: map(r.grads),
    params: map(r.params),
  };
}

/** The next float32 above v (one ulp up): a perturbation of a single bit pattern. */
function nextUp(v: number): number {
  const f = new Float32Array([v]);
  const u = new Uint32Array(f.buffer);
  if (v === 0) u[0] = 1;
  else if (v > 0) u[0]! += 1;
  else u[0]! -= 1;
  return f[0]!;
}

describe('bench: CUDA network rows (through the emulated launch)', function () {
  let was = false;
  before(() => {
    was = _cudaLaunchEmulation();
    _setCudaLaunchEmulation(true);
  });
  after(() => _setCudaLaunchEmulation(was));

  it('runs every row on the emulated CUDA path; each result equals the reference bit for bit', () => {
    const res = runCudaNetworkBench({ dev: 'cpu', reps: 1, cpuRows: [], shape: SMALL, input });
    expect(res.error).to.equal(null);
    expect(res.rows.map((r) => `${r.input}/${r.mode}`)).to.deep.equal([
      'spikes5/inference',
      'spikes5/training',
      'dense/inference',
      'dense/training',
    ]);
    for (const r of res.rows) {
      expect(r.runs).to.equal(1);
      expect(Number.isFinite(r.medianMs)).to.equal(true);
      expect(r.check.mismatches, `${r.input}/${r.mode}`).to.deep.equal({});
      expect(r.check.identical).to.equal(true);
      // Linear outputs and spikes (hidden, output), logits; training adds the loss, 4 gradients and 4 parameters
      const paramElems = SMALL.IN * SMALL.HID + SMALL.HID + SMALL.HID * SMALL.OUT + SMALL.OUT;
      const base = 2 * SMALL.B * SMALL.T * (SMALL.HID + SMALL.OUT) + SMALL.B * SMALL.OUT;
      expect(r.check.elements).to.equal(r.mode === 'training' ? base + 1 + 2 * paramElems : base);
      expect(r.cpuMs).to.equal(null); // no CPU rows given
    }
    const v = cudaNetworkVerdict(res.rows, res.error);
    expect(v.ok).to.equal(true);
    expect(v.lines).to.have.length(4);
    for (const line of v.lines)
      expect(line).to.match(/^cuda vs cpu network \w+\/\w+: .*identical to the emulated launch/);
    const text = cudaNetworkTable(res.rows, res.shape, res.reps).join('\n');
    expect(text).to.include('CUDA network rows on cpu');
    expect(text).not.to.include('DIFFER');
  });

  it('the reference step is a real training step: hidden spikes, finite loss, nonzero gradients', () => {
    const x = input('dense');
    const ref = emulatedReference(SMALL, 'dense', 'training', x);
    expect(_cudaLaunchEmulation()).to.equal(true); // restored
    expect(ref.hiddenSpikes.some((v) => v > 0)).to.equal(true);
    expect(Number.isFinite(ref.loss)).to.equal(true);
    expect(ref.loss!).to.be.greaterThan(0); // cross-entropy of 5 classes
    expect(Object.keys(ref.grads).sort()).to.deep.equal(['0.bias', '0.weight', '2.bias', '2.weight']);
    const g = ref.grads['2.weight']!;
    expect(g.length).to.equal(SMALL.HID * SMALL.OUT);
    expect(g.some((v) => v !== 0)).to.equal(true);
    const ev = emulatedReference(SMALL, 'dense', 'inference', x);
    expect(ev.loss).to.equal(null);
    expect(Object.keys(ev.grads)).to.deep.equal([]);
    // the same forward in both modes
    expect(compareNetworkResults({ ...ref, loss: null, grads: {}, params: {} }, ev).identical).to.equal(true);
  });

  it('flags a one-ulp change, a flipped spike, a changed loss, a missing gradient and a length change', () => {
    const x = input('spikes5');
    const ref = emulatedReference(SMALL, 'spikes5', 'training', x);
    expect(compareNetworkResults(ref, copyResult(ref)).identical).to.equal(true);

    const a = copyResult(ref);
    a.grads['0.weight']![3] = nextUp(a.grads['0.weight']![3]!);
    let c = compareNetworkResults(ref, a);
    expect(c.identical).to.equal(false);
    expect(c.mismatches).to.deep.equal({ 'grad 0.weight': 1 });

    const b = copyResult(ref);
    b.outputSpikes[0] = b.outputSpikes[0] === 0 ? 1 : 0;
    b.params['2.bias']![1] = nextUp(b.params['2.bias']![1]!);
    b.linear2[7] = nextUp(b.linear2[7]!);
    c = compareNetworkResults(ref, b);
    expect(c.mismatches).to.deep.equal({ linear2: 1, outputSpikes: 1, 'param 2.bias': 1 });

    const d = copyResult(ref);
    d.loss = ref.loss! * (1 + 2 ** -40);
    expect(compareNetworkResults(ref, d).mismatches).to.deep.equal({ loss: 1 });
    d.loss = null;
    expect(compareNetworkResults(ref, d).mismatches).to.deep.equal({ loss: 1 });

    const e = copyResult(ref);
    delete e.grads['2.bias'];
    e.logits = e.logits.subarray(1);
    c = compareNetworkResults(ref, e);
    expect(c.mismatches).to.deep.equal({ logits: ref.logits.length, 'grad 2.bias': SMALL.OUT });

    // -0 and +0 differ in their bits
    const z = copyResult(ref);
    const k = z.hiddenSpikes.findIndex((v) => Object.is(v, 0));
    expect(k).to.be.at.least(0);
    z.hiddenSpikes[k] = -0;
    expect(compareNetworkResults(ref, z).mismatches).to.deep.equal({ hiddenSpikes: 1 });
  });

  it('the verdict fails on a differing row, on an error and on no rows', () => {
    const res = runCudaNetworkBench({ dev: 'cpu', reps: 1, cpuRows: [], shape: SMALL, input });
    const rows = res.rows.map((r) => ({ ...r, check: { ...r.check } }));
    rows[1]!.check = { identical: false, elements: rows[1]!.check.elements, mismatches: { 'grad 0.weight': 7 } };
    const v = cudaNetworkVerdict(rows, null);
    expect(v.ok).to.equal(false);
    expect(v.lines[1]).to.match(
      /^cuda vs cpu network spikes5\/training: .*DIFFER from the emulated launch \(grad 0\.weight: 7\)/,
    );
    expect(cudaNetworkTable(rows, res.shape, 1).join('\n')).to.include('DIFFER');
    const err = cudaNetworkVerdict(res.rows, 'ERR_CUDA: out of memory');
    expect(err.ok).to.equal(false);
    expect(err.lines.at(-1)).to.equal('cuda vs cpu network: stopped early: ERR_CUDA: out of memory');
    expect(cudaNetworkVerdict([], null)).to.deep.equal({ ok: false, lines: ['cuda vs cpu network: no rows ran'] });
  });

  it('the ratio to the CPU row uses the CPU row with the most threads of the same input and mode', () => {
    const mk = (threads: number, input: 'spikes5' | 'dense', mode: 'inference' | 'training', medianMs: number) =>
      ({ threads, input, mode, medianMs }) as NetworkRow;
    const cpuRows = [
      mk(1, 'spikes5', 'inference', 80),
      mk(2, 'spikes5', 'inference', 40),
      mk(2, 'spikes5', 'training', 300),
      mk(2, 'dense', 'inference', 50),
      mk(2, 'dense', 'training', 320),
    ];
    const res = runCudaNetworkBench({ dev: 'cpu', reps: 1, cpuRows, shape: SMALL, input });
    const r = res.rows[0]!;
    expect(r.cpuThreads).to.equal(2);
    expect(r.cpuMs).to.equal(40);
    expect(r.speedupVsCpu).to.equal(40 / r.medianMs);
    expect(res.rows[3]!.cpuMs).to.equal(320);
  });
});
