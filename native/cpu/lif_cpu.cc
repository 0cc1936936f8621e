// OpenMP + SIMD kernels. Work is split into jobs of (batch entry, chunk of CH neurons); each
// job runs the time loop with an inner `omp simd` loop over its neurons, so its state lives in
// L1. Jobs never share output elements, and per-neuron reductions run in a fixed order after
// the parallel region: results are bit-identical for any thread count.
#include "cpu/lif_cpu.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <vector>

namespace sl {
namespace {

constexpr int64_t CH = 64;  // neurons per job (state arrays of 64 floats stay in L1)

struct Job {
  int64_t b, n0, len;
};

inline int64_t num_jobs(int64_t B, int64_t N) { return B * ((N + CH - 1) / CH); }
inline Job job_of(int64_t j, int64_t N) {
  int64_t per = (N + CH - 1) / CH;
  Job J;
  J.b = j / per;
  J.n0 = (j % per) * CH;
  J.len = std::min<int64_t>(CH, N - J.n0);
  return J;
}

// Copy this job's per-neuron parameters into contiguous local arrays (scalar or per-neuron).
inline void load_param(float* dst, const float* src, int64_t stride, int64_t n0, int64_t len) {
  for (int64_t j = 0; j < len; ++j) dst[j] = src[stride * (n0 + j)];
}

template <SpikeKind SK, ResetKind RK, bool SYN>
void forward_impl(LifKernelArgs& a, int threads) {
  const int64_t B = a.B, T = a.T, N = a.N, K = a.K;
  const int64_t nCk = num_checkpoints(T, K);
  const int64_t jobs = num_jobs(B, N);
  std::vector<double> jobSum(static_cast<size_t>(jobs), 0.0);
  const LifKernelArgs A = a;  // local copy: keeps loads out of the shared struct

#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t jb = 0; jb < jobs; ++jb) {
    const Job J = job_of(jb, N);
    const int64_t b = J.b, n0 = J.n0, len = J.len;
    const StepParams P = A.P;
    const float minV = P.minV;
    const bool hasMin = P.hasMin;
    alignas(64) float v[CH], iS[CH], am[CH], c[CH], as[CH], u[CH];
    alignas(64) double acc[CH];
    load_param(am, A.alphaMem, A.alphaMemStride, n0, len);
    for (int64_t j = 0; j < len; ++j) {
      c[j] = P.normInput ? (1.0f - am[j]) : 1.0f;
      v[j] = A.v0[b * N + n0 + j];
      acc[j] = 0.0;
    }
    if (SYN) {
      load_param(as, A.alphaSyn, A.alphaSynStride, n0, len);
      for (int64_t j = 0; j < len; ++j) iS[j] = A.i0[b * N + n0 + j];
    }
    for (int64_t t = 0; t < T; ++t) {
      const int64_t row = (b * T + t) * N + n0;
      if (A.ckV && (t % K) == 0) {
        float* cv = A.ckV + (b * nCk + t / K) * N + n0;
        for (int64_t j = 0; j < len; ++j) cv[j] = v[j];
        if (SYN) {
          float* ci = A.ckI + (b * nCk + t / K) * N + n0;
          for (int64_t j = 0; j < len; ++j) ci[j] = iS[j];
        }
      }
      const float* __restrict xt = A.x + row;
      float* __restrict st = A.out + row;
      const float* __restrict gs = (SK == SpikeKind::Given) ? A.spikesGiven + row : nullptr;
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
        if constexpr (SK == SpikeKind::Given) g = gs[j];
        const float s = spike<SK>(uu, g, P);
        const float r = reset<RK>(uu, s, P);
        const float cl = clip_min(r, minV);
        v[j] = hasMin ? cl : r;
        u[j] = uu;
        st[j] = s;
        acc[j] += static_cast<double>(s);
      }
      if (A.uOut) {
        float* uo = A.uOut + row;
        for (int64_t j = 0; j < len; ++j) uo[j] = u[j];
      }
      if (A.recV) {
        float* rv = A.recV + row;
        for (int64_t j = 0; j < len; ++j) rv[j] = v[j];
      }
      if (SYN && A.recI) {
        float* ri = A.recI + row;
        for (int64_t j = 0; j < len; ++j) ri[j] = iS[j];
      }
    }
    double sum = 0.0;
    for (int64_t j = 0; j < len; ++j) {
      A.v1[b * N + n0 + j] = v[j];
      sum += acc[j];
    }
    if (SYN)
      for (int64_t j = 0; j < len; ++j) A.i1[b * N + n0 + j] = iS[j];
    jobSum[jb] = sum;
  }
  double total = 0.0;
  for (int64_t jb = 0; jb < jobs; ++jb) total += jobSum[jb];
  a.spikeSum = total;
}

