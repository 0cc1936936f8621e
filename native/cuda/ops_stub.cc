// CPU-only builds: the CUDA tensor operations throw ERR_CUDA_NOT_BUILT.
#include "core/ops_thread.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_probe.h"

namespace sl {
void cuda_ops_run(const OpCall&, int) {
  throw CudaError("ERR_CUDA_NOT_BUILT", cuda_status().reason);
}
}  // namespace sl
