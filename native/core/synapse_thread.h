// The per-thread work of the synaptic-operation kernels (contract: core/synapse_args.h), as
// host-and-device functions of the launch coordinates. The CUDA kernels (cuda/synapse_cuda.cu)
// are thin wrappers around them; the CPU emulation of the launch (cpu/emulated_synapse.cc) calls
// the very same functions over the same grid, block by block, with each block's shared memory as
// a local array and every barrier (__syncthreads) replaced by "every thread of the block has run
// this phase". The result of every element is then fixed by these functions alone, so the
// emulated launch and the GPU agree bit for bit, for any number of host threads.
//
// No fused multiply-add: products and sums are separate roundings (mul_rn/add_rn below; the
// device code is also built with --fmad=false and the host code with -ffp-contract=off).
//
// Orders of the reductions (part of the contract of these kernels):
//   GEMM     K is cut into S = gemm_plan(M, N, K).splits consecutive ranges (S = 1 unless the
//            output has too few tiles to fill a GPU; S depends on M, N, K only). Per range s:
//            p_s = +0; for k in range s, ascending: p_s = p_s + op(A)[m][k] * op(B)[k][n] (float);
//            acc = p_0, then acc = acc + p_s for s = 1..S-1; then v = accumulate ? C[m][n] + acc
//            : acc; then v = v + bias[n] if bias.
//   col2im   dx[n][c][y][x]: s = +0; for a = 0..kH-1, for b = 0..kW-1 (the (i, j) reading (y, x)
//            through (a, b), if any): s = s + dcols[(n, i, j)][(c, a, b)] (float).
//   sumRows  dst[j] = (float)((accumulate ? (double)dst[j] : 0.0) + s), s = sum over i = 0..M-1
//            of (double)src[i][j], in that order, in double.
#pragma once

#include <cstdint>

#include "core/synapse_args.h"

#if !defined(SL_HD)
#if defined(__CUDACC__)
#define SL_HD __host__ __device__ __forceinline__
#else
#define SL_HD inline __attribute__((always_inline))
#endif
#endif

#if defined(__CUDA_ARCH__)
#define SL_UNROLL _Pragma("unroll")
#else
#define SL_UNROLL
#endif

namespace sl {

// One rounding each, never contracted into an FMA.
SL_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
SL_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}

// Threads per block of the element-wise kernels.
constexpr int kSynThreads = 256;

// Most blocks of a 1-D launch (gridDim.x limit); the kernels loop over whatever is left.
constexpr int64_t kSynMaxBlocks = 2147483647;
SL_HD int64_t syn_blocks_for(int64_t work, int64_t perBlock) {
  const int64_t b = (work + perBlock - 1) / perBlock;
  return b < 1 ? 1 : (b > kSynMaxBlocks ? kSynMaxBlocks : b);
}

// ---------------------------------------------------------------------------------------------
// GEMM: one block per 64 x 64 tile of C and K range ("split"), 256 threads (16 x 16), 4 x 4
// outputs per thread, K in tiles of 16 staged in shared memory. Thread t = (ty, tx) =
// (t / 16, t % 16) owns the outputs (m0 + ty + 16 i, n0 + tx + 16 j), i, j < 4. The block loops
// over work items w = blockIdx.x, blockIdx.x + gridDim.x, ... (w: tile = w % tiles, split =
// w / tiles; tile: tm = tile % tilesM, tn = tile / tilesM). With one split the block writes C;
// with S > 1 it writes its partial sums to a workspace (S, M, N), and gemm_reduce_thread sums
// them in split order and applies accumulate and bias.
constexpr int kGemmBM = 64, kGemmBN = 64, kGemmBK = 16;
constexpr int kGemmThreads = 256;  // 16 x 16
constexpr int kGemmTM = 4, kGemmTN = 4;
constexpr int kGemmStride = 65;  // shared-memory row length (64 + 1 against bank conflicts)
// Split-K: aim for this many work items, with at least kGemmMinSplitKTiles K tiles per split and
// at most kGemmMaxSplits splits. Fixed numbers: the split (and so every result) never depends
// on the device or the thread count.
constexpr int64_t kGemmTargetItems = 512, kGemmMinSplitKTiles = 16, kGemmMaxSplits = 64;