// Backward: for each job, walk the checkpoint chunks from last to first. Replay the chunk
// forward from its checkpoint (the same step functions as the forward, so the same bits),
// keeping per step the adjoint factor A, sigma and the parameter-gradient factors; then run the
// O(T) reverse recurrence over the chunk.
template <SpikeKind SK, ResetKind RK, SurrKind SS, bool SYN>
void backward_impl(LifKernelArgs& a, int threads) {
  const int64_t B = a.B, T = a.T, N = a.N, K = a.K;
  const int64_t nCk = num_checkpoints(T, K);
  const int64_t jobs = num_jobs(B, N);
  std::vector<double> partM(static_cast<size_t>(B * N), 0.0);
  std::vector<double> partS(SYN ? static_cast<size_t>(B * N) : 0, 0.0);
  const LifKernelArgs A = a;

#pragma omp parallel num_threads(threads)
  {
    // Per-thread replay buffers, K x CH each.
    std::unique_ptr<float[]> bufA(new float[K * CH]), bufS(new float[K * CH]),
        bufP(new float[K * CH]), bufQ(new float[SYN ? K * CH : 1]);
#pragma omp for schedule(static)
    for (int64_t jb = 0; jb < jobs; ++jb) {
      const Job J = job_of(jb, N);
      const int64_t b = J.b, n0 = J.n0, len = J.len;
      const StepParams P = A.P;
      const SurrParams Q = A.Q;
      const float theta = P.theta, minV = P.minV;
      const bool hasMin = P.hasMin, norm = P.normInput;
      alignas(64) float v[CH], iS[CH], am[CH], c[CH], as[CH], gv[CH], gi[CH];
      alignas(64) double pm[CH], ps[CH];
      load_param(am, A.alphaMem, A.alphaMemStride, n0, len);
      for (int64_t j = 0; j < len; ++j) {
        c[j] = norm ? (1.0f - am[j]) : 1.0f;
        gv[j] = A.gvEnd ? A.gvEnd[b * N + n0 + j] : 0.0f;
        pm[j] = 0.0;
      }
      if (SYN) {
        load_param(as, A.alphaSyn, A.alphaSynStride, n0, len);
        for (int64_t j = 0; j < len; ++j) {
          gi[j] = A.giEnd ? A.giEnd[b * N + n0 + j] : 0.0f;
          ps[j] = 0.0;
        }
      }
      float* __restrict Ab = bufA.get();
      float* __restrict Sb = bufS.get();
      float* __restrict Pb = bufP.get();
      float* __restrict Qb = bufQ.get();
      for (int64_t k = nCk - 1; k >= 0; --k) {
        const int64_t t0 = k * K, t1 = std::min(T, t0 + K);
        const float* cv = A.ckV + (b * nCk + k) * N + n0;
        for (int64_t j = 0; j < len; ++j) v[j] = cv[j];
        if (SYN) {
          const float* ci = A.ckI + (b * nCk + k) * N + n0;
          for (int64_t j = 0; j < len; ++j) iS[j] = ci[j];
        }
        // replay
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t row = (b * T + t) * N + n0;
          const float* __restrict xt = A.x + row;
          const float* __restrict gsp = (SK == SpikeKind::Given) ? A.spikesGiven + row : nullptr;
          const float* __restrict gsg =
              (SS == SurrKind::Given && SK != SpikeKind::None) ? A.sigmaGiven + row : nullptr;
          float* __restrict Ar = Ab + (t - t0) * CH;
          float* __restrict Sr = Sb + (t - t0) * CH;
          float* __restrict Pr = Pb + (t - t0) * CH;
          float* __restrict Qr = Qb + (SYN ? (t - t0) * CH : 0);
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
            const float s = spike<SK>(uu, g1, P);
            const float r = reset<RK>(uu, s, P);
            const float cm = hasMin ? clip_mask(r, minV) : 1.0f;
            const float cl = clip_min(r, minV);
            v[j] = hasMin ? cl : r;
            const float sg = (SK == SpikeKind::None) ? 1.0f : surrogate<SS>(uu, g2, theta, Q);
            Ar[j] = adjoint_factor<RK>(sg, s, cm, P);
            Sr[j] = sg;
            Pr[j] = norm ? (vp - cur) : vp;
          }
        }
        // reverse
        for (int64_t t = t1 - 1; t >= t0; --t) {
          const int64_t row = (b * T + t) * N + n0;
          const float* __restrict gt = A.gradOut + row;
          float* __restrict gx = A.gradIn + row;
          const float* __restrict Ar = Ab + (t - t0) * CH;
          const float* __restrict Sr = Sb + (t - t0) * CH;
          const float* __restrict Pr = Pb + (t - t0) * CH;
          const float* __restrict Qr = Qb + (SYN ? (t - t0) * CH : 0);
#pragma omp simd
          for (int64_t j = 0; j < len; ++j) {
            float gvj = gv[j];
            const float gu = adjoint_mem(gvj, gt[j], Ar[j], Sr[j], am[j]);
            gv[j] = gvj;
            pm[j] += static_cast<double>(gu * Pr[j]);
            const float cg = c[j] * gu;
            if constexpr (SYN) {
              const float gin = cg + gi[j];
              gx[j] = as[j] * gin;
              ps[j] += static_cast<double>(gin * Qr[j]);
              gi[j] = flush_tiny(as[j] * gin);
            } else {
              gx[j] = cg;
            }
          }
        }
      }
      for (int64_t j = 0; j < len; ++j) {
        A.gvStart[b * N + n0 + j] = gv[j];
        partM[b * N + n0 + j] = pm[j];
      }
      if (SYN)
        for (int64_t j = 0; j < len; ++j) {
          A.giStart[b * N + n0 + j] = gi[j];
          partS[b * N + n0 + j] = ps[j];
        }
    }
  }
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
}

