// CPU emulation of the CUDA kernels' launch (see native/core/lif_thread.h).
#pragma once

#include "core/lif_args.h"

namespace sl {

// Same contract as lif_forward_cpu / lif_backward_cpu; requires K <= kMaxChunk.
void lif_forward_emulated(LifKernelArgs& a, int threads);
void lif_backward_emulated(LifKernelArgs& a, int threads);

}  // namespace sl
