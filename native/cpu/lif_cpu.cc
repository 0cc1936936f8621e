// OpenMP + SIMD kernels. This file is compiled once per instruction-set level (generic x86-64,
// x86-64-v2, x86-64-v3, x86-64-v4) into its own namespace; cpu_dispatch.cc picks one at run time.
// Work is split into jobs of (batch entry, chunk of up to CH neurons); each job runs the time loop
// with an inner `omp simd` loop over its neurons, so its state lives in L1/L2. Jobs never share
// output elements, and per-neuron reductions run in a fixed order after the jobs: results are
// bit-identical for any thread count and any split (split_of), and for small calls, which run
// their jobs on the calling thread.
#include "cpu/lif_cpu.h"

#include "core/dispatch.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#ifndef SL_CPU_ISA
#define SL_CPU_ISA isa_generic
#endif

namespace sl {
namespace SL_CPU_ISA {
namespace {

#ifndef SL_CH
#define SL_CH 1024
#endif
#ifndef SL_PD
#define SL_PD 4
#endif
#ifndef SL_NT_BYTES
#define SL_NT_BYTES (int64_t(8) << 20)
#endif
// Neurons per job, at most. Rows of a job are N floats apart, so a job of CH < N neurons reads
// a CH-float piece of every row: with CH = 256 and N = 1024 every step touches a new 4 KiB page,
// which defeats the hardware prefetchers and the TLB. A job covering whole rows streams through
// contiguous memory; 1024 floats keep the forward state (a few KiB per array) in L1 and the
// backward's replay buffers (3-4 x K x CH floats, 384-512 KiB) in L2. Measured on the mlp
// workload (N = 1024): forward 0.52 -> 0.30 ns/el with CH 256 -> 1024 (with streaming stores).
constexpr int64_t CH = SL_CH;
constexpr int64_t CH_MIN = 256;
constexpr int64_t SUM_GROUP = 256;  // granularity of the forward's output sums (see forward_impl)
static_assert(CH % SUM_GROUP == 0 && CH_MIN % SUM_GROUP == 0, "chunks must hold whole sum groups");

struct Job {
  int64_t b, n0, len;
};

// Calls with fewer neuron-steps than this run on the calling thread, without a parallel region:
// waking the OpenMP team costs several microseconds, more than the whole of a small call; on a
// VM whose idle cores sleep, tens of microseconds; and when another process holds a core, up to
// a scheduler time slice. Measured at 2 threads on a 2-vCPU VM, (1, 100, 1024): a forward 35-95
// us on the team with the machine idle and 6 ms with another process busy, 37-42 us on one
// thread; forward + backward 6.5 ms under load with the backward on the team. 2^18 neuron-steps
// are ~0.1 ms of forward and ~0.6 ms of backward work on one core.
#ifndef SL_SERIAL_WORK
#define SL_SERIAL_WORK (int64_t(1) << 18)
#endif
constexpr int64_t kSerialWork = SL_SERIAL_WORK;

// Runs job(0..jobs-1) on `team` threads (static schedule), or in a plain loop for a team of one.
template <class F>
void run_jobs(int64_t jobs, int team, F&& job) {
  if (team <= 1) {
    for (int64_t jb = 0; jb < jobs; ++jb) job(jb);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(team)
  for (int64_t jb = 0; jb < jobs; ++jb) job(jb);
}

// Scratch memory kept across calls, one per thread (the calling thread and OpenMP's pool threads
// live on): allocating the backward's replay buffers anew cost more than a small call's work,
// and their first touch page-faults. Requests above kKeepBytes get memory for that use only.
constexpr size_t kKeepBytes = size_t(8) << 20;
template <class T>
class Scratch {
 public:
  T* get(size_t n) {
    if (n * sizeof(T) > kKeepBytes) {
      once_.reset(new T[n]);
      return once_.get();
    }
    if (n > cap_) {
      kept_.reset(new T[n]);
      cap_ = n;
    }
    return kept_.get();
  }
  void release_once() { once_.reset(); }

 private:
  std::unique_ptr<T[]> kept_, once_;
  size_t cap_ = 0;
};
template <class T>
Scratch<T>& thread_scratch() {
  static thread_local Scratch<T> s;
  return s;
}
// The replay buffers are per thread, used by one job at a time; the batch partials are the
// calling thread's.
inline Scratch<float>& replay_scratch() { return thread_scratch<float>(); }
inline Scratch<double>& partial_scratch() { return thread_scratch<double>(); }

inline int64_t round_up(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

inline int64_t num_jobs(int64_t B, int64_t N, int64_t ch) { return B * ((N + ch - 1) / ch); }
// How a call is split: the chunk width, the number of jobs and the threads that run them. The
// width is CH, halved (down to CH_MIN) only while the team would have idle threads or an uneven
// share (fewer than 4 jobs per thread, not a multiple of the team): whole rows stream best, a
// chunk of a row reads a piece of a new 4 KiB page at every step, which hardware prefetchers
// follow poorly (B 2, T 10,000, N 1024, 1 thread: forward 1.9x, backward 1.2x slower in
// 256-neuron chunks). No result depends on the split: jobs write disjoint outputs, the forward
// sums spikes per SUM_GROUP neurons and the backward keeps its partials per neuron.
struct Split {
  int64_t ch, jobs;
  int team;
};
inline Split split_of(int64_t B, int64_t N, int64_t work, int threads) {
  const int64_t want = (threads <= 1 || work < kSerialWork) ? 1 : threads;
  int64_t ch = CH;
  auto uneven = [&](int64_t j) { return j < want || (j % want != 0 && j < 4 * want); };
  while (ch > CH_MIN && want > 1 && uneven(num_jobs(B, N, ch))) ch /= 2;
  const int64_t jobs = num_jobs(B, N, ch);
  return {ch, jobs, static_cast<int>(jobs < 2 ? 1 : std::min(want, jobs))};
}

inline Job job_of(int64_t j, int64_t N, int64_t ch) {
  int64_t per = (N + ch - 1) / ch;
  Job J;
  J.b = j / per;
  J.n0 = (j % per) * ch;
  J.len = std::min<int64_t>(ch, N - J.n0);
  return J;
}

// Rows of one job are N floats apart, usually in different pages, where hardware prefetchers
// stop; fetch the rows a few steps ahead explicitly.
constexpr int64_t PD = SL_PD;  // prefetch distance in time steps
inline void prefetch_row(const float* p, int64_t len, bool write) {
  for (int64_t j = 0; j < len; j += 16) {
    if (write)
      __builtin_prefetch(p + j, 1, 3);
    else
      __builtin_prefetch(p + j, 0, 3);
  }
}

// Non-temporal ("streaming") stores for the big outputs (spikes, gradIn). A plain store first
// reads the line it writes into the cache (write-allocate): 12 bytes of traffic per element of
// x -> out instead of 8. Streaming stores write whole lines without reading them. The kernels
// compute a row into an L1 buffer and stream it out with this copy; only used when the output is
// large (SL_NT_BYTES), where it would not stay in cache for the next reader anyway.
inline void stream_row(float* __restrict dst, const float* __restrict src, int64_t len) {
  int64_t j = 0;
#if defined(__AVX__)
  for (; j < len && (reinterpret_cast<uintptr_t>(dst + j) & 31) != 0; ++j) dst[j] = src[j];
  for (; j + 8 <= len; j += 8) _mm256_stream_ps(dst + j, _mm256_loadu_ps(src + j));
#elif defined(__SSE2__)
  for (; j < len && (reinterpret_cast<uintptr_t>(dst + j) & 15) != 0; ++j) dst[j] = src[j];
  for (; j + 4 <= len; j += 4) _mm_stream_ps(dst + j, _mm_loadu_ps(src + j));
#endif
  for (; j < len; ++j) dst[j] = src[j];
}
// Streaming stores are weakly ordered: fence them before the job's results are handed over.
inline void stream_fence() {
#if defined(__SSE2__)
  _mm_sfence();
#endif
}

// Copy this job's per-neuron parameters into contiguous local arrays (scalar or per-neuron).
inline void load_param(float* dst, const float* src, int64_t stride, int64_t n0, int64_t len) {
  for (int64_t j = 0; j < len; ++j) dst[j] = src[stride * (n0 + j)];
}

// One forward time step over a job's neurons. All pointers are distinct (restrict), so the loop
// vectorises; the per-element math is the shared step code of native/core. CLIP (min_v_mem) is a
// template parameter rather than a per-lane flag: without it the loop needs neither the clip nor
// the select, a few instructions per element.
// RCP: theta has an exact reciprocal `rcp` (exact_reciprocal), so the spike count multiplies
// instead of dividing (same bits, a fraction of the cost); only for SpikeKind::Multi.
template <SpikeKind SK, bool RCP>
inline float spike_of(float u, float given, const StepParams& P, float rcp) {
  if constexpr (RCP && SK == SpikeKind::Multi)
    return spike_multi_rcp(u, rcp, P.maxSpikes);
  else
    return spike<SK>(u, given, P);
}

template <SpikeKind SK, ResetKind RK, bool SYN, bool CLIP, bool RCP>
inline void forward_step(int64_t len, const float* __restrict xt, const float* __restrict given,
                         float* __restrict st, float* __restrict v, float* __restrict iS,
                         float* __restrict u, float* __restrict acc, const float* __restrict am,
                         const float* __restrict c, const float* __restrict as, const StepParams P,
                         const float rcp) {
  const float minV = P.minV;
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) {
    float cur;
    if constexpr (SYN) {
      cur = syn_update(iS[j], xt[j], as[j]);
      iS[j] = cur;
    } else {
      cur = xt[j];
    }
    const float uu = integrate(v[j], cur, am[j], c[j]);
    float g = 0.0f;
    if constexpr (SK == SpikeKind::Given) g = given[j];
    const float s = spike_of<SK, RCP>(uu, g, P, rcp);
    const float r = reset<RK>(uu, s, P);
    if constexpr (CLIP)
      v[j] = clip_min(r, minV);
    else
      v[j] = r;
    u[j] = uu;
    st[j] = s;
    acc[j] += s;
  }
}

template <SpikeKind SK, ResetKind RK, bool SYN, bool CLIP, bool RCP>
void forward_impl(LifKernelArgs& a, int threads, float rcp) {
  const int64_t B = a.B, T = a.T, N = a.N, K = a.K;
  const int64_t nCk = num_checkpoints(T, K);
  const Split split = split_of(B, N, B * T * N, threads);
  const int64_t ch = split.ch, jobs = split.jobs;
  // Output sums per group of SUM_GROUP neurons, added up in (b, group) order: the same double
  // rounding for every chunk width and thread count (and as with the earlier fixed CH = 256).
  const int64_t groups = (N + SUM_GROUP - 1) / SUM_GROUP;
  std::vector<double> groupSum(static_cast<size_t>(B * groups), 0.0);
  const LifKernelArgs A = a;  // local copy: keeps loads out of the shared struct
  const bool nt = B * T * N * int64_t(sizeof(float)) >= SL_NT_BYTES;
  std::vector<int64_t> firstBad(A.outType == IoType::F32 ? 0 : static_cast<size_t>(jobs), -1);
  std::vector<float> firstBadV(firstBad.size(), 0.0f);

  run_jobs(jobs, split.team, [&](int64_t jb) {
    const Job J = job_of(jb, N, ch);
    const int64_t b = J.b, n0 = J.n0, len = J.len;
    const StepParams P = A.P;
    alignas(64) float v[CH], iS[CH], am[CH], c[CH], as[CH], acc[CH];
    alignas(64) float sbuf[CH], ubuf[CH];  // row staging for streaming stores; u when not wanted
    alignas(64) float xbuf[CH];            // a non-float32 input row, widened (lif_io.h)
    alignas(64) double accD[CH];
    int64_t bad = -1;  // first element of this job that a uint8 output cannot hold, and its value
    float badV = 0.0f;
    load_param(am, A.alphaMem, A.alphaMemStride, n0, len);
    for (int64_t j = 0; j < len; ++j) {
      c[j] = P.normInput ? (1.0f - am[j]) : 1.0f;
      v[j] = A.v0[b * N + n0 + j];
      acc[j] = 0.0f;
      accD[j] = 0.0;
      iS[j] = 0.0f;
      as[j] = 0.0f;
    }
    if (SYN) {
      load_param(as, A.alphaSyn, A.alphaSynStride, n0, len);
      for (int64_t j = 0; j < len; ++j) iS[j] = A.i0[b * N + n0 + j];
    }
    for (int64_t t = 0; t < T; ++t) {
      const int64_t row = (b * T + t) * N + n0;
      if ((t % K) == 0) {
        if (A.ckV) {
          float* cv = A.ckV + (b * nCk + t / K) * N + n0;
          for (int64_t j = 0; j < len; ++j) cv[j] = v[j];
          if (SYN) {
            float* ci = A.ckI + (b * nCk + t / K) * N + n0;
            for (int64_t j = 0; j < len; ++j) ci[j] = iS[j];
          }
        }
        // spike counts are summed in float for K steps, then in double (exact for counts < 2^24/K)
        for (int64_t j = 0; j < len; ++j) {
          accD[j] += acc[j];
          acc[j] = 0.0f;
        }
      }
      const bool xf = A.xType == IoType::F32, of = A.outType == IoType::F32;
      if (t + PD < T) {
        if (xf)
          prefetch_row(A.x + row + PD * N, len, false);
        else
          prefetch_io(A.xType, A.xIo, row + PD * N, len);
        if (!nt && of) prefetch_row(A.out + row + PD * N, len, true);
      }
      // u goes straight into uOut when it is wanted, else into a scratch row.
      float* st = (nt || !of) ? sbuf : A.out + row;
      forward_step<SK, RK, SYN, CLIP, RCP>(
          len, xf ? A.x + row : load_row(A.xType, A.xIo, row, xbuf, len),
          SK == SpikeKind::Given ? A.spikesGiven + row : nullptr, st, v, iS,
          A.uOut ? A.uOut + row : ubuf, acc, am, c, as, P, rcp);
      if (!of) {
        const int64_t j = store_row_u8(static_cast<uint8_t*>(A.outIo) + row, sbuf, len, nt);
        if (j >= 0 && bad < 0) {
          bad = row + j;
          badV = sbuf[j];
        }
      } else if (nt) {
        stream_row(A.out + row, sbuf, len);
      }
      if (A.recV) std::memcpy(A.recV + row, v, sizeof(float) * len);
      if (SYN && A.recI) std::memcpy(A.recI + row, iS, sizeof(float) * len);
    }
    if (nt) stream_fence();
    if (bad >= 0) {
      firstBad[jb] = bad;
      firstBadV[jb] = badV;
    }
    for (int64_t j = 0; j < len; ++j) A.v1[b * N + n0 + j] = v[j];
    if (SYN)
      for (int64_t j = 0; j < len; ++j) A.i1[b * N + n0 + j] = iS[j];
    for (int64_t g0 = 0; g0 < len; g0 += SUM_GROUP) {  // ch is a multiple of SUM_GROUP
      double sum = 0.0;
      for (int64_t j = g0; j < std::min(len, g0 + SUM_GROUP); ++j) sum += accD[j] + acc[j];
      groupSum[b * groups + (n0 + g0) / SUM_GROUP] = sum;
    }
  });
  double total = 0.0;
  for (double g : groupSum) total += g;
  a.spikeSum = total;
  // the smallest element index that did not fit, whatever job (thread) met it
  a.outBad = -1;
  for (size_t k = 0; k < firstBad.size(); ++k)
    if (firstBad[k] >= 0 && (a.outBad < 0 || firstBad[k] < a.outBad)) {
      a.outBad = firstBad[k];
      a.outBadValue = firstBadV[k];
    }
}

// Replay of one step in the backward: the forward step again (same step functions, same bits),
// keeping the adjoint factor A, sigma and the parameter-gradient factors P (alpha_m) and
// Q (alpha_s) of the step.
template <SpikeKind SK, ResetKind RK, SurrKind SS, bool SYN, bool CLIP, bool RCP>
inline void replay_step(int64_t len, const float* __restrict xt, const float* __restrict gsp,
                        const float* __restrict gsg, float* __restrict v, float* __restrict iS,
                        float* __restrict Ar, float* __restrict Sr, float* __restrict Pr,
                        float* __restrict Qr, const float* __restrict am, const float* __restrict c,
                        const float* __restrict as, const float* __restrict nflag,
                        const StepParams P, const SurrParams Q, const float rcp) {
  // The norm_input switch is a per-lane flag, not a loop-invariant bool: GCC 12 does not
  // vectorise a select on an invariant bool inside this loop. min_v_mem is the template
  // parameter CLIP (as in forward_step): most layers have none, and the clip, its mask and the
  // selects were a quarter of this loop's instructions.
  const float theta = P.theta, minV = P.minV;
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) {
    float cur;
    if constexpr (SYN) {
      const float pre = syn_pre(iS[j], xt[j]);
      Qr[j] = pre;
      cur = syn_decay(pre, as[j]);
      iS[j] = cur;
    } else {
      cur = xt[j];
    }
    const float vp = v[j];
    const float uu = integrate(vp, cur, am[j], c[j]);
    float g1 = 0.0f, g2 = 0.0f;
    if constexpr (SK == SpikeKind::Given) g1 = gsp[j];
    if constexpr (SS == SurrKind::Given && SK != SpikeKind::None) g2 = gsg[j];
    const float s = spike_of<SK, RCP>(uu, g1, P, rcp);
    const float r = reset<RK>(uu, s, P);
    float cm = 1.0f;
    if constexpr (CLIP) {
      cm = clip_mask(r, minV);
      v[j] = clip_min(r, minV);
    } else {
      v[j] = r;
    }
    float sg = 1.0f;  // no spike function: the output is u itself
    if constexpr (SK != SpikeKind::None) sg = surrogate<SS>(uu, g2, theta, Q);
    Ar[j] = adjoint_factor<RK>(sg, s, cm, P);
    Sr[j] = sg;
    Pr[j] = nflag[j] > 0.0f ? (vp - cur) : vp;
  }
}

// One reverse step: the adjoint recurrence of the specification (docs/semantics.md §7).
template <bool SYN>
inline void reverse_step(int64_t len, const float* __restrict gt, float* __restrict gx,
                         const float* __restrict Ar, const float* __restrict Sr,
                         const float* __restrict Pr, const float* __restrict Qr,
                         float* __restrict gv, float* __restrict gi, float* __restrict pmf,
                         float* __restrict psf, const float* __restrict am,
                         const float* __restrict c, const float* __restrict as) {
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) {
    float gvj = gv[j];
    const float gu = adjoint_mem(gvj, gt[j], Ar[j], Sr[j], am[j]);
    gv[j] = gvj;
    pmf[j] += gu * Pr[j];
    const float cg = c[j] * gu;
    if constexpr (SYN) {
      const float gin = cg + gi[j];
      gx[j] = as[j] * gin;
      psf[j] += gin * Qr[j];
      gi[j] = flush_tiny(as[j] * gin);
    } else {
      gx[j] = cg;
    }
  }
}

// Backward: for each job, walk the checkpoint chunks from last to first: replay the chunk from its
// checkpoint, then run the O(T) reverse recurrence over it. Parameter-gradient terms are summed
// per neuron in float within a chunk (at most K terms), then in double.
//
// Memory traffic: the replay reads x rows t0..t1-1, the reverse reads gradOut and writes gradIn
// rows t1-1..t0. The software prefetches run PD rows ahead and continue across the phase
// boundaries (the last replay steps fetch the first gradOut rows of the reverse, the last reverse
// steps fetch the first x rows of the previous chunk's replay), so the memory stream never
// drains; the reverse walks rows downwards, which hardware prefetchers follow poorly.
template <SpikeKind SK, ResetKind RK, SurrKind SS, bool SYN, bool CLIP, bool RCP>
void backward_impl(LifKernelArgs& a, int threads, float rcp) {
  const int64_t B = a.B, T = a.T, N = a.N, K = a.K;
  const int64_t nCk = num_checkpoints(T, K);
  const Split split = split_of(B, N, B * T * N, threads);
  const int64_t ch = split.ch, jobs = split.jobs;
  // Per-neuron partials of the parameter gradients, (B, N) each, reduced over the batch below;
  // every element is written by exactly one job.
  Scratch<double>& partials = partial_scratch();
  double* const partM = partials.get(static_cast<size_t>(B * N * (SYN ? 2 : 1)));
  double* const partS = SYN ? partM + B * N : nullptr;
  const LifKernelArgs A = a;
  const bool nt = B * T * N * int64_t(sizeof(float)) >= SL_NT_BYTES;
  // Replay buffers: K steps of `ld` floats each for A, sigma, P (and Q with a synapse).
  const int64_t ld = std::min(ch, round_up(N, 16));
  const int64_t nbuf = SYN ? 4 : 3;

  run_jobs(jobs, split.team, [&](int64_t jb) {
    const Job J = job_of(jb, N, ch);
    const int64_t b = J.b, n0 = J.n0, len = J.len;
    const StepParams P = A.P;
    const SurrParams Q = A.Q;
    Scratch<float>& scratch = replay_scratch();
    float* const bufA = scratch.get(static_cast<size_t>(nbuf * K * ld));
    float* const bufS = bufA + K * ld;
    float* const bufP = bufS + K * ld;
    float* const bufQ = SYN ? bufP + K * ld : nullptr;
    alignas(64) float v[CH], iS[CH], am[CH], c[CH], as[CH], gv[CH], gi[CH], pmf[CH], psf[CH];
    alignas(64) float nflag[CH], gxbuf[CH];
    alignas(64) double pm[CH], ps[CH];
    load_param(am, A.alphaMem, A.alphaMemStride, n0, len);
    for (int64_t j = 0; j < len; ++j) {
      nflag[j] = P.normInput ? 1.0f : 0.0f;
      c[j] = P.normInput ? (1.0f - am[j]) : 1.0f;
      gv[j] = A.gvEnd ? A.gvEnd[b * N + n0 + j] : 0.0f;
      gi[j] = 0.0f;
      iS[j] = 0.0f;
      as[j] = 0.0f;
      pm[j] = ps[j] = 0.0;
    }
    if (SYN) {
      load_param(as, A.alphaSyn, A.alphaSynStride, n0, len);
      if (A.giEnd)
        for (int64_t j = 0; j < len; ++j) gi[j] = A.giEnd[b * N + n0 + j];
    }
    const int64_t base = b * T * N + n0;  // row t of this job starts at base + t * N
    for (int64_t k = nCk - 1; k >= 0; --k) {
      const int64_t t0 = k * K, t1 = std::min(T, t0 + K);
      std::memcpy(v, A.ckV + (b * nCk + k) * N + n0, sizeof(float) * len);
      if (SYN) std::memcpy(iS, A.ckI + (b * nCk + k) * N + n0, sizeof(float) * len);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t row = base + t * N, o = (t - t0) * ld;
        const int64_t ahead = t + PD;  // the step whose rows we fetch now
        if (ahead < t1) {
          prefetch_row(A.x + base + ahead * N, len, false);
        } else if (t1 - 1 - (ahead - t1) >= t0) {
          // the reverse starts at t1 - 1 and walks down
          const int64_t r = base + (t1 - 1 - (ahead - t1)) * N;
          prefetch_row(A.gradOut + r, len, false);
          if (!nt) prefetch_row(A.gradIn + r, len, true);
        }
        replay_step<SK, RK, SS, SYN, CLIP, RCP>(
            len, A.x + row, SK == SpikeKind::Given ? A.spikesGiven + row : nullptr,
            (SS == SurrKind::Given && SK != SpikeKind::None) ? A.sigmaGiven + row : nullptr, v, iS,
            bufA + o, bufS + o, bufP + o, SYN ? bufQ + o : bufP, am, c, as, nflag, P, Q, rcp);
      }
      for (int64_t j = 0; j < len; ++j) pmf[j] = psf[j] = 0.0f;
      for (int64_t t = t1 - 1; t >= t0; --t) {
        const int64_t row = base + t * N, o = (t - t0) * ld;
        const int64_t ahead = t - PD;
        if (ahead >= t0) {
          prefetch_row(A.gradOut + base + ahead * N, len, false);
          if (!nt) prefetch_row(A.gradIn + base + ahead * N, len, true);
        } else if (k > 0 && t0 - ahead <= K) {
          // the replay of chunk k - 1 starts at t0 - K and walks up
          prefetch_row(A.x + base + (t0 - K + (t0 - ahead) - 1) * N, len, false);
        }
        float* gx = nt ? gxbuf : A.gradIn + row;
        reverse_step<SYN>(len, A.gradOut + row, gx, bufA + o, bufS + o, bufP + o,
                          SYN ? bufQ + o : bufP, gv, gi, pmf, psf, am, c, as);
        if (nt) stream_row(A.gradIn + row, gxbuf, len);
      }
      for (int64_t j = 0; j < len; ++j) {
        pm[j] += pmf[j];
        ps[j] += psf[j];
      }
    }
    if (nt) stream_fence();
    for (int64_t j = 0; j < len; ++j) {
      A.gvStart[b * N + n0 + j] = gv[j];
      partM[b * N + n0 + j] = pm[j];
    }
    if (SYN)
      for (int64_t j = 0; j < len; ++j) {
        A.giStart[b * N + n0 + j] = gi[j];
        partS[b * N + n0 + j] = ps[j];
      }
    scratch.release_once();
  });
  // Fixed-order reduction over the batch, in double.
  for (int64_t n = 0; n < N; ++n) {
    double sm = 0.0, ss = 0.0;
    for (int64_t b = 0; b < B; ++b) {
      sm += partM[b * N + n];
      if (SYN) ss += partS[b * N + n];
    }
    a.gAlphaMem[n] = sm;
    if (SYN) a.gAlphaSyn[n] = ss;
  }
  partials.release_once();
}

}  // namespace

