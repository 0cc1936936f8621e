// CUDA launchers of the synaptic-layer operations (contract: core/synapse_args.h). Every pointer
// is a device pointer on `device`. Implemented in synapse_cuda.cu; synapse_stub.cc in CPU-only
// builds.
#pragma once
#include "core/synapse_args.h"

namespace sl {
void cuda_gemm(const GemmArgs& a, int device);
void cuda_im2col(const Im2colArgs& a, int device);
void cuda_col2im(const Im2colArgs& a, int device);
void cuda_transpose(const TransposeArgs& a, int device);
void cuda_sum_rows(const SumRowsArgs& a, int device);
}  // namespace sl
