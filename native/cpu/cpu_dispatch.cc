// Run-time choice of the CPU kernel build (generic x86-64, x86-64-v2 with SSE4.1, x86-64-v3 with
// AVX2, x86-64-v4 with AVX-512), plus the bandwidth probe. The variants compute the same bits: the
// kernels use no FMA contraction and only IEEE operations.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cpu/lif_cpu.h"

namespace sl {

#define SL_DECLARE_ISA(ns)                                  \
  namespace ns {                                            \
  void lif_forward_for_isa(LifKernelArgs& a, int threads);  \
  void lif_backward_for_isa(LifKernelArgs& a, int threads); \
  }
SL_DECLARE_ISA(isa_generic)
#if SL_CPU_X86_VARIANTS
SL_DECLARE_ISA(isa_v2)
SL_DECLARE_ISA(isa_v3)
SL_DECLARE_ISA(isa_v4)
#endif

namespace {

struct Isa {
  const char* name;
  void (*fwd)(LifKernelArgs&, int);
  void (*bwd)(LifKernelArgs&, int);
};

Isa pick() {
  const Isa generic{"generic", isa_generic::lif_forward_for_isa, isa_generic::lif_backward_for_isa};
#if SL_CPU_X86_VARIANTS
  const Isa v2{"x86-64-v2", isa_v2::lif_forward_for_isa, isa_v2::lif_backward_for_isa};
  const Isa v3{"x86-64-v3", isa_v3::lif_forward_for_isa, isa_v3::lif_backward_for_isa};
  const Isa v4{"x86-64-v4", isa_v4::lif_forward_for_isa, isa_v4::lif_backward_for_isa};
  __builtin_cpu_init();
  const bool hasV2 = __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt");
  const bool hasV3 = hasV2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                     __builtin_cpu_supports("bmi2");
  const bool hasV4 = hasV3 && __builtin_cpu_supports("avx512f") &&
                     __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
                     __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  const char* want = std::getenv("SPIKELAYERS_CPU_ISA");
  if (want && *want) {
    std::string w(want);
    if (w == "generic") return generic;
    if (w == "x86-64-v2" && hasV2) return v2;
    if (w == "x86-64-v3" && hasV3) return v3;
    if (w == "x86-64-v4" && hasV4) return v4;
  }
  if (hasV4) return v4;
  if (hasV3) return v3;
  if (hasV2) return v2;
#endif
  return generic;
}

const Isa& isa() {
  static const Isa chosen = pick();
  return chosen;
}

}  // namespace

const char* cpu_isa_name() { return isa().name; }

void lif_forward_cpu(LifKernelArgs& a, int threads) { isa().fwd(a, threads); }
void lif_backward_cpu(LifKernelArgs& a, int threads) { isa().bwd(a, threads); }

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

}  // namespace sl
