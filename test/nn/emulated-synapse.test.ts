// The CUDA kernels' per-thread code of the synaptic operations (native/core/synapse_thread.h),
// run on the host over the same grid as the CUDA launch (`emulate: true`), checked against
// independent references written here:
// - GEMM against a float64 reference, within the float32 rounding bound; with a single K range
//   (K <= 496) exactly equal to the float32 sum in k order; shapes with edges (M, N, K not
//   multiples of the 64 x 64 x 16 tiles, 1, 0), every transpose, accumulate, bias, and K long
//   enough for the split-K path;
// - im2col, col2im (gathered in the documented order) and transpose exactly;
// - sumRows exactly equal to the double sum over the rows in order, rounded once;
// - every result bit-identical for 1 and 3 host threads.
import { expect } from 'chai';
import type { NativeGemmArgs, NativeIm2colArgs } from '#binding';
import { getNumThreads, setNumThreads } from '../../lib/index.js';
import { native } from '../../lib/backend.js';
import { uniform } from '../support/random.js';

const U = 2 ** -24; // unit roundoff of float32
/** Higham's gamma_n = n u / (1 - n u): |fl(sum of n roundings) - exact| <= gamma_n * sum |terms|. */
const gamma = (n: number) => (n * U) / (1 - n * U);
// Split-K adds at most 64 range sums: a term of C is rounded once as a product, at most K - 1
// times inside its K range, at most 63 times when the ranges are added, once for accumulate and
// once for bias.
const MAX_ROUNDINGS_BEYOND_K = 1 + 63 + 2;

type Shape = { M: number; N: number; K: number; transA: boolean; transB: boolean; accumulate: boolean; bias: boolean };

function gemmInputs(s: Shape, seed: number) {
  return {
    A: uniform(seed, s.M * s.K, -1, 1),
    B: uniform(seed + 1, s.K * s.N, -1, 1),
    C0: uniform(seed + 2, s.M * s.N, -2, 2),
    bias: uniform(seed + 3, s.N, -1, 1),
  };
}

function runGemm(s: Shape, inp: ReturnType<typeof gemmInputs>): Float32Array {
  const C = Float32Array.from(inp.C0);
  const args: NativeGemmArgs = {
    M: s.M,
    N: s.N,
    K: s.K,
    transA: s.transA,
    transB: s.transB,
    accumulate: s.accumulate,
    A: inp.A,
    B: inp.B,
    C,
    emulate: true,
  };
  if (s.bias) args.bias = inp.bias;
  native().gemm(args);
  return C;
}

const opA = (s: Shape, A: Float32Array, m: number, k: number) => (s.transA ? A[k * s.M + m]! : A[m * s.K + k]!);
const opB = (s: Shape, B: Float32Array, k: number, n: number) => (s.transB ? B[n * s.K + k]! : B[k * s.N + n]!);

function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, `${what} length`).to.equal(want.length);
  const x = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const y = new Uint32Array(want.buffer, want.byteOffset, want.length);
  for (let i = 0; i < x.length; ++i) if (x[i] !== y[i]) expect.fail(`${what}[${i}]: ${got[i]} vs expected ${want[i]}`);
}

function withThreads<T>(n: number, f: () => T): T {
  const saved = getNumThreads();
  setNumThreads(n);
  try {
    return f();
  } finally {
    setNumThreads(saved);
  }
}

const gemmSizes: [number, number, number][] = [
  [1, 1, 1],
  [64, 64, 16],
  [65, 63, 17],
  [130, 1, 40],
  [1, 200, 3],
  [7, 9, 0],
  [100, 70, 300],
  [129, 65, 33],
  [3, 5, 700],
  [2, 3, 3000],
  [70, 40, 1200],
];
const gemmShapes: Shape[] = [];
for (const [M, N, K] of gemmSizes)
  for (let v = 0; v < 4; ++v)
    gemmShapes.push({
      M,
      N,
      K,
      transA: (v & 1) === 1,
      transB: (v & 2) === 2,
      accumulate: v === 1 || v === 3,
      bias: v >= 2,
    });
