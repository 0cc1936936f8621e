// CPU implementation of the synaptic-layer operations (contract: core/synapse_args.h), plus the
// event-driven (sparse) Linear paths used for spike input. OpenBLAS for the GEMM, OpenMP over
// fixed tiles: every result is bit-identical for any thread count.
#pragma once
#include <cstdint>

#include "core/synapse_args.h"

namespace sl {

// Tile of C computed by one single-threaded cblas_sgemm call (always with the full K). The tile
// grid depends on M and N only, never on the thread count.
constexpr int64_t kGemmTileRows = 64;
constexpr int64_t kGemmTileCols = 256;

void gemm_cpu(const GemmArgs& a, int threads);
void im2col_cpu(const Im2colArgs& a, int threads);
void col2im_cpu(const Im2colArgs& a, int threads);
void transpose_cpu(const TransposeArgs& a, int threads);
void sum_rows_cpu(const SumRowsArgs& a, int threads);

// Number of nonzero elements of x[0..n) (NaN counts as nonzero). Exact for any thread count.
int64_t count_nonzero_cpu(const float* x, int64_t n, int threads);

// Event-driven Linear forward: y (M x N) = x (M x K) . W^T [+ bias], with the weight given
// transposed, wT (K x N) = W^T. Each nonzero x[m][k] adds x[m][k] * wT[k][:] to row m of y, in
// the order k = 0..K-1 (parallel over rows m).
struct LinearSparseForwardArgs {
  int64_t M = 0, N = 0, K = 0;
  const float* x = nullptr;
  const float* wT = nullptr;
  const float* bias = nullptr;  // N values, or null
  float* y = nullptr;
};
void linear_sparse_forward_cpu(const LinearSparseForwardArgs& a, int threads);

// Event-driven Linear weight gradient: gW (N x K) = [accumulate ? gW : 0] + dY^T . x, where
// column k gets sum over the nonzero x[m][k] (m = 0..M-1 in order) of x[m][k] * dY[m][:]; the sum
// is formed first and then added to gW. Parallel over fixed blocks of columns k.
struct LinearSparseWeightGradArgs {
  int64_t M = 0, N = 0, K = 0;
  bool accumulate = false;
  const float* x = nullptr;   // (M, K)
  const float* dY = nullptr;  // (M, N)
  float* gW = nullptr;        // (N, K)
};
void linear_sparse_weight_grad_cpu(const LinearSparseWeightGradArgs& a, int threads);

// Compressed sparse rows of a dense (M, K) matrix x: the nonzero elements (x != 0, NaN included)
// of row m are cols/vals[rowPtr[m] .. rowPtr[m+1]), columns ascending. Row counts: rowPtr[0] = 0,
// rowPtr[m+1] = rowPtr[m] + (nonzeros of row m); returns rowPtr[M]. The caller guarantees that it
// fits in int32 (csr_row_ptr_cpu returns -1 when it does not).
int64_t csr_row_ptr_cpu(const float* x, int64_t M, int64_t K, int32_t* rowPtr, int threads);
// Fills cols and vals for a rowPtr from csr_row_ptr_cpu on the same x.
void csr_fill_cpu(const float* x, int64_t M, int64_t K, const int32_t* rowPtr, int32_t* cols,
                  float* vals, int threads);

// Event-driven Linear forward on a CSR input: y[m] = [bias] + sum over the events (k, v) of row m,
// in order, of v * wT[k] (wT = W transposed, K x N). Parallel over rows m.
struct LinearCsrForwardArgs {
  int64_t M = 0, N = 0, K = 0;
  const int32_t* rowPtr = nullptr;  // M + 1
  const int32_t* cols = nullptr;    // rowPtr[M]
  const float* vals = nullptr;      // rowPtr[M]
  const float* wT = nullptr;        // (K, N)
  const float* bias = nullptr;      // N values, or null
  float* y = nullptr;               // (M, N)
};
void linear_csr_forward_cpu(const LinearCsrForwardArgs& a, int threads);

// Event-driven Linear weight gradient on a CSR input: gW (N x K) = [accumulate ? gW : 0] + the
// sum for column k of v * dY[m] over the events (m, k, v), m ascending, formed first and then
// added (the same order as linear_sparse_weight_grad_cpu). The events are regrouped by column
// first; parallel over fixed blocks of columns k.
struct LinearCsrWeightGradArgs {
  int64_t M = 0, N = 0, K = 0;
  bool accumulate = false;
  const int32_t* rowPtr = nullptr;
  const int32_t* cols = nullptr;
  const float* vals = nullptr;
  const float* dY = nullptr;  // (M, N)
  float* gW = nullptr;        // (N, K)
};
void linear_csr_weight_grad_cpu(const LinearCsrWeightGradArgs& a, int threads);

}  // namespace sl
