// Per-step math of the sinabs LIF family, written once for host and device.
//
// Every function here reproduces sinabs 3.1.3's float32 expression order (see the
// specification, docs/semantics.md §3.2): no fused multiply-add (the host is built with
// -ffp-contract=off, the device with --fmad=false), a true division for the spike count,
// relu(r - m) + m for the clip.
// The CPU kernels call these inside `omp simd` loops, the CUDA kernels once per thread, so
// the two back ends cannot drift apart.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define SL_HD __host__ __device__ __forceinline__
#else
#define SL_HD inline __attribute__((always_inline))
#endif

namespace sl {

// ---------------------------------------------------------------------------------------------
// Kinds. The kernels are templates over these; nothing dispatches per element.
enum class SpikeKind : int { Multi = 0, Single = 1, Given = 2, None = 3 };
enum class ResetKind : int { Subtract = 0, Reset = 1, None = 2 };
enum class SurrKind : int {
  SingleExponential = 0,
  Heaviside = 1,
  Gaussian = 2,
  MultiGaussian = 3,
  PeriodicExponential = 4,
  Given = 5,
};
// The last value of each kind: the N-API layer accepts 0..last and exports the values to
// JavaScript (native/napi/addon.cc, `constants`), so nothing else holds these numbers.
constexpr int kLastSpikeKind = static_cast<int>(SpikeKind::None);
constexpr int kLastResetKind = static_cast<int>(ResetKind::None);
constexpr int kLastSurrKind = static_cast<int>(SurrKind::Given);

// Scalar options of one layer call.
struct StepParams {
  float theta;       // spike threshold
  float maxSpikes;   // MaxSpike limit, +inf for MultiSpike
  float thetaSub;    // MembraneSubtract value (defaults to theta)
  float resetValue;  // MembraneReset value
  float minV;        // min_v_mem, used only when hasMin
  bool hasMin;
  bool normInput;
};

// Surrogate hyper-parameters, pre-digested on the host (lib/activations.ts). Named scalars, not
// an array: GCC does not vectorise loops that index an array member of a by-value struct.
struct SurrParams {
  float p0 = 0, p1 = 0, p2 = 0, p3 = 0, p4 = 0, p5 = 0;
};

// ---------------------------------------------------------------------------------------------
// Bit helpers and a deterministic exp (identical bits on every back end, vectorisable).
SL_HD float bits_to_float(int32_t i) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(i);
#elif defined(__GNUC__) || defined(__clang__)
  return __builtin_bit_cast(float, i);  // vectorises, unlike memcpy
#else
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
#endif
}

SL_HD int32_t float_to_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_int(f);
#elif defined(__GNUC__) || defined(__clang__)
  return __builtin_bit_cast(int32_t, f);
#else
  int32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
#endif
}

// exp(x) for x <= 0 (the only range the surrogates need), error <= 2 ulp. Results below
// FLT_MIN are flushed to 0 so that no denormal is ever produced. Uses only +, -, *, floor
// and an exponent-bit construction, so host and device agree bit for bit.
SL_HD float exp_neg(float x) {
  const float kLog2e = 1.44269504088896341f;
  const float kLn2Hi = 0.693359375f;
  const float kLn2Lo = -2.12194440e-4f;
  const bool tiny = x < -87.3f;            // exp(-87.3) ~ FLT_MIN
  float xc = (tiny || x != x) ? 0.0f : x;  // NaN: no float-to-int conversion of NaN below
  xc = (xc > 0.0f) ? 0.0f : xc;            // domain is x <= 0; NaN propagates below
  float n = floorf(xc * kLog2e + 0.5f);
  float r = xc - n * kLn2Hi;
  r = r - n * kLn2Lo;
  // Cephes minimax polynomial for exp on [-ln2/2, ln2/2]
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float rr = r * r;
  p = p * rr + r;
  p = p + 1.0f;
  int32_t e = static_cast<int32_t>(n) + 127;
  e = (e < 1) ? 1 : e;
  float scale = bits_to_float(e << 23);
  float y = p * scale;
  y = tiny ? 0.0f : y;
  return (x != x) ? x : y;
}

