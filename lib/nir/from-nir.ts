// NIR graph -> Sequential, with the node mapping of sinabs' from_nir (sinabs 3.1.3).
import { ErrorCodes, SpikelayersError } from '../errors.js';
import { Tensor, describe } from '../tensor.js';
import { checkOptions, readInt } from '../validate.js';
import { Linear } from '../nn/linear.js';
import { Conv2d } from '../nn/conv2d.js';
import { SumPool2d } from '../nn/pooling.js';
import { Flatten } from '../nn/flatten.js';
import { Sequential } from '../nn/sequential.js';
import type { ModuleLike } from '../nn/module.js';
import { ExpLeakSqueeze, IAFSqueeze, LIFSqueeze } from '../neurons/squeeze.js';
import { ThresholdScaledIAFSqueeze, ThresholdScaledLIFSqueeze } from './threshold.js';
import type { NirArray, NirGraph, NirNode } from './read.js';
import { fmt } from '../nn/shape.js';
import { checkConnected } from './connect.js';

/** Options of {@link fromNir}. */
export interface FromNirOptions {
  /** Batch size B of the rebuilt squeeze layers, which take (B*T, ...) input. Required. */
  batchSize: number;
}

/** The node types fromNir maps (Input and Output become no layer). */
const SUPPORTED = ['Input', 'Output', 'Affine', 'Conv2d', 'SumPool2d', 'Flatten', 'IF', 'LIF', 'LI'];

function unsupported(message: string): never {
  throw new SpikelayersError(ErrorCodes.NIR_UNSUPPORTED, `fromNir: ${message}`);
}
function format(message: string): never {
  throw new SpikelayersError(ErrorCodes.NIR_FORMAT, `fromNir: ${message}`);
}

/** Reads the parameters of one node, naming the node and parameter in every error. */
class Params {
  constructor(
    readonly id: string,
    readonly node: NirNode,
  ) {}

  #where(name: string): string {
    return `node '${this.id}' (${this.node.type}): parameter '${name}'`;
  }

  has(name: string): boolean {
    return Object.prototype.hasOwnProperty.call(this.node.params, name);
  }

  array(name: string): NirArray {
    if (!this.has(name)) format(`${this.#where(name)} is missing`);
    const v = this.node.params[name]!;
    if (v === null || typeof v !== 'object' || v.kind !== 'array')
      format(`${this.#where(name)} must be a numeric array, got ${v && typeof v === 'object' ? v.kind : describe(v)}`);
    const n = v.shape.reduce((a, b) => a * b, 1);
    if (v.data.length !== n) format(`${this.#where(name)} has ${v.data.length} values for its shape ${fmt(v.shape)}`);
    return v;
  }

  /** A float parameter as a float32 tensor of its shape; every value finite (and `check`ed). */
  tensor(name: string, check?: (x: number) => boolean, expect?: string): Tensor {
    const a = this.array(name);
    const d = Float32Array.from(a.data);
    for (let k = 0; k < d.length; ++k)
      if (!Number.isFinite(d[k]!) || (check && !check(d[k]!)))
        throw new RangeError(
          `fromNir: ${this.#where(name)} must be ${expect ?? 'finite'}, got ${d[k]} at element ${k}`,
        );
    return Tensor.from(d, a.shape);
  }

  /** A float tensor of exactly `rank` dimensions. */
  shaped(name: string, rank: number, what: string): Tensor {
    const t = this.tensor(name);
    if (t.shape.length !== rank)
      throw new RangeError(`fromNir: ${this.#where(name)} must be ${what}, got shape ${fmt(t.shape)}`);
    return t;
  }

  /** An integer pair: a 0-d value k is [k, k]. */
  pair(name: string, min: number): [number, number] {
    const a = this.array(name);
    const d = Array.from(a.data, Number);
    const p = a.shape.length === 0 ? [d[0]!, d[0]!] : d;
    if (p.length !== 2 || a.shape.length > 1 || !p.every((x) => Number.isInteger(x) && x >= min))
      throw new RangeError(
        `fromNir: ${this.#where(name)} must be two integers >= ${min}, got ${fmt(d)} of shape ${fmt(a.shape)}`,
      );
    return p as [number, number];
  }

  /** An integer scalar (a 0-d value or one element). */
  int(name: string): number {
    const a = this.array(name);
    const x = Number(a.data[0]);
    if (a.data.length !== 1 || !Number.isInteger(x))
      throw new RangeError(`fromNir: ${this.#where(name)} must be one integer, got shape ${fmt(a.shape)}`);
    return x;
  }

  /** Refuses a parameter that is present with any value other than `value`. */
  allEqual(name: string, value: number, why: string): void {
    if (!this.has(name)) return;
    const d = this.array(name).data;
    for (let k = 0; k < d.length; ++k)
      if (d[k] !== value) unsupported(`${this.#where(name)} must be ${value} everywhere (${why}), got ${d[k]}`);
  }
}

