// Used when the addon is built without CUDA (no nvcc, or SPIKELAYERS_FORCE_CPU).
#include "cuda/cuda_probe.h"

namespace sl {

const CudaStatus& cuda_status() {
  static const CudaStatus status = [] {
    CudaStatus s;
    s.built = false;
    s.available = false;
    s.code = "ERR_CUDA_NOT_BUILT";
    s.reason = "this binary was built without CUDA support (no nvcc at build time, or SPIKELAYERS_FORCE_CPU)";
    return s;
  }();
  return status;
}

}  // namespace sl
