// CPU (OpenMP + SIMD) kernels of the LIF family. Plain data in, plain data out: the N-API
// layer owns argument checking and memory.
#pragma once

#include <cstdint>

#include "core/lif_math.h"

namespace sl {

// Layout: x, spikes, recordings, gradients are (B, T, N) row-major; states are (B, N);
// checkpoints are (B, nCk, N) with nCk = ceil(T / K), checkpoint k = state before step k*K.
// Per-neuron parameters have length N (stride 1) or 1 (stride 0).
struct LifKernelArgs {
  int64_t B = 0, T = 0, N = 0;
  SpikeKind spike = SpikeKind::Multi;
  ResetKind reset = ResetKind::Subtract;
  SurrKind surr = SurrKind::SingleExponential;
  bool hasSyn = false;
  StepParams P{};
  SurrParams Q{};
  const float* alphaMem = nullptr;  // per-neuron or scalar decay factors
  int64_t alphaMemStride = 0;
  const float* alphaSyn = nullptr;
  int64_t alphaSynStride = 0;

  const float* x = nullptr;       // input (B, T, N)
  const float* v0 = nullptr;      // initial membrane (B, N)
  const float* i0 = nullptr;      // initial synaptic current (B, N), hasSyn only

  // forward outputs
  float* out = nullptr;           // spikes (B, T, N)
  const float* spikesGiven = nullptr;  // SpikeKind::Given: spikes to replay (B, T, N)
  float* v1 = nullptr;            // final membrane (B, N)
  float* i1 = nullptr;            // final synaptic current (B, N)
  float* recV = nullptr;          // recordings (B, T, N) or null
  float* recI = nullptr;
  float* uOut = nullptr;          // pre-spike membrane (B, T, N) or null
  float* ckV = nullptr;           // checkpoints (B, nCk, N) or null
  float* ckI = nullptr;
  int64_t K = 32;                 // checkpoint interval
  double spikeSum = 0.0;          // sum of all outputs (firing rate), forward result

  // backward
  const float* gradOut = nullptr;     // dL/d out (B, T, N)
  const float* sigmaGiven = nullptr;  // SurrKind::Given: sigma(u_t) (B, T, N)
  const float* gvEnd = nullptr;       // adjoint of the final membrane (B, N) or null (= 0)
  const float* giEnd = nullptr;       // adjoint of the final synaptic current or null
  float* gradIn = nullptr;            // dL/d x (B, T, N)
  float* gvStart = nullptr;           // adjoint of the initial membrane (B, N)
  float* giStart = nullptr;           // adjoint of the initial synaptic current (B, N)
  double* gAlphaMem = nullptr;        // dL/d alpha_m per neuron (N), summed over batch and time
  double* gAlphaSyn = nullptr;        // dL/d alpha_s per neuron (N)
};

// Number of checkpoints for T steps at interval K.
inline int64_t num_checkpoints(int64_t T, int64_t K) { return (T + K - 1) / K; }

void lif_forward_cpu(LifKernelArgs& a, int threads);
void lif_backward_cpu(LifKernelArgs& a, int threads);

// The kernel build chosen at run time for this CPU ("x86-64-v3", "x86-64-v2" or "generic");
// SPIKELAYERS_CPU_ISA forces a lower one.
const char* cpu_isa_name();

// A STREAM-like triad (a = b + s*c) over `bytesPerArray`, best of `reps`, in GB/s (bytes read and
// written as STREAM counts them: 12 bytes per float element).
double triad_bandwidth_gbs(int64_t bytesPerArray, int reps, int threads);

// Sum in double, in a fixed order (independent of the thread count).
double sum_fixed_order(const float* p, int64_t n, int threads);

}  // namespace sl