/** The same value everywhere: that value; otherwise null. */
function uniform(t: Tensor): number | null {
  const d = t.toFloat32Array();
  return d.every((x) => x === d[0]) ? d[0]! : null;
}

function loadInto(m: Linear | Conv2d, weight: Tensor, bias: Tensor): void {
  m.loadStateDict({ weight, bias });
}

function buildNode(p: Params, batchSize: number): ModuleLike {
  const positive = (x: number): boolean => x > 0;
  switch (p.node.type) {
    case 'Affine': {
      const w = p.shaped('weight', 2, 'a matrix [out, in]');
      const [out, inF] = w.shape as [number, number];
      const b = p.tensor('bias');
      if (b.shape.length !== 1 || b.shape[0] !== out)
        throw new RangeError(
          `fromNir: node '${p.id}' (Affine): parameter 'bias' must have shape [${out}], got ${fmt(b.shape)}`,
        );
      const m = new Linear({ inFeatures: inF, outFeatures: out, bias: true });
      loadInto(m, w, b);
      return m;
    }
    case 'Conv2d': {
      const w = p.shaped('weight', 4, 'a 4-d array [Cout, Cin/groups, kH, kW]');
      const [O, C, kH, kW] = w.shape as [number, number, number, number];
      const b = p.tensor('bias');
      if (b.shape.length !== 1 || b.shape[0] !== O)
        throw new RangeError(
          `fromNir: node '${p.id}' (Conv2d): parameter 'bias' must have shape [${O}], got ${fmt(b.shape)}`,
        );
      const groups = p.has('groups') ? p.int('groups') : 1;
      const dilation = p.has('dilation') ? p.pair('dilation', 1) : ([1, 1] as [number, number]);
      if (groups !== 1) unsupported(`node '${p.id}' (Conv2d): parameter 'groups' is ${groups}; only 1 is supported`);
      if (dilation[0] !== 1 || dilation[1] !== 1)
        unsupported(`node '${p.id}' (Conv2d): parameter 'dilation' is ${fmt(dilation)}; only [1, 1] is supported`);
      const m = new Conv2d({
        inChannels: C,
        outChannels: O,
        kernelSize: [kH, kW],
        stride: p.has('stride') ? p.pair('stride', 1) : 1,
        padding: p.has('padding') ? p.pair('padding', 0) : 0,
        bias: true,
      });
      loadInto(m, w, b);
      return m;
    }
    case 'SumPool2d': {
      const kernelSize = p.pair('kernel_size', 1);
      const stride = p.has('stride') ? p.pair('stride', 1) : kernelSize;
      if (p.has('padding')) {
        const pad = p.pair('padding', 0);
        if (pad[0] !== 0 || pad[1] !== 0)
          unsupported(`node '${p.id}' (SumPool2d): parameter 'padding' is ${fmt(pad)}; only [0, 0] is supported`);
      }
      return new SumPool2d({ kernelSize, stride });
    }
    case 'Flatten': {
      // NIR counts dimensions without the batch; torch's Flatten counts it
      const s = p.int('start_dim'),
        e = p.int('end_dim');
      return new Flatten({ startDim: s >= 0 ? s + 1 : s, endDim: e >= 0 ? e + 1 : e });
    }
    case 'IF': {
      const th = p.tensor('v_threshold', positive, 'positive');
      const u = uniform(th);
      if (u !== null) return new IAFSqueeze({ spikeThreshold: u, minVMem: -u, batchSize });
      return new ThresholdScaledIAFSqueeze({ batchSize }, th);
    }
    case 'LIF': {
      const tau = p.tensor('tau', positive, 'positive');
      const th = p.tensor('v_threshold', positive, 'positive');
      p.array('v_leak');
      p.allEqual('v_leak', 0, 'sinabs has no leak potential');
      const tauMem = tau.shape.length === 0 ? tau.toFloat32Array()[0]! : tau;
      const u = uniform(th);
      const common = { tauMem, tauSyn: null, minVMem: null, normInput: false, batchSize };
      if (u !== null) return new LIFSqueeze({ ...common, spikeThreshold: u });
      return new ThresholdScaledLIFSqueeze(common, th);
    }
    case 'LI': {
      const tau = p.tensor('tau', positive, 'positive');
      p.array('v_leak');
      p.allEqual('v_leak', 0, 'sinabs has no leak potential');
      p.allEqual('r', 1, 'the rebuilt ExpLeak adds its input unscaled');
      const tauMem = tau.shape.length === 0 ? tau.toFloat32Array()[0]! : tau;
      return new ExpLeakSqueeze({ tauMem, minVMem: null, normInput: false, batchSize });
    }
    default:
      return unsupported(
        `node '${p.id}' has type '${p.node.type}', which cannot be mapped (supported: ${SUPPORTED.join(', ')})`,
      );
  }
}

