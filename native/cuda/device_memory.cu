// CUDA device memory: the raw source of the caching allocator (core/caching_allocator.h), the
// release threshold of the default memory pool that the stream-ordered scratch allocations use,
// and the copies between host and device.
#include <cuda_runtime.h>

#include <cstdint>
#include <mutex>
#include <vector>

#include "core/caching_allocator.h"
#include "cuda/cuda_guard.h"

namespace sl {
namespace {

// Makes `device` current for the scope without the availability checks of DeviceGuard (used where
// nothing may throw: releases, fences, frees on the background thread).
struct QuietDevice {
  int prev = -1;
  explicit QuietDevice(int device) {
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    if (prev != device) cudaSetDevice(device);
  }
  ~QuietDevice() {
    int cur = -1;
    if (prev >= 0 && cudaGetDevice(&cur) == cudaSuccess && cur != prev) cudaSetDevice(prev);
  }
};

class CudaMemory final : public mem::RawMemory {
 public:
  void* alloc(size_t bytes, int device) override {
    DeviceGuard g(device);
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes ? bytes : 4);
    if (e == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      return nullptr;
    }
    check(e, "cudaMalloc");
    return p;
  }
  void free(void* p, size_t, int device) noexcept override {
    QuietDevice d(device);
    cudaFree(p);
    (void)cudaGetLastError();
  }
  void record_fence(mem::Block& b) noexcept override {
    QuietDevice d(b.device);
    if (!b.fence) {
      cudaEvent_t e = nullptr;
      if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) == cudaSuccess) b.fence = e;
    }
    if (!b.fence ||
        cudaEventRecord(static_cast<cudaEvent_t>(b.fence), cudaStreamPerThread) != cudaSuccess) {
      // no fence on the stream: wait for the stream here instead, so that reuse stays safe
      (void)cudaGetLastError();
      cudaStreamSynchronize(cudaStreamPerThread);
      (void)cudaGetLastError();
    }
  }
  bool fence_done(mem::Block& b) noexcept override {
    if (!b.fence) return true;
    const cudaError_t e = cudaEventQuery(static_cast<cudaEvent_t>(b.fence));
    if (e == cudaErrorNotReady) return false;
    (void)cudaGetLastError();
    return true;
  }
  void wait_fence(mem::Block& b) noexcept override {
    if (!b.fence) return;
    cudaEventSynchronize(static_cast<cudaEvent_t>(b.fence));
    (void)cudaGetLastError();
  }
  void destroy_fence(mem::Block& b) noexcept override {
    if (!b.fence) return;
    QuietDevice d(b.device);
    cudaEventDestroy(static_cast<cudaEvent_t>(b.fence));
    (void)cudaGetLastError();
    b.fence = nullptr;
  }
  bool host_visible() const override { return false; }
  const char* name() const override { return "CUDA"; }
};

std::mutex g_pool_mu;
std::vector<bool> g_pool_configured;

}  // namespace

mem::RawMemory& mem::cuda_memory() {
  static CudaMemory* m = new CudaMemory;  // leaked on purpose: blocks may be released at exit
  return *m;
}

// The default pool hands its memory back to the driver at every synchronize while its release
// threshold is 0; keep up to the cache limit instead, so that per-call scratch is reused.
void configure_default_pool(int device) {
  std::lock_guard<std::mutex> l(g_pool_mu);
  if (device < 0) return;
  if (g_pool_configured.size() <= static_cast<size_t>(device))
    g_pool_configured.resize(static_cast<size_t>(device) + 1, false);
  if (g_pool_configured[static_cast<size_t>(device)]) return;
  g_pool_configured[static_cast<size_t>(device)] = true;
  cudaMemPool_t pool;
  if (cudaDeviceGetDefaultMemPool(&pool, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return;
  }
  uint64_t threshold = static_cast<uint64_t>(mem::cache_limit());
  if (cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold) != cudaSuccess)
    (void)cudaGetLastError();
}

void cuda_trim_default_pools() noexcept {
  std::lock_guard<std::mutex> l(g_pool_mu);
  for (size_t d = 0; d < g_pool_configured.size(); ++d) {
    if (!g_pool_configured[d]) continue;
    cudaMemPool_t pool;
    if (cudaDeviceGetDefaultMemPool(&pool, static_cast<int>(d)) == cudaSuccess) {
      QuietDevice q(static_cast<int>(d));
      cudaStreamSynchronize(cudaStreamPerThread);
      cudaMemPoolTrimTo(pool, 0);
    }
    (void)cudaGetLastError();
  }
}

void cuda_sync_quiet(int device) noexcept {
  QuietDevice d(device);
  cudaStreamSynchronize(kStream);
  (void)cudaGetLastError();
}

void* cuda_alloc(size_t bytes, int device) {
  DeviceGuard g(device);
  void* p = nullptr;
  check(cudaMalloc(&p, bytes ? bytes : 4), "cudaMalloc");
  return p;
}

void cuda_free(void* p, int device) noexcept {
  if (!p) return;
  QuietDevice d(device);
  cudaFree(p);
}

void cuda_upload(void* dst, const void* src, size_t bytes, int device) {
  DeviceGuard g(device);
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, kStream), "upload");
  check(cudaStreamSynchronize(kStream), "upload");
}

void cuda_download(void* dst, const void* src, size_t bytes, int device) {
  DeviceGuard g(device);
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, kStream), "download");
  check(cudaStreamSynchronize(kStream), "download");
}

void cuda_copy(void* dst, const void* src, size_t bytes, int device) {
  DeviceGuard g(device);
  check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, kStream), "device copy");
  check(cudaStreamSynchronize(kStream), "device copy");
}

void cuda_zero(void* dst, size_t bytes, int device) {
  DeviceGuard g(device);
  check(cudaMemsetAsync(dst, 0, bytes, kStream), "cudaMemsetAsync");
  check(cudaStreamSynchronize(kStream), "cudaMemsetAsync");
}

}  // namespace sl
