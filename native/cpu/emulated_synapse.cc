// Placeholder until the per-thread kernels land: every emulated synaptic operation throws.
#include "cpu/emulated_synapse.h"

#include <stdexcept>

namespace sl {
namespace {
[[noreturn]] void missing() { throw std::runtime_error("emulated synaptic kernels are not implemented yet"); }
}  // namespace
void gemm_emulated(const GemmArgs&, int) { missing(); }
void im2col_emulated(const Im2colArgs&, int) { missing(); }
void col2im_emulated(const Im2colArgs&, int) { missing(); }
void transpose_emulated(const TransposeArgs&, int) { missing(); }
void sum_rows_emulated(const SumRowsArgs&, int) { missing(); }
}  // namespace sl
