// The native synaptic operations on host arrays, one by one, against plain float64 loops: every
// GEMM variant (transA, transB, accumulate, bias) over sizes spanning several fixed tiles,
// transposes, row sums and nonzero counts; and bit-identical results for 1, 2 and 3 threads.
import { expect } from 'chai';
import { getNumThreads, setNumThreads } from '../../lib/index.js';
import { native } from '../../lib/backend.js';
import { uniform } from '../support/random.js';
import { assertClose } from '../support/reference-nn.js';

/** C = [acc ? C0 : 0] + op(A) op(B) + bias, in float64. */
function gemmRef(
  M: number,
  N: number,
  K: number,
  tA: boolean,
  tB: boolean,
  A: Float32Array,
  B: Float32Array,
  C0: Float32Array | null,
  bias: Float32Array | null,
): Float64Array {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; ++i)
    for (let j = 0; j < N; ++j) {
      let s = (C0 ? C0[i * N + j]! : 0) + (bias ? bias[j]! : 0);
      for (let k = 0; k < K; ++k) s += (tA ? A[k * M + i]! : A[i * K + k]!) * (tB ? B[j * K + k]! : B[k * N + j]!);
      C[i * N + j] = s;
    }
  return C;
}

describe('native synaptic operations (host)', () => {
  let saved = 1;
  before(() => (saved = getNumThreads()));
  after(() => setNumThreads(saved));

  const M = 131,
    N = 517,
    K = 37; // 3 x 3 tiles of 64 x 256, with partial edges
  for (const tA of [false, true])
    for (const tB of [false, true])
      for (const acc of [false, true])
        for (const withBias of [false, true])
          it(`gemm transA=${tA} transB=${tB} accumulate=${acc} bias=${withBias}: reference, and 1/2/3 threads bit-identical`, () => {
            const A = uniform(1, M * K, -1, 1),
              B = uniform(2, K * N, -1, 1),
              C0 = uniform(3, M * N, -1, 1);
            const bias = withBias ? uniform(4, N, -1, 1) : undefined;
            const outs = [1, 2, 3].map((t) => {
              setNumThreads(t);
              const C = C0.slice();
              native().gemm({ M, N, K, transA: tA, transB: tB, accumulate: acc, A, B, C, bias });
              return C;
            });
            assertClose(outs[0]!, gemmRef(M, N, K, tA, tB, A, B, acc ? C0 : null, bias ?? null), 'C');
            for (const o of outs.slice(1))
              expect(Buffer.from(o.buffer).equals(Buffer.from(outs[0]!.buffer))).to.equal(true);
          });

  it('gemm with K = 0 gives [C] + bias; M or N = 0 writes nothing', () => {
    const C = uniform(1, 6, -1, 1),
      bias = Float32Array.of(1, 2, 3);
    const C1 = C.slice();
    native().gemm({ M: 2, N: 3, K: 0, accumulate: true, A: new Float32Array(0), B: new Float32Array(0), C: C1, bias });
    expect(Array.from(C1)).to.deep.equal(Array.from(C, (v, q) => Math.fround(v + bias[q % 3]!)));
    const C2 = C.slice();
    native().gemm({ M: 2, N: 3, K: 0, A: new Float32Array(0), B: new Float32Array(0), C: C2 });
    expect(Array.from(C2)).to.deep.equal([0, 0, 0, 0, 0, 0]);
    const C3 = C.slice();
    native().gemm({ M: 0, N: 3, K: 4, A: new Float32Array(0), B: new Float32Array(12), C: C3 });
    expect(C3).to.deep.equal(C);
  });

  it('transpose (batch, rows, cols) -> (batch, cols, rows), exactly, for any thread count', () => {
    const batch = 3,
      rows = 45,
      cols = 70;
    const src = uniform(5, batch * rows * cols, -1, 1);
    for (const t of [1, 2, 3]) {
      setNumThreads(t);
      const dst = new Float32Array(src.length);
      native().transpose({ batch, rows, cols, src, dst });
      for (let b = 0; b < batch; ++b)
        for (let r = 0; r < rows; ++r)
          for (let c = 0; c < cols; ++c)
            if (dst[(b * cols + c) * rows + r] !== src[(b * rows + r) * cols + c])
              throw new Error(`mismatch at ${b},${r},${c}`);
    }
  });

  it('sumRows: column sums (accumulated or not) within float32 rounding of float64, bit-identical for 1/2/3 threads', () => {
    const M = 300,
      N = 150;
    const src = uniform(6, M * N, -1, 1),
      dst0 = uniform(7, N, -1, 1);
    for (const acc of [false, true]) {
      const ref = new Float64Array(N);
      for (let j = 0; j < N; ++j) {
        let s = 0;
        for (let i = 0; i < M; ++i) s += src[i * N + j]!;
        ref[j] = (acc ? dst0[j]! : 0) + s;
      }
      const outs = [1, 2, 3].map((t) => {
        setNumThreads(t);
        const dst = dst0.slice();
        native().sumRows({ M, N, accumulate: acc, src, dst });
        return dst;
      });
      // summed in double and rounded once or twice to float32: within 2^-23 of max|ref|
      assertClose(outs[0]!, ref, `accumulate=${acc}`, 1e-6);
      for (const o of outs.slice(1)) expect(Buffer.from(o.buffer).equals(Buffer.from(outs[0]!.buffer))).to.equal(true);
    }
  });

  it('countNonzero counts exactly (NaN counts, -0 does not)', () => {
    const x = new Float32Array(10007);
    let expected = 0;
    for (let q = 0; q < x.length; q += 7) {
      x[q] = q % 2 ? 1 : -2;
      ++expected;
    }
    x[1] = NaN;
    x[2] = -0;
    for (const t of [1, 2, 3]) {
      setNumThreads(t);
      expect(native().countNonzero({ n: x.length, x })).to.equal(expected + 1);
    }
    expect(native().countNonzero({ n: 3, x })).to.equal(2);
  });
});
