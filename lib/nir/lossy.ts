// What a neuron layer's options become in NIR, compared with what fromNir rebuilds from its node:
// every option whose value the file cannot carry is one NirLoss. toNir refuses a model with
// losses unless it is given { allowLossy: true }, and then returns them with the graph.
import { MaxSpike, MembraneReset, MembraneSubtract, MultiSpike, SingleExponential } from '../activations.js';
import type { Tensor } from '../tensor.js';
import type { LIF } from '../neurons/lif.js';
import { fmt } from '../nn/shape.js';

/** One layer option that the NIR file cannot express, and what the file (and its import) get instead. */
export interface NirLoss {
  /** The layer's position in the model (0 for a bare layer). */
  readonly index: number;
  /** The layer's name, which is its node id in the graph ('0', '1', ..., or 'model'). */
  readonly layer: string;
  /** The layer's type name, e.g. 'LIFSqueeze'. */
  readonly type: string;
  /** The option, by its constructor name, e.g. 'tauSyn' ('time dimension' for a layer on (B, T, ...) input). */
  readonly option: string;
  /** The option's value, described, e.g. '5', 'Tensor [4]', 'SingleSpike'. */
  readonly value: string;
  /** What NIR gets instead, and what fromNir builds from it. */
  readonly nir: string;
}

/** A value of a layer option, described for a loss: a number, or a tensor by its shape (its one value if it has one). */
function show(t: Tensor): string {
  const d = t.toFloat32Array();
  return d.length === 1 ? String(d[0]) : `Tensor ${fmt(t.shape)}`;
}

/** Whether the spike function is what fromNir builds (MultiSpike, or MaxSpike without a limit). */
function isMultiSpike(f: unknown): boolean {
  return f === MultiSpike || f instanceof MultiSpike || (f instanceof MaxSpike && f.maxNumSpikesPerBin === null);
}

function spikeFnName(f: unknown): string {
  if (f === null) return 'null (no spikes)';
  if (typeof f === 'function') return (f as { name: string }).name;
  if (f instanceof MaxSpike) return `MaxSpike (maxNumSpikesPerBin ${f.maxNumSpikesPerBin})`;
  const kind = (f as { kind?: unknown }).kind;
  return typeof kind === 'string' ? kind : 'a custom spike function';
}

/** The surrogate fromNir gives every spiking layer: SingleExponential with its defaults. */
function isDefaultSurrogate(s: unknown): boolean {
  return s instanceof SingleExponential && s.gradWidth === 0.5 && s.gradScale === 1;
}

function surrogateName(s: unknown): string {
  if (typeof s === 'function') return 'a function (vMem, threshold) => sigma';
  const o = s as Record<string, unknown>;
  const params = Object.entries(o)
    .filter(([k, v]) => k !== 'kind' && typeof v === 'number')
    .map(([k, v]) => `${k} ${v}`);
  return `${String(o.kind)}${params.length ? ` (${params.join(', ')})` : ''}`;
}

/**
 * The options of a LIF-family layer that its NIR node cannot carry. `threshold` is the
 * layer's spike threshold as exported (1 for the threshold-scaled layers), `squeeze` whether it
 * takes (B*T, ...) input, `T` the number of steps of a layer on (B, T, ...) input.
 */
export function neuronLosses(
  m: LIF,
  where: { index: number; layer: string; type: string },
  squeeze: boolean,
  T: number,
): NirLoss[] {
  const lost: NirLoss[] = [];
  const add = (option: string, value: string, nir: string): void => {
    lost.push({ ...where, option, value, nir });
  };
  const kind = m.kind;
  const node = kind === 'IAF' ? 'IF' : kind === 'ExpLeak' ? 'LI' : 'LIF';
  if (m.trainAlphas)
    add(
      'trainAlphas',
      'true',
      'NIR gets tau = -1/ln(alphaMem); fromNir builds a layer that trains tauMem (alpha = exp(-1/tau) again, rounded)',
    );
  if (m.tauSyn !== null || m.alphaSyn !== null)
    add(
      'tauSyn',
      show((m.tauSyn ?? m.tauSynCalculated)!),
      `NIR gets a plain ${node} node without synaptic current (sinabs writes no CubaLIF either); fromNir builds tauSyn: null`,
    );
  if (kind !== 'IAF' && m.normInput)
    add(
      'normInput',
      'true',
      'NIR gets r = 1, which fromNir reads as normInput: false (the input is no longer scaled by 1 - alpha)',
    );
  const minV = m.minVMem;
  if (kind === 'IAF') {
    const th = m.spikeThreshold!.toFloat32Array()[0]!;
    const v = minV === null ? null : minV.toFloat32Array()[0]!;
    if (v !== -th)
      add(
        'minVMem',
        v === null ? 'null' : String(v),
        `NIR has no field for it; fromNir clips the IF membrane at -v_threshold (${-th})`,
      );
  } else if (minV !== null)
    add('minVMem', show(minV), 'NIR has no field for it; fromNir builds minVMem: null (no lower bound)');
  if (kind !== 'ExpLeak') {
    if (!isMultiSpike(m.spikeFn))
      add(
        'spikeFn',
        spikeFnName(m.spikeFn),
        'NIR has no field for it (its neurons spike on a threshold crossing); fromNir builds MultiSpike',
      );
    const r = m.resetFn;
    const th = m.spikeThreshold!.toFloat32Array()[0]!;
    if (r instanceof MembraneReset)
      add(
        'resetFn',
        `MembraneReset (resetValue ${r.resetValue})`,
        'NIR gets v_reset = 0 (written whatever the reset kind), which fromNir ignores; it builds MembraneSubtract (subtract the threshold)',
      );
    else if (r instanceof MembraneSubtract && r.subtractValue !== null && Math.fround(r.subtractValue) !== th)
      add(
        'resetFn',
        `MembraneSubtract (subtractValue ${r.subtractValue})`,
        'NIR has no field for it; fromNir builds MembraneSubtract subtracting the threshold',
      );
    if (!isDefaultSurrogate(m.surrogateGradFn))
      add(
        'surrogateGradFn',
        surrogateName(m.surrogateGradFn),
        'NIR has no field for it (it matters to gradients only); fromNir builds SingleExponential (gradWidth 0.5, gradScale 1)',
      );
  }
  if (!squeeze)
    add(
      'time dimension',
      `(B, T, ...) input with T = ${T}`,
      'NIR gets T as part of the Input and Output shapes (as sinabs writes it); fromNir builds a squeeze layer, which reads each (T, ...) sample as one step of T x neurons',
    );
  return lost;
}
