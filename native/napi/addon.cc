// N-API surface: argument checking, synchronous and AsyncWorker entry points.
//
// The TypeScript layer validates user input and owns all memory (TypedArrays). This file checks
// the native contract again (types, lengths, ranges) so that no call can make a kernel read or
// write out of bounds, whatever JavaScript passes: every violation is a TypeError/RangeError.
#include <napi.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "core/lif_thread.h"
#include "cpu/emulated.h"
#include "cpu/lif_cpu.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_probe.h"
#include "napi/napi_common.h"
#include "napi/nn_register.h"

namespace {

using namespace sl::napi;

// The scalar fields of a call, in the order of `scalars`: a Float64Array that carries them all
// in one property read (what the layers pass; reading eighteen named properties cost about
// 2-3 us of a small call, V8's generic lookup being ~150 ns each from C++). Without `scalars`
// they are read by name. Booleans are 0 or 1 in `scalars`; every field is present there (the
// layers fill in the defaults of the named form).
enum Slot : int {
  sB,
  sT,
  sN,
  sSpike,
  sReset,
  sSurr,
  sHasSyn,
  sTheta,
  sMaxSpikes,
  sThetaSub,
  sResetValue,
  sMinV,
  sHasMin,
  sNormInput,
  sK,
  sEmulate,
  sXType,
  sOutType,
  kSlots
};
constexpr const char* kSlotNames[kSlots] = {
    "B",      "T",         "N",         "spike",    "reset",      "surr",
    "hasSyn", "theta",     "maxSpikes", "thetaSub", "resetValue", "minV",
    "hasMin", "normInput", "K",         "emulate",  "xType",      "outType"};

class Scalars {
 public:
  explicit Scalars(Napi::Object o) : o_(o) {
    Napi::Value v = KeyCache::get(o, "scalars");
    if (v.IsUndefined()) return;
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      throw_type(o.Env(), "native: 'scalars' must be a Float64Array");
    Napi::Float64Array a = v.As<Napi::Float64Array>();
    if (a.ElementLength() != kSlots)
      throw_range(o.Env(), "native: 'scalars' must have " + std::to_string(kSlots) + " elements");
    std::memcpy(v_, a.Data(), sizeof(v_));
    packed_ = true;
  }
  int64_t integer(Slot k, int64_t lo, int64_t hi) const {
    if (!packed_) return get_int(o_, kSlotNames[k], lo, hi);
    const double d = v_[k];
    if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) ||
        d > static_cast<double>(hi))
      throw_range(o_.Env(), std::string("native: '") + kSlotNames[k] + "' must be an integer in [" +
                                std::to_string(lo) + ", " + std::to_string(hi) + "]");
    return static_cast<int64_t>(d);
  }
  float real(Slot k, float dflt) const {
    return packed_ ? static_cast<float>(v_[k]) : get_float(o_, kSlotNames[k], dflt);
  }
  bool flag(Slot k) const {
    if (!packed_) return get_bool(o_, kSlotNames[k]);
    if (v_[k] != 0.0 && v_[k] != 1.0)
      throw_range(o_.Env(),
                  std::string("native: '") + kSlotNames[k] + "' must be 0 or 1 in 'scalars'");
    return v_[k] == 1.0;
  }
  // An optional integer field of the named form (absent: `dflt`).
  int64_t optional_integer(Slot k, int64_t lo, int64_t hi, int64_t dflt) const {
    if (!packed_ && KeyCache::get(o_, kSlotNames[k]).IsUndefined()) return dflt;
    return integer(k, lo, hi);
  }

 private:
  Napi::Object o_;
  double v_[kSlots] = {};
  bool packed_ = false;
};

