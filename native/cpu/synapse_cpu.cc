// CPU synaptic-layer operations: OpenBLAS GEMM over fixed tiles, im2col/col2im, transposes, row
// sums and the event-driven Linear paths. Parallel loops only ever split independent outputs into
// pieces that do not depend on the thread count, and every reduction runs in a fixed order, so
// results are bit-identical for any number of threads.
#include "cpu/synapse_cpu.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

namespace sl {
namespace {

// OpenBLAS runs single-threaded: the parallelism is ours (over C tiles), so that the result of a
// tile never depends on how many threads OpenBLAS would have used (its multithreaded GEMM
// partitions differently and rounds differently). The OpenMP build of OpenBLAS sets the calling
// thread's OpenMP default as a side effect; that default is restored. Newer OpenMP builds follow
// the caller's OpenMP default instead, which gemm_cpu sets inside its parallel region.
void blas_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] {
    const int saved = omp_get_max_threads();
    openblas_set_num_threads(1);
    omp_set_num_threads(saved);
  });
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

void gemm_cpu(const GemmArgs& a, int threads) {
  const int64_t M = a.M, N = a.N, K = a.K;
  if (M <= 0 || N <= 0) return;
  blas_single_threaded();
  const int64_t tilesN = ceil_div(N, kGemmTileCols);
  const int64_t tiles = ceil_div(M, kGemmTileRows) * tilesN;
  const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, tiles)));
#pragma omp parallel num_threads(nt)
  {
    // OpenBLAS (OpenMP build) runs serially when the caller's OpenMP default is 1 thread or when it
    // is called in an active parallel region. With nt == 1 the region is inactive, so the default
    // of this region's tasks is set to 1 (it does not leak out of the region).
    omp_set_num_threads(1);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t i0 = (t / tilesN) * kGemmTileRows, j0 = (t % tilesN) * kGemmTileCols;
      const int64_t mi = std::min(kGemmTileRows, M - i0), nj = std::min(kGemmTileCols, N - j0);
      float* C = a.C + i0 * N + j0;
      // C tile = [accumulate ? C : 0] + bias, then C += op(A) . op(B) with beta = 1
      for (int64_t i = 0; i < mi; ++i) {
        float* row = C + i * N;
        if (!a.accumulate) {
          if (a.bias)
            std::memcpy(row, a.bias + j0, sizeof(float) * nj);
          else
            std::fill(row, row + nj, 0.0f);
        } else if (a.bias) {
          for (int64_t j = 0; j < nj; ++j) row[j] += a.bias[j0 + j];
        }
      }
      if (K == 0) continue;
      // row-major: A is M x K (lda K) or, transposed, K x M (lda M); B is K x N (ldb N) or N x K
      // (ldb K)
      const float* A = a.transA ? a.A + i0 : a.A + i0 * K;
      const float* B = a.transB ? a.B + j0 * K : a.B + j0;
      cblas_sgemm(CblasRowMajor, a.transA ? CblasTrans : CblasNoTrans,
                  a.transB ? CblasTrans : CblasNoTrans, static_cast<blasint>(mi),
                  static_cast<blasint>(nj), static_cast<blasint>(K), 1.0f, A,
                  static_cast<blasint>(a.transA ? M : K), B, static_cast<blasint>(a.transB ? K : N),
                  1.0f, C, static_cast<blasint>(N));
    }
  }
}

void im2col_cpu(const Im2colArgs& a, int threads) {
  const ConvGeom& g = a.g;
  const int64_t Ho = g.Ho(), Wo = g.Wo(), rows = g.rows(), ck = g.cols();
  if (rows <= 0 || ck <= 0) return;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t n = r / (Ho * Wo), ij = r % (Ho * Wo), i = ij / Wo, j = ij % Wo;
    float* dst = a.cols + r * ck;
    for (int64_t c = 0; c < g.C; ++c) {
      const float* xc = a.x + (n * g.C + c) * g.H * g.W;
      for (int64_t ka = 0; ka < g.kH; ++ka) {
        const int64_t y = i * g.sH + ka - g.pH;
        float* d = dst + (c * g.kH + ka) * g.kW;
        if (y < 0 || y >= g.H) {
          std::fill(d, d + g.kW, 0.0f);
          continue;
        }
        const float* xr = xc + y * g.W;
        for (int64_t kb = 0; kb < g.kW; ++kb) {
          const int64_t x = j * g.sW + kb - g.pW;
          d[kb] = (x >= 0 && x < g.W) ? xr[x] : 0.0f;
        }
      }
    }
  }
}

