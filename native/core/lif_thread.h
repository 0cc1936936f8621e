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

// Device-only spellings that are no-ops on the host, so the emulated launch runs the same code.
#if defined(__CUDA_ARCH__)
#define SL_LDG(p) __ldg(p)  // read-only data path; the arrays it reads are never written
#define SL_UNROLL _Pragma("unroll")
#else
#define SL_LDG(p) (*(p))
#define SL_UNROLL
#endif

// Launch geometry, shared by the CUDA launch and its emulation.
constexpr int kThreadsPerBlock = 128;  // the tensor-op kernels' fixed block
// Longest checkpoint interval the thread kernels support (their replay buffers are this long).
constexpr int kMaxChunk = 32;
static_assert(kCheckpointInterval <= kMaxChunk,
              "the default checkpoint interval must fit the GPU kernels' chunk");
// Steps of input loaded ahead of the recurrence: a group of kLoadAhead loads is issued while the
// previous group is computed (double buffering), in both kernels.
constexpr int kLoadAhead = 4;
// Block sizes of the LIF kernels: the largest power of two in [kMinLifThreads, max] that still
// gives every SM at least kBlocksPerSm blocks; kReferenceSms (an H100 SXM) stands in for the
// card in the emulated launch. The backward's shared memory is 8 bytes per thread per replay
// step, so its block is capped at 128 threads (32 KB at K = 32, inside the default 48 KB).
constexpr int kMinLifThreads = 32;
constexpr int kMaxForwardThreads = 256;
constexpr int kMaxBackwardThreads = 128;
constexpr int kBlocksPerSm = 2;
constexpr int kReferenceSms = 132;

struct Grid {
  int64_t blocks;
  int threads;
};
SL_HD Grid grid_for(int64_t work) {
  return Grid{(work + kThreadsPerBlock - 1) / kThreadsPerBlock, kThreadsPerBlock};
}
SL_HD Grid lif_grid(int64_t work, int sms, int maxThreads) {
  int th = maxThreads;
  while (th > kMinLifThreads && (work + th - 1) / th < static_cast<int64_t>(kBlocksPerSm) * sms)
    th /= 2;
  return Grid{(work + th - 1) / th, th};
}
SL_HD int64_t global_index(int64_t block, int64_t thread, int64_t blockDim) {
  return block * blockDim + thread;
}

// The backward's replay buffers: two rows of blockDim floats per replayed step, laid out
// [2][rows][blockDim] in one block-wide array (shared memory on the GPU, a host array per block
// in the emulation); each thread uses only its own column, so consecutive threads hit
// consecutive banks.
SL_HD int64_t replay_rows(const LifKernelArgs& a) { return a.K < a.T ? a.K : a.T; }
SL_HD int64_t replay_floats(const LifKernelArgs& a, int64_t blockDim) {
  return 2 * replay_rows(a) * blockDim;
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
  tn.am = SL_LDG(a.alphaMem + a.alphaMemStride * tn.n);
  tn.c = a.P.normInput ? (1.0f - tn.am) : 1.0f;
  tn.as = SYN ? SL_LDG(a.alphaSyn + a.alphaSynStride * tn.n) : 0.0f;
  return true;
}