struct GemmPlan {
  int64_t tilesM, tiles;  // output tiles
  int64_t kTiles;         // ceil(K / 16)
  int64_t splits;         // K ranges (>= 1)
  int64_t splitKTiles;    // K tiles per range (the last one may have fewer)
  SL_HD int64_t items() const { return tiles * splits; }
};

SL_HD GemmPlan gemm_plan(const GemmArgs& a) {
  GemmPlan p;
  p.tilesM = (a.M + kGemmBM - 1) / kGemmBM;
  p.tiles = p.tilesM * ((a.N + kGemmBN - 1) / kGemmBN);
  p.kTiles = (a.K + kGemmBK - 1) / kGemmBK;
  int64_t s = p.tiles > 0 ? (kGemmTargetItems + p.tiles - 1) / p.tiles : 1;
  const int64_t byK = p.kTiles / kGemmMinSplitKTiles;
  if (s > byK) s = byK;
  if (s > kGemmMaxSplits) s = kGemmMaxSplits;
  if (s < 1) s = 1;
  p.splitKTiles = s > 1 ? (p.kTiles + s - 1) / s : p.kTiles;
  p.splits = s > 1 ? (p.kTiles + p.splitKTiles - 1) / p.splitKTiles : 1;  // no empty range
  return p;
}

struct GemmTile {
  int64_t m0, n0;    // first row and column of the tile in C
  int64_t kt0, kt1;  // K tiles [kt0, kt1) of this item
  int64_t split;
};

SL_HD GemmTile gemm_tile(const GemmPlan& p, int64_t w) {
  const int64_t tile = w % p.tiles, split = w / p.tiles;
  const int64_t tm = tile % p.tilesM, tn = tile / p.tilesM;
  const int64_t kt0 = split * p.splitKTiles;
  const int64_t kt1 = kt0 + p.splitKTiles < p.kTiles ? kt0 + p.splitKTiles : p.kTiles;
  return GemmTile{tm * kGemmBM, tn * kGemmBN, kt0, kt1, split};
}

SL_HD void gemm_zero(float acc[kGemmTM][kGemmTN]) {
  SL_UNROLL
  for (int i = 0; i < kGemmTM; ++i) {
    SL_UNROLL
    for (int j = 0; j < kGemmTN; ++j) acc[i][j] = 0.0f;
  }
}

// Phase 1 of K tile kt: thread tid stores 4 elements of op(A)[m0.., k0..] into As[k][m] and 4 of
// op(B)[k0.., n0..] into Bs[k][n] (zero outside the matrices). Consecutive threads read
// consecutive addresses of the stored layout. TA, TB: a.transA, a.transB (compile-time, so that
// each of the four layouts gets its own straight-line index arithmetic).
template <bool TA, bool TB>
SL_HD void gemm_load_tile(const GemmArgs& a, const GemmTile& tile, int64_t kt, int tid,
                          float (*As)[kGemmStride], float (*Bs)[kGemmStride]) {
  const int64_t M = a.M, N = a.N, K = a.K, k0 = kt * kGemmBK;
  SL_UNROLL
  for (int r = 0; r < (kGemmBM * kGemmBK) / kGemmThreads; ++r) {
    const int e = tid + kGemmThreads * r;
    int kk, mm;
    if (TA) {  // A is K x M: contiguous in m
      mm = e % kGemmBM;
      kk = e / kGemmBM;
    } else {  // A is M x K: contiguous in k
      kk = e % kGemmBK;
      mm = e / kGemmBK;
    }
    const int64_t m = tile.m0 + mm, k = k0 + kk;
    float v = 0.0f;
    if (m < M && k < K) v = TA ? a.A[k * M + m] : a.A[m * K + k];
    As[kk][mm] = v;
  }
  SL_UNROLL
  for (int r = 0; r < (kGemmBK * kGemmBN) / kGemmThreads; ++r) {
    const int e = tid + kGemmThreads * r;
    int kk, nn;
    if (TB) {  // B is N x K: contiguous in k
      kk = e % kGemmBK;
      nn = e / kGemmBK;
    } else {  // B is K x N: contiguous in n
      nn = e % kGemmBN;
      kk = e / kGemmBN;
    }
    const int64_t n = tile.n0 + nn, k = k0 + kk;
    float v = 0.0f;
    if (n < N && k < K) v = TB ? a.B[n * K + k] : a.B[k * N + n];
    Bs[kk][nn] = v;
  }
}

