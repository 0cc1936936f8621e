// CPU path of the tensor operations: the per-thread functions of core/ops_thread.h in OpenMP
// loops. Each work item writes only its own outputs, so the result is the same for any thread
// count (and the same as the emulated CUDA launch, which runs the same functions).
#include "core/ops_thread.h"

namespace sl {

void ops_run_cpu(const OpCall& c, int threads) {
  const int64_t work = op_work(c);
  if (work <= 0) return;
  dispatch_op(c.kind, [&](auto k) {
    constexpr OpKind K = decltype(k)::value;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int64_t i = 0; i < work; ++i) op_thread<K>(c, i);
  });
}

}  // namespace sl
