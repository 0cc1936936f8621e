// Sequential (or one layer) -> NIR graph, with the node mapping of sinabs' to_nir (sinabs 3.1.3).
import { ErrorCodes, SpikelayersError } from '../errors.js';
import { Tensor, describe } from '../tensor.js';
import { checkOptions, readBool } from '../validate.js';
import { Linear } from '../nn/linear.js';
import { Conv2d } from '../nn/conv2d.js';
import { SumPool2d } from '../nn/pooling.js';
import { Flatten } from '../nn/flatten.js';
import { Sequential } from '../nn/sequential.js';
import { inferOutputShape } from '../nn/infer.js';
import type { ModuleLike } from '../nn/module.js';
import { LIF } from '../neurons/lif.js';
import { IAF } from '../neurons/iaf.js';
import { ExpLeak } from '../neurons/expleak.js';
import { ThresholdScaledIAFSqueeze, ThresholdScaledLIFSqueeze } from './threshold.js';
import type { NirArray, NirGraph, NirNode } from './read.js';
import { fmt } from '../nn/shape.js';
import { neuronLosses, type NirLoss } from './lossy.js';

/** Options of {@link toNir}. */
export interface ToNirOptions {
  /**
   * The shape of one sample without the batch dimension, which becomes the `Input` node's shape:
   * `[N]` or `[C, H, W]` per step for squeeze layers (which take `(B*T, ...)` rows), `[T, N]` for
   * layers on `(B, T, N)` input. Required.
   */
  inputShape: number[];
  /**
   * Export even where NIR cannot express a layer option (e.g. `tauSyn`, `normInput: true`, a
   * `MembraneReset`), and list each such option in the result's `lost` (default false: such a
   * model is refused with `ERR_NIR_LOSSY`).
   */
  allowLossy?: boolean;
}

/** What {@link toNir} returns: the graph, and the layer options it could not carry (empty when nothing was lost). */
export interface NirExport extends NirGraph {
  /** Every layer option the graph does not express, in layer order (only non-empty with `allowLossy`). */
  readonly lost: NirLoss[];
}

const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);

function floats(t: Tensor): NirArray {
  return { kind: 'array', dtype: 'float32', shape: t.shape, data: t.toFloat32Array() };
}
function filled(shape: number[], v: number): NirArray {
  return { kind: 'array', dtype: 'float32', shape, data: new Float32Array(prod(shape)).fill(v) };
}
function ints(d: readonly number[], scalar = false): NirArray {
  return { kind: 'array', dtype: 'int64', shape: scalar ? [] : [d.length], data: d.slice() };
}

/** A threshold of one value as an array of `shape` (sinabs broadcasts a (1,) or 0-d threshold). */
function thresholdLike(th: Tensor, shape: number[], id: string): NirArray {
  const d = th.toFloat32Array();
  if (d.length === 1) return filled(shape, d[0]!);
  if (d.length !== prod(shape))
    throw new RangeError(`toNir: layer '${id}': spike_threshold of shape ${fmt(th.shape)} does not fit ${fmt(shape)}`);
  return { kind: 'array', dtype: 'float32', shape, data: d };
}

interface SqueezeLike {
  batchSize: number | null;
  numTimesteps: number | null;
  _unsqueeze: unknown;
}
const isSqueeze = (m: unknown): m is SqueezeLike => typeof (m as Partial<SqueezeLike>)._unsqueeze === 'function';

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * The first dimension of the input the model is traced with: squeeze layers take (B*T, ...) rows
 * and need a multiple of their batch size (or number of steps), or exactly B*T when both are set.
 */
function traceRows(children: [string, ModuleLike][]): number {
  let rows = 1;
  for (const [, m] of children) {
    if (!(m instanceof LIF) || !isSqueeze(m)) continue;
    const { batchSize: b, numTimesteps: t } = m;
    if (b !== null && t !== null) return b * t;
    const k = b ?? t ?? 1;
    rows = (rows / gcd(rows, k)) * k;
  }
  return rows;
}

