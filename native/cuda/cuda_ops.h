// Host-side entry points of the CUDA path: device memory and kernel launches. Implemented in
// device_memory.cu and lif_cuda.cu (CUDA builds) or device_memory_stub.cc and cuda_stub.cc
// (CPU-only builds, where every call throws).
// All work is issued on the calling thread's default stream (cudaStreamPerThread), so calls
// from different libuv worker threads (different layers) do not serialise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/lif_args.h"

namespace sl {

// A CUDA failure, with a stable code (ERR_CUDA_*) for JavaScript.
struct CudaError : std::runtime_error {
  std::string code;
  CudaError(std::string c, const std::string& msg) : std::runtime_error(msg), code(std::move(c)) {}
};

// Raw cudaMalloc / cudaFree (the caching allocator of core/caching_allocator.h is built on the
// same calls; buffers of the API come from it).
void* cuda_alloc(size_t bytes, int device);
void cuda_free(void* p, int device) noexcept;
// Synchronous copies on the calling thread's stream.
void cuda_upload(void* dst, const void* src, size_t bytes, int device);
void cuda_download(void* dst, const void* src, size_t bytes, int device);
void cuda_copy(void* dst, const void* src, size_t bytes, int device);
void cuda_zero(void* dst, size_t bytes, int device);
// Waits for the calling thread's stream on `device`, ignoring errors (before an in-flight call
// gives up its buffers after a failure).
void cuda_sync_quiet(int device) noexcept;
// Hands the unused memory of the default memory pools (stream-ordered scratch) back to the driver.
void cuda_trim_default_pools() noexcept;

// LIF kernels on device memory: every pointer of `a` is a device pointer except gAlphaMem and
// gAlphaSyn (host, N doubles each). Blocks until the results are ready.
void cuda_lif_forward(LifKernelArgs& a, int device);
void cuda_lif_backward(LifKernelArgs& a, int device);

// Device-to-device copy bandwidth in GB/s (read + write bytes), timed with CUDA events.
double cuda_copy_bandwidth(size_t bytes, int reps, int device);

}  // namespace sl