// Phase 2 of K tile kt (after every thread's phase 1): acc[i][j] += As[k][ty + 16 i] * Bs[k][tx +
// 16 j] for k = 0 .. (valid rows of the tile) - 1, ascending.
SL_HD void gemm_accumulate_tile(const GemmArgs& a, int64_t kt, int tid,
                                const float (*As)[kGemmStride], const float (*Bs)[kGemmStride],
                                float acc[kGemmTM][kGemmTN]) {
  const int tx = tid % 16, ty = tid / 16;
  const int64_t left = a.K - kt * kGemmBK;
  const int kCount = left < kGemmBK ? static_cast<int>(left) : kGemmBK;
  SL_UNROLL
  for (int kk = 0; kk < kGemmBK; ++kk) {
    if (kk >= kCount) break;
    float av[kGemmTM], bv[kGemmTN];
    SL_UNROLL
    for (int i = 0; i < kGemmTM; ++i) av[i] = As[kk][ty + 16 * i];
    SL_UNROLL
    for (int j = 0; j < kGemmTN; ++j) bv[j] = Bs[kk][tx + 16 * j];
    SL_UNROLL
    for (int i = 0; i < kGemmTM; ++i) {
      SL_UNROLL
      for (int j = 0; j < kGemmTN; ++j) acc[i][j] = add_rn(acc[i][j], mul_rn(av[i], bv[j]));
    }
  }
}

// accumulate and bias on a finished sum.
SL_HD float gemm_finish(const GemmArgs& a, int64_t m, int64_t n, float acc) {
  float v = acc;
  if (a.accumulate) v = add_rn(a.C[m * a.N + n], v);
  if (a.bias) v = add_rn(v, a.bias[n]);
  return v;
}

// Phase 3 (after the item's last K tile): with one split, the thread's outputs of C; otherwise
// its partial sums, into work[split][m][n].
SL_HD void gemm_store(const GemmArgs& a, const GemmPlan& p, const GemmTile& tile, int tid,
                      const float acc[kGemmTM][kGemmTN], float* work) {
  const int tx = tid % 16, ty = tid / 16;
  float* part = p.splits > 1 ? work + tile.split * a.M * a.N : nullptr;
  SL_UNROLL
  for (int i = 0; i < kGemmTM; ++i) {
    const int64_t m = tile.m0 + ty + 16 * i;
    if (m >= a.M) break;
    SL_UNROLL
    for (int j = 0; j < kGemmTN; ++j) {
      const int64_t n = tile.n0 + tx + 16 * j;
      if (n >= a.N) break;
      if (part)
        part[m * a.N + n] = acc[i][j];
      else
        a.C[m * a.N + n] = gemm_finish(a, m, n, acc[i][j]);
    }
  }
}

// Split-K only: element e = m * N + n of C from the partial sums, in split order (1-D grid of
// kSynThreads-thread blocks, grid-stride).
SL_HD void gemm_reduce_thread(const GemmArgs& a, const GemmPlan& p, const float* work,
                              int64_t block, int64_t thread, int64_t blockDim, int64_t gridDim) {
  const int64_t MN = a.M * a.N;
  for (int64_t e = block * blockDim + thread; e < MN; e += gridDim * blockDim) {
    float acc = work[e];
    for (int64_t s = 1; s < p.splits; ++s) acc = add_rn(acc, work[s * MN + e]);
    const int64_t m = e / a.N;
    a.C[e] = gemm_finish(a, m, e - m * a.N, acc);
  }
}