// ---------------------------------------------------------------------------------------------
// Forward pieces.

// Synaptic current: i_t = alpha_s * (i_{t-1} + x_t); the input is decayed in its own step.
// Split in two so that the backward replay can keep the sum (the alpha_s gradient factor).
SL_HD float syn_pre(float iPrev, float x) { return iPrev + x; }
SL_HD float syn_decay(float pre, float alphaSyn) { return alphaSyn * pre; }
SL_HD float syn_update(float iPrev, float x, float alphaSyn) {
  return syn_decay(syn_pre(iPrev, x), alphaSyn);
}

// Membrane: u_t = alpha_m * v_{t-1} + c * i_t, the two products rounded separately.
SL_HD float integrate(float vPrev, float i, float alphaMem, float c) {
  float a = alphaMem * vPrev;
  float b = c * i;
  return a + b;
}

// MultiSpike / MaxSpike: [u > 0] * trunc(u / theta), clamped to maxSpikes. u < 0 gives -0.0
// exactly like sinabs (False * trunc(u/theta)).
SL_HD float spike_multi(float u, float theta, float maxSpikes) {
  float q = truncf(u / theta);
  float s = (u > 0.0f) ? q : 0.0f * q;
  return (s > maxSpikes) ? maxSpikes : s;
}

// The reciprocal of theta when dividing by theta can be replaced by multiplying with it without
// changing any result, else 0. That holds when theta = 2^k with 2^-k a normal float
// (k in [-126, 126]): u / theta and u * 2^-k are then both the exact quotient u * 2^-k rounded
// once in the same mode, for every u (subnormal results, zeros, infinities and NaN included).
// The default threshold 1 is such a value. Decided once per call on the host.
SL_HD float exact_reciprocal(float theta) {
  const int32_t bits = float_to_bits(theta);
  const int32_t exponent = (bits >> 23) & 0xff;
  const bool pow2 = bits >= 0 && (bits & 0x7fffff) == 0 && exponent >= 1 && exponent <= 253;
  return pow2 ? bits_to_float((254 - exponent) << 23) : 0.0f;
}

// spike_multi for a theta whose reciprocal `rcp` is exact (exact_reciprocal(theta) != 0): the
// same result bits without the division.
SL_HD float spike_multi_rcp(float u, float rcp, float maxSpikes) {
  float q = truncf(u * rcp);
  float s = (u > 0.0f) ? q : 0.0f * q;
  return (s > maxSpikes) ? maxSpikes : s;
}

// SingleSpike: [u - theta >= 0].
SL_HD float spike_single(float u, float theta) { return ((u - theta) >= 0.0f) ? 1.0f : 0.0f; }

template <SpikeKind K>
SL_HD float spike(float u, float given, const StepParams& P) {
  if constexpr (K == SpikeKind::Multi) {
    return spike_multi(u, P.theta, P.maxSpikes);
  } else if constexpr (K == SpikeKind::Single) {
    return spike_single(u, P.theta);
  } else if constexpr (K == SpikeKind::Given) {
    return given;
  } else {
    return u;  // no spike function: the output is the membrane itself
  }
}

// MembraneSubtract: r = u - s * theta_sub.  MembraneReset: r = u * [s == 0] + reset_value
// (sinabs adds reset_value to every neuron, spiking or not).
template <ResetKind R>
SL_HD float reset(float u, float s, const StepParams& P) {
  if constexpr (R == ResetKind::Subtract) {
    float d = s * P.thetaSub;
    return u - d;
  } else if constexpr (R == ResetKind::Reset) {
    float keep = (s == 0.0f) ? 1.0f : 0.0f;
    float k = u * keep;
    return k + P.resetValue;
  } else {
    return u;
  }
}

// Clip: relu(r - m) + m, which rounds twice and is not max(r, m) in float32.
SL_HD float clip_min(float r, float m) {
  float d = r - m;
  d = (d < 0.0f) ? 0.0f : d;
  return d + m;
}
// Gradient mask of the clip: [r - m > 0] (relu'(0) = 0).
SL_HD float clip_mask(float r, float m) { return ((r - m) > 0.0f) ? 1.0f : 0.0f; }