/** The NIR node of one layer; `inShape` is its input shape (batch first). Options NIR cannot carry go to `lost`. */
function nodeOf(
  id: string,
  index: number,
  m: ModuleLike,
  inShape: number[],
  outShape: number[],
  lost: NirLoss[],
): NirNode {
  const typeName = (m as { typeName?: string }).typeName ?? m.constructor.name;
  const unsupported = (why: string): never => {
    throw new SpikelayersError(ErrorCodes.NIR_UNSUPPORTED, `toNir: layer ${index} ('${id}', ${typeName}): ${why}`);
  };
  if (m instanceof Linear) {
    return {
      type: 'Affine',
      params: { weight: floats(m.weight), bias: m.bias ? floats(m.bias) : filled([m.outFeatures], 0) },
    };
  }
  if (m instanceof Conv2d) {
    const O = m.weight.shape[0]!;
    return {
      type: 'Conv2d',
      params: {
        weight: floats(m.weight),
        bias: m.bias ? floats(m.bias) : filled([O], 0),
        stride: ints(m.stride),
        padding: ints(m.padding),
        dilation: ints([1, 1]),
        groups: ints([1], true),
        input_shape: ints(inShape.slice(-2)),
      },
    };
  }
  if (m instanceof SumPool2d) {
    return {
      type: 'SumPool2d',
      params: { kernel_size: ints(m.kernelSize), stride: ints(m.stride), padding: ints([0, 0]) },
    };
  }
  if (m instanceof Flatten) {
    // NIR counts dimensions without the batch
    const nir = (d: number, what: string): number => {
      if (d === 0) unsupported(`${what} 0 flattens the batch dimension, which NIR cannot express`);
      return d > 0 ? d - 1 : d;
    };
    return {
      type: 'Flatten',
      params: {
        start_dim: ints([nir(m.startDim, 'startDim')], true),
        end_dim: ints([nir(m.endDim, 'endDim')], true),
        input_type: ints(inShape.slice(1)),
      },
    };
  }
  if (m instanceof LIF) {
    // the neuron-state shape: squeeze layers see (B*T, ...neurons), the others (B, T, ...neurons)
    const squeeze = isSqueeze(m);
    const neurons = squeeze ? outShape.slice(1) : outShape.slice(2);
    lost.push(...neuronLosses(m, { index, layer: id, type: typeName }, squeeze, outShape[1] ?? 1));
    // with trainAlphas there is no tau_mem: the time constant of alpha_mem (a loss listed above)
    const tauOf = (): Tensor => m.tauMem ?? m.tauMemCalculated;
    if (m instanceof ExpLeak) {
      const tau = tauOf();
      return { type: 'LI', params: { tau: floats(tau), r: filled(tau.shape, 1), v_leak: filled(tau.shape, 0) } };
    }
    if (m instanceof IAF) {
      const th = m instanceof ThresholdScaledIAFSqueeze ? m.neuronThreshold : (m.spikeThreshold as Tensor);
      return {
        type: 'IF',
        params: { r: filled(neurons, 1), v_threshold: thresholdLike(th, neurons, id), v_reset: filled(neurons, 0) },
      };
    }
    const th = m instanceof ThresholdScaledLIFSqueeze ? m.neuronThreshold : (m.spikeThreshold as Tensor);
    // NIR wants the five in one shape: tau's, or the thresholds' when tau is one value and they are not
    let tau = tauOf();
    if (tau.size === 1 && th.size > 1) tau = Tensor.full(th.shape, tau.toFloat32Array()[0]!);
    return {
      type: 'LIF',
      params: {
        tau: floats(tau),
        r: filled(tau.shape, 1),
        v_leak: filled(tau.shape, 0),
        v_threshold: thresholdLike(th, tau.shape, id),
        v_reset: filled(tau.shape, 0),
      },
    };
  }
  return unsupported(
    'cannot be exported (supported: Linear, Conv2d, SumPool2d, Flatten, LIF, IAF, ExpLeak and their squeeze variants)',
  );
}

