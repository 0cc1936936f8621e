// CUDA kernels of the synaptic operations (contract: core/synapse_args.h). The kernels are thin
// wrappers around the per-thread functions of core/synapse_thread.h, which the CPU test suite
// runs through an emulated launch (cpu/emulated_synapse.cc): same grid, same phases, same bits.
// Every launcher issues its work on cudaStreamPerThread and returns when it is done.
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "core/synapse_thread.h"
#include "cuda/cuda_guard.h"
#include "cuda/synapse_cuda.h"

namespace sl {
namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("CUDA synaptic op: " + what);
}

void check_geom(const ConvGeom& g) {
  require(g.N >= 0 && g.C >= 0 && g.H >= 0 && g.W >= 0, "negative input shape");
  require(g.kH >= 1 && g.kW >= 1 && g.sH >= 1 && g.sW >= 1 && g.pH >= 0 && g.pW >= 0,
          "bad kernel, stride or padding");
  require(g.H + 2 * g.pH >= g.kH && g.W + 2 * g.pW >= g.kW, "kernel larger than the padded input");
}

// One block per work item (tile of C and K range; grid-stride over the items); per K tile:
// load, barrier, accumulate, barrier. At least 3 resident blocks per SM (at most 80 registers a
// thread).
template <bool TA, bool TB>
__global__ void __launch_bounds__(kGemmThreads, 3)
    gemm_kernel(GemmArgs a, GemmPlan p, float* work) {
  __shared__ float As[kGemmBK][kGemmStride];
  __shared__ float Bs[kGemmBK][kGemmStride];
  const int tid = static_cast<int>(threadIdx.x);
  const int64_t items = p.items();
  for (int64_t w = blockIdx.x; w < items; w += gridDim.x) {
    const GemmTile tile = gemm_tile(p, w);
    float acc[kGemmTM][kGemmTN];
    gemm_zero(acc);
    for (int64_t kt = tile.kt0; kt < tile.kt1; ++kt) {
      gemm_load_tile<TA, TB>(a, tile, kt, tid, As, Bs);
      __syncthreads();
      gemm_accumulate_tile(a, kt, tid, As, Bs, acc);
      __syncthreads();
    }
    gemm_store(a, p, tile, tid, acc, work);
  }
}

__global__ void __launch_bounds__(kSynThreads)
    gemm_reduce_kernel(GemmArgs a, GemmPlan p, const float* work) {
  gemm_reduce_thread(a, p, work, blockIdx.x, threadIdx.x, blockDim.x, gridDim.x);
}

template <class I>
__global__ void __launch_bounds__(kSynThreads) im2col_kernel(Im2colArgs p) {
  im2col_thread<I>(p, blockIdx.x, threadIdx.x, blockDim.x, gridDim.x);
}

template <class I>
__global__ void __launch_bounds__(kSynThreads) col2im_kernel(Im2colArgs p) {
  col2im_thread<I>(p, blockIdx.x, threadIdx.x, blockDim.x, gridDim.x);
}

__global__ void __launch_bounds__(kSynThreads) sum_rows_kernel(SumRowsArgs p) {
  sum_rows_thread(p, blockIdx.x, threadIdx.x, blockDim.x, gridDim.x);
}

// One block per 32 x 32 tile (grid-stride over the tiles of the whole batch).
__global__ void __launch_bounds__(kTrThreads) transpose_kernel(TransposeArgs p, int64_t tiles) {
  __shared__ float tile[kTrTile][kTrStride];
  const int tid = static_cast<int>(threadIdx.x);
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const TransposeTile tt = transpose_tile(p, t);
    transpose_load(p, tt, tid, tile);
    __syncthreads();
    transpose_store(p, tt, tid, tile);
    __syncthreads();
  }
}

// gridDim.x is at most 2^31 - 1 (syn_blocks_for caps it; the kernels loop over the rest).
unsigned grid_x(int64_t blocks) { return static_cast<unsigned>(blocks); }

