// CPU emulation of the CUDA launch of the tensor operations: the per-thread functions of
// core/ops_thread.h over the same grid (blocks x threads, global index) as cuda/ops_cuda.cu.
#include "core/ops_thread.h"

namespace sl {

void ops_run_emulated(const OpCall& c, int threads) {
  const int64_t work = op_work(c);
  if (work <= 0) return;
  const Grid g = grid_for(work);
  dispatch_op(c.kind, [&](auto k) {
    constexpr OpKind K = decltype(k)::value;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t blk = 0; blk < g.blocks; ++blk)
      for (int th = 0; th < g.threads; ++th) op_thread<K>(c, global_index(blk, th, g.threads));
  });
}

}  // namespace sl
