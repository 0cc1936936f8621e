// Lazy, quiet probe of the CUDA runtime. Nothing CUDA runs at module load: the probe runs once,
// on first use, and its result says exactly why CUDA can or cannot be used.
#pragma once

#include <string>
#include <vector>

namespace sl {

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int major = 0, minor = 0;
  double memoryGiB = 0.0;
  bool usable = false;
};

struct CudaStatus {
  bool built = false;      // compiled with CUDA
  bool available = false;  // at least one usable device
  std::string code;        // stable code when unavailable, e.g. ERR_CUDA_NO_DRIVER
  std::string reason;      // human-readable reason when unavailable
  int runtimeVersion = 0;  // e.g. 13000
  int driverVersion = 0;   // 0 when no driver is installed
  std::vector<CudaDeviceInfo> devices;
};

// Minimum compute capability the kernels are built for.
constexpr int kMinCcMajor = 7;
constexpr int kMinCcMinor = 5;

const CudaStatus& cuda_status();

}  // namespace sl