void finish(const char* what) {
  check(cudaGetLastError(), what);
  check(cudaStreamSynchronize(kStream), what);
}

}  // namespace

void cuda_gemm(const GemmArgs& a, int device) {
  require(a.M >= 0 && a.N >= 0 && a.K >= 0, "negative GEMM size");
  DeviceGuard g(device);
  if (a.M == 0 || a.N == 0) return;
  require(a.C && (a.K == 0 || (a.A && a.B)), "null GEMM operand");
  const GemmPlan p = gemm_plan(a);
  Scratch work(p.splits > 1 ? sizeof(float) * static_cast<size_t>(p.splits * a.M * a.N) : 0);
  float* w = work.as<float>();
  const unsigned blocks = grid_x(syn_blocks_for(p.items(), 1));
  if (a.transA) {
    if (a.transB)
      gemm_kernel<true, true><<<blocks, kGemmThreads, 0, kStream>>>(a, p, w);
    else
      gemm_kernel<true, false><<<blocks, kGemmThreads, 0, kStream>>>(a, p, w);
  } else {
    if (a.transB)
      gemm_kernel<false, true><<<blocks, kGemmThreads, 0, kStream>>>(a, p, w);
    else
      gemm_kernel<false, false><<<blocks, kGemmThreads, 0, kStream>>>(a, p, w);
  }
  if (p.splits > 1) {
    check(cudaGetLastError(), "gemm kernel");
    gemm_reduce_kernel<<<grid_x(syn_blocks_for(a.M * a.N, kSynThreads)), kSynThreads, 0, kStream>>>(
        a, p, w);
  }
  finish("gemm kernel");
}

void cuda_im2col(const Im2colArgs& p, int device) {
  check_geom(p.g);
  DeviceGuard g(device);
  const int64_t total = p.g.rows() * p.g.cols();
  if (total == 0) return;
  require(p.x && p.cols, "null im2col array");
  const unsigned blocks = grid_x(syn_blocks_for(total, kSynThreads));
  if (conv_index32(p.g))
    im2col_kernel<int32_t><<<blocks, kSynThreads, 0, kStream>>>(p);
  else
    im2col_kernel<int64_t><<<blocks, kSynThreads, 0, kStream>>>(p);
  finish("im2col kernel");
}

void cuda_col2im(const Im2colArgs& p, int device) {
  check_geom(p.g);
  DeviceGuard g(device);
  const int64_t total = p.g.N * p.g.C * p.g.H * p.g.W;
  if (total == 0) return;
  require(p.x && p.cols, "null col2im array");
  const unsigned blocks = grid_x(syn_blocks_for(total, kSynThreads));
  if (conv_index32(p.g))
    col2im_kernel<int32_t><<<blocks, kSynThreads, 0, kStream>>>(p);
  else
    col2im_kernel<int64_t><<<blocks, kSynThreads, 0, kStream>>>(p);
  finish("col2im kernel");
}

void cuda_transpose(const TransposeArgs& p, int device) {
  require(p.batch >= 0 && p.rows >= 0 && p.cols >= 0, "negative transpose shape");
  DeviceGuard g(device);
  const int64_t tiles = transpose_tile_count(p);
  if (tiles == 0) return;
  require(p.src && p.dst, "null transpose array");
  transpose_kernel<<<grid_x(syn_blocks_for(tiles, 1)), kTrThreads, 0, kStream>>>(p, tiles);
  finish("transpose kernel");
}

void cuda_sum_rows(const SumRowsArgs& p, int device) {
  require(p.M >= 0 && p.N >= 0, "negative sumRows shape");
  DeviceGuard g(device);
  if (p.N == 0) return;
  require(p.dst && (p.M == 0 || p.src), "null sumRows array");
  sum_rows_kernel<<<grid_x(syn_blocks_for(p.N, kSynThreads)), kSynThreads, 0, kStream>>>(p);
  finish("sumRows kernel");
}

}  // namespace sl
