// CUDA runtime probe: driver present and new enough, a device, compute capability >= 7.5.
// The runtime is linked statically, so this binary loads on machines with no driver at all.
#include <cuda_runtime.h>

#include <cstdio>

#include "cuda/cuda_probe.h"

namespace sl {

static CudaStatus run_probe() {
  CudaStatus s;
  s.built = true;
  cudaRuntimeGetVersion(&s.runtimeVersion);
  if (cudaDriverGetVersion(&s.driverVersion) != cudaSuccess) s.driverVersion = 0;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    if (s.driverVersion == 0 || err == cudaErrorNoDevice) {
      if (s.driverVersion == 0) {
        s.code = "ERR_CUDA_NO_DRIVER";
        s.reason = std::string("no NVIDIA driver found (") + cudaGetErrorName(err) + ": " +
                   cudaGetErrorString(err) + ")";
      } else {
        s.code = "ERR_CUDA_NO_DEVICE";
        s.reason = std::string("no CUDA device (") + cudaGetErrorName(err) + ")";
      }
    } else if (err == cudaErrorInsufficientDriver) {
      char buf[256];
      std::snprintf(buf, sizeof buf,
                    "the NVIDIA driver is too old: it supports CUDA %d.%d, this binary needs %d.%d "
                    "(driver >= 580)",
                    s.driverVersion / 1000, (s.driverVersion % 1000) / 10, s.runtimeVersion / 1000,
                    (s.runtimeVersion % 1000) / 10);
      s.code = "ERR_CUDA_OLD_DRIVER";
      s.reason = buf;
    } else {
      s.code = "ERR_CUDA_INIT";
      s.reason = std::string("CUDA initialisation failed (") + cudaGetErrorName(err) + ": " +
                 cudaGetErrorString(err) + ")";
    }
    return s;
  }
  if (count == 0) {
    s.code = "ERR_CUDA_NO_DEVICE";
    s.reason = "the NVIDIA driver reports no CUDA device";
    return s;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, d) != cudaSuccess) continue;
    CudaDeviceInfo info;
    info.index = d;
    info.name = p.name;
    info.major = p.major;
    info.minor = p.minor;
    info.memoryGiB = static_cast<double>(p.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0);
    info.usable = p.major > kMinCcMajor || (p.major == kMinCcMajor && p.minor >= kMinCcMinor);
    s.devices.push_back(info);
    if (info.usable) s.available = true;
  }
  if (!s.available) {
    s.code = "ERR_CUDA_DEVICE_TOO_OLD";
    s.reason = "no CUDA device with compute capability >= 7.5";
  }
  return s;
}

const CudaStatus& cuda_status() {
  static const CudaStatus status = run_probe();
  return status;
}

}  // namespace sl