/** The node ids from the Input node to the Output node, rebuilt from the edges. */
export function chainOrder(graph: NirGraph): string[] {
  const ids = Object.keys(graph.nodes);
  const ofType = (t: string): string[] => ids.filter((id) => graph.nodes[id]!.type === t);
  const inputs = ofType('Input'),
    outputs = ofType('Output');
  if (inputs.length !== 1 || outputs.length !== 1)
    unsupported(
      `the graph must have exactly one Input and one Output node, it has ${inputs.length} (${inputs.join(', ')}) and ${outputs.length} (${outputs.join(', ')})`,
    );
  const next = new Map<string, string>(),
    prev = new Map<string, string>();
  for (const [k, e] of graph.edges.entries()) {
    if (!Array.isArray(e) || e.length !== 2 || typeof e[0] !== 'string' || typeof e[1] !== 'string')
      format(`edge ${k} must be a [source, target] pair of node ids, got ${describe(e)}`);
    const [a, b] = e;
    for (const id of [a, b])
      if (!(id in graph.nodes)) format(`edge ${k} (${a} -> ${b}) names node '${id}', which the graph does not have`);
    if (next.has(a))
      unsupported(
        `node '${a}' has more than one outgoing edge (to '${next.get(a)}' and '${b}'); only chains are supported`,
      );
    if (prev.has(b))
      unsupported(
        `node '${b}' has more than one incoming edge (from '${prev.get(b)}' and '${a}'); only chains are supported`,
      );
    next.set(a, b);
    prev.set(b, a);
  }
  const order: string[] = [inputs[0]!];
  const seen = new Set(order);
  let at = inputs[0]!;
  while (at !== outputs[0]) {
    const n = next.get(at);
    if (n === undefined)
      unsupported(`node '${at}' has no outgoing edge: the graph is not a chain from '${inputs[0]}' to '${outputs[0]}'`);
    if (seen.has(n)) unsupported(`the edges from '${inputs[0]}' run in a cycle through node '${n}'`);
    seen.add(n);
    order.push(n);
    at = n;
  }
  const stray = ids.filter((id) => !seen.has(id));
  if (stray.length > 0)
    unsupported(
      `node(s) ${stray.map((s) => `'${s}'`).join(', ')} are not on the chain from '${inputs[0]}' to '${outputs[0]}'`,
    );
  return order;
}

