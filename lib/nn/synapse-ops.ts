// Typed wrappers of the native synaptic operations (binding.d.ts, NativeSynapseOps). Host arrays
// run the OpenMP/OpenBLAS kernels (or, in tests, the CPU emulation of the CUDA launch); device
// buffers run the CUDA kernels. Internal to Linear and Conv2d.
import type {
  NativeGemmArgs,
  NativeIm2colArgs,
  NativeCsr,
  NativeLinearCsrForwardArgs,
  NativeLinearCsrWeightGradArgs,
  NativeLinearSparseForwardArgs,
  NativeLinearSparseWeightGradArgs,
  NativeSumRowsArgs,
  NativeTransposeArgs,
} from '#binding';
import { _cudaLaunchEmulation } from '../backend.js';
import { codedBinding as native } from './tensor-ops.js';
import { isHost, type Storage } from '../storage.js';

/** Whether host arrays should run through the CPU emulation of the CUDA launch. */
function emulate(s: Storage): boolean {
  return isHost(s) && _cudaLaunchEmulation();
}

/** C = [accumulate ? C : 0] + op(A) . op(B) [+ bias]. */
export function gemm(a: Omit<NativeGemmArgs, 'emulate'>): void {
  native().gemm({ ...a, emulate: emulate(a.C) });
}

/** cols = im2col(x). */
export function im2col(a: Omit<NativeIm2colArgs, 'emulate'>): void {
  native().im2col({ ...a, emulate: emulate(a.x) });
}

/** x = col2im(cols) (overwrites x). */
export function col2im(a: Omit<NativeIm2colArgs, 'emulate'>): void {
  native().col2im({ ...a, emulate: emulate(a.x) });
}

/** dst (batch, cols, rows) = src (batch, rows, cols) transposed. */
export function transpose(a: Omit<NativeTransposeArgs, 'emulate'>): void {
  native().transpose({ ...a, emulate: emulate(a.src) });
}

/** dst = [accumulate ? dst : 0] + column sums of src (M x N). */
export function sumRows(a: Omit<NativeSumRowsArgs, 'emulate'>): void {
  native().sumRows({ ...a, emulate: emulate(a.src) });
}

/** The number of nonzero elements of host data `x` (exact, so equal for any thread count). */
export function countNonzero(x: Float32Array): number {
  return native().countNonzero({ n: x.length, x });
}

/** Whether the event-driven kernels can run on `x` (host data, no launch emulation). */
export function sparseAllowed(x: Storage): x is Float32Array {
  return isHost(x) && !_cudaLaunchEmulation();
}

/** Event-driven Linear forward (host arrays). */
export function linearSparseForward(a: NativeLinearSparseForwardArgs): void {
  native().linearSparseForward(a);
}

/** Event-driven Linear weight gradient (host arrays). */
export function linearSparseWeightGrad(a: NativeLinearSparseWeightGradArgs): void {
  native().linearSparseWeightGrad(a);
}

/**
 * The CSR index of host data `x` (M x K) when it has at most `maxNnz` nonzero elements, else
 * null. The count is exact, so the choice never depends on the thread count.
 */
export function csrIfSparse(x: Float32Array, M: number, K: number, maxNnz: number): NativeCsr | null {
  return native().csrBuild({ M, K, x, maxNnz: Math.max(0, Math.floor(maxNnz)) });
}

/** Event-driven Linear forward on a CSR input (host arrays). */
export function linearCsrForward(a: NativeLinearCsrForwardArgs): void {
  native().linearCsrForward(a);
}

/** Event-driven Linear weight gradient on a CSR input (host arrays). */
export function linearCsrWeightGrad(a: NativeLinearCsrWeightGradArgs): void {
  native().linearCsrWeightGrad(a);
}

/** The dense (M x K) matrix of a CSR index (zeros elsewhere). */
export function csrToDense(c: NativeCsr, M: number, K: number): Float32Array {
  const x = new Float32Array(M * K);
  for (let m = 0; m < M; ++m) for (let p = c.rowPtr[m]!; p < c.rowPtr[m + 1]!; ++p) x[m * K + c.cols[p]!] = c.vals[p]!;
  return x;
}
