// CUDA path of the tensor operations: one thin kernel per kind around the per-thread functions
// of core/ops_thread.h (which the CPU test suite runs through the emulated launch). Partial sums
// go to stream-ordered scratch memory and are copied back to the caller's host array.
#include <cuda_runtime.h>

#include <string>

#include "core/ops_thread.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_probe.h"

namespace sl {
namespace {

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  (void)cudaGetLastError();
  const std::string code =
      e == cudaErrorMemoryAllocation ? "ERR_CUDA_OUT_OF_MEMORY" : "ERR_CUDA_RUNTIME";
  throw CudaError(
      code, std::string(what) + ": " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}

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
};

const cudaStream_t kStream = cudaStreamPerThread;

template <OpKind K>
__global__ void op_kernel(OpCall c) {
  op_thread<K>(c, global_index(blockIdx.x, threadIdx.x, blockDim.x));
}

}  // namespace

void cuda_ops_run(const OpCall& call, int device) {
  const int64_t work = op_work(call);
  if (work <= 0) return;
  DeviceGuard guard(device);
  OpCall c = call;
  void* scratch = nullptr;
  if (call.part && call.nPart > 0) {
    check(cudaMallocAsync(&scratch, sizeof(double) * call.nPart, kStream), "cudaMallocAsync");
    c.part = static_cast<double*>(scratch);
  }
  const Grid g = grid_for(work);
  try {
    dispatch_op(c.kind, [&](auto k) {
      op_kernel<decltype(k)::value><<<g.blocks, g.threads, 0, kStream>>>(c);
    });
    check(cudaGetLastError(), "tensor op kernel launch");
    if (scratch)
      check(cudaMemcpyAsync(call.part, scratch, sizeof(double) * call.nPart, cudaMemcpyDeviceToHost,
                            kStream),
            "cudaMemcpyAsync");
    check(cudaStreamSynchronize(kStream), "tensor op kernel");
  } catch (...) {
    if (scratch) cudaFreeAsync(scratch, kStream);
    throw;
  }
  if (scratch) cudaFreeAsync(scratch, kStream);
}

}  // namespace sl