/**
 * Builds a {@link Sequential} from a NIR graph (e.g. from {@link readNir}) with sinabs' `from_nir`
 * mapping. The nodes run in the order of the chain the edges make from the `Input` node to the
 * `Output` node (the stored order of nodes and edges plays no part); each node between them
 * becomes one child named by its node id (`'0'`, `'1'`, `'model'`, ...), so `stateDict()` keys
 * are those of sinabs' rebuilt model. `Input` and `Output` become no layer.
 *
 * | NIR node | layer |
 * |---|---|
 * | `Affine` | `Linear` with the weight `[out, in]` and bias |
 * | `Conv2d` | `Conv2d` (kernel from the weight, stride, padding; groups and dilation must be 1) |
 * | `SumPool2d` | `SumPool2d` (kernel_size, stride; padding must be 0) |
 * | `Flatten` | `Flatten(start_dim + 1, end_dim + 1)` for dims >= 0, negative dims kept |
 * | `IF` | `IAFSqueeze`: threshold `v_threshold`, `minVMem = -v_threshold`; `r`, `v_reset` ignored |
 * | `LIF` | `LIFSqueeze`: `tauMem = tau`, threshold `v_threshold`, no `tauSyn`, no `minVMem`, `normInput: false`; `v_leak` must be 0; `r`, `v_reset` ignored |
 * | `LI` | `ExpLeakSqueeze`: `tauMem = tau`, no `minVMem`, `normInput: false`; `v_leak` must be 0, `r` 1 |
 *
 * Every spiking layer has sinabs' defaults (MultiSpike, subtractive reset, SingleExponential
 * surrogate) and every neuron layer is a squeeze layer on `(B*T, ...)` input with the given
 * `batchSize`. Scalar (0-d) parameters are used as scalars. Where `v_threshold` is not the
 * same for every neuron (the neuron kernels take one threshold per layer), the layer runs with
 * threshold 1 on its input divided by `v_threshold` (and, for IF, clipped at -1): the spikes are
 * those of the per-neuron thresholds, the layer's `v_mem` is the membrane divided by the
 * threshold and its `spike_threshold` reads 1.
 *
 * Beyond sinabs: 0-d parameters read from a file and `[C, H, W]` LIF parameters, which sinabs'
 * importer refuses, are built with the same mapping.
 *
 * Only chains are supported (no skip connections, no recurrence). Where the Input node has a
 * `shape`, it is passed through the rebuilt layers before anything is returned: every parameter
 * must fit the shape that arrives, and declared shapes (`Conv2d` `input_shape`, `Flatten`
 * `input_type`, the Output node's `shape`) must equal it.
 *
 * @throws TypeError / RangeError for bad arguments or parameter shapes and values, including
 *   shapes that do not connect (naming the node, the parameter and the shape that arrives). SpikelayersError `ERR_NIR_FORMAT` for a missing parameter or an edge to
 *   an unknown node, `ERR_NIR_UNSUPPORTED` for a node type outside the table, a nonzero `v_leak`
 *   and graphs that are not a chain from one Input to one Output.
 */
export function fromNir(graph: NirGraph, opts: FromNirOptions): Sequential {
  if (graph === null || typeof graph !== 'object' || typeof graph.nodes !== 'object' || graph.nodes === null)
    throw new TypeError(`fromNir: graph must be a NirGraph ({ nodes, edges }), got ${describe(graph)}`);
  if (!Array.isArray(graph.edges))
    throw new TypeError(`fromNir: graph.edges must be an array, got ${describe(graph.edges)}`);
  const o = checkOptions<FromNirOptions>(opts, ['batchSize'], 'fromNir: opts', false);
  const batchSize = readInt(o.batchSize, 'fromNir: batchSize', undefined, 1);
  for (const [id, n] of Object.entries(graph.nodes))
    if (
      n === null ||
      typeof n !== 'object' ||
      typeof n.type !== 'string' ||
      typeof n.params !== 'object' ||
      n.params === null
    )
      format(`node '${id}' must be { type: string, params: {...} }, got ${describe(n)}`);
  const order = chainOrder(graph);
  const children: [string, ModuleLike][] = [];
  for (const id of order) {
    const node = graph.nodes[id]!;
    if (node.type === 'Input' || node.type === 'Output') continue;
    if (id.includes('.')) unsupported(`node id '${id}' contains '.', which cannot name a layer`);
    let m: ModuleLike;
    try {
      m = buildNode(new Params(id, node), batchSize);
    } catch (e) {
      // a layer constructor's own complaint: say which node it came from
      if (e instanceof Error && !e.message.startsWith('fromNir:'))
        e.message = `fromNir: node '${id}' (${node.type}): ${e.message}`;
      throw e;
    }
    children.push([id, m]);
  }
  checkConnected(graph, order, children, batchSize);
  return Sequential.fromNamed(children);
}