// ---- dispatch (once per call, never per element) ----------------------------------------------
template <SpikeKind SK, ResetKind RK>
void forward_syn(LifKernelArgs& a, int th) {
  if (a.hasSyn)
    forward_impl<SK, RK, true>(a, th);
  else
    forward_impl<SK, RK, false>(a, th);
}
template <SpikeKind SK>
void forward_reset(LifKernelArgs& a, int th) {
  switch (a.reset) {
    case ResetKind::Subtract: return forward_syn<SK, ResetKind::Subtract>(a, th);
    case ResetKind::Reset: return forward_syn<SK, ResetKind::Reset>(a, th);
    case ResetKind::None: return forward_syn<SK, ResetKind::None>(a, th);
  }
}

template <SpikeKind SK, ResetKind RK, SurrKind SS>
void backward_syn(LifKernelArgs& a, int th) {
  if (a.hasSyn)
    backward_impl<SK, RK, SS, true>(a, th);
  else
    backward_impl<SK, RK, SS, false>(a, th);
}
template <SpikeKind SK, ResetKind RK>
void backward_surr(LifKernelArgs& a, int th) {
  if constexpr (SK == SpikeKind::None) {
    return backward_syn<SK, RK, SurrKind::Given>(a, th);  // sigma is not used
  } else {
    switch (a.surr) {
      case SurrKind::SingleExponential: return backward_syn<SK, RK, SurrKind::SingleExponential>(a, th);
      case SurrKind::Heaviside: return backward_syn<SK, RK, SurrKind::Heaviside>(a, th);
      case SurrKind::Gaussian: return backward_syn<SK, RK, SurrKind::Gaussian>(a, th);
      case SurrKind::MultiGaussian: return backward_syn<SK, RK, SurrKind::MultiGaussian>(a, th);
      case SurrKind::PeriodicExponential:
        return backward_syn<SK, RK, SurrKind::PeriodicExponential>(a, th);
      case SurrKind::Given: return backward_syn<SK, RK, SurrKind::Given>(a, th);
    }
  }
}
template <SpikeKind SK>
void backward_reset(LifKernelArgs& a, int th) {
  switch (a.reset) {
    case ResetKind::Subtract: return backward_surr<SK, ResetKind::Subtract>(a, th);
    case ResetKind::Reset: return backward_surr<SK, ResetKind::Reset>(a, th);
    case ResetKind::None: return backward_surr<SK, ResetKind::None>(a, th);
  }
}

}  // namespace

