// Turns the run-time kinds of a call into template arguments, once per call (never per element).
// `f` receives std::integral_constant tags: f(spike, reset, syn) for the forward,
// f(spike, reset, surrogate, syn) for the backward.
#pragma once

#include <type_traits>

#include "core/lif_args.h"

namespace sl {

template <SpikeKind V>
using SpikeTag = std::integral_constant<SpikeKind, V>;
template <ResetKind V>
using ResetTag = std::integral_constant<ResetKind, V>;
template <SurrKind V>
using SurrTag = std::integral_constant<SurrKind, V>;

template <class F, class... Tags>
void with_syn(bool syn, F&& f, Tags... tags) {
  if (syn)
    f(tags..., std::true_type{});
  else
    f(tags..., std::false_type{});
}

template <class F>
void dispatch_forward(const LifKernelArgs& a, F&& f) {
  auto reset = [&](auto sk) {
    switch (a.reset) {
      case ResetKind::Subtract: return with_syn(a.hasSyn, f, sk, ResetTag<ResetKind::Subtract>{});
      case ResetKind::Reset: return with_syn(a.hasSyn, f, sk, ResetTag<ResetKind::Reset>{});
      case ResetKind::None: return with_syn(a.hasSyn, f, sk, ResetTag<ResetKind::None>{});
    }
  };
  switch (a.spike) {
    case SpikeKind::Multi: return reset(SpikeTag<SpikeKind::Multi>{});
    case SpikeKind::Single: return reset(SpikeTag<SpikeKind::Single>{});
    case SpikeKind::Given: return reset(SpikeTag<SpikeKind::Given>{});
    case SpikeKind::None:
      return with_syn(a.hasSyn, f, SpikeTag<SpikeKind::None>{}, ResetTag<ResetKind::None>{});
  }
}

template <class F>
void dispatch_backward(const LifKernelArgs& a, F&& f) {
  auto surr = [&](auto sk, auto rk) {
    if constexpr (decltype(sk)::value == SpikeKind::None) {
      return with_syn(a.hasSyn, f, sk, rk, SurrTag<SurrKind::Given>{});  // sigma unused
    } else {
      switch (a.surr) {
        case SurrKind::SingleExponential:
          return with_syn(a.hasSyn, f, sk, rk, SurrTag<SurrKind::SingleExponential>{});
        case SurrKind::Heaviside:
          return with_syn(a.hasSyn, f, sk, rk, SurrTag<SurrKind::Heaviside>{});
        case SurrKind::Gaussian:
          return with_syn(a.hasSyn, f, sk, rk, SurrTag<SurrKind::Gaussian>{});
        case SurrKind::MultiGaussian:
          return with_syn(a.hasSyn, f, sk, rk, SurrTag<SurrKind::MultiGaussian>{});
        case SurrKind::PeriodicExponential:
          return with_syn(a.hasSyn, f, sk, rk, SurrTag<SurrKind::PeriodicExponential>{});
        case SurrKind::Given: return with_syn(a.hasSyn, f, sk, rk, SurrTag<SurrKind::Given>{});
      }
    }
  };
  auto reset = [&](auto sk) {
    switch (a.reset) {
      case ResetKind::Subtract: return surr(sk, ResetTag<ResetKind::Subtract>{});
      case ResetKind::Reset: return surr(sk, ResetTag<ResetKind::Reset>{});
      case ResetKind::None: return surr(sk, ResetTag<ResetKind::None>{});
    }
  };
  switch (a.spike) {
    case SpikeKind::Multi: return reset(SpikeTag<SpikeKind::Multi>{});
    case SpikeKind::Single: return reset(SpikeTag<SpikeKind::Single>{});
    case SpikeKind::Given: return reset(SpikeTag<SpikeKind::Given>{});
    case SpikeKind::None: return surr(SpikeTag<SpikeKind::None>{}, ResetTag<ResetKind::None>{});
  }
}

}  // namespace sl
