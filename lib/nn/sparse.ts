// The choice between the dense and the event-driven (sparse) paths of Linear and Conv2d.
import { type Storage } from '../storage.js';
import * as ops from './synapse-ops.js';

/**
 * On the CPU, Conv2d runs its event-driven path when at most this fraction of the
 * input elements is nonzero (spikes): each nonzero input adds its weighted contribution, zeros
 * cost nothing. The nonzero count is exact, so the choice never depends on the thread count, and
 * both paths give the same results up to float32 rounding. Around this density the event-driven
 * kernels and the dense OpenBLAS GEMM take about the same time; below it the event-driven path is
 * faster. Inputs under 4096 elements, CUDA tensors and the CUDA launch emulation always take the
 * dense path (Linear too). Linear has its own thresholds ({@link LINEAR_SPARSE_FORWARD_THRESHOLD},
 * {@link LINEAR_SPARSE_WEIGHT_GRAD_THRESHOLD}).
 */
export const SPARSE_DENSITY_THRESHOLD = 0.05;

/**
 * Linear's forward runs its event-driven path when at most this fraction of the input elements is
 * nonzero. The forward then builds a CSR index of the nonzeros (one count pass and one fill pass
 * over the input) and each row adds the weighted rows of Wᵀ of its events. The rule comes from
 * timing, on the SHD-shaped layer (M 12800, K 700, N 256; 1 and 2 threads), index plus kernel
 * against the dense OpenBLAS GEMM at 1%, 2%, 5%, 10%, 12%, 15% and 20% nonzeros: the
 * event-driven path was 1.5x (10%) to 10x (1%) faster, about as fast at 15% and slower at 20%.
 */
export const LINEAR_SPARSE_FORWARD_THRESHOLD = 0.1;

/**
 * Linear's weight gradient runs its event-driven path (on the CSR index its forward kept; each
 * input feature adds the weighted rows of dY of its events) when at most this fraction of the
 * input elements is nonzero; above it the dense GEMM runs. Timed as
 * {@link LINEAR_SPARSE_FORWARD_THRESHOLD}, separately: the event-driven kernel was 1.4x (10%) to
 * 14x (1%) faster than the GEMM, and slower from about 13% (2 threads) or 17% (1 thread) on. When
 * the forward keeps an index, it keeps no copy of the input, which saves more in training.
 */
export const LINEAR_SPARSE_WEIGHT_GRAD_THRESHOLD = 0.1;

/** Inputs smaller than this (elements) always take the dense path: counting is not worth it. */
export const SPARSE_MIN_ELEMENTS = 4096;

/** The nonzero count of `x` when it takes the event-driven path, else -1. */
export function sparseNonzeros(x: Storage): number {
  if (!ops.sparseAllowed(x) || x.length < SPARSE_MIN_ELEMENTS) return -1;
  const nnz = ops.countNonzero(x);
  return nnz <= SPARSE_DENSITY_THRESHOLD * x.length ? nnz : -1;
}
