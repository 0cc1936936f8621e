// Host-side helpers shared by the CUDA translation units (*.cu only: includes cuda_runtime.h):
// error checking that throws CudaError with a stable ERR_CUDA_* code, the scoped current-device
// guard, and the stream every launch uses.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "cuda/cuda_ops.h"
#include "cuda/cuda_probe.h"

namespace sl {

// Throws CudaError (ERR_CUDA_OUT_OF_MEMORY or ERR_CUDA_RUNTIME) unless e is cudaSuccess.
inline void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  (void)cudaGetLastError();  // clear a sticky non-fatal error
  const std::string code =
      e == cudaErrorMemoryAllocation ? "ERR_CUDA_OUT_OF_MEMORY" : "ERR_CUDA_RUNTIME";
  throw CudaError(
      code, std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

// Makes `device` current for the scope and restores the previous device afterwards.
struct DeviceGuard {
  int prev = -1;
  explicit DeviceGuard(int device) {
    const CudaStatus& st = cuda_status();
    if (!st.available)
      throw CudaError(st.code.empty() ? "ERR_CUDA_UNAVAILABLE" : st.code, st.reason);
    if (device < 0 || device >= static_cast<int>(st.devices.size()) || !st.devices[device].usable)
      throw CudaError("ERR_CUDA_NO_DEVICE",
                      "CUDA device " + std::to_string(device) + " does not exist or is not usable");
    check(cudaGetDevice(&prev), "cudaGetDevice");
    if (prev != device) check(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceGuard() {
    int cur = -1;
    if (prev >= 0 && cudaGetDevice(&cur) == cudaSuccess && cur != prev) cudaSetDevice(prev);
  }
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
};

// Every launch and copy is issued on the calling host thread's default stream.
inline const cudaStream_t kStream = cudaStreamPerThread;

// Raises the release threshold of `device`'s default memory pool (once per device), so that the
// pool keeps freed scratch for the next call instead of returning it at every synchronize.
// device_memory.cu.
void configure_default_pool(int device);

// Stream-ordered scratch memory from the current device's default pool, freed (back to the pool)
// when the scope ends.
struct Scratch {
  void* p = nullptr;
  explicit Scratch(size_t bytes) {
    if (!bytes) return;
    int device = 0;
    check(cudaGetDevice(&device), "cudaGetDevice");
    configure_default_pool(device);
    check(cudaMallocAsync(&p, bytes, kStream), "cudaMallocAsync");
  }
  ~Scratch() {
    if (p) cudaFreeAsync(p, kStream);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

}  // namespace sl