void col2im_cpu(const Im2colArgs& a, int threads) {
  const ConvGeom& g = a.g;
  const int64_t Ho = g.Ho(), Wo = g.Wo(), ck = g.cols();
  const int64_t planes = g.N * g.C * g.H;
  if (planes <= 0 || g.W <= 0) return;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t p = 0; p < planes; ++p) {
    const int64_t y = p % g.H, nc = p / g.H, c = nc % g.C, n = nc / g.C;
    float* dx = a.x + p * g.W;
    for (int64_t x = 0; x < g.W; ++x) {
      float s = 0.0f;
      // every (i, ka) with i*sH + ka - pH == y, ka ascending; then (j, kb) likewise, kb ascending
      for (int64_t ka = 0; ka < g.kH; ++ka) {
        const int64_t ty = y + g.pH - ka;
        if (ty < 0) break;
        if (ty % g.sH != 0) continue;
        const int64_t i = ty / g.sH;
        if (i >= Ho) continue;
        for (int64_t kb = 0; kb < g.kW; ++kb) {
          const int64_t tx = x + g.pW - kb;
          if (tx < 0) break;
          if (tx % g.sW != 0) continue;
          const int64_t j = tx / g.sW;
          if (j >= Wo) continue;
          s += a.cols[((n * Ho + i) * Wo + j) * ck + (c * g.kH + ka) * g.kW + kb];
        }
      }
      dx[x] = s;
    }
  }
}

void transpose_cpu(const TransposeArgs& a, int threads) {
  constexpr int64_t kB = 32;
  const int64_t R = a.rows, Cn = a.cols;
  if (a.batch <= 0 || R <= 0 || Cn <= 0) return;
  const int64_t br = ceil_div(R, kB), bc = ceil_div(Cn, kB), tiles = a.batch * br * bc;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t b = t / (br * bc), rc = t % (br * bc);
    const int64_t r0 = (rc / bc) * kB, c0 = (rc % bc) * kB;
    const int64_t r1 = std::min(R, r0 + kB), c1 = std::min(Cn, c0 + kB);
    const float* src = a.src + b * R * Cn;
    float* dst = a.dst + b * R * Cn;
    for (int64_t c = c0; c < c1; ++c)
      for (int64_t r = r0; r < r1; ++r) dst[c * R + r] = src[r * Cn + c];
  }
}

void sum_rows_cpu(const SumRowsArgs& a, int threads) {
  constexpr int64_t kB = 64;
  if (a.N <= 0) return;
  const int64_t blocks = ceil_div(a.N, kB);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t j0 = blk * kB, nj = std::min(kB, a.N - j0);
    double acc[kB] = {0};
    for (int64_t i = 0; i < a.M; ++i) {
      const float* row = a.src + i * a.N + j0;
      for (int64_t j = 0; j < nj; ++j) acc[j] += static_cast<double>(row[j]);
    }
    for (int64_t j = 0; j < nj; ++j) {
      // dst = [dst] + sum, the sum rounded once to float
      const float s = static_cast<float>(acc[j]);
      a.dst[j0 + j] = a.accumulate ? a.dst[j0 + j] + s : s;
    }
  }
}

int64_t count_nonzero_cpu(const float* x, int64_t n, int threads) {
  int64_t count = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : count)
  for (int64_t k = 0; k < n; ++k) count += (x[k] != 0.0f) ? 1 : 0;
  return count;
}

void linear_sparse_forward_cpu(const LinearSparseForwardArgs& a, int threads) {
  const int64_t M = a.M, N = a.N, K = a.K;
  if (M <= 0 || N <= 0) return;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t m = 0; m < M; ++m) {
    float* y = a.y + m * N;
    if (a.bias)
      std::memcpy(y, a.bias, sizeof(float) * N);
    else
      std::fill(y, y + N, 0.0f);
    const float* xr = a.x + m * K;
    for (int64_t k = 0; k < K; ++k) {
      const float v = xr[k];
      if (v == 0.0f) continue;
      const float* w = a.wT + k * N;
      for (int64_t j = 0; j < N; ++j) y[j] += v * w[j];
    }
  }
}

