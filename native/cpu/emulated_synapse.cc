// CPU emulation of the CUDA launches of the synaptic operations: the per-thread functions of
// core/synapse_thread.h over the same grid as the kernels of cuda/synapse_cuda.cu. Blocks run in
// parallel (OpenMP); inside a block the threads run one after another, phase by phase: every
// thread finishes a phase before any thread starts the next, which is what __syncthreads()
// guarantees on the GPU. A block's shared memory is a local array. Nothing depends on the
// number of host threads.
#include "cpu/emulated_synapse.h"

#include <stdexcept>
#include <string>
#include <vector>

#include "core/synapse_thread.h"

namespace sl {
namespace {

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("emulated synaptic op: " + what);
}

int clamp_threads(int threads) { return threads < 1 ? 1 : threads; }

// fn(block, thread, blockDim, gridDim) for every thread of a 1-D grid, blocks in parallel.
template <class Fn>
void launch_1d(int64_t blocks, int blockDim, int threads, Fn&& fn) {
#pragma omp parallel for schedule(static) num_threads(clamp_threads(threads))
  for (int64_t blk = 0; blk < blocks; ++blk)
    for (int th = 0; th < blockDim; ++th)
      fn(blk, static_cast<int64_t>(th), static_cast<int64_t>(blockDim), blocks);
}

void check_geom(const ConvGeom& g) {
  require(g.N >= 0 && g.C >= 0 && g.H >= 0 && g.W >= 0, "negative input shape");
  require(g.kH >= 1 && g.kW >= 1 && g.sH >= 1 && g.sW >= 1 && g.pH >= 0 && g.pW >= 0,
          "bad kernel, stride or padding");
  require(g.H + 2 * g.pH >= g.kH && g.W + 2 * g.pW >= g.kW, "kernel larger than the padded input");
}

}  // namespace

namespace {
template <bool TA, bool TB>
void gemm_blocks(const GemmArgs& a, const GemmPlan& p, float* work, int threads) {
  const int64_t items = p.items();
  const int64_t blocks = syn_blocks_for(items, 1);
#pragma omp parallel for schedule(static) num_threads(clamp_threads(threads))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    float As[kGemmBK][kGemmStride], Bs[kGemmBK][kGemmStride];  // the block's shared memory
    float acc[kGemmThreads][kGemmTM][kGemmTN];                 // each thread's registers
    for (int64_t w = blk; w < items; w += blocks) {
      const GemmTile tile = gemm_tile(p, w);
      for (int tid = 0; tid < kGemmThreads; ++tid) gemm_zero(acc[tid]);
      for (int64_t kt = tile.kt0; kt < tile.kt1; ++kt) {
        for (int tid = 0; tid < kGemmThreads; ++tid)
          gemm_load_tile<TA, TB>(a, tile, kt, tid, As, Bs);
        // __syncthreads()
        for (int tid = 0; tid < kGemmThreads; ++tid)
          gemm_accumulate_tile(a, kt, tid, As, Bs, acc[tid]);
        // __syncthreads()
      }
      for (int tid = 0; tid < kGemmThreads; ++tid) gemm_store(a, p, tile, tid, acc[tid], work);
    }
  }
}
}  // namespace

void gemm_emulated(const GemmArgs& a, int threads) {
  require(a.M >= 0 && a.N >= 0 && a.K >= 0, "negative GEMM size");
  if (a.M == 0 || a.N == 0) return;
  require(a.C && (a.K == 0 || (a.A && a.B)), "null GEMM operand");
  const GemmPlan p = gemm_plan(a);
  std::vector<float> work(p.splits > 1 ? static_cast<size_t>(p.splits * a.M * a.N) : 0);
  if (a.transA) {
    if (a.transB)
      gemm_blocks<true, true>(a, p, work.data(), threads);
    else
      gemm_blocks<true, false>(a, p, work.data(), threads);
  } else {
    if (a.transB)
      gemm_blocks<false, true>(a, p, work.data(), threads);
    else
      gemm_blocks<false, false>(a, p, work.data(), threads);
  }
  if (p.splits > 1)  // the second kernel of the split-K launch
    launch_1d(syn_blocks_for(a.M * a.N, kSynThreads), kSynThreads, threads,
              [&](int64_t b, int64_t t, int64_t bd, int64_t gd) {
                gemm_reduce_thread(a, p, work.data(), b, t, bd, gd);
              });
}

void im2col_emulated(const Im2colArgs& p, int threads) {
  check_geom(p.g);
  const int64_t total = p.g.rows() * p.g.cols();
  if (total == 0) return;
  require(p.x && p.cols, "null im2col array");
  const bool index32 = conv_index32(p.g);  // as the CUDA launcher chooses
  launch_1d(syn_blocks_for(total, kSynThreads), kSynThreads, threads,
            [&](int64_t b, int64_t t, int64_t bd, int64_t gd) {
              if (index32)
                im2col_thread<int32_t>(p, b, t, bd, gd);
              else
                im2col_thread<int64_t>(p, b, t, bd, gd);
            });
}

void col2im_emulated(const Im2colArgs& p, int threads) {
  check_geom(p.g);
  const int64_t total = p.g.N * p.g.C * p.g.H * p.g.W;
  if (total == 0) return;
  require(p.x && p.cols, "null col2im array");
  const bool index32 = conv_index32(p.g);  // as the CUDA launcher chooses
  launch_1d(syn_blocks_for(total, kSynThreads), kSynThreads, threads,
            [&](int64_t b, int64_t t, int64_t bd, int64_t gd) {
              if (index32)
                col2im_thread<int32_t>(p, b, t, bd, gd);
              else
                col2im_thread<int64_t>(p, b, t, bd, gd);
            });
}

void transpose_emulated(const TransposeArgs& p, int threads) {
  require(p.batch >= 0 && p.rows >= 0 && p.cols >= 0, "negative transpose shape");
  const int64_t tiles = transpose_tile_count(p);
  if (tiles == 0) return;
  require(p.src && p.dst, "null transpose array");
  const int64_t blocks = syn_blocks_for(tiles, 1);
#pragma omp parallel for schedule(static) num_threads(clamp_threads(threads))
  for (int64_t blk = 0; blk < blocks; ++blk) {
    float tile[kTrTile][kTrStride];
    for (int64_t t = blk; t < tiles; t += blocks) {
      const TransposeTile tt = transpose_tile(p, t);
      for (int tid = 0; tid < kTrThreads; ++tid) transpose_load(p, tt, tid, tile);
      // __syncthreads()
      for (int tid = 0; tid < kTrThreads; ++tid) transpose_store(p, tt, tid, tile);
      // __syncthreads() (before the next tile overwrites the shared tile)
    }
  }
}

void sum_rows_emulated(const SumRowsArgs& p, int threads) {
  require(p.M >= 0 && p.N >= 0, "negative sumRows shape");
  if (p.N == 0) return;
  require(p.dst && (p.M == 0 || p.src), "null sumRows array");
  launch_1d(
      syn_blocks_for(p.N, kSynThreads), kSynThreads, threads,
      [&](int64_t b, int64_t t, int64_t bd, int64_t gd) { sum_rows_thread(p, b, t, bd, gd); });
}

}  // namespace sl
