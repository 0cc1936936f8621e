// CPU emulation of the CUDA launch: the very per-thread functions of native/core/lif_thread.h,
// called over the same grid (blocks x threads) as the CUDA kernels, followed by the same
// fixed-order reductions. Used by the test suite to check the GPU kernels' code on every run.
#include "cpu/emulated.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/dispatch.h"
#include "core/lif_thread.h"

namespace sl {
namespace {

// Runs fn(block, thread, blockDim) for every thread of the grid, blocks in parallel.
template <class Fn>
void launch(Grid g, int threads, Fn&& fn) {
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t blk = 0; blk < g.blocks; ++blk)
    for (int th = 0; th < g.threads; ++th)
      fn(blk, static_cast<int64_t>(th), static_cast<int64_t>(g.threads));
}

// The same with a block-wide buffer of `shFloats` floats, the emulation of the backward's dynamic
// shared memory: the threads of a block run one after another on their block's buffer, which is
// filled with NaN before each block (device shared memory starts undefined, so a value read
// before it is written shows up in the results).
template <class Fn>
void launch_shared(Grid g, int64_t shFloats, int threads, Fn&& fn) {
#pragma omp parallel num_threads(threads)
  {
    std::vector<float> sh(static_cast<size_t>(shFloats));
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < g.blocks; ++blk) {
      std::fill(sh.begin(), sh.end(), std::numeric_limits<float>::quiet_NaN());
      for (int th = 0; th < g.threads; ++th)
        fn(blk, static_cast<int64_t>(th), static_cast<int64_t>(g.threads), sh.data());
    }
  }
}

}  // namespace

void lif_forward_emulated(LifKernelArgs& a, int threads) {
  const int64_t BN = a.B * a.N;
  std::vector<double> partSpikes(static_cast<size_t>(BN)), perNeuron(static_cast<size_t>(a.N));
  LifKernelArgs A = a;
  A.partSpikes = partSpikes.data();
  dispatch_forward(A, [&](auto sk, auto rk, auto syn) {
    launch(lif_grid(BN, kReferenceSms, kMaxForwardThreads), threads,
           [&](int64_t blk, int64_t th, int64_t dim) {
             forward_thread<decltype(sk)::value, decltype(rk)::value, decltype(syn)::value>(
                 A, blk, th, dim);
           });
  });
  launch(lif_grid(a.N, kReferenceSms, kMaxForwardThreads), threads,
         [&](int64_t blk, int64_t th, int64_t dim) {
           reduce_batch_thread(partSpikes.data(), a.B, a.N, perNeuron.data(), blk, th, dim);
         });
  double s = 0.0;
  for (double v : perNeuron) s += v;
  a.spikeSum = s;
}

void lif_backward_emulated(LifKernelArgs& a, int threads) {
  const int64_t BN = a.B * a.N;
  std::vector<double> partM(static_cast<size_t>(BN)), partS(a.hasSyn ? static_cast<size_t>(BN) : 0);
  LifKernelArgs A = a;
  A.partM = partM.data();
  A.partS = a.hasSyn ? partS.data() : nullptr;
  const Grid grid = lif_grid(BN, kReferenceSms, kMaxBackwardThreads);
  dispatch_backward(A, [&](auto sk, auto rk, auto ss, auto syn) {
    launch_shared(grid, replay_floats(A, grid.threads), threads,
                  [&](int64_t blk, int64_t th, int64_t dim, float* sh) {
                    backward_thread<decltype(sk)::value, decltype(rk)::value, decltype(ss)::value,
                                    decltype(syn)::value>(A, blk, th, dim, sh);
                  });
  });
  launch(lif_grid(a.N, kReferenceSms, kMaxForwardThreads), threads,
         [&](int64_t blk, int64_t th, int64_t dim) {
           reduce_batch_thread(partM.data(), a.B, a.N, a.gAlphaMem, blk, th, dim);
           if (a.hasSyn) reduce_batch_thread(partS.data(), a.B, a.N, a.gAlphaSyn, blk, th, dim);
         });
}

}  // namespace sl