void lif_forward_cpu(LifKernelArgs& a, int threads) {
  switch (a.spike) {
    case SpikeKind::Multi: return forward_reset<SpikeKind::Multi>(a, threads);
    case SpikeKind::Single: return forward_reset<SpikeKind::Single>(a, threads);
    case SpikeKind::Given: return forward_reset<SpikeKind::Given>(a, threads);
    case SpikeKind::None: return forward_syn<SpikeKind::None, ResetKind::None>(a, threads);
  }
}

void lif_backward_cpu(LifKernelArgs& a, int threads) {
  switch (a.spike) {
    case SpikeKind::Multi: return backward_reset<SpikeKind::Multi>(a, threads);
    case SpikeKind::Single: return backward_reset<SpikeKind::Single>(a, threads);
    case SpikeKind::Given: return backward_reset<SpikeKind::Given>(a, threads);
    case SpikeKind::None: return backward_surr<SpikeKind::None, ResetKind::None>(a, threads);
  }
}

double triad_bandwidth_gbs(int64_t bytesPerArray, int reps, int threads) {
  const int64_t n = std::max<int64_t>(1024, bytesPerArray / 4);
  std::unique_ptr<float[]> x(new float[n]), y(new float[n]), z(new float[n]);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) {
    x[i] = 0.0f;
    y[i] = 1.0f;
    z[i] = 2.0f;
  }
  double best = 0.0;
  for (int r = 0; r < std::max(1, reps); ++r) {
    auto t0 = std::chrono::steady_clock::now();
    float* __restrict xp = x.get();
    const float* __restrict yp = y.get();
    const float* __restrict zp = z.get();
#pragma omp parallel for simd schedule(static) num_threads(threads)
    for (int64_t i = 0; i < n; ++i) xp[i] = yp[i] + 3.0f * zp[i];
    auto t1 = std::chrono::steady_clock::now();
    double sec = std::chrono::duration<double>(t1 - t0).count();
    double gbs = 12.0 * static_cast<double>(n) / sec / 1e9;
    best = std::max(best, gbs);
  }
  volatile float sink = x[n / 2];
  (void)sink;
  return best;
}

double sum_fixed_order(const float* p, int64_t n, int threads) {
  const int64_t blk = 4096;
  const int64_t nb = (n + blk - 1) / blk;
  std::vector<double> part(static_cast<size_t>(nb), 0.0);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t k = 0; k < nb; ++k) {
    double s = 0.0;
    const int64_t e = std::min(n, (k + 1) * blk);
    for (int64_t i = k * blk; i < e; ++i) s += p[i];
    part[k] = s;
  }
  double s = 0.0;
  for (double v : part) s += v;
  return s;
}

}  // namespace sl
