// The per-thread work of the one-thread-per-neuron kernels, as host-and-device functions of the
// launch coordinates. The CUDA kernels (native/cuda) call them with blockIdx/threadIdx; the CPU
// "emulated launch" (native/cpu/emulated.cc) calls them over the same grid on the host, so the
// test suite checks everything but the launch itself on machines without a GPU.
//
// Mapping: thread idx = (b, n), b = idx / N, n = idx % N. Consecutive threads of a warp hold
// consecutive neurons, so every step's loads and stores of the (B, T, N) layout are coalesced.
#pragma once

#include "core/lif_args.h"

namespace sl {

// Launch geometry, shared by the CUDA launch and its emulation.
constexpr int kThreadsPerBlock = 128;
// Longest checkpoint interval the thread kernels support (their replay buffers are this long).
constexpr int kMaxChunk = 32;
static_assert(kCheckpointInterval <= kMaxChunk,
              "the default checkpoint interval must fit the GPU kernels' chunk");
// Steps of input loaded ahead of the forward recurrence.
constexpr int kLoadAhead = 4;

struct Grid {
  int64_t blocks;
  int threads;
};
SL_HD Grid grid_for(int64_t work) {
  return Grid{(work + kThreadsPerBlock - 1) / kThreadsPerBlock, kThreadsPerBlock};
}
SL_HD int64_t global_index(int64_t block, int64_t thread, int64_t blockDim) {
  return block * blockDim + thread;
}

// What every thread of both kernels derives from its launch coordinates: its (b, n), the
// checkpoint count and the neuron's decay factors.
struct ThreadNeuron {
  int64_t idx, b, n, nCk, base;  // base: element (b, 0, n) of the (B, T, N) layout
  float am, c, as;
};
template <bool SYN>
SL_HD bool thread_neuron(const LifKernelArgs& a, int64_t block, int64_t thread, int64_t blockDim,
                         ThreadNeuron& tn) {
  tn.idx = global_index(block, thread, blockDim);
  if (tn.idx >= a.B * a.N) return false;
  tn.b = tn.idx / a.N;
  tn.n = tn.idx - tn.b * a.N;
  tn.nCk = num_checkpoints(a.T, a.K);
  tn.base = tn.b * a.T * a.N + tn.n;
  tn.am = a.alphaMem[a.alphaMemStride * tn.n];
  tn.c = a.P.normInput ? (1.0f - tn.am) : 1.0f;
  tn.as = SYN ? a.alphaSyn[a.alphaSynStride * tn.n] : 0.0f;
  return true;
}

template <SpikeKind SK, ResetKind RK, bool SYN>
SL_HD void forward_thread(const LifKernelArgs& a, int64_t block, int64_t thread, int64_t blockDim) {
  ThreadNeuron tn;
  if (!thread_neuron<SYN>(a, block, thread, blockDim, tn)) return;
  const int64_t N = a.N, T = a.T, K = a.K;
  const int64_t idx = tn.idx, b = tn.b, n = tn.n, nCk = tn.nCk, base = tn.base;
  const float am = tn.am, c = tn.c, as = tn.as;
  const StepParams P = a.P;
  float v = a.v0[idx];
  float i = SYN ? a.i0[idx] : 0.0f;
  float acc = 0.0f;
  double accD = 0.0;
  for (int64_t t0 = 0; t0 < T; t0 += kLoadAhead) {
    // Issue the next kLoadAhead input loads before the recurrence needs them.
    float xr[kLoadAhead], gr[kLoadAhead];
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int k = 0; k < kLoadAhead; ++k) {
      const bool in = t0 + k < T;
      xr[k] = in ? a.x[base + (t0 + k) * N] : 0.0f;
      gr[k] = (SK == SpikeKind::Given && in) ? a.spikesGiven[base + (t0 + k) * N] : 0.0f;
    }
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int k = 0; k < kLoadAhead; ++k) {
      const int64_t t = t0 + k;
      if (t >= T) break;
      const int64_t off = base + t * N;
      if (t % K == 0) {
        if (a.ckV) {
          a.ckV[(b * nCk + t / K) * N + n] = v;
          if (SYN) a.ckI[(b * nCk + t / K) * N + n] = i;
        }
        accD += acc;  // spike counts: float within a chunk, then double (as the CPU kernels)
        acc = 0.0f;
      }
      float cur = xr[k];
      if (SYN) {
        cur = syn_update(i, cur, as);
        i = cur;
      }
      const float u = integrate(v, cur, am, c);
      const float s = spike<SK>(u, gr[k], P);
      const float r = reset<RK>(u, s, P);
      v = P.hasMin ? clip_min(r, P.minV) : r;
      a.out[off] = s;
      acc += s;
      if (a.uOut) a.uOut[off] = u;
      if (a.recV) a.recV[off] = v;
      if (SYN && a.recI) a.recI[off] = i;
    }
  }
  a.v1[idx] = v;
  if (SYN) a.i1[idx] = i;
  if (a.partSpikes) a.partSpikes[idx] = accD + acc;
}

