// CPU emulation of the CUDA launches of the synaptic operations: the per-thread functions of
// core/synapse_thread.h run over the same grid as the CUDA kernels (tests; bit-identical to the
// GPU).
#pragma once
#include "core/synapse_args.h"

namespace sl {
void gemm_emulated(const GemmArgs& a, int threads);
void im2col_emulated(const Im2colArgs& a, int threads);
void col2im_emulated(const Im2colArgs& a, int threads);
void transpose_emulated(const TransposeArgs& a, int threads);
void sum_rows_emulated(const SumRowsArgs& a, int threads);
}  // namespace sl