// ---------------------------------------------------------------------------------------------
// Surrogate gradients sigma(u). Parameters come pre-digested (host side, see layer code):
//  SingleExponential:   p0 = grad_scale / w, p1 = 1 / w, w = theta * grad_width
//  Heaviside:           p0 = theta - window, p1 = 1 / theta
//  Gaussian:            p0 = mu, p1 = -1 / (2 sigma^2), p2 = grad_scale / (sigma sqrt(2 pi))
//  MultiGaussian:       p0 = mu, p1 = -1/(2 sigma^2), p2 = grad_scale (1 + h) / (sigma sqrt(2 pi)),
//                       p3 = sigma (side-lobe centre), p4 = -1/(2 (s sigma)^2),
//                       p5 = grad_scale h / (s sigma sqrt(2 pi))
//  PeriodicExponential: p0 = 1 / grad_width, p1 = grad_scale
template <SurrKind S>
SL_HD float surrogate(float u, float given, float theta, const SurrParams& q) {
  if constexpr (S == SurrKind::SingleExponential) {
    float d = u - theta;
    d = (d < 0.0f) ? -d : d;
    return q.p0 * exp_neg(-(d * q.p1));
  } else if constexpr (S == SurrKind::Heaviside) {
    return (u >= q.p0) ? q.p1 : 0.0f;
  } else if constexpr (S == SurrKind::Gaussian) {
    float x = (u - theta) - q.p0;
    return q.p2 * exp_neg((x * x) * q.p1);
  } else if constexpr (S == SurrKind::MultiGaussian) {
    float x = u - theta;
    float xm = x - q.p0;
    float xa = x - q.p3;
    float xb = x + q.p3;
    float main = q.p2 * exp_neg((xm * xm) * q.p1);
    float sa = q.p5 * exp_neg((xa * xa) * q.p4);
    float sb = q.p5 * exp_neg((xb * xb) * q.p4);
    return (main - sa) - sb;
  } else if constexpr (S == SurrKind::PeriodicExponential) {
    float n = u / theta - 0.5f;
    float frac = n - floorf(n);
    float p = theta * (2.0f * frac - 1.0f);
    float a = (u >= theta) ? p : (u - theta);
    a = (a < 0.0f) ? -a : a;
    return q.p1 * exp_neg(-(a * q.p0));
  } else {
    return given;
  }
}

// ---------------------------------------------------------------------------------------------
// Backward pieces. The replay of one step yields, besides the new state:
//   A     = d v_t / d v_t^pre-clip path factor: clip mask * (1 - theta_sub * sigma)  (subtract)
//                                               clip mask * [s == 0]               (reset)
//                                               clip mask                          (no spikes)
//   sigma = surrogate at u_t (1 when there is no spike function: the output is u_t itself)
// so that the adjoint of u_t is  gu = gv * A + g * sigma,  gv the adjoint of v_t.
template <ResetKind R>
SL_HD float adjoint_factor(float sigma, float s, float clipMask, const StepParams& P) {
  if constexpr (R == ResetKind::Subtract) {
    float d = P.thetaSub * sigma;
    return clipMask * (1.0f - d);
  } else if constexpr (R == ResetKind::Reset) {
    return clipMask * ((s == 0.0f) ? 1.0f : 0.0f);
  } else {
    return clipMask;
  }
}

// Flush what would become a denormal carried gradient (keeps long decays off slow paths).
SL_HD float flush_tiny(float g) {
  float a = (g < 0.0f) ? -g : g;
  return (a < 1.17549435e-38f) ? 0.0f : g;
}

// One reverse step for the membrane: returns gu and updates the carried adjoint gv.
SL_HD float adjoint_mem(float& gv, float g, float A, float sigma, float alphaMem) {
  float a = gv * A;
  float b = g * sigma;
  float gu = a + b;
  gv = flush_tiny(alphaMem * gu);
  return gu;
}

}  // namespace sl