// Dispatch once per call (never per element): the kinds come from native/core/dispatch.h, shared
// with the CUDA launch and its emulation; the min_v_mem clip is one more compile-time switch here.
void lif_forward_for_isa(LifKernelArgs& a, int threads) {
  const float rcp = exact_reciprocal(a.P.theta);
  dispatch_forward(a, [&](auto sk, auto rk, auto syn) {
    constexpr SpikeKind SK = decltype(sk)::value;
    constexpr ResetKind RK = decltype(rk)::value;
    constexpr bool SYN = decltype(syn)::value;
    auto run = [&](auto clip) {
      constexpr bool CLIP = decltype(clip)::value;
      if constexpr (SK == SpikeKind::Multi) {
        if (rcp != 0.0f) return forward_impl<SK, RK, SYN, CLIP, true>(a, threads, rcp);
      }
      forward_impl<SK, RK, SYN, CLIP, false>(a, threads, rcp);
    };
    if (a.P.hasMin)
      run(std::true_type{});
    else
      run(std::false_type{});
  });
}

void lif_backward_for_isa(LifKernelArgs& a, int threads) {
  const float rcp = exact_reciprocal(a.P.theta);
  dispatch_backward(a, [&](auto sk, auto rk, auto ss, auto syn) {
    constexpr SpikeKind SK = decltype(sk)::value;
    constexpr ResetKind RK = decltype(rk)::value;
    constexpr SurrKind SS = decltype(ss)::value;
    constexpr bool SYN = decltype(syn)::value;
    auto run = [&](auto clip) {
      constexpr bool CLIP = decltype(clip)::value;
      if constexpr (SK == SpikeKind::Multi) {
        if (rcp != 0.0f) return backward_impl<SK, RK, SS, SYN, CLIP, true>(a, threads, rcp);
      }
      backward_impl<SK, RK, SS, SYN, CLIP, false>(a, threads, rcp);
    };
    if (a.P.hasMin)
      run(std::true_type{});
    else
      run(std::false_type{});
  });
}

}  // namespace SL_CPU_ISA
}  // namespace sl
