// Sequential (or one layer) -> NIR graph, with the node mapping of sinabs' to_nir (sinabs 3.1.3).
import { ErrorCodes, SpikelayersError } from '../errors.js';
import { Tensor, describe } from '../tensor.js';
import { checkOptions } from '../validate.js';
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

/** Options of {@link toNir}. */
export interface ToNirOptions {
  /** The shape of an input the model takes, batch dimension first (sinabs' `sample_data.shape`). Required. */
  inputShape: number[];
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

/** The NIR node of one layer; `inShape` is its input shape (batch first). */
function nodeOf(id: string, m: ModuleLike, inShape: number[], outShape: number[]): NirNode {
  const unsupported = (why: string): never => {
    throw new SpikelayersError(
      ErrorCodes.NIR_UNSUPPORTED,
      `toNir: layer '${id}' (${(m as { typeName?: string }).typeName ?? m.constructor.name}): ${why}`,
    );
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
    const squeeze = typeof (m as { _unsqueeze?: unknown })._unsqueeze === 'function';
    const neurons = squeeze ? outShape.slice(1) : outShape.slice(2);
    if (m instanceof ExpLeak) {
      const tau = m.tauMem ?? unsupported('trainAlphas layers have no tau_mem to export');
      return { type: 'LI', params: { tau: floats(tau), r: filled(tau.shape, 1), v_leak: filled(tau.shape, 0) } };
    }
    if (m instanceof IAF) {
      const th = m instanceof ThresholdScaledIAFSqueeze ? m.neuronThreshold : (m.spikeThreshold as Tensor);
      return {
        type: 'IF',
        params: { r: filled(neurons, 1), v_threshold: thresholdLike(th, neurons, id) },
      };
    }
    const tau = m.tauMem ?? unsupported('trainAlphas layers have no tau_mem to export');
    const th = m instanceof ThresholdScaledLIFSqueeze ? m.neuronThreshold : (m.spikeThreshold as Tensor);
    return {
      type: 'LIF',
      params: {
        tau: floats(tau),
        r: filled(tau.shape, 1),
        v_leak: filled(tau.shape, 0),
        v_threshold: thresholdLike(th, tau.shape, id),
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
 * (`tau` = tau_mem, `v_threshold` = the threshold in tau's shape, `r` = 1, `v_leak` = 0),
 * `IAF` -> `IF` (`r` = 1 and `v_threshold` in the neuron shape), `ExpLeak` -> `LI`, the squeeze
 * variants alike. Node ids are the children's names (`'model'` for a single layer), with an
 * `Input` node of shape `inputShape` without its first dimension and an `Output` node of the
 * model's output shape without it, chained by the edges in order. `v_reset` is left out (zero;
 * nir's readers default it to zeros, and nir 1.0.4 refuses it). As with sinabs, what NIR has no
 * field for is lost: `normInput`, `tauSyn`, `minVMem`, the spike and reset functions.
 *
 * @throws TypeError for bad arguments. SpikelayersError `ERR_NIR_UNSUPPORTED` for a layer
 *   without a NIR node (e.g. `AvgPool2d`, nested Sequentials) or a `trainAlphas` layer. What the
 *   layers throw for an input of `inputShape`.
 */
export function toNir(model: ModuleLike, opts: ToNirOptions): NirGraph {
  if (model === null || typeof model !== 'object' || typeof (model as ModuleLike).forward !== 'function')
    throw new TypeError(`toNir: model must be a Sequential or a layer, got ${describe(model)}`);
  const o = checkOptions<ToNirOptions>(opts, ['inputShape'], 'toNir: opts', false);
  const shape0 = o.inputShape;
  if (!Array.isArray(shape0) || shape0.length < 1 || !shape0.every((d) => Number.isInteger(d) && d >= 1))
    throw new TypeError(`toNir: inputShape must be a list of positive integers, batch first, got ${describe(shape0)}`);
  const children: [string, ModuleLike][] = model instanceof Sequential ? model.namedChildren() : [['model', model]];
  const nodes: Record<string, NirNode> = { input: { type: 'Input', params: { shape: ints(shape0.slice(1)) } } };
  const edges: [string, string][] = [];
  let prev = 'input';
  let shape = shape0.slice();
  for (const [id, m] of children) {
    if (id === 'input' || id === 'output') throw new RangeError(`toNir: a layer may not be named '${id}'`);
    const out = inferOutputShape(m, shape);
    if (out === null)
      throw new SpikelayersError(ErrorCodes.NIR_UNSUPPORTED, `toNir: layer '${id}' cannot tell its output shape`);
    nodes[id] = nodeOf(id, m, shape, out);
    edges.push([prev, id]);
    prev = id;
    shape = out;
  }
  nodes.output = { type: 'Output', params: { shape: ints(shape.slice(1)) } };
  edges.push([prev, 'output']);
  return { version: null, nodes, edges };
}