// ---------------------------------------------------------------------------------------------
// Element-wise kernels: 256 threads per block, grid-stride loop over the elements (the grid is
// syn_blocks_for(total, 256) blocks; the kernels run any grid correctly).

// ConvGeom's Ho()/Wo() for device code (ConvGeom's members are host-only): the same formulas.
SL_HD int64_t conv_ho(const ConvGeom& g) { return (g.H + 2 * g.pH - g.kH) / g.sH + 1; }
SL_HD int64_t conv_wo(const ConvGeom& g) { return (g.W + 2 * g.pW - g.kW) / g.sW + 1; }

// Index type of im2col/col2im: 32-bit (cheaper division on the GPU) when every index of x and of
// the column matrix fits, else 64-bit. The results are the same either way.
SL_HD bool conv_index32(const ConvGeom& g) {
  const int64_t lim = 2147483647;
  return g.N * g.C * g.H * g.W <= lim && g.N * conv_ho(g) * conv_wo(g) * g.C * g.kH * g.kW <= lim;
}

// im2col: element e of cols (row r = e / cols, column q = e % cols).
template <class I>
SL_HD void im2col_thread(const Im2colArgs& p, int64_t block, int64_t thread, int64_t blockDim,
                         int64_t gridDim) {
  const ConvGeom& g = p.g;
  const I C = static_cast<I>(g.C), H = static_cast<I>(g.H), W = static_cast<I>(g.W);
  const I kH = static_cast<I>(g.kH), kW = static_cast<I>(g.kW), sH = static_cast<I>(g.sH),
          sW = static_cast<I>(g.sW);
  const I pH = static_cast<I>(g.pH), pW = static_cast<I>(g.pW);
  const I Ho = static_cast<I>(conv_ho(g)), Wo = static_cast<I>(conv_wo(g)), nc = C * kH * kW;
  const int64_t total = g.N * conv_ho(g) * conv_wo(g) * g.C * g.kH * g.kW;
  for (int64_t e64 = block * blockDim + thread; e64 < total; e64 += gridDim * blockDim) {
    const I e = static_cast<I>(e64);
    const I r = e / nc, q = e - r * nc;
    const I ni = r / Wo, j = r - ni * Wo, n = ni / Ho, i = ni - n * Ho;
    const I ca = q / kW, b = q - ca * kW, c = ca / kH, a = ca - c * kH;
    const I y = i * sH + a - pH, x = j * sW + b - pW;
    float v = 0.0f;
    if (y >= 0 && y < H && x >= 0 && x < W) v = p.x[((n * C + c) * H + y) * W + x];
    p.cols[e] = v;
  }
}

// col2im: element e of dx (n, c, y, x), gathered from every column entry that im2col fills from it.
template <class I>
SL_HD void col2im_thread(const Im2colArgs& p, int64_t block, int64_t thread, int64_t blockDim,
                         int64_t gridDim) {
  const ConvGeom& g = p.g;
  const I C = static_cast<I>(g.C), H = static_cast<I>(g.H), W = static_cast<I>(g.W);
  const I kH = static_cast<I>(g.kH), kW = static_cast<I>(g.kW), sH = static_cast<I>(g.sH),
          sW = static_cast<I>(g.sW);
  const I pH = static_cast<I>(g.pH), pW = static_cast<I>(g.pW);
  const I Ho = static_cast<I>(conv_ho(g)), Wo = static_cast<I>(conv_wo(g)), nc = C * kH * kW;
  const int64_t total = g.N * g.C * g.H * g.W;
  for (int64_t e64 = block * blockDim + thread; e64 < total; e64 += gridDim * blockDim) {
    const I e = static_cast<I>(e64);
    const I t1 = e / W, x = e - t1 * W, t2 = t1 / H, y = t1 - t2 * H, n = t2 / C, c = t2 - n * C;
    float s = 0.0f;
    for (I a = 0; a < kH; ++a) {
      const I ty = y + pH - a;  // = i * sH
      if (ty < 0) break;
      const I i = ty / sH;
      if (i * sH != ty || i >= Ho) continue;
      for (I b = 0; b < kW; ++b) {
        const I tx = x + pW - b;  // = j * sW
        if (tx < 0) break;
        const I j = tx / sW;
        if (j * sW != tx || j >= Wo) continue;
        s = add_rn(s, p.cols[((n * Ho + i) * Wo + j) * nc + (c * kH + a) * kW + b]);
      }
    }
    p.x[e] = s;
  }
}