void linear_sparse_weight_grad_cpu(const LinearSparseWeightGradArgs& a, int threads) {
  constexpr int64_t kB = 32;  // columns k per block
  const int64_t M = a.M, N = a.N, K = a.K;
  if (N <= 0 || K <= 0) return;
  const int64_t blocks = ceil_div(K, kB);
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> acc(static_cast<size_t>(std::min(kB, K) * N));
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t k0 = blk * kB, nk = std::min(kB, K - k0);
      std::fill(acc.begin(), acc.begin() + nk * N, 0.0f);
      for (int64_t m = 0; m < M; ++m) {
        const float* xr = a.x + m * K + k0;
        const float* d = a.dY + m * N;
        for (int64_t q = 0; q < nk; ++q) {
          const float v = xr[q];
          if (v == 0.0f) continue;
          float* ar = acc.data() + q * N;
          for (int64_t j = 0; j < N; ++j) ar[j] += v * d[j];
        }
      }
      for (int64_t j = 0; j < N; ++j) {
        float* g = a.gW + j * K + k0;
        for (int64_t q = 0; q < nk; ++q)
          g[q] = a.accumulate ? g[q] + acc[q * N + j] : acc[q * N + j];
      }
    }
  }
}

namespace {

// y[j] += v * w[j], j ascending (one product, one rounding per term: the order of the sum over
// events is that of the calls).
inline void axpy(float* __restrict y, const float* __restrict w, float v, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] += v * w[j];
}

// y[j] = (((y[j] + v0 w0[j]) + v1 w1[j]) + v2 w2[j]) + v3 w3[j]: four events in order, with one
// pass over y (the same roundings as four axpy calls).
inline void axpy4(float* __restrict y, const float* __restrict w0, const float* __restrict w1,
                  const float* __restrict w2, const float* __restrict w3, float v0, float v1,
                  float v2, float v3, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    float t = y[j] + v0 * w0[j];
    t = t + v1 * w1[j];
    t = t + v2 * w2[j];
    y[j] = t + v3 * w3[j];
  }
}

// acc = [acc] + the events (rows idx[p] of the (., n) matrix src, weights val[p]) for p in
// [p0, p1), in order.
inline void gather_axpy(float* __restrict acc, const float* __restrict src, int64_t n,
                        const int32_t* idx, const float* val, int64_t p0, int64_t p1) {
  int64_t p = p0;
  for (; p + 4 <= p1; p += 4)
    axpy4(acc, src + static_cast<int64_t>(idx[p]) * n, src + static_cast<int64_t>(idx[p + 1]) * n,
          src + static_cast<int64_t>(idx[p + 2]) * n, src + static_cast<int64_t>(idx[p + 3]) * n,
          val[p], val[p + 1], val[p + 2], val[p + 3], n);
  for (; p < p1; ++p) axpy(acc, src + static_cast<int64_t>(idx[p]) * n, val[p], n);
}

}  // namespace

int64_t csr_row_ptr_cpu(const float* x, int64_t M, int64_t K, int32_t* rowPtr, int threads) {
  rowPtr[0] = 0;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t m = 0; m < M; ++m) {
    const float* xr = x + m * K;
    int64_t c = 0;
    for (int64_t k = 0; k < K; ++k) c += (xr[k] != 0.0f) ? 1 : 0;
    rowPtr[m + 1] = static_cast<int32_t>(std::min<int64_t>(c, INT32_MAX));
  }
  int64_t total = 0;
  for (int64_t m = 0; m < M; ++m) {
    total += rowPtr[m + 1];
    if (total > INT32_MAX) return -1;
    rowPtr[m + 1] = static_cast<int32_t>(total);
  }
  return total;
}

void csr_fill_cpu(const float* x, int64_t M, int64_t K, const int32_t* rowPtr, int32_t* cols,
                  float* vals, int threads) {
#pragma omp parallel num_threads(threads)
  {
    // a row's entries go to scratch first (written unconditionally, no branch per element), then
    // to their place
    std::vector<int32_t> c(static_cast<size_t>(K));
    std::vector<float> v(static_cast<size_t>(K));
#pragma omp for schedule(static)
    for (int64_t m = 0; m < M; ++m) {
      const float* xr = x + m * K;
      int64_t n = 0, k = 0;
      // groups of 8 with no nonzero (most of them, in spike data) are skipped after one test
      for (; k + 8 <= K; k += 8) {
        int any = 0;
        for (int q = 0; q < 8; ++q) any |= (xr[k + q] != 0.0f) ? 1 : 0;
        if (!any) continue;
        for (int64_t q = k; q < k + 8; ++q) {
          const float e = xr[q];
          c[n] = static_cast<int32_t>(q);
          v[n] = e;
          n += (e != 0.0f) ? 1 : 0;
        }
      }
      for (; k < K; ++k) {
        const float e = xr[k];
        c[n] = static_cast<int32_t>(k);
        v[n] = e;
        n += (e != 0.0f) ? 1 : 0;
      }
      const int64_t p = rowPtr[m];
      std::memcpy(cols + p, c.data(), sizeof(int32_t) * n);
      std::memcpy(vals + p, v.data(), sizeof(float) * n);
    }
  }
}

