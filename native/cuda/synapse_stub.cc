// CPU-only builds: the CUDA synaptic operations throw ERR_CUDA_NOT_BUILT.
#include "cuda/cuda_ops.h"
#include "cuda/cuda_probe.h"
#include "cuda/synapse_cuda.h"

namespace sl {
namespace {
[[noreturn]] void not_built() { throw CudaError("ERR_CUDA_NOT_BUILT", cuda_status().reason); }
}  // namespace
void cuda_gemm(const GemmArgs&, int) { not_built(); }
void cuda_im2col(const Im2colArgs&, int) { not_built(); }
void cuda_col2im(const Im2colArgs&, int) { not_built(); }
void cuda_transpose(const TransposeArgs&, int) { not_built(); }
void cuda_sum_rows(const SumRowsArgs&, int) { not_built(); }
}  // namespace sl