// Parse the fields shared by forward and backward.
void parse_common(Napi::Object o, const Scalars& S, sl::LifKernelArgs& a, Keep& keep) {
  Napi::Env env = o.Env();
  a.B = S.integer(sB, 1, kMaxElems);
  a.T = S.integer(sT, 1, kMaxElems);
  a.N = S.integer(sN, 1, kMaxElems);
  if (a.B > kMaxElems / a.T || a.B * a.T > kMaxElems / a.N)
    throw_range(env, "native: B*T*N is too large");
  a.spike = static_cast<sl::SpikeKind>(S.integer(sSpike, 0, sl::kLastSpikeKind));
  a.reset = static_cast<sl::ResetKind>(S.integer(sReset, 0, sl::kLastResetKind));
  a.surr = static_cast<sl::SurrKind>(S.integer(sSurr, 0, sl::kLastSurrKind));
  if ((a.spike == sl::SpikeKind::None) != (a.reset == sl::ResetKind::None))
    throw_range(env, "native: spike kind None goes with reset kind None only");
  a.hasSyn = S.flag(sHasSyn);
  a.P.theta = S.real(sTheta, 1.0f);
  a.P.maxSpikes = S.real(sMaxSpikes, std::numeric_limits<float>::infinity());
  a.P.thetaSub = S.real(sThetaSub, a.P.theta);
  a.P.resetValue = S.real(sResetValue, 0.0f);
  a.P.minV = S.real(sMinV, 0.0f);
  a.P.hasMin = S.flag(sHasMin);
  a.P.normInput = S.flag(sNormInput);
  a.K = S.integer(sK, 1, 1 << 16);
  Napi::Value sp = KeyCache::get(o, "surrParams");
  if (!sp.IsUndefined() && !sp.IsNull()) {
    int64_t n = 0;
    Loc* saved = g_loc;
    g_loc = nullptr;  // copied by value: may live on the host for any device
    float* p = f32(o, "surrParams", 0, false, keep, &n);
    g_loc = saved;
    float* dst[6] = {&a.Q.p0, &a.Q.p1, &a.Q.p2, &a.Q.p3, &a.Q.p4, &a.Q.p5};
    for (int64_t k = 0; k < 6; ++k) *dst[k] = k < n ? p[k] : 0.0f;
  }
  const int64_t E = a.B * a.N * a.T;
  int64_t lm = 0;
  a.alphaMem = f32(o, "alphaMem", 1, false, keep, &lm);
  if (lm != 1 && lm != a.N) throw_range(env, "native: 'alphaMem' must have 1 or N elements");
  a.alphaMemStride = lm == 1 ? 0 : 1;
  if (a.hasSyn) {
    int64_t ls = 0;
    a.alphaSyn = f32(o, "alphaSyn", 1, false, keep, &ls);
    if (ls != 1 && ls != a.N) throw_range(env, "native: 'alphaSyn' must have 1 or N elements");
    a.alphaSynStride = ls == 1 ? 0 : 1;
  }
  // x of another element type (lib/dtype.ts; CPU forward only, checked in parse_call)
  a.xType =
      static_cast<sl::IoType>(S.optional_integer(sXType, 0, static_cast<int>(sl::IoType::BF16), 0));
  if (a.xType == sl::IoType::F32)
    a.x = f32(o, "x", E, false, keep);
  else
    a.xIo = u16(o, "x", E, false, keep);
  if (a.spike == sl::SpikeKind::Given) a.spikesGiven = f32(o, "spikesGiven", E, false, keep);
  const int64_t nCk = sl::num_checkpoints(a.T, a.K);
  a.ckV = f32(o, "ckV", a.B * nCk * a.N, true, keep);
  if (a.hasSyn) a.ckI = f32(o, "ckI", a.B * nCk * a.N, !a.ckV, keep);
}

void parse_forward(Napi::Object o, const Scalars& S, sl::LifKernelArgs& a, Keep& keep) {
  parse_common(o, S, a, keep);
  const int64_t BN = a.B * a.N, E = BN * a.T;
  a.v0 = f32(o, "v0", BN, false, keep);
  a.v1 = f32(o, "v1", BN, false, keep);
  if (a.hasSyn) {
    a.i0 = f32(o, "i0", BN, false, keep);
    a.i1 = f32(o, "i1", BN, false, keep);
  }
  const int64_t t = S.optional_integer(sOutType, 0, sl::kLastIoType, 0);
  if (t != 0 && t != static_cast<int>(sl::IoType::U8))
    throw_range(o.Env(), "native: 'outType' must be 0 (float32) or 3 (uint8)");
  a.outType = static_cast<sl::IoType>(t);
  if (a.outType == sl::IoType::F32) {
    a.out = f32(o, "out", E, false, keep);
  } else {
    a.outIo = u8(o, "out", E, false, keep);
  }
  a.recV = f32(o, "recV", E, true, keep);
  if (a.hasSyn) a.recI = f32(o, "recI", E, true, keep);
  a.uOut = f32(o, "uOut", E, true, keep);
}

