// Typed wrappers of the native synaptic operations (binding.d.ts, NativeSynapseOps). Host arrays
// run the OpenMP/OpenBLAS kernels (or, in tests, the CPU emulation of the CUDA launch); device
// buffers run the CUDA kernels. Internal to Linear and Conv2d.
import type {
  NativeGemmArgs,
  NativeIm2colArgs,
  NativeLinearSparseForwardArgs,
  NativeLinearSparseWeightGradArgs,
  NativeSumRowsArgs,
  NativeTransposeArgs,
} from '#binding';
import { _cudaLaunchEmulation, native } from '../backend.js';
import { isHost, type Storage } from '../storage.js';

/**
 * The event-driven Linear path is used when at most this fraction of the input elements is
 * nonzero (the count is exact, so the choice never depends on the thread count). Spike trains are
 * mostly zero; above this density the dense OpenBLAS GEMM is faster.
 */
export const SPARSE_DENSITY_THRESHOLD = 0.05;

/** Inputs smaller than this (elements) always take the dense path: counting is not worth it. */
export const SPARSE_MIN_ELEMENTS = 4096;

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

/**
 * The number of nonzero elements of `x` when the event-driven path may be used for it (host
 * data, the OpenMP kernels, at least SPARSE_MIN_ELEMENTS elements), else -1.
 */
export function sparseCount(x: Storage): number {
  if (!sparseAllowed(x) || x.length < SPARSE_MIN_ELEMENTS) return -1;
  return native().countNonzero({ n: x.length, x });
}

/** Whether the event-driven kernels can run on `x` (host data, no launch emulation). */
export function sparseAllowed(x: Storage): x is Float32Array {
  return isHost(x) && !_cudaLaunchEmulation();
}

/** Whether `nnz` nonzeros out of `total` elements take the event-driven path. */
export function useSparse(nnz: number, total: number): boolean {
  return nnz >= 0 && total > 0 && nnz <= SPARSE_DENSITY_THRESHOLD * total;
}

/** Event-driven Linear forward (host arrays). */
export function linearSparseForward(a: NativeLinearSparseForwardArgs): void {
  native().linearSparseForward(a);
}

/** Event-driven Linear weight gradient (host arrays). */
export function linearSparseWeightGrad(a: NativeLinearSparseWeightGradArgs): void {
  native().linearSparseWeightGrad(a);
}
