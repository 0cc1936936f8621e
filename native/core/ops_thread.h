// The tensor operations (pooling, time readouts, losses, reductions, optimizer updates) as
// per-thread host-and-device functions of one thread index. Written once: the CPU path runs them
// in OpenMP loops (cpu/ops_cpu.cc), the CUDA path in one-line kernels (cuda/ops_cuda.cu) and the
// CPU emulation of the launch over the CUDA grid (cpu/emulated_ops.cc). Every thread writes its
// own outputs only (gathers, no atomics), and every reduction is a fixed-order double sum, so the
// results do not depend on the thread count or on the path (up to the device's libm for exp/log).
//
// Every pointer of one call is on the host, or every one on the same CUDA device.
#pragma once

#include <cstdint>
#include <type_traits>

#include "core/lif_math.h"
#include "core/lif_thread.h"

#if defined(__CUDACC__)
#define SL_OPS_SQRTF(x) sqrtf(x)
#define SL_OPS_EXP(x) ::exp(x)
#define SL_OPS_LOG(x) ::log(x)
#else
#define SL_OPS_SQRTF(x) std::sqrt(x)
#define SL_OPS_EXP(x) std::exp(x)
#define SL_OPS_LOG(x) std::log(x)
#endif

namespace sl {

enum class OpKind : int {
  PoolForward = 0,
  PoolBackward,
  TimeForward,
  TimeBackward,
  Mse,
  CrossEntropy,
  SumSquares,
  Scale,
  Sgd,
  Adam,
};

// 2-D pooling on (N, C, H, W): no padding, floor mode. Output (N, C, Ho, Wo),
// Ho = (H - kH) / sH + 1. `sum`: SumPool2d (window sums; gradient 0 for every element of a
// window whose output is exactly 0), else AvgPool2d (window means, count_include_pad).
struct PoolArgs {
  int64_t N = 0, C = 0, H = 0, W = 0, kH = 1, kW = 1, sH = 1, sW = 1, Ho = 0, Wo = 0;
  bool sum = false;
  const float* x = nullptr;        // forward input
  float* y = nullptr;              // forward output
  const float* out = nullptr;      // backward, SumPool2d only: the forward output
  const float* gradOut = nullptr;  // backward: dL/dy
  float* gradIn = nullptr;         // backward: dL/dx (overwritten)
};

// Readouts over time of a (B, T, F) array: mode 0 sum, 1 max (first maximal step), 2 last step.
struct TimeArgs {
  int64_t B = 0, T = 0, F = 0;
  int mode = 0;
  const float* x = nullptr;        // forward input (B, T, F)
  float* y = nullptr;              // forward output (B, F)
  float* argOut = nullptr;         // forward, max: the step of the maximum (B, F), as floats
  const float* argIn = nullptr;    // backward, max: the steps saved by the forward
  const float* gradOut = nullptr;  // backward: (B, F)
  float* gradIn = nullptr;         // backward: (B, T, F), overwritten
};

// Losses. Mse: a = output, b = target (n elements), parts partial sums of (a - b)^2 and
// grad = 2 (a - b) / n. CrossEntropy: a = logits (B, C), b = labels (B, as floats), part[b] =
// logsumexp(z_b) - z_b[label] (NaN for an invalid label), grad = (softmax - onehot) / B.
struct LossArgs {
  int64_t n = 0, B = 0, C = 0;
  const float* a = nullptr;
  const float* b = nullptr;
  float* grad = nullptr;
};

// SumSquares: partial sums of x^2. Scale: x *= s.
struct VecArgs {
  int64_t n = 0;
  float* x = nullptr;
  float s = 1.0f;
};

// One optimizer update of n parameters, in float32 with PyTorch's expression order.
// The scalars derived from the step count (stepSize, bc2Sqrt) are computed by the caller in
// double, as PyTorch does in Python.
struct OptArgs {
  int64_t n = 0;
  float* p = nullptr;        // parameters
  const float* g = nullptr;  // gradients
  float* m = nullptr;        // SGD: momentum buffer; Adam: exp_avg
  float* v = nullptr;        // Adam: exp_avg_sq
  float lr = 0.0f, weightDecay = 0.0f;
  // SGD
  float momentum = 0.0f, oneMinusDampening = 1.0f;
  bool nesterov = false, first = false;
  // Adam / AdamW
  float beta1 = 0.9f, beta2 = 0.999f, oneMinusBeta1 = 0.1f, oneMinusBeta2 = 0.001f, eps = 1e-8f;
  float stepSize = 0.0f, bc2Sqrt = 1.0f, decay = 1.0f;  // decay = 1 - lr * wd (AdamW)
  bool decoupled = false;
  bool hasMin = false;
  float minValue = 0.0f;
};

struct OpCall {
  OpKind kind = OpKind::Scale;
  PoolArgs pool;
  TimeArgs time;
  LossArgs loss;
  VecArgs vec;
  OptArgs opt;
  double* part = nullptr;  // partial sums (Mse, CrossEntropy, SumSquares): nPart doubles
  int64_t nPart = 0;
};

// Partial sums of an n-element reduction: a function of n only (never of the thread count).
constexpr int64_t kReduceChunk = 256;
constexpr int64_t kMaxReduceParts = 4096;
SL_HD int64_t reduce_parts(int64_t n) {
  if (n <= 0) return 0;
  const int64_t p = (n + kReduceChunk - 1) / kReduceChunk;
  return p < kMaxReduceParts ? p : kMaxReduceParts;
}
// The contiguous range [lo, hi) of part p of P over n elements.
SL_HD void part_range(int64_t n, int64_t P, int64_t p, int64_t& lo, int64_t& hi) {
  const int64_t len = (n + P - 1) / P;
  lo = p * len;
  hi = lo + len < n ? lo + len : n;
  if (lo > n) lo = n;
}

// ---- pooling --------------------------------------------------------------------------------

// Thread per output element (n, c, i, j): the window sum in double, in row-major window order.
SL_HD void pool_forward_thread(const PoolArgs& a, int64_t idx) {
  if (idx >= a.N * a.C * a.Ho * a.Wo) return;
  const int64_t j = idx % a.Wo, r = idx / a.Wo, i = r % a.Ho, nc = r / a.Ho;
  const float* xp = a.x + nc * a.H * a.W + (i * a.sH) * a.W + j * a.sW;
  double s = 0.0;
  for (int64_t p = 0; p < a.kH; ++p)
    for (int64_t q = 0; q < a.kW; ++q) s += static_cast<double>(xp[p * a.W + q]);
  a.y[idx] =
      a.sum ? static_cast<float>(s) : static_cast<float>(s / static_cast<double>(a.kH * a.kW));
}

// First and last window index (inclusive) covering position y along one axis.
SL_HD void covering(int64_t y, int64_t k, int64_t s, int64_t nOut, int64_t& lo, int64_t& hi) {
  lo = y < k ? 0 : (y - k) / s + 1;
  hi = y / s;
  if (hi > nOut - 1) hi = nOut - 1;
}

// Thread per input element (n, c, y, x): gathers the gradient of every window covering it, in
// increasing window order, in double. Rows/columns no window covers get 0.
SL_HD void pool_backward_thread(const PoolArgs& a, int64_t idx) {
  if (idx >= a.N * a.C * a.H * a.W) return;
  const int64_t x = idx % a.W, r = idx / a.W, y = r % a.H, nc = r / a.H;
  int64_t i0, i1, j0, j1;
  covering(y, a.kH, a.sH, a.Ho, i0, i1);
  covering(x, a.kW, a.sW, a.Wo, j0, j1);
  const int64_t base = nc * a.Ho * a.Wo;
  double g = 0.0;
  for (int64_t i = i0; i <= i1; ++i)
    for (int64_t j = j0; j <= j1; ++j) {
      const int64_t o = base + i * a.Wo + j;
      if (a.sum) {
        if (a.out[o] != 0.0f) g += static_cast<double>(a.gradOut[o]);
      } else {
        g += static_cast<double>(a.gradOut[o]);
      }
    }
  a.gradIn[idx] =
      a.sum ? static_cast<float>(g) : static_cast<float>(g / static_cast<double>(a.kH * a.kW));
}

// ---- readouts over time ---------------------------------------------------------------------

// Thread per (b, f).
SL_HD void time_forward_thread(const TimeArgs& a, int64_t idx) {
  if (idx >= a.B * a.F) return;
  const int64_t b = idx / a.F, f = idx - b * a.F;
  const float* xp = a.x + b * a.T * a.F + f;
  if (a.mode == 0) {
    double s = 0.0;
    for (int64_t t = 0; t < a.T; ++t) s += static_cast<double>(xp[t * a.F]);
    a.y[idx] = static_cast<float>(s);
  } else if (a.mode == 1) {
    float best = xp[0];
    int64_t arg = 0;
    for (int64_t t = 1; t < a.T; ++t) {
      const float v = xp[t * a.F];
      if (v > best || (v != v && best == best)) {  // NaN propagates, as torch.max
        best = v;
        arg = t;
      }
    }
    a.y[idx] = best;
    a.argOut[idx] = static_cast<float>(arg);
  } else {
    a.y[idx] = xp[(a.T - 1) * a.F];
  }
}

// Thread per (b, t, f).
SL_HD void time_backward_thread(const TimeArgs& a, int64_t idx) {
  if (idx >= a.B * a.T * a.F) return;
  const int64_t f = idx % a.F, r = idx / a.F, t = r % a.T, b = r / a.T;
  const float g = a.gradOut[b * a.F + f];
  if (a.mode == 0) {
    a.gradIn[idx] = g;
  } else if (a.mode == 1) {
    // a step index saved as a float is exact below 2^24; anything else matches no step
    a.gradIn[idx] = (a.argIn[b * a.F + f] == static_cast<float>(t)) ? g : 0.0f;
  } else {
    a.gradIn[idx] = (t == a.T - 1) ? g : 0.0f;
  }
}

// ---- losses ---------------------------------------------------------------------------------

// Thread per part: its contiguous range of elements.
SL_HD void mse_thread(const LossArgs& a, double* part, int64_t nPart, int64_t p) {
  if (p >= nPart) return;
  int64_t lo, hi;
  part_range(a.n, nPart, p, lo, hi);
  const double scale = 2.0 / static_cast<double>(a.n);
  double s = 0.0;
  for (int64_t k = lo; k < hi; ++k) {
    const double d = static_cast<double>(a.a[k]) - static_cast<double>(a.b[k]);
    s += d * d;
    a.grad[k] = static_cast<float>(scale * d);
  }
  part[p] = s;
}

// Thread per batch row: a stable log-softmax in double.
SL_HD void cross_entropy_thread(const LossArgs& a, double* part, int64_t row) {
  if (row >= a.B) return;
  const float* z = a.a + row * a.C;
  float* g = a.grad + row * a.C;
  double m = static_cast<double>(z[0]);
  for (int64_t c = 1; c < a.C; ++c) {
    const double v = static_cast<double>(z[c]);
    if (v > m || v != v) m = v;
  }
  double s = 0.0;
  for (int64_t c = 0; c < a.C; ++c) s += SL_OPS_EXP(static_cast<double>(z[c]) - m);
  const double lse = m + SL_OPS_LOG(s);
  const float lf = a.b[row];
  // labels were checked by the caller; an invalid one reads nothing and gives NaN
  const bool valid = lf >= 0.0f && lf < static_cast<float>(a.C) &&
                     lf == static_cast<float>(static_cast<int64_t>(lf));
  const int64_t label = valid ? static_cast<int64_t>(lf) : -1;
  const double invB = 1.0 / static_cast<double>(a.B);
  for (int64_t c = 0; c < a.C; ++c) {
    const double sm = SL_OPS_EXP(static_cast<double>(z[c]) - m) / s;
    g[c] = static_cast<float>((sm - (c == label ? 1.0 : 0.0)) * invB);
  }
  part[row] =
      valid ? lse - static_cast<double>(z[label]) : static_cast<double>(bits_to_float(0x7fc00000));
}

// ---- vectors --------------------------------------------------------------------------------

SL_HD void sum_squares_thread(const VecArgs& a, double* part, int64_t nPart, int64_t p) {
  if (p >= nPart) return;
  int64_t lo, hi;
  part_range(a.n, nPart, p, lo, hi);
  double s = 0.0;
  for (int64_t k = lo; k < hi; ++k) {
    const double v = static_cast<double>(a.x[k]);
    s += v * v;
  }
  part[p] = s;
}

SL_HD void scale_thread(const VecArgs& a, int64_t k) {
  if (k >= a.n) return;
  a.x[k] = a.x[k] * a.s;
}

// ---- optimizers -----------------------------------------------------------------------------

// torch.optim.SGD, one element: weight decay, momentum (first step: buf = g), dampening,
// Nesterov, then p - lr * d_p.
SL_HD void sgd_thread(const OptArgs& a, int64_t k) {
  if (k >= a.n) return;
  const float p = a.p[k];
  float g = a.g[k];
  if (a.weightDecay != 0.0f) g = g + a.weightDecay * p;
  if (a.momentum != 0.0f) {
    const float buf = a.first ? g : a.momentum * a.m[k] + a.oneMinusDampening * g;
    a.m[k] = buf;
    g = a.nesterov ? g + a.momentum * buf : buf;
  }
  float q = p - a.lr * g;
  if (a.hasMin && q < a.minValue) q = a.minValue;
  a.p[k] = q;
}

// torch.lerp's float formula (weight < 0.5: start + w (end - start)).
SL_HD float lerp_f(float start, float end, float w) {
  return w < 0.5f ? start + w * (end - start) : end - (end - start) * (1.0f - w);
}

// torch.optim.Adam / AdamW, one element (single-tensor implementation):
//   Adam:  g += wd p;  AdamW: p *= 1 - lr wd
//   m = lerp(m, g, 1 - beta1);  v = beta2 v + (1 - beta2) g g
//   p -= stepSize * m / (sqrt(v) / sqrt(1 - beta2^t) + eps),  stepSize = lr / (1 - beta1^t)
// then the optional lower bound.
SL_HD void adam_thread(const OptArgs& a, int64_t k) {
  if (k >= a.n) return;
  float p = a.p[k];
  float g = a.g[k];
  if (a.decoupled)
    p = p * a.decay;
  else if (a.weightDecay != 0.0f)
    g = g + a.weightDecay * p;
  const float m = lerp_f(a.m[k], g, a.oneMinusBeta1);
  const float v = a.beta2 * a.v[k] + a.oneMinusBeta2 * (g * g);
  a.m[k] = m;
  a.v[k] = v;
  const float denom = SL_OPS_SQRTF(v) / a.bc2Sqrt + a.eps;
  float q = p + (-a.stepSize) * (m / denom);
  if (a.hasMin && q < a.minValue) q = a.minValue;
  a.p[k] = q;
}

// ---- dispatch -------------------------------------------------------------------------------

// Threads (work items) one call needs.
inline int64_t op_work(const OpCall& c) {
  switch (c.kind) {
    case OpKind::PoolForward: return c.pool.N * c.pool.C * c.pool.Ho * c.pool.Wo;
    case OpKind::PoolBackward: return c.pool.N * c.pool.C * c.pool.H * c.pool.W;
    case OpKind::TimeForward: return c.time.B * c.time.F;
    case OpKind::TimeBackward: return c.time.B * c.time.T * c.time.F;
    case OpKind::Mse: return c.nPart;
    case OpKind::CrossEntropy: return c.loss.B;
    case OpKind::SumSquares: return c.nPart;
    case OpKind::Scale: return c.vec.n;
    case OpKind::Sgd: return c.opt.n;
    case OpKind::Adam: return c.opt.n;
  }
  return 0;
}

// Thread `idx` of a call of kind K.
template <OpKind K>
SL_HD void op_thread(const OpCall& c, int64_t idx) {
  if constexpr (K == OpKind::PoolForward)
    pool_forward_thread(c.pool, idx);
  else if constexpr (K == OpKind::PoolBackward)
    pool_backward_thread(c.pool, idx);
  else if constexpr (K == OpKind::TimeForward)
    time_forward_thread(c.time, idx);
  else if constexpr (K == OpKind::TimeBackward)
    time_backward_thread(c.time, idx);
  else if constexpr (K == OpKind::Mse)
    mse_thread(c.loss, c.part, c.nPart, idx);
  else if constexpr (K == OpKind::CrossEntropy)
    cross_entropy_thread(c.loss, c.part, idx);
  else if constexpr (K == OpKind::SumSquares)
    sum_squares_thread(c.vec, c.part, c.nPart, idx);
  else if constexpr (K == OpKind::Scale)
    scale_thread(c.vec, idx);
  else if constexpr (K == OpKind::Sgd)
    sgd_thread(c.opt, idx);
  else
    adam_thread(c.opt, idx);
}

// Calls fn(std::integral_constant<OpKind, K>) for the call's kind.
template <class Fn>
void dispatch_op(OpKind kind, Fn&& fn) {
  switch (kind) {
#define SL_OPS_CASE(K) \
  case OpKind::K: fn(std::integral_constant<OpKind, OpKind::K>{}); break;
    SL_OPS_CASE(PoolForward)
    SL_OPS_CASE(PoolBackward)
    SL_OPS_CASE(TimeForward)
    SL_OPS_CASE(TimeBackward)
    SL_OPS_CASE(Mse)
    SL_OPS_CASE(CrossEntropy)
    SL_OPS_CASE(SumSquares)
    SL_OPS_CASE(Scale)
    SL_OPS_CASE(Sgd)
    SL_OPS_CASE(Adam)
#undef SL_OPS_CASE
  }
}

// Entry points of the three paths (same contract: every pointer of `c` on the host, or on
// `device`; part is nPart doubles on the host and receives the partial sums).
void ops_run_cpu(const OpCall& c, int threads);
void ops_run_emulated(const OpCall& c, int threads);
void cuda_ops_run(const OpCall& c, int device);

}  // namespace sl
