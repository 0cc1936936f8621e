// CPU-only builds: there is no CUDA device memory; allocating it throws ERR_CUDA_NOT_BUILT.
#include "core/caching_allocator.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_probe.h"

namespace sl {
namespace {

[[noreturn]] void not_built() { throw CudaError("ERR_CUDA_NOT_BUILT", cuda_status().reason); }

class NoCudaMemory final : public mem::RawMemory {
 public:
  void* alloc(size_t, int) override { not_built(); }
  void free(void*, size_t, int) noexcept override {}
  void record_fence(mem::Block&) noexcept override {}
  bool fence_done(mem::Block&) noexcept override { return true; }
  void wait_fence(mem::Block&) noexcept override {}
  void destroy_fence(mem::Block&) noexcept override {}
  bool host_visible() const override { return false; }
  const char* name() const override { return "CUDA"; }
};

}  // namespace

mem::RawMemory& mem::cuda_memory() {
  static NoCudaMemory* m = new NoCudaMemory;
  return *m;
}

void cuda_trim_default_pools() noexcept {}
void cuda_sync_quiet(int) noexcept {}
void* cuda_alloc(size_t, int) { not_built(); }
void cuda_free(void*, int) noexcept {}
void cuda_upload(void*, const void*, size_t, int) { not_built(); }
void cuda_download(void*, const void*, size_t, int) { not_built(); }
void cuda_copy(void*, const void*, size_t, int) { not_built(); }
void cuda_zero(void*, size_t, int) { not_built(); }

}  // namespace sl