void parse_backward(Napi::Object o, const Scalars& S, sl::LifKernelArgs& a, Keep& keep) {
  parse_common(o, S, a, keep);
  Napi::Env env = o.Env();
  const int64_t BN = a.B * a.N, E = BN * a.T;
  if (!a.ckV) throw_type(env, "native: backward needs the checkpoints 'ckV'");
  if (a.surr == sl::SurrKind::Given && a.spike != sl::SpikeKind::None)
    a.sigmaGiven = f32(o, "sigmaGiven", E, false, keep);
  a.gradOut = f32(o, "gradOut", E, false, keep);
  a.gradIn = f32(o, "gradIn", E, false, keep);
  a.gvEnd = f32(o, "gvEnd", BN, true, keep);
  a.gvStart = f32(o, "gvStart", BN, false, keep);
  a.gAlphaMem = f64(o, "gAlphaMem", a.N, false, keep);
  if (a.hasSyn) {
    a.giEnd = f32(o, "giEnd", BN, true, keep);
    a.giStart = f32(o, "giStart", BN, false, keep);
    a.gAlphaSyn = f64(o, "gAlphaSyn", a.N, false, keep);
  }
}

// ---- execution ------------------------------------------------------------------------------
enum class Mode { Cpu, Emulated, Cuda };

struct Call {
  sl::LifKernelArgs args;
  Keep keep;
  Mode mode = Mode::Cpu;
  int device = -1;
  bool backward = false;
  // uint8 output: [first element uint8 could not hold or -1, its value], written after the call
  double* ioStatus = nullptr;
};

void run_call(Call& c, int threads) {
  switch (c.mode) {
    case Mode::Cpu:
      if (c.backward)
        sl::lif_backward_cpu(c.args, threads);
      else
        sl::lif_forward_cpu(c.args, threads);
      if (c.ioStatus) {
        c.ioStatus[0] = static_cast<double>(c.args.outBad);
        c.ioStatus[1] = c.args.outBadValue;
      }
      break;
    case Mode::Emulated:
      if (c.backward)
        sl::lif_backward_emulated(c.args, threads);
      else
        sl::lif_forward_emulated(c.args, threads);
      break;
    case Mode::Cuda:
      if (c.backward)
        sl::cuda_lif_backward(c.args, c.device);
      else
        sl::cuda_lif_forward(c.args, c.device);
      break;
  }
}

// Parses one call: the arrays decide the device (all host, or all on one CUDA device);
// `emulate: true` runs host arrays through the CPU emulation of the CUDA launch.
// `hold`: keep the arrays referenced (async calls; a sync call's arguments live until it returns).
std::unique_ptr<Call> parse_call(const Napi::CallbackInfo& info, bool backward, bool hold) {
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray())
    throw_type(info.Env(), "native: expected one argument object");
  Napi::Object o = info[0].As<Napi::Object>();
  auto c = std::make_unique<Call>();
  c->backward = backward;
  c->keep.hold = hold;
  const Scalars S(o);
  Loc loc;
  g_loc = &loc;
  try {
    if (backward)
      parse_backward(o, S, c->args, c->keep);
    else
      parse_forward(o, S, c->args, c->keep);
  } catch (...) {
    g_loc = nullptr;
    throw;
  }
  g_loc = nullptr;
  const bool emulate = S.flag(sEmulate);
  if (c->args.xType != sl::IoType::F32 || c->args.outType != sl::IoType::F32) {
    if (backward || emulate || loc.device >= 0)
      throw_type(info.Env(),
                 "native: inputs and outputs other than float32 are for the CPU forward only");
    if (c->args.outType != sl::IoType::F32) c->ioStatus = f64(o, "ioStatus", 2, false, c->keep);
  }
  if (loc.device >= 0) {
    c->mode = Mode::Cuda;
    c->device = loc.device;
    if (c->args.K > sl::kMaxChunk)
      throw_range(info.Env(), "native: K must be <= " + std::to_string(sl::kMaxChunk) + " on CUDA");
  } else if (emulate) {
    c->mode = Mode::Emulated;
    if (c->args.K > sl::kMaxChunk)
      throw_range(info.Env(), "native: K must be <= " + std::to_string(sl::kMaxChunk) +
                                  " for the emulated launch");
  }
  return c;
}