// Forward: one running element offset (bumped by N per step) addresses every (B, T, N) array,
// a chunk counter marks the checkpoint steps (no division per step), and the next group of
// inputs is loaded before the current group's stores.
template <SpikeKind SK, ResetKind RK, bool SYN>
SL_HD void forward_thread(const LifKernelArgs& a, int64_t block, int64_t thread, int64_t blockDim) {
  ThreadNeuron tn;
  if (!thread_neuron<SYN>(a, block, thread, blockDim, tn)) return;
  constexpr int L = kLoadAhead;
  constexpr bool GIVEN = SK == SpikeKind::Given;
  const int64_t N = a.N, T = a.T;
  const int K = static_cast<int>(a.K);
  const float am = tn.am, c = tn.c, as = tn.as;
  const float* const x = a.x;
  const float* const given = a.spikesGiven;
  float v = SL_LDG(a.v0 + tn.idx);
  float i = SYN ? SL_LDG(a.i0 + tn.idx) : 0.0f;
  float acc = 0.0f;
  double accD = 0.0;
  int64_t ck = tn.b * tn.nCk * N + tn.n;  // the next checkpoint's element
  int kc = 0;                             // steps since the last checkpoint
  int64_t off = tn.base;                  // element (b, t, n)
  float xa[L], ga[L];
  SL_UNROLL
  for (int k = 0; k < L; ++k) {
    const bool in = k < T;
    xa[k] = in ? SL_LDG(x + off + k * N) : 0.0f;
    ga[k] = (GIVEN && in) ? SL_LDG(given + off + k * N) : 0.0f;
  }
  for (int64_t t0 = 0; t0 < T; t0 += L) {
    float xb[L], gb[L];
    int64_t q = off + L * N;
    SL_UNROLL
    for (int k = 0; k < L; ++k) {
      const bool in = t0 + L + k < T;
      xb[k] = in ? SL_LDG(x + q) : 0.0f;
      gb[k] = (GIVEN && in) ? SL_LDG(given + q) : 0.0f;
      q += N;
    }
    SL_UNROLL
    for (int k = 0; k < L; ++k) {
      if (t0 + k >= T) break;
      if (kc == 0) {
        if (a.ckV) {
          a.ckV[ck] = v;
          if (SYN) a.ckI[ck] = i;
          ck += N;
        }
        accD += acc;  // spike counts: float within a chunk, then double (as the CPU kernels)
        acc = 0.0f;
      }
      kc = (kc + 1 == K) ? 0 : kc + 1;
      float cur = xa[k];
      if (SYN) {
        cur = syn_update(i, cur, as);
        i = cur;
      }
      const float u = integrate(v, cur, am, c);
      const float s = spike<SK>(u, ga[k], a.P);
      const float r = reset<RK>(u, s, a.P);
      v = a.P.hasMin ? clip_min(r, a.P.minV) : r;
      a.out[off] = s;
      acc += s;
      if (a.uOut) a.uOut[off] = u;
      if (a.recV) a.recV[off] = v;
      if (SYN && a.recI) a.recI[off] = i;
      off += N;
    }
    SL_UNROLL
    for (int k = 0; k < L; ++k) {
      xa[k] = xb[k];
      ga[k] = gb[k];
    }
  }
  a.v1[tn.idx] = v;
  if (SYN) a.i1[tn.idx] = i;
  if (a.partSpikes) a.partSpikes[tn.idx] = accD + acc;
}

// The state after a step, recomputed from the step's pre-spike membrane u: spike, reset, clip
// and the clip's gradient mask (the forward's step functions: the same bits).
template <SpikeKind SK, ResetKind RK>
struct StepState {
  float s, v, cm;
  SL_HD StepState(float u, float given, const StepParams& P) {
    s = spike<SK>(u, given, P);
    const float r = reset<RK>(u, s, P);
    cm = P.hasMin ? clip_mask(r, P.minV) : 1.0f;
    v = P.hasMin ? clip_min(r, P.minV) : r;
  }
};

