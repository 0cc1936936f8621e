// A float64 simulation of fromNir's documented mapping (shared/golden/nir/README.md sections 4 and
// 6.2), written from that text and independently of lib/nir: Affine, Conv2d, SumPool2d, Flatten
// (start 0, end -1), IF (clip at -threshold), LIF and LI on (B*T, ...) rows (row b*T + t), MultiSpike
// with a subtractive reset, alpha = exp(-1/tau), no norm_input, no tau_syn.
import { expect } from 'chai';
import type { NirArray, NirGraph } from '../../lib/index.js';
import { conv2dRef } from './reference-nn.js';

export interface Sim {
  shape: number[];
  data: Float64Array;
}
const prod = (s: readonly number[]): number => s.reduce((a, b) => a * b, 1);
export const arr = (g: NirGraph, id: string, name: string): NirArray => {
  const v = g.nodes[id]!.params[name]!;
  if (v.kind !== 'array') throw new Error(`${id}.${name} is not an array`);
  return v;
};
/** A parameter per neuron of a row of N neurons: one value, or N values. */
const perNeuron = (a: NirArray, N: number): ((k: number) => number) => {
  if (a.data.length === 1) return () => Number(a.data[0]);
  if (a.data.length !== N) throw new Error(`parameter of ${a.data.length} values for ${N} neurons`);
  return (k) => Number(a.data[k]);
};

export function simulate(g: NirGraph, order: string[], x: Sim, B: number): Sim {
  let cur = x;
  for (const id of order) {
    const type = g.nodes[id]!.type;
    const rows = cur.shape[0]!;
    if (type === 'Affine') {
      const W = arr(g, id, 'weight'),
        b = arr(g, id, 'bias');
      const [O, K] = W.shape as [number, number];
      const M = cur.data.length / K;
      const y = new Float64Array(M * O);
      for (let m = 0; m < M; ++m)
        for (let o = 0; o < O; ++o) {
          let s = Number(b.data[o]);
          for (let k = 0; k < K; ++k) s += cur.data[m * K + k]! * Number(W.data[o * K + k]);
          y[m * O + o] = s;
        }
      cur = { shape: [...cur.shape.slice(0, -1), O], data: y };
    } else if (type === 'Conv2d') {
      const W = arr(g, id, 'weight'),
        b = arr(g, id, 'bias');
      const [O, C, kH, kW] = W.shape as [number, number, number, number];
      const [sH, sW] = arr(g, id, 'stride').data as number[];
      const [pH, pW] = arr(g, id, 'padding').data as number[];
      const geom = { N: rows, C, H: cur.shape[2]!, W: cur.shape[3]!, O, kH, kW, sH: sH!, sW: sW!, pH: pH!, pW: pW! };
      const y = conv2dRef(cur.data, geom, Float64Array.from(W.data), Float64Array.from(b.data));
      cur = {
        shape: [rows, O, (geom.H + 2 * pH! - kH) / sH! + 1, (geom.W + 2 * pW! - kW) / sW! + 1].map(Math.floor),
        data: y,
      };
    } else if (type === 'SumPool2d') {
      const [kH, kW] = arr(g, id, 'kernel_size').data as number[];
      const [sH, sW] = arr(g, id, 'stride').data as number[];
      const [, C, H, Wd] = cur.shape as [number, number, number, number];
      const Ho = Math.floor((H - kH!) / sH!) + 1,
        Wo = Math.floor((Wd - kW!) / sW!) + 1;
      const y = new Float64Array(rows * C * Ho * Wo);
      for (let n = 0; n < rows * C; ++n)
        for (let i = 0; i < Ho; ++i)
          for (let j = 0; j < Wo; ++j) {
            let s = 0;
            for (let a = 0; a < kH!; ++a)
              for (let e = 0; e < kW!; ++e) s += cur.data[(n * H + i * sH! + a) * Wd + j * sW! + e]!;
            y[(n * Ho + i) * Wo + j] = s;
          }
      cur = { shape: [rows, C, Ho, Wo], data: y };
    } else if (type === 'Flatten') {
      // the files here flatten everything after the batch (start_dim 0, end_dim -1)
      expect(arr(g, id, 'start_dim').data[0]).to.equal(0);
      expect(arr(g, id, 'end_dim').data[0]).to.equal(-1);
      cur = { shape: [rows, prod(cur.shape.slice(1))], data: cur.data };
    } else if (type === 'LIF' || type === 'IF' || type === 'LI') {
      const N = prod(cur.shape.slice(1));
      const T = rows / B;
      const tau = type === 'IF' ? () => Infinity : perNeuron(arr(g, id, 'tau'), N);
      const thr = type === 'LI' ? () => NaN : perNeuron(arr(g, id, 'v_threshold'), N);
      const y = new Float64Array(cur.data.length);
      for (let b = 0; b < B; ++b)
        for (let k = 0; k < N; ++k) {
          const alpha = Math.exp(-1 / tau(k)),
            th = thr(k);
          let v = 0;
          for (let t = 0; t < T; ++t) {
            const at = (b * T + t) * N + k;
            v = alpha * v + cur.data[at]!;
            if (type === 'LI') {
              y[at] = v;
              continue;
            }
            const s = v > 0 ? Math.trunc(v / th) : 0;
            v -= s * th;
            if (type === 'IF') v = Math.max(v, -th);
            y[at] = s;
          }
        }
      cur = { shape: cur.shape, data: y };
    } else throw new Error(`no reference for ${type}`);
  }
  return cur;
}

/** The ids between Input and Output, following the edges (the test's own walk). */
export function chainOf(g: NirGraph): string[] {
  const next = new Map(g.edges.map(([a, b]) => [a, b] as const));
  const out: string[] = [];
  const at = Object.keys(g.nodes).find((id) => g.nodes[id]!.type === 'Input')!;
  for (let n = next.get(at); n !== undefined && g.nodes[n]!.type !== 'Output'; n = next.get(n)) out.push(n);
  return out;
}
