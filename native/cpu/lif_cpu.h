// CPU (OpenMP + SIMD) kernels of the LIF family. Plain data in, plain data out: the N-API
// layer owns argument checking and memory.
#pragma once

#include <cstdint>

#include "core/lif_args.h"

namespace sl {

// The LIF kernels of the kernel build chosen for this CPU (cpu_dispatch.cc dispatches to
// lif_forward_for_isa / lif_backward_for_isa of one build of lif_cpu.cc).
void lif_forward_cpu(LifKernelArgs& a, int threads);
void lif_backward_cpu(LifKernelArgs& a, int threads);

// The kernel build chosen at run time for this CPU ("x86-64-v4", "x86-64-v3", "x86-64-v2" or
// "generic"); SPIKELAYERS_CPU_ISA forces a lower one.
const char* cpu_isa_name();

// A STREAM-like triad (a = b + s*c) over `bytesPerArray`, best of `reps`, in GB/s (bytes read and
// written as STREAM counts them: 12 bytes per float element).
double triad_bandwidth_gbs(int64_t bytesPerArray, int reps, int threads);

}  // namespace sl