// Backward, one checkpoint chunk at a time, latest first. The replay runs the chunk forward from
// its checkpoint and keeps, per step, the pre-spike membrane u and the step's input (x, or the
// synaptic sum i + x) in the block's replay buffer `sh` (see replay_floats); the reverse
// recurrence then rebuilds each step's spike, clip mask, surrogate and previous state from them.
// gradOut (and the given spikes/surrogates) are loaded a group ahead, the first group before
// the replay, so the loads overlap the replay and the previous group's stores.
template <SpikeKind SK, ResetKind RK, SurrKind SS, bool SYN>
SL_HD void backward_thread(const LifKernelArgs& a, int64_t block, int64_t thread, int64_t blockDim,
                           float* sh) {
  ThreadNeuron tn;
  if (!thread_neuron<SYN>(a, block, thread, blockDim, tn)) return;
  constexpr int L = kLoadAhead;
  constexpr bool GIVEN = SK == SpikeKind::Given;
  constexpr bool SIGMA = SS == SurrKind::Given && SK != SpikeKind::None;
  const int64_t N = a.N, T = a.T, K = a.K;
  const float am = tn.am, c = tn.c, as = tn.as;
  const float* const x = a.x;
  const float* const given = a.spikesGiven;
  const float* const sigma = a.sigmaGiven;
  const float* const gout = a.gradOut;
  const int bd = static_cast<int>(blockDim);
  const int rows = static_cast<int>(replay_rows(a));
  float gv = a.gvEnd ? SL_LDG(a.gvEnd + tn.idx) : 0.0f;
  float gi = (SYN && a.giEnd) ? SL_LDG(a.giEnd + tn.idx) : 0.0f;
  double pm = 0.0, ps = 0.0;
  for (int64_t k = tn.nCk - 1; k >= 0; --k) {
    const int64_t t0 = k * K;
    const int len = static_cast<int>(((t0 + K < T) ? t0 + K : T) - t0);
    const int64_t first = tn.base + t0 * N;      // element of step t0
    const int64_t last = first + (len - 1) * N;  // element of step t0 + len - 1
    const int64_t ckOff = (tn.b * tn.nCk + k) * N + tn.n;
    float* const U = sh + thread;              // row o: u of step t0 + o
    float* const C = sh + rows * bd + thread;  // row o: x, or i + x with a synapse
    // first group of the reverse loop's loads: steps t0+len-1, t0+len-2, ...
    float go[L], sgG[L], gp[L];  // gradOut and sigma at step o, given spikes at step o - 1
    {
      int64_t q = last;
      SL_UNROLL
      for (int j = 0; j < L; ++j) {
        const bool in = j < len;
        go[j] = in ? SL_LDG(gout + q) : 0.0f;
        sgG[j] = (SIGMA && in) ? SL_LDG(sigma + q) : 0.0f;
        gp[j] = (GIVEN && j + 1 < len) ? SL_LDG(given + q - N) : 0.0f;
        q -= N;
      }
    }
    // replay from the checkpoint
    const float vck = SL_LDG(a.ckV + ckOff);
    {
      float v = vck;
      float i = SYN ? SL_LDG(a.ckI + ckOff) : 0.0f;
      int64_t off = first;
      float xa[L], ga[L];
      SL_UNROLL
      for (int j = 0; j < L; ++j) {
        const bool in = j < len;
        xa[j] = in ? SL_LDG(x + off + j * N) : 0.0f;
        ga[j] = (GIVEN && in) ? SL_LDG(given + off + j * N) : 0.0f;
      }
      int row = 0;
      for (int o0 = 0; o0 < len; o0 += L) {
        float xb[L], gb[L];
        int64_t q = off + L * N;
        SL_UNROLL
        for (int j = 0; j < L; ++j) {
          const bool in = o0 + L + j < len;
          xb[j] = in ? SL_LDG(x + q) : 0.0f;
          gb[j] = (GIVEN && in) ? SL_LDG(given + q) : 0.0f;
          q += N;
        }
        SL_UNROLL
        for (int j = 0; j < L; ++j) {
          if (o0 + j >= len) break;
          float cur = xa[j];
          if (SYN) {
            const float pre = syn_pre(i, cur);
            C[row] = pre;
            cur = syn_decay(pre, as);
            i = cur;
          } else {
            C[row] = cur;
          }
          const float u = integrate(v, cur, am, c);
          U[row] = u;
          v = StepState<SK, RK>(u, ga[j], a.P).v;
          row += bd;
        }
        off += L * N;
        SL_UNROLL
        for (int j = 0; j < L; ++j) {
          xa[j] = xb[j];
          ga[j] = gb[j];
        }
      }
    }
    // reverse recurrence over the chunk
    float pmf = 0.0f, psf = 0.0f;
    int row = (len - 1) * bd;
    int64_t off = last;
    float uo = U[row];
    StepState<SK, RK> st(uo, GIVEN ? SL_LDG(given + last) : 0.0f, a.P);  // step t0 + len - 1
    for (int j0 = 0; j0 < len; j0 += L) {
      float gob[L], sgb[L], gpb[L];
      int64_t q = off - L * N;
      SL_UNROLL
      for (int j = 0; j < L; ++j) {
        const bool in = j0 + L + j < len;
        gob[j] = in ? SL_LDG(gout + q) : 0.0f;
        sgb[j] = (SIGMA && in) ? SL_LDG(sigma + q) : 0.0f;
        gpb[j] = (GIVEN && j0 + L + j + 1 < len) ? SL_LDG(given + q - N) : 0.0f;
        q -= N;
      }
      SL_UNROLL
      for (int j = 0; j < L; ++j) {
        if (j0 + j >= len) break;
        const bool head = j0 + j + 1 == len;  // step t0: its previous state is the checkpoint
        const float sg = (SK == SpikeKind::None) ? 1.0f : surrogate<SS>(uo, sgG[j], a.P.theta, a.Q);
        const float A = adjoint_factor<RK>(sg, st.s, st.cm, a.P);
        float vp = vck;
        if (!head) {
          uo = U[row - bd];
          st = StepState<SK, RK>(uo, gp[j], a.P);
          vp = st.v;
        }
        const float gu = adjoint_mem(gv, go[j], A, sg, am);
        const float in = C[row];
        const float cur = SYN ? syn_decay(in, as) : in;
        pmf += gu * (a.P.normInput ? (vp - cur) : vp);
        const float cg = c * gu;
        if (SYN) {
          const float gin = cg + gi;
          a.gradIn[off] = as * gin;
          psf += gin * in;
          gi = flush_tiny(as * gin);
        } else {
          a.gradIn[off] = cg;
        }
        row -= bd;
        off -= N;
      }
      SL_UNROLL
      for (int j = 0; j < L; ++j) {
        go[j] = gob[j];
        sgG[j] = sgb[j];
        gp[j] = gpb[j];
      }
    }
    pm += pmf;
    ps += psf;
  }
  a.gvStart[tn.idx] = gv;
  if (SYN) a.giStart[tn.idx] = gi;
  a.partM[tn.idx] = pm;
  if (SYN) a.partS[tn.idx] = ps;
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
