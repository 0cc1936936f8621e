// CUDA path of the tensor operations: one thin kernel per kind around the per-thread functions
// of core/ops_thread.h (which the CPU test suite runs through the emulated launch). Partial sums
// go to stream-ordered scratch memory and are copied back to the caller's host array.
#include <cuda_runtime.h>

#include <string>

#include "core/ops_thread.h"
#include "cuda/cuda_guard.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_probe.h"

namespace sl {
namespace {

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
  Scratch scratch(call.part && call.nPart > 0 ? sizeof(double) * call.nPart : 0);
  if (scratch.p) c.part = scratch.as<double>();
  const Grid g = grid_for(work);
  dispatch_op(c.kind, [&](auto k) {
    op_kernel<decltype(k)::value><<<g.blocks, g.threads, 0, kStream>>>(c);
  });
  check(cudaGetLastError(), "tensor op kernel launch");
  if (scratch.p)
    check(cudaMemcpyAsync(call.part, scratch.p, sizeof(double) * call.nPart, cudaMemcpyDeviceToHost,
                          kStream),
          "cudaMemcpyAsync");
  check(cudaStreamSynchronize(kStream), "tensor op kernel");
}

}  // namespace sl
