// Used when the addon is built without CUDA (no nvcc, or SPIKELAYERS_FORCE_CPU).
#include "cuda/cuda_ops.h"
#include "cuda/cuda_probe.h"

namespace sl {

const CudaStatus& cuda_status() {
  static const CudaStatus status = [] {
    CudaStatus s;
    s.built = false;
    s.available = false;
    s.code = "ERR_CUDA_NOT_BUILT";
    s.reason =
        "this binary was built without CUDA support (no nvcc at build time, or "
        "SPIKELAYERS_FORCE_CPU)";
    return s;
  }();
  return status;
}

[[noreturn]] static void not_built() {
  throw CudaError("ERR_CUDA_NOT_BUILT", cuda_status().reason);
}

void cuda_lif_forward(LifKernelArgs&, int) { not_built(); }
void cuda_lif_backward(LifKernelArgs&, int) { not_built(); }
double cuda_copy_bandwidth(size_t, int, int) { not_built(); }

}  // namespace sl
