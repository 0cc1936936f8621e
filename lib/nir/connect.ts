// fromNir's check that the nodes of a chain fit together: the Input node's shape (one sample,
// without the batch dimension) is passed through the rebuilt layers' shape inference, and every
// mismatch is reported with the node and the parameter that does not fit, before any network is
// returned. Declared shapes (Conv2d input_shape, Flatten input_type, the Output node's shape) must
// equal the shapes that arrive.
import { inferOutputShape } from '../nn/infer.js';
import type { ModuleLike } from '../nn/module.js';
import { fmt } from '../nn/shape.js';
import { broadcastMap } from '../neurons/broadcast.js';
import { LIF } from '../neurons/lif.js';
import { ThresholdScaledIAFSqueeze, ThresholdScaledLIFSqueeze } from './threshold.js';
import type { NirGraph } from './read.js';

/** The parameter of each node type that decides what input it takes. */
const FIELD: Record<string, string> = {
  Affine: 'weight',
  Conv2d: 'weight',
  SumPool2d: 'kernel_size',
  Flatten: 'start_dim',
  IF: 'v_threshold',
  LIF: 'tau',
  LI: 'tau',
};

/** An integer list parameter of a node, or null when the node does not have it. */
function intList(graph: NirGraph, id: string, name: string): number[] | null {
  const v = graph.nodes[id]!.params[name];
  if (v === undefined) return null;
  const d = v.kind === 'array' ? Array.from(v.data, Number) : [];
  if (v.kind !== 'array' || v.shape.length !== 1 || !d.every((x) => Number.isInteger(x) && x >= 1))
    throw new RangeError(
      `fromNir: node '${id}' (${graph.nodes[id]!.type}): parameter '${name}' must be a list of positive integers, got ${v.kind === 'array' ? `${fmt(d)} of shape ${fmt(v.shape)}` : `a ${v.kind}`}`,
    );
  return d;
}

/**
 * Checks that the chain's layers take what the node before them gives, starting from the Input
 * node's `shape` (no check when the Input node has none). `children` are the rebuilt layers by
 * node id, in chain order; `order` is the whole chain, Input and Output included.
 */
export function checkConnected(
  graph: NirGraph,
  order: string[],
  children: [string, ModuleLike][],
  batchSize: number,
): void {
  const inputId = order[0]!,
    outputId = order.at(-1)!;
  const sample = intList(graph, inputId, 'shape');
  if (sample === null) return;
  let shape = [batchSize, ...sample];
  let from = inputId;
  for (const [id, m] of children) {
    const type = graph.nodes[id]!.type;
    const where = `fromNir: node '${id}' (${type})`;
    const gives = `the input of shape ${fmt(shape.slice(1))} (per sample) that node '${from}' gives`;
    const declared = type === 'Conv2d' ? 'input_shape' : type === 'Flatten' ? 'input_type' : null;
    if (declared !== null) {
      const d = intList(graph, id, declared);
      const got = type === 'Conv2d' ? shape.slice(2) : shape.slice(1);
      if (d !== null && fmt(d) !== fmt(got))
        throw new RangeError(`${where}: parameter '${declared}' is ${fmt(d)}, but ${gives} has ${fmt(got)}`);
    }
    let out: number[] | null;
    try {
      out = inferOutputShape(m, shape);
      if (out !== null && (m instanceof ThresholdScaledLIFSqueeze || m instanceof ThresholdScaledIAFSqueeze))
        broadcastMap(m.neuronThreshold.shape, out.slice(1), 'v_threshold');
    } catch (e) {
      throw new RangeError(
        `${where}: parameter '${FIELD[type] ?? 'type'}' does not fit ${gives} (${(e as Error).message})`,
        { cause: e },
      );
    }
    if (out === null) return;
    if (m instanceof LIF && !(m instanceof ThresholdScaledLIFSqueeze || m instanceof ThresholdScaledIAFSqueeze)) {
      // a uniform threshold read from a per-neuron array: that array must fit the neurons too
      const th = graph.nodes[id]!.params.v_threshold;
      if (th !== undefined && th.kind === 'array')
        try {
          broadcastMap(th.shape, out.slice(1), 'v_threshold');
        } catch (e) {
          throw new RangeError(`${where}: parameter 'v_threshold' does not fit ${gives} (${(e as Error).message})`, {
            cause: e,
          });
        }
    }
    shape = out;
    from = id;
  }
  const want = intList(graph, outputId, 'shape');
  if (want !== null && fmt(want) !== fmt(shape.slice(1)))
    throw new RangeError(
      `fromNir: node '${outputId}' (Output): parameter 'shape' is ${fmt(want)}, but node '${from}' gives ${fmt(shape.slice(1))} (per sample)`,
    );
}