class KernelWorker : public Napi::AsyncWorker {
 public:
  KernelWorker(Napi::Env env, std::unique_ptr<Call> call, int threads)
      : Napi::AsyncWorker(env, call->backward ? "spikelayers.backward" : "spikelayers.forward"),
        deferred_(Napi::Promise::Deferred::New(env)),
        call_(std::move(call)),
        threads_(threads) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    sl::mem::gate_pass();
    bool failed = true;
    try {
      run_call(*call_, threads_);
      failed = false;
    } catch (const sl::CudaError& e) {
      code_ = e.code;
      SetError(e.what());
    } catch (const std::exception& e) {
      SetError(e.what());
    }
    // The kernels are done with the device memory (a CUDA call synchronizes its stream before it
    // returns; after a failure, wait for whatever was queued): give up the call's references here,
    // on the worker thread, so that they go even if the environment is torn down before OnOK.
    if (failed && call_->mode == Mode::Cuda) sl::cuda_sync_quiet(call_->device);
    call_->keep.device.clear();
  }
  // node-addon-api opens a handle scope before OnOK/OnError; in an environment being torn down
  // that fails and throws outside any JavaScript call. Swallow it: the promise has no one left.
  void OnWorkComplete(Napi::Env env, napi_status status) override {
    try {
      Napi::AsyncWorker::OnWorkComplete(env, status);
    } catch (...) {
    }
  }
  // Both run on the JS thread. When the environment is shutting down (a worker being terminated
  // with this call in flight) N-API calls fail and node-addon-api throws; nothing is left to
  // notify then, and an exception escaping here would abort the whole process.
  void OnOK() override {
    try {
      Napi::Env env = Env();
      call_->keep.refs.clear();
      deferred_.Resolve(call_->backward ? env.Undefined()
                                        : Napi::Number::New(env, call_->args.spikeSum));
    } catch (...) {
    }
  }
  void OnError(const Napi::Error& e) override {
    try {
      call_->keep.refs.clear();
      if (!code_.empty()) e.Value().Set("code", code_);
      deferred_.Reject(e.Value());
    } catch (...) {
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::unique_ptr<Call> call_;
  int threads_;
  std::string code_;
};

Napi::Value RunSync(const Napi::CallbackInfo& info, bool backward) {
  std::unique_ptr<Call> c = parse_call(info, backward, false);
  try {
    run_call(*c, threads_now());
  } catch (const sl::CudaError& e) {
    throw_kernel_error(info.Env(), e);
  }
  return backward ? info.Env().Undefined() : Napi::Number::New(info.Env(), c->args.spikeSum);
}

Napi::Value RunAsync(const Napi::CallbackInfo& info, bool backward) {
  auto* w = new KernelWorker(info.Env(), parse_call(info, backward, true), threads_now());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value Forward(const Napi::CallbackInfo& info) { return RunSync(info, false); }
Napi::Value Backward(const Napi::CallbackInfo& info) { return RunSync(info, true); }
Napi::Value ForwardAsync(const Napi::CallbackInfo& info) { return RunAsync(info, false); }
Napi::Value BackwardAsync(const Napi::CallbackInfo& info) { return RunAsync(info, true); }

Napi::Value CudaCopyBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber())
    throw_type(env, "cudaCopyBandwidth(bytes, reps, device)");
  try {
    return Napi::Number::New(
        env, sl::cuda_copy_bandwidth(static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue()),
                                     info[1].As<Napi::Number>().Int32Value(),
                                     info[2].As<Napi::Number>().Int32Value()));
  } catch (const sl::CudaError& e) {
    throw_kernel_error(env, e);
  }
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) throw_type(info.Env(), "n must be a number");
  double d = info[0].As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < 1 || d > 1024)
    throw_range(info.Env(), "n must be an integer in [1, 1024]");
  g_threads.store(static_cast<int>(d));
  return info.Env().Undefined();
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), threads_now());
}

const char* simd_level() {
#if defined(__AVX512F__)
  return "avx512f";
#elif defined(__AVX2__)
  return "avx2";
#elif defined(__AVX__)
  return "avx";
#elif defined(__SSE4_2__)
  return "sse4.2";
#elif defined(__SSE4_1__)
  return "sse4.1";
#elif defined(__SSE2__)
  return "sse2";
#elif defined(__ARM_NEON)
  return "neon";
#else
  return "scalar";
#endif
}

Napi::Value BackendInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("version", SPIKELAYERS_VERSION);
  o.Set("napiVersion", NAPI_VERSION);
  o.Set("threads", threads_now());
  o.Set("maxThreads", omp_get_num_procs());
  o.Set("openmp", _OPENMP);
  // SIMD level of the kernels in use (the run-time choice), and of the rest of the binary
  const std::string isa = sl::cpu_isa_name();
  o.Set("simd", isa == "x86-64-v4"   ? "avx512f"
                : isa == "x86-64-v3" ? "avx2"
                : isa == "x86-64-v2" ? "sse4.2"
                                     : simd_level());
  o.Set("cpuKernels", sl::cpu_isa_name());
  Napi::Object c = Napi::Object::New(env);
  c.Set("built", SPIKELAYERS_HAVE_CUDA != 0);
  {  // the probe runs here, on first use, never at load
    const sl::CudaStatus& s = sl::cuda_status();
    c.Set("available", s.available);
    c.Set("code", s.code);
    c.Set("reason", s.reason);
    c.Set("runtimeVersion", s.runtimeVersion);
    c.Set("driverVersion", s.driverVersion);
    Napi::Array devs = Napi::Array::New(env, s.devices.size());
    for (size_t k = 0; k < s.devices.size(); ++k) {
      const auto& d = s.devices[k];
      Napi::Object dv = Napi::Object::New(env);
      dv.Set("index", d.index);
      dv.Set("name", d.name);
      dv.Set("computeCapability", std::to_string(d.major) + "." + std::to_string(d.minor));
      dv.Set("memoryGiB", d.memoryGiB);
      dv.Set("usable", d.usable);
      devs.Set(static_cast<uint32_t>(k), dv);
    }
    c.Set("devices", devs);
  }
  o.Set("cuda", c);
  return o;
}