// sumRows: column j = e.
SL_HD void sum_rows_thread(const SumRowsArgs& p, int64_t block, int64_t thread, int64_t blockDim,
                           int64_t gridDim) {
  for (int64_t j = block * blockDim + thread; j < p.N; j += gridDim * blockDim) {
    double s = 0.0;
    for (int64_t i = 0; i < p.M; ++i) s += static_cast<double>(p.src[i * p.N + j]);
    p.dst[j] = static_cast<float>((p.accumulate ? static_cast<double>(p.dst[j]) : 0.0) + s);
  }
}

// ---------------------------------------------------------------------------------------------
// Transpose: one block per 32 x 32 tile of one matrix of the batch, 256 threads (8 rows of 32),
// through shared memory so that both the loads and the stores are coalesced. Tiles t = blockIdx.x,
// blockIdx.x + gridDim.x, ...: tile t = (b, tr, tc), tc fastest.
constexpr int kTrTile = 32, kTrRows = 8, kTrThreads = kTrTile * kTrRows;
constexpr int kTrStride = kTrTile + 1;

struct TransposeTile {
  int64_t b, r0, c0;
};

SL_HD int64_t transpose_tile_count(const TransposeArgs& p) {
  return p.batch * ((p.rows + kTrTile - 1) / kTrTile) * ((p.cols + kTrTile - 1) / kTrTile);
}
SL_HD TransposeTile transpose_tile(const TransposeArgs& p, int64_t t) {
  const int64_t tc = (p.cols + kTrTile - 1) / kTrTile, tr = (p.rows + kTrTile - 1) / kTrTile;
  const int64_t c = t % tc, rb = t / tc, r = rb % tr, b = rb / tr;
  return TransposeTile{b, r * kTrTile, c * kTrTile};
}

// Phase 1: tile[ty + 8 k][tx] = src[b][r0 + ty + 8 k][c0 + tx].
SL_HD void transpose_load(const TransposeArgs& p, const TransposeTile& t, int tid,
                          float (*tile)[kTrStride]) {
  const int tx = tid % kTrTile, ty = tid / kTrTile;
  const float* src = p.src + t.b * p.rows * p.cols;
  SL_UNROLL
  for (int k = 0; k < kTrTile / kTrRows; ++k) {
    const int64_t r = t.r0 + ty + kTrRows * k, c = t.c0 + tx;
    if (r < p.rows && c < p.cols) tile[ty + kTrRows * k][tx] = src[r * p.cols + c];
  }
}

// Phase 2 (after every thread's phase 1): dst[b][c0 + ty + 8 k][r0 + tx] = tile[tx][ty + 8 k].
SL_HD void transpose_store(const TransposeArgs& p, const TransposeTile& t, int tid,
                           const float (*tile)[kTrStride]) {
  const int tx = tid % kTrTile, ty = tid / kTrTile;
  float* dst = p.dst + t.b * p.rows * p.cols;
  SL_UNROLL
  for (int k = 0; k < kTrTile / kTrRows; ++k) {
    const int64_t c = t.c0 + ty + kTrRows * k, r = t.r0 + tx;
    if (r < p.rows && c < p.cols) dst[c * p.rows + r] = tile[tx][ty + kTrRows * k];
  }
}

}  // namespace sl
