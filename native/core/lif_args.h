// Arguments of the LIF kernels, shared by the CPU kernels, the CUDA kernels and the CPU
// emulation of the CUDA launch. Plain pointers: host memory for the CPU, device memory for CUDA.
#pragma once

#include <cstdint>

#include "core/lif_io.h"
#include "core/lif_math.h"

namespace sl {

// Checkpoint interval K (steps) of the backward recompute: a pending call keeps the state every K
// steps. The layers take it from the addon (`constants.checkpointInterval`).
constexpr int64_t kCheckpointInterval = 32;

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

  const float* x = nullptr;   // input (B, T, N)
  const float* v0 = nullptr;  // initial membrane (B, N)
  const float* i0 = nullptr;  // initial synaptic current (B, N), hasSyn only

  // forward outputs
  float* out = nullptr;                // spikes (B, T, N)
  const float* spikesGiven = nullptr;  // SpikeKind::Given: spikes to replay (B, T, N)
  float* v1 = nullptr;                 // final membrane (B, N)
  float* i1 = nullptr;                 // final synaptic current (B, N)
  float* recV = nullptr;               // recordings (B, T, N) or null
  float* recI = nullptr;
  float* uOut = nullptr;  // pre-spike membrane (B, T, N) or null
  float* ckV = nullptr;   // checkpoints (B, nCk, N) or null
  float* ckI = nullptr;
  int64_t K = kCheckpointInterval;  // checkpoint interval
  double spikeSum = 0.0;            // sum of all outputs (firing rate), forward result

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

  // Per-thread partials of the one-thread-per-neuron kernels (CUDA and its emulated launch):
  // (B, N) doubles each, reduced over the batch in a fixed order afterwards.
  double* partM = nullptr;
  double* partS = nullptr;
  double* partSpikes = nullptr;

  // Element types of x and out (native/core/lif_io.h), CPU forward only: with xType other than
  // F32, x is null and xIo holds the (B, T, N) input; with outType U8, out is null and outIo holds
  // the (B, T, N) uint8 output, and outBad the first element that uint8 could not hold (-1: none).
  IoType xType = IoType::F32;
  IoType outType = IoType::F32;
  const void* xIo = nullptr;
  void* outIo = nullptr;
  int64_t outBad = -1;
  float outBadValue = 0.0f;
};

// Number of checkpoints for T steps at interval K.
SL_HD int64_t num_checkpoints(int64_t T, int64_t K) { return (T + K - 1) / K; }

}  // namespace sl