template <SpikeKind SK, ResetKind RK, SurrKind SS, bool SYN>
SL_HD void backward_thread(const LifKernelArgs& a, int64_t block, int64_t thread,
                           int64_t blockDim) {
  ThreadNeuron tn;
  if (!thread_neuron<SYN>(a, block, thread, blockDim, tn)) return;
  const int64_t N = a.N, T = a.T, K = a.K;
  const int64_t idx = tn.idx, b = tn.b, n = tn.n, nCk = tn.nCk, base = tn.base;
  const float am = tn.am, c = tn.c, as = tn.as;
  const StepParams P = a.P;
  const SurrParams Q = a.Q;
  float gv = a.gvEnd ? a.gvEnd[idx] : 0.0f;
  float gi = (SYN && a.giEnd) ? a.giEnd[idx] : 0.0f;
  double pm = 0.0, ps = 0.0;
  float Ab[kMaxChunk], Sb[kMaxChunk], Pb[kMaxChunk], Qb[kMaxChunk];
  for (int64_t k = nCk - 1; k >= 0; --k) {
    const int64_t t0 = k * K;
    const int64_t t1 = (t0 + K < T) ? t0 + K : T;
    // replay the chunk from its checkpoint (the forward's step functions: the same bits)
    float v = a.ckV[(b * nCk + k) * N + n];
    float i = SYN ? a.ckI[(b * nCk + k) * N + n] : 0.0f;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t off = base + t * N, o = t - t0;
      const float x = a.x[off];
      float cur = x;
      if (SYN) {
        const float pre = syn_pre(i, x);
        Qb[o] = pre;
        cur = syn_decay(pre, as);
        i = cur;
      }
      const float vp = v;
      const float u = integrate(vp, cur, am, c);
      const float g1 = (SK == SpikeKind::Given) ? a.spikesGiven[off] : 0.0f;
      const float g2 = (SS == SurrKind::Given && SK != SpikeKind::None) ? a.sigmaGiven[off] : 0.0f;
      const float s = spike<SK>(u, g1, P);
      const float r = reset<RK>(u, s, P);
      const float cm = P.hasMin ? clip_mask(r, P.minV) : 1.0f;
      v = P.hasMin ? clip_min(r, P.minV) : r;
      const float sg = (SK == SpikeKind::None) ? 1.0f : surrogate<SS>(u, g2, P.theta, Q);
      Ab[o] = adjoint_factor<RK>(sg, s, cm, P);
      Sb[o] = sg;
      Pb[o] = P.normInput ? (vp - cur) : vp;
    }
    // reverse recurrence over the chunk
    float pmf = 0.0f, psf = 0.0f;
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const int64_t off = base + t * N, o = t - t0;
      const float gu = adjoint_mem(gv, a.gradOut[off], Ab[o], Sb[o], am);
      pmf += gu * Pb[o];
      const float cg = c * gu;
      if (SYN) {
        const float gin = cg + gi;
        a.gradIn[off] = as * gin;
        psf += gin * Qb[o];
        gi = flush_tiny(as * gin);
      } else {
        a.gradIn[off] = cg;
      }
    }
    pm += pmf;
    ps += psf;
  }
  a.gvStart[idx] = gv;
  if (SYN) a.giStart[idx] = gi;
  a.partM[idx] = pm;
  if (SYN) a.partS[idx] = ps;
}

// Sum of a (B, N) array over the batch, per neuron, in a fixed order, in double.
SL_HD void reduce_batch_thread(const double* part, int64_t B, int64_t N, double* out, int64_t block,
                               int64_t thread, int64_t blockDim) {
  const int64_t n = global_index(block, thread, blockDim);
  if (n >= N) return;
  double s = 0.0;
  for (int64_t b = 0; b < B; ++b) s += part[b * N + n];
  out[n] = s;
}

}  // namespace sl
