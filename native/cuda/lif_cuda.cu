// CUDA kernels of the LIF family (device memory: device_memory.cu). The kernels are thin wrappers
// around the per-thread functions of native/core/lif_thread.h (which the CPU test suite runs
// through an emulated launch); the math is native/core/lif_math.h, shared with the CPU kernels.
#include <cuda_runtime.h>

#include <vector>

#include "core/dispatch.h"
#include "core/lif_thread.h"
#include "cuda/cuda_guard.h"

namespace sl {
namespace {

constexpr int kBackwardBlocksPerSm = 6;

template <SpikeKind SK, ResetKind RK, bool SYN>
__global__ void __launch_bounds__(kMaxForwardThreads) forward_kernel(LifKernelArgs a) {
  forward_thread<SK, RK, SYN>(a, blockIdx.x, threadIdx.x, blockDim.x);
}

// Dynamic shared memory: the replay buffers of the block's threads (replay_floats floats). At
// K = 32 they allow 6 blocks of 128 threads per sm_90 SM; the register cap that follows from 6
// blocks (80) keeps the registers from lowering that further (ptxas spills nothing at 80).
template <SpikeKind SK, ResetKind RK, SurrKind SS, bool SYN>
__global__ void __launch_bounds__(kMaxBackwardThreads, kBackwardBlocksPerSm)
    backward_kernel(LifKernelArgs a) {
  extern __shared__ float replay[];
  backward_thread<SK, RK, SS, SYN>(a, blockIdx.x, threadIdx.x, blockDim.x, replay);
}

__global__ void reduce_batch_kernel(const double* part, int64_t B, int64_t N, double* out) {
  reduce_batch_thread(part, B, N, out, blockIdx.x, threadIdx.x, blockDim.x);
}

// Multiprocessor count of the current device (the block size is chosen from it).
int sm_count() {
  int dev = 0, sms = 0;
  if (cudaGetDevice(&dev) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || sms < 1)
    return kReferenceSms;
  return sms;
}

void launch_reduce(const double* part, int64_t B, int64_t N, double* outHost) {
  if (N <= 0) return;
  Scratch out(sizeof(double) * N);
  const Grid g = lif_grid(N, sm_count(), kMaxForwardThreads);
  reduce_batch_kernel<<<g.blocks, g.threads, 0, kStream>>>(part, B, N, out.as<double>());
  check(cudaGetLastError(), "reduce kernel launch");
  check(cudaMemcpyAsync(outHost, out.p, sizeof(double) * N, cudaMemcpyDeviceToHost, kStream),
        "cudaMemcpyAsync");
}

}  // namespace

void cuda_lif_forward(LifKernelArgs& a, int device) {
  DeviceGuard g(device);
  const int64_t BN = a.B * a.N;
  Scratch part(sizeof(double) * BN);
  LifKernelArgs A = a;
  A.partSpikes = part.as<double>();
  const Grid grid = lif_grid(BN, sm_count(), kMaxForwardThreads);
  if (grid.blocks > 0) {
    dispatch_forward(A, [&](auto sk, auto rk, auto syn) {
      forward_kernel<decltype(sk)::value, decltype(rk)::value, decltype(syn)::value>
          <<<grid.blocks, grid.threads, 0, kStream>>>(A);
    });
    check(cudaGetLastError(), "forward kernel launch");
  }
  std::vector<double> perNeuron(static_cast<size_t>(a.N));
  launch_reduce(A.partSpikes, a.B, a.N, perNeuron.data());
  check(cudaStreamSynchronize(kStream), "forward kernel");
  double s = 0.0;
  for (double v : perNeuron) s += v;
  a.spikeSum = s;
}

void cuda_lif_backward(LifKernelArgs& a, int device) {
  DeviceGuard g(device);
  const int64_t BN = a.B * a.N;
  Scratch partM(sizeof(double) * BN), partS(a.hasSyn ? sizeof(double) * BN : 0);
  LifKernelArgs A = a;
  A.partM = partM.as<double>();
  A.partS = partS.as<double>();
  const Grid grid = lif_grid(BN, sm_count(), kMaxBackwardThreads);
  const size_t shBytes = sizeof(float) * static_cast<size_t>(replay_floats(A, grid.threads));
  if (grid.blocks > 0) {
    dispatch_backward(A, [&](auto sk, auto rk, auto ss, auto syn) {
      backward_kernel<decltype(sk)::value, decltype(rk)::value, decltype(ss)::value,
                      decltype(syn)::value><<<grid.blocks, grid.threads, shBytes, kStream>>>(A);
    });
    check(cudaGetLastError(), "backward kernel launch");
  }
  launch_reduce(A.partM, a.B, a.N, a.gAlphaMem);
  if (a.hasSyn) launch_reduce(A.partS, a.B, a.N, a.gAlphaSyn);
  check(cudaStreamSynchronize(kStream), "backward kernel");
}

double cuda_copy_bandwidth(size_t bytes, int reps, int device) {
  DeviceGuard g(device);
  Scratch src(bytes), dst(bytes);
  check(cudaMemsetAsync(src.p, 0, bytes, kStream), "cudaMemsetAsync");
  cudaEvent_t e0, e1;
  check(cudaEventCreate(&e0), "cudaEventCreate");
  check(cudaEventCreate(&e1), "cudaEventCreate");
  float best = 1e30f;
  for (int r = 0; r < (reps < 1 ? 1 : reps); ++r) {
    cudaEventRecord(e0, kStream);
    cudaMemcpyAsync(dst.p, src.p, bytes, cudaMemcpyDeviceToDevice, kStream);
    cudaEventRecord(e1, kStream);
    check(cudaEventSynchronize(e1), "copy bandwidth");
    float ms = 0.0f;
    cudaEventElapsedTime(&ms, e0, e1);
    if (ms < best) best = ms;
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return 2.0 * static_cast<double>(bytes) / (static_cast<double>(best) * 1e-3) / 1e9;
}

}  // namespace sl