Napi::Value MemoryBandwidth(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
    throw_type(env, "memoryBandwidth(bytesPerArray, reps)");
  double bytes = info[0].As<Napi::Number>().DoubleValue();
  double reps = info[1].As<Napi::Number>().DoubleValue();
  if (!(bytes >= 4096 && bytes <= 8e9) || !(reps >= 1 && reps <= 1000))
    throw_range(env, "bytesPerArray must be in [4096, 8e9], reps in [1, 1000]");
  return Napi::Number::New(env, sl::triad_bandwidth_gbs(static_cast<int64_t>(bytes),
                                                        static_cast<int>(reps), threads_now()));
}

// The kernels' kind numbers and the checkpoint interval, so that JavaScript names them from the
// one definition (native/core/lif_math.h, native/core/lif_args.h) instead of repeating them.
Napi::Object Constants(Napi::Env env) {
  auto kinds = [&](std::initializer_list<std::pair<const char*, int>> kv) {
    Napi::Object o = Napi::Object::New(env);
    for (const auto& [name, value] : kv) o.Set(name, value);
    o.Freeze();
    return o;
  };
  using sl::ResetKind, sl::SpikeKind, sl::SurrKind;
  auto v = [](auto e) { return static_cast<int>(e); };
  Napi::Object c = Napi::Object::New(env);
  c.Set("spike", kinds({{"multi", v(SpikeKind::Multi)},
                        {"single", v(SpikeKind::Single)},
                        {"given", v(SpikeKind::Given)},
                        {"none", v(SpikeKind::None)}}));
  c.Set("reset", kinds({{"subtract", v(ResetKind::Subtract)},
                        {"reset", v(ResetKind::Reset)},
                        {"none", v(ResetKind::None)}}));
  c.Set("surrogate", kinds({{"singleExponential", v(SurrKind::SingleExponential)},
                            {"heaviside", v(SurrKind::Heaviside)},
                            {"gaussian", v(SurrKind::Gaussian)},
                            {"multiGaussian", v(SurrKind::MultiGaussian)},
                            {"periodicExponential", v(SurrKind::PeriodicExponential)},
                            {"given", v(SurrKind::Given)}}));
  Napi::Array slots = Napi::Array::New(env, kSlots);
  for (uint32_t k = 0; k < kSlots; ++k) slots.Set(k, kSlotNames[k]);
  slots.Freeze();
  c.Set("scalarFields", slots);
  c.Set("checkpointInterval", static_cast<double>(sl::kCheckpointInterval));
  c.Set("maxDeviceCheckpointInterval", sl::kMaxChunk);
  c.Freeze();
  return c;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("lifForward", Napi::Function::New(env, Forward, "lifForward"));
  exports.Set("lifBackward", Napi::Function::New(env, Backward, "lifBackward"));
  exports.Set("lifForwardAsync", Napi::Function::New(env, ForwardAsync, "lifForwardAsync"));
  exports.Set("lifBackwardAsync", Napi::Function::New(env, BackwardAsync, "lifBackwardAsync"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("backendInfo", Napi::Function::New(env, BackendInfo, "backendInfo"));
  exports.Set("memoryBandwidth", Napi::Function::New(env, MemoryBandwidth, "memoryBandwidth"));
  exports.Set("constants", Constants(env));
  exports.Set("cudaCopyBandwidth",
              Napi::Function::New(env, CudaCopyBandwidth, "cudaCopyBandwidth"));
  exports.Set("DeviceBuffer", DeviceBuffer::Define(env));
  sl::napi::register_synapse_ops(env, exports);
  sl::napi::register_tensor_ops(env, exports);
  sl::napi::register_memory_ops(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(spikelayers, Init)