/**
 * The NIR graph of a network, with the node mapping of sinabs' `to_nir`: `Linear` -> `Affine`
 * (zero bias without one), `Conv2d` -> `Conv2d` (with `input_shape`), `SumPool2d` -> `SumPool2d`,
 * `Flatten` -> `Flatten` (dims counted without the batch, with `input_type`), `LIF` -> `LIF`
 * (`tau` = tau_mem, `v_threshold` = the threshold in tau's shape, `r` = 1, `v_leak` = 0,
 * `v_reset` = 0), `IAF` -> `IF` (`r` = 1, `v_threshold` and `v_reset` = 0 in the neuron shape),
 * `ExpLeak` -> `LI` (`tau`, `r` = 1, `v_leak` = 0), the squeeze variants alike. Node ids are the
 * children's names (`'model'` for a single layer), with an `Input` node of shape `inputShape`
 * and an `Output` node of the model's output shape without the batch dimension, chained by the
 * edges in order. The model is not run: its shapes are inferred for an input of
 * `[rows, ...inputShape]` (rows: what its squeeze layers take, e.g. their batch size).
 *
 * Lossy options are loud: a layer option NIR cannot express (see {@link NirLoss}; `tauSyn`,
 * `normInput: true`, a `minVMem` other than what fromNir rebuilds, spike functions other than
 * MultiSpike, `MembraneReset`, another surrogate, `trainAlphas`, a layer on `(B, T, ...)` input)
 * is refused with `ERR_NIR_LOSSY`, naming the layer index, name and option; with
 * `{ allowLossy: true }` the graph is returned with the list in `lost`. A model that fromNir
 * built exports with nothing lost.
 *
 * @throws TypeError for bad arguments. SpikelayersError `ERR_NIR_UNSUPPORTED` for a layer
 *   without a NIR node (e.g. `AvgPool2d`, nested Sequentials), `ERR_NIR_LOSSY` for lossy options
 *   without `allowLossy`. RangeError for a threshold that does not fit the layer, and what the
 *   layers throw for an input of `inputShape`.
 */
export function toNir(model: ModuleLike, opts: ToNirOptions): NirExport {
  if (model === null || typeof model !== 'object' || typeof (model as ModuleLike).forward !== 'function')
    throw new TypeError(`toNir: model must be a Sequential or a layer, got ${describe(model)}`);
  const o = checkOptions<ToNirOptions>(opts, ['inputShape', 'allowLossy'], 'toNir: opts', false);
  const sample = o.inputShape;
  if (!Array.isArray(sample) || !sample.every((d) => Number.isInteger(d) && d >= 1))
    throw new TypeError(
      `toNir: inputShape must be a list of positive integers (one sample's shape without the batch dimension), got ${describe(sample)}`,
    );
  const allowLossy = readBool(o.allowLossy, 'toNir: allowLossy', false);
  const children: [string, ModuleLike][] = model instanceof Sequential ? model.namedChildren() : [['model', model]];
  const nodes: Record<string, NirNode> = { input: { type: 'Input', params: { shape: ints(sample) } } };
  const edges: [string, string][] = [];
  const lost: NirLoss[] = [];
  let prev = 'input';
  let shape = [traceRows(children), ...sample];
  for (const [index, [id, m]] of children.entries()) {
    if (id === 'input' || id === 'output') throw new RangeError(`toNir: layer ${index} may not be named '${id}'`);
    let out: number[] | null;
    try {
      out = inferOutputShape(m, shape);
    } catch (e) {
      if (e instanceof Error)
        e.message = `toNir: layer ${index} ('${id}') on input of shape ${fmt(shape)}: ${e.message}`;
      throw e;
    }
    if (out === null)
      throw new SpikelayersError(
        ErrorCodes.NIR_UNSUPPORTED,
        `toNir: layer ${index} ('${id}', ${(m as { typeName?: string }).typeName ?? m.constructor.name}) cannot be exported (supported: Linear, Conv2d, SumPool2d, Flatten, LIF, IAF, ExpLeak and their squeeze variants)`,
      );
    nodes[id] = nodeOf(id, index, m, shape, out, lost);
    edges.push([prev, id]);
    prev = id;
    shape = out;
  }
  nodes.output = { type: 'Output', params: { shape: ints(shape.slice(1)) } };
  edges.push([prev, 'output']);
  if (lost.length > 0 && !allowLossy) {
    const list = lost.map((l) => `layer ${l.index} ('${l.layer}', ${l.type}): ${l.option} = ${l.value} -> ${l.nir}`);
    throw new SpikelayersError(
      ErrorCodes.NIR_LOSSY,
      `toNir: NIR cannot express ${lost.length === 1 ? 'this option' : `these ${lost.length} options`}: ${list.join('; ')}. Pass { allowLossy: true } to export anyway and get the list in the result's 'lost'`,
    );
  }
  return { version: null, nodes, edges, lost };
}
