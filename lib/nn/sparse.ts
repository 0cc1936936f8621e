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

/** Inputs smaller than this (elements) always take the dense path: counting is not worth it. */
const SPARSE_MIN_ELEMENTS = 4096;

/** The nonzero count of `x` when it takes the event-driven path, else -1. */
export function sparseNonzeros(x: Storage): number {
  if (!ops.sparseAllowed(x) || x.length < SPARSE_MIN_ELEMENTS) return -1;
  const nnz = ops.countNonzero(x);
  return nnz <= SPARSE_DENSITY_THRESHOLD * x.length ? nnz : -1;
}
