// The choice between the dense and the event-driven (sparse) paths of Linear and Conv2d.
import { type Storage } from '../storage.js';
import * as ops from './synapse-ops.js';

/**
 * On the CPU, Linear and Conv2d run their event-driven path when at most this fraction of the
 * input elements is nonzero (spikes): each nonzero input adds its weighted contribution, zeros
 * cost nothing. The nonzero count is exact, so the choice never depends on the thread count, and
 * both paths give the same results up to float32 rounding. Around this density the event-driven
 * kernels and the dense OpenBLAS GEMM take about the same time; below it the event-driven path is
 * faster. Inputs under 4096 elements, CUDA tensors and the CUDA launch emulation always take the
 * dense path.
 */
export const SPARSE_DENSITY_THRESHOLD = 0.05;

/**
 * Linear's forward runs its event-driven path (on a CSR index of the input, built once per call)
 * when at most this fraction of the input elements is nonzero. Measured against the dense
 * OpenBLAS GEMM on the SHD-shaped layer (M 12800, K 700, N 256) at 1%, 2%, 5%, 10% and 20%
 * nonzeros: below it the event-driven path is faster.
 */
export const LINEAR_SPARSE_FORWARD_THRESHOLD = 0.05;

/**
 * Linear's weight gradient runs its event-driven path (on the CSR index its forward kept) when at
 * most this fraction of the input elements is nonzero; above it the dense GEMM runs. Measured as
 * {@link LINEAR_SPARSE_FORWARD_THRESHOLD}, separately, since the two kernels scale differently.
 */
export const LINEAR_SPARSE_WEIGHT_GRAD_THRESHOLD = 0.05;

/** Inputs smaller than this (elements) always take the dense path: counting is not worth it. */
export const SPARSE_MIN_ELEMENTS = 4096;

/** The nonzero count of `x` when it takes the event-driven path, else -1. */
export function sparseNonzeros(x: Storage): number {
  if (!ops.sparseAllowed(x) || x.length < SPARSE_MIN_ELEMENTS) return -1;
  const nnz = ops.countNonzero(x);
  return nnz <= SPARSE_DENSITY_THRESHOLD * x.length ? nnz : -1;
}
