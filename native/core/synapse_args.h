// Arguments of the synaptic-layer operations (Linear, Conv2d), shared by the N-API parser
// (napi/synapse_napi.cc), the CPU implementation (cpu/synapse_cpu.*: OpenBLAS and OpenMP), the
// CPU emulation of the CUDA launch (cpu/emulated_synapse.*) and the CUDA kernels
// (cuda/synapse_cuda.cu). All matrices are dense, row-major and contiguous.
// Every pointer of one call is on the host, or every one on the same CUDA device.
#pragma once
#include <cstdint>

namespace sl {

// C (M x N) = [accumulate ? C : 0] + op(A) . op(B) [+ bias broadcast over rows]
//   op(A) is M x K: A is stored M x K (transA false) or K x M (transA true)
//   op(B) is K x N: B is stored K x N (transB false) or N x K (transB true)
// Determinism: every element of C is computed the same way for any thread count.
struct GemmArgs {
  int64_t M = 0, N = 0, K = 0;
  bool transA = false, transB = false;
  bool accumulate = false;
  const float* A = nullptr;
  const float* B = nullptr;
  float* C = nullptr;
  const float* bias = nullptr;  // N values, or null
};

// Convolution geometry (cross-correlation, zero padding, dilation 1, groups 1).
struct ConvGeom {
  int64_t N = 0, C = 0, H = 0, W = 0;  // input (N, C, H, W)
  int64_t kH = 1, kW = 1, sH = 1, sW = 1, pH = 0, pW = 0;
  int64_t Ho() const { return (H + 2 * pH - kH) / sH + 1; }
  int64_t Wo() const { return (W + 2 * pW - kW) / sW + 1; }
  int64_t rows() const { return N * Ho() * Wo(); }  // one row per output pixel (n, i, j)
  int64_t cols() const { return C * kH * kW; }      // one column per (c, a, b)
};

// im2col: cols[(n*Ho + i)*Wo + j][(c*kH + a)*kW + b] = xpad[n][c][i*sH + a][j*sW + b].
// col2im: dx[n][c][y][x] = sum of dcols over every (i, j, a, b) that reads (y, x), in a fixed
// order (gathered per input element, so no two threads write the same element). Overwrites dx.
struct Im2colArgs {
  ConvGeom g;
  float* x = nullptr;     // (N, C, H, W): read by im2col, written by col2im
  float* cols = nullptr;  // (rows, cols): written by im2col, read by col2im
};

// dst[b][c][r] = src[b][r][c] for b < batch: (batch, rows, cols) -> (batch, cols, rows).
struct TransposeArgs {
  int64_t batch = 1, rows = 0, cols = 0;
  const float* src = nullptr;
  float* dst = nullptr;
};

// dst[j] = [accumulate ? dst[j] : 0] + sum_i src[i*N + j], summed in double in the order i = 0..M-1
// (the bias gradient).
struct SumRowsArgs {
  int64_t M = 0, N = 0;
  bool accumulate = false;
  const float* src = nullptr;
  float* dst = nullptr;
};

}  // namespace sl