const name = (s: Shape) =>
  `M ${s.M}, N ${s.N}, K ${s.K}${s.transA ? ', transA' : ''}${s.transB ? ', transB' : ''}` +
  `${s.accumulate ? ', accumulate' : ''}${s.bias ? ', bias' : ''}`;

describe('emulated CUDA launch: synaptic operations', function () {
  if (typeof (native() as { gemm?: unknown }).gemm !== 'function') {
    it('native synaptic entry points present', function () {
      console.log('      skipped: the loaded binary has no gemm/im2col/col2im/transpose/sumRows entry points');
      this.skip();
    });
    return;
  }

  describe('GEMM', function () {
    gemmShapes.forEach((s, q) => {
      it(`${name(s)}: within the float32 bound of a float64 reference`, function () {
        const inp = gemmInputs(s, 100 + 7 * q);
        const C = runGemm(s, inp);
        const n = s.K + MAX_ROUNDINGS_BEYOND_K;
        for (let m = 0; m < s.M; ++m)
          for (let j = 0; j < s.N; ++j) {
            let ref = 0,
              mag = 0;
            for (let k = 0; k < s.K; ++k) {
              const p = opA(s, inp.A, m, k) * opB(s, inp.B, k, j);
              ref += p;
              mag += Math.abs(p);
            }
            if (s.accumulate) {
              ref += inp.C0[m * s.N + j]!;
              mag += Math.abs(inp.C0[m * s.N + j]!);
            }
            if (s.bias) {
              ref += inp.bias[j]!;
              mag += Math.abs(inp.bias[j]!);
            }
            const got = C[m * s.N + j]!;
            if (!(Math.abs(got - ref) <= gamma(n) * mag))
              expect.fail(`C[${m}][${j}] = ${got}, float64 reference ${ref}, bound ${gamma(n) * mag}`);
          }
      });
      // One K range (fewer than 32 K tiles): the documented order is the plain float32 sum.
      if (s.K <= 496)
        it(`${name(s)}: exactly the float32 sum in k order`, function () {
          const inp = gemmInputs(s, 100 + 7 * q);
          const C = runGemm(s, inp);
          const want = new Float32Array(s.M * s.N);
          for (let m = 0; m < s.M; ++m)
            for (let j = 0; j < s.N; ++j) {
              let acc = 0;
              for (let k = 0; k < s.K; ++k)
                acc = Math.fround(acc + Math.fround(opA(s, inp.A, m, k) * opB(s, inp.B, k, j)));
              let v = acc;
              if (s.accumulate) v = Math.fround(inp.C0[m * s.N + j]! + v);
              if (s.bias) v = Math.fround(v + inp.bias[j]!);
              want[m * s.N + j] = v;
            }
          expectSameBits(C, want, 'C');
        });
    });

    it('bit-identical for 1 and 3 threads (tiled and split-K shapes)', function () {
      for (const [q, s] of gemmShapes.entries()) {
        if (s.M * s.N < 64 && s.K < 700) continue;
        const inp = gemmInputs(s, 300 + q);
        const one = withThreads(1, () => runGemm(s, inp));
        const three = withThreads(3, () => runGemm(s, inp));
        expectSameBits(three, one, `C (${name(s)})`);
      }
    });
  });

  type Geom = Omit<NativeIm2colArgs, 'x' | 'cols' | 'emulate'>;
  const geoms: Geom[] = [
    { N: 2, C: 3, H: 7, W: 6, kH: 3, kW: 3, sH: 1, sW: 1, pH: 1, pW: 1 },
    { N: 1, C: 2, H: 9, W: 8, kH: 3, kW: 2, sH: 2, sW: 3, pH: 1, pW: 0 },
    { N: 2, C: 1, H: 5, W: 5, kH: 1, kW: 1, sH: 2, sW: 2, pH: 0, pW: 0 },
    { N: 1, C: 4, H: 6, W: 6, kH: 6, kW: 6, sH: 1, sW: 1, pH: 0, pW: 0 },
    { N: 3, C: 2, H: 4, W: 5, kH: 2, kW: 2, sH: 2, sW: 2, pH: 1, pW: 1 },
    { N: 1, C: 1, H: 1, W: 1, kH: 1, kW: 1, sH: 1, sW: 1, pH: 0, pW: 0 },
    { N: 2, C: 3, H: 5, W: 4, kH: 3, kW: 3, sH: 3, sW: 2, pH: 2, pW: 1 },
    { N: 1, C: 2, H: 3, W: 3, kH: 5, kW: 5, sH: 1, sW: 1, pH: 1, pW: 1 },
    { N: 1, C: 1, H: 10, W: 3, kH: 2, kW: 1, sH: 4, sW: 1, pH: 0, pW: 0 },
  ];
  const out = (g: Geom) => ({
    Ho: Math.floor((g.H + 2 * g.pH - g.kH) / g.sH) + 1,
    Wo: Math.floor((g.W + 2 * g.pW - g.kW) / g.sW) + 1,
  });
  const gname = (g: Geom) =>
    `N ${g.N}, C ${g.C}, ${g.H}x${g.W}, kernel ${g.kH}x${g.kW}, stride ${g.sH}x${g.sW}, padding ${g.pH}x${g.pW}`;

  /** Calls f(row, col, xIndex or -1) for every element of the column matrix. */
  function forEachCol(g: Geom, f: (r: number, q: number, xi: number) => void): void {
    const { Ho, Wo } = out(g);
    for (let n = 0; n < g.N; ++n)
      for (let i = 0; i < Ho; ++i)
        for (let j = 0; j < Wo; ++j)
          for (let c = 0; c < g.C; ++c)
            for (let a = 0; a < g.kH; ++a)
              for (let b = 0; b < g.kW; ++b) {
                const y = i * g.sH + a - g.pH,
                  x = j * g.sW + b - g.pW;
                const inside = y >= 0 && y < g.H && x >= 0 && x < g.W;
                f((n * Ho + i) * Wo + j, (c * g.kH + a) * g.kW + b, inside ? ((n * g.C + c) * g.H + y) * g.W + x : -1);
              }
  }

  describe('im2col / col2im', function () {
    geoms.forEach((g, q) => {
      const { Ho, Wo } = out(g);
      const rows = g.N * Ho * Wo,
        ncols = g.C * g.kH * g.kW,
        nx = g.N * g.C * g.H * g.W;

      it(`im2col ${gname(g)}: exact`, function () {
        const x = uniform(500 + q, nx, -1, 1);
        const cols = new Float32Array(rows * ncols).fill(NaN);
        native().im2col({ ...g, x, cols, emulate: true });
        const want = new Float32Array(rows * ncols);
        forEachCol(g, (r, c, xi) => {
          want[r * ncols + c] = xi >= 0 ? x[xi]! : 0;
        });
        expectSameBits(cols, want, 'cols');
      });

      it(`col2im ${gname(g)}: exact (float32 sum over (a, b) ascending), overwrites dx`, function () {
        const cols = uniform(600 + q, rows * ncols, -1, 1);
        const x = new Float32Array(nx).fill(NaN);
        native().col2im({ ...g, x, cols, emulate: true });
        // forEachCol visits, for one input element, its (a, b) in ascending order: the documented order.
        const want = new Float32Array(nx);
        const contrib: number[][] = Array.from({ length: nx }, () => []);
        const order: number[][] = Array.from({ length: nx }, () => []);
        forEachCol(g, (r, c, xi) => {
          if (xi < 0) return;
          contrib[xi]!.push(cols[r * ncols + c]!);
          order[xi]!.push(c % (g.kH * g.kW)); // a * kW + b
        });
        for (let e = 0; e < nx; ++e) {
          const idx = order[e]!.map((o, t) => [o, t] as const).sort((u, v) => u[0] - v[0]);
          let s = 0;
          for (const [, t] of idx) s = Math.fround(s + contrib[e]![t]!);
          want[e] = s;
        }
        expectSameBits(x, want, 'dx');
      });
    });
  });

  describe('transpose', function () {
    const shapes: [number, number, number][] = [
      [1, 1, 1],
      [3, 33, 65],
      [2, 100, 7],
      [1, 64, 64],
      [4, 1, 50],
      [2, 31, 1],
    ];
    for (const [batch, rows, cols] of shapes)
      it(`batch ${batch}, ${rows} x ${cols}: exact`, function () {
        const src = uniform(700 + rows, batch * rows * cols, -5, 5);
        const dst = new Float32Array(src.length).fill(NaN);
        native().transpose({ batch, rows, cols, src, dst, emulate: true });
        const want = new Float32Array(src.length);
        for (let b = 0; b < batch; ++b)
          for (let r = 0; r < rows; ++r)
            for (let c = 0; c < cols; ++c) want[(b * cols + c) * rows + r] = src[(b * rows + r) * cols + c]!;
        expectSameBits(dst, want, 'dst');
      });
  });

  describe('sumRows', function () {
    const cases: [number, number, boolean][] = [
      [0, 5, true],
      [0, 5, false],
      [1, 1, false],
      [1000, 37, false],
      [3, 300, true],
      [257, 260, true],
    ];
    for (const [M, N, accumulate] of cases)
      it(`M ${M}, N ${N}${accumulate ? ', accumulate' : ''}: the double sum in row order, rounded once`, function () {
        // wide dynamic range, so that float and double sums (and other orders) differ
        const mant = uniform(800 + M, M * N, -1, 1),
          expo = uniform(900 + M, M * N, -12, 12);
        const src = Float32Array.from(mant, (v, i) => v * 2 ** Math.round(expo[i]!));
        const dst0 = uniform(1000 + N, N, -3, 3);
        const dst = Float32Array.from(dst0);
        native().sumRows({ M, N, accumulate, src, dst, emulate: true });
        const want = new Float32Array(N);
        for (let j = 0; j < N; ++j) {
          let s = 0;
          for (let i = 0; i < M; ++i) s += src[i * N + j]!;
          want[j] = Math.fround((accumulate ? dst0[j]! : 0) + s);
        }
        expectSameBits(dst, want, 'dst');
      });
  });

  it('im2col, col2im, transpose and sumRows: bit-identical for 1 and 3 threads', function () {
    const g: Geom = { N: 3, C: 5, H: 17, W: 13, kH: 3, kW: 3, sH: 2, sW: 1, pH: 1, pW: 1 };
    const { Ho, Wo } = out(g);
    const nx = g.N * g.C * g.H * g.W,
      nc = g.N * Ho * Wo * g.C * g.kH * g.kW;
    const x = uniform(1, nx, -1, 1),
      dcols = uniform(2, nc, -1, 1),
      src = uniform(3, 300 * 257, -1, 1);
    const run = () => {
      const cols = new Float32Array(nc),
        dx = new Float32Array(nx),
        t = new Float32Array(src.length),
        s = new Float32Array(257);
      native().im2col({ ...g, x, cols, emulate: true });
      native().col2im({ ...g, x: dx, cols: dcols, emulate: true });
      native().transpose({ batch: 3, rows: 100, cols: 257, src, dst: t, emulate: true });
      native().sumRows({ M: 300, N: 257, src, dst: s, emulate: true });
      return [cols, dx, t, s];
    };
    const one = withThreads(1, run),
      three = withThreads(3, run);
    for (let i = 0; i < one.length; ++i) expectSameBits(three[i]!, one[i]!, ['cols', 'dx', 'transpose', 'sumRows'][i]!);
  });
});