void linear_csr_forward_cpu(const LinearCsrForwardArgs& a, int threads) {
  const int64_t M = a.M, N = a.N;
  if (M <= 0 || N <= 0) return;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t m = 0; m < M; ++m) {
    float* y = a.y + m * N;
    if (a.bias)
      std::memcpy(y, a.bias, sizeof(float) * N);
    else
      std::fill(y, y + N, 0.0f);
    gather_axpy(y, a.wT, N, a.cols, a.vals, a.rowPtr[m], a.rowPtr[m + 1]);
  }
}

void linear_csr_weight_grad_cpu(const LinearCsrWeightGradArgs& a, int threads) {
  constexpr int64_t kB = 16;  // columns k per block
  const int64_t M = a.M, N = a.N, K = a.K;
  if (N <= 0 || K <= 0) return;
  const int64_t nnz = M > 0 ? a.rowPtr[M] : 0;
  // the events regrouped by column k (a counting sort; rows ascending within a column)
  std::vector<int32_t> colPtr(static_cast<size_t>(K + 1), 0), rows(static_cast<size_t>(nnz));
  std::vector<float> vals(static_cast<size_t>(nnz));
  for (int64_t p = 0; p < nnz; ++p) ++colPtr[static_cast<size_t>(a.cols[p]) + 1];
  for (int64_t k = 0; k < K; ++k) colPtr[k + 1] += colPtr[k];
  std::vector<int32_t> cursor(colPtr.begin(), colPtr.end() - 1);
  for (int64_t m = 0; m < M; ++m)
    for (int64_t p = a.rowPtr[m]; p < a.rowPtr[m + 1]; ++p) {
      const int32_t q = cursor[a.cols[p]]++;
      rows[q] = static_cast<int32_t>(m);
      vals[q] = a.vals[p];
    }
  std::copy(colPtr.begin(), colPtr.end() - 1, cursor.begin());
  // acc (K x N) = the sums, column k in row k. Rows m are taken in blocks, ascending, so that a
  // block of dY stays in cache while every column adds its events from it; within a column the
  // events still come in ascending m.
  const int64_t mB = std::max<int64_t>(16, (int64_t(1) << 16) / N);  // about 256 KiB of dY
  const int64_t mBlocks = ceil_div(M, mB), blocks = ceil_div(K, kB);
  std::vector<float> acc(static_cast<size_t>(K * N), 0.0f);
#pragma omp parallel num_threads(threads)
  {
    for (int64_t mb = 0; mb < mBlocks; ++mb) {
      const int32_t m1 = static_cast<int32_t>(std::min(M, (mb + 1) * mB));
      // a column is always taken by the same thread (static schedule, same loop): no barrier
#pragma omp for schedule(static) nowait
      for (int64_t blk = 0; blk < blocks; ++blk) {
        const int64_t k1 = std::min(K, (blk + 1) * kB);
        for (int64_t k = blk * kB; k < k1; ++k) {
          const int64_t p0 = cursor[k], end = colPtr[k + 1];
          int64_t p1 = p0;
          while (p1 < end && rows[p1] < m1) ++p1;
          gather_axpy(acc.data() + k * N, a.dY, N, rows.data(), vals.data(), p0, p1);
          cursor[k] = static_cast<int32_t>(p1);
        }
      }
    }
#pragma omp barrier
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t k0 = blk * kB, nk = std::min(kB, K - k0);
      for (int64_t j = 0; j < N; ++j) {
        float* g = a.gW + j * K + k0;
        const float* s = acc.data() + k0 * N + j;
        for (int64_t q = 0; q < nk; ++q) g[q] = a.accumulate ? g[q] + s[q * N] : s[q * N];
      }
    }
  }
}

}  // namespace sl
