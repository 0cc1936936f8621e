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
#include <limits>
#include <string>
#include <vector>

#include "cpu/lif_cpu.h"
#include "cuda/cuda_probe.h"

namespace {

std::atomic<int> g_threads{0};

int threads_now() {
  int t = g_threads.load();
  return t > 0 ? t : std::max(1, omp_get_max_threads());
}

[[noreturn]] void throw_type(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, msg);
}
[[noreturn]] void throw_range(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, msg);
}

// Holds the JS objects a call uses, so that an async call keeps them alive.
struct Keep {
  std::vector<Napi::Reference<Napi::Value>> refs;
  void add(Napi::Value v) { refs.push_back(Napi::Persistent(v)); }
};

int64_t get_int(Napi::Object o, const char* key, int64_t lo, int64_t hi) {
  Napi::Env env = o.Env();
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw_type(env, std::string("native: '") + key + "' must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) ||
      d > static_cast<double>(hi))
    throw_range(env, std::string("native: '") + key + "' must be an integer in [" +
                         std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int64_t>(d);
}

float get_float(Napi::Object o, const char* key, float dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throw_type(o.Env(), std::string("native: '") + key + "' must be a number");
  return static_cast<float>(v.As<Napi::Number>().DoubleValue());
}

bool get_bool(Napi::Object o, const char* key) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return false;
  if (!v.IsBoolean()) throw_type(o.Env(), std::string("native: '") + key + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

// A Float32Array of at least `need` elements, or null when optional and absent.
template <typename T, napi_typedarray_type TT>
T* get_array(Napi::Object o, const char* key, int64_t need, bool optional, Keep& keep,
             int64_t* lenOut = nullptr) {
  Napi::Env env = o.Env();
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) {
    if (optional) return nullptr;
    throw_type(env, std::string("native: '") + key + "' is required");
  }
  const char* tname = TT == napi_float32_array ? "Float32Array" : "Float64Array";
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TT)
    throw_type(env, std::string("native: '") + key + "' must be a " + tname);
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  int64_t len = static_cast<int64_t>(ta.ElementLength());
  if (len < need)
    throw_range(env, std::string("native: '") + key + "' has " + std::to_string(len) +
                         " elements, needs " + std::to_string(need));
  if (lenOut) *lenOut = len;
  keep.add(v);
  if (len == 0) return nullptr;
  auto* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data());
  if (!base) throw_type(env, std::string("native: '") + key + "' is detached");
  return reinterpret_cast<T*>(base + ta.ByteOffset());
}
float* f32(Napi::Object o, const char* key, int64_t need, bool optional, Keep& keep,
           int64_t* lenOut = nullptr) {
  return get_array<float, napi_float32_array>(o, key, need, optional, keep, lenOut);
}
double* f64(Napi::Object o, const char* key, int64_t need, bool optional, Keep& keep) {
  return get_array<double, napi_float64_array>(o, key, need, optional, keep);
}

constexpr int64_t kMaxElems = int64_t(1) << 40;

// Parse the fields shared by forward and backward.
void parse_common(Napi::Object o, sl::LifKernelArgs& a, Keep& keep) {
  Napi::Env env = o.Env();
  a.B = get_int(o, "B", 1, kMaxElems);
  a.T = get_int(o, "T", 1, kMaxElems);
  a.N = get_int(o, "N", 1, kMaxElems);
  if (a.B > kMaxElems / a.T || a.B * a.T > kMaxElems / a.N)
    throw_range(env, "native: B*T*N is too large");
  a.spike = static_cast<sl::SpikeKind>(get_int(o, "spike", 0, 3));
  a.reset = static_cast<sl::ResetKind>(get_int(o, "reset", 0, 2));
  a.surr = static_cast<sl::SurrKind>(get_int(o, "surr", 0, 5));
  if ((a.spike == sl::SpikeKind::None) != (a.reset == sl::ResetKind::None))
    throw_range(env, "native: spike kind None goes with reset kind None only");
  a.hasSyn = get_bool(o, "hasSyn");
  a.P.theta = get_float(o, "theta", 1.0f);
  a.P.maxSpikes = get_float(o, "maxSpikes", std::numeric_limits<float>::infinity());
  a.P.thetaSub = get_float(o, "thetaSub", a.P.theta);
  a.P.resetValue = get_float(o, "resetValue", 0.0f);
  a.P.minV = get_float(o, "minV", 0.0f);
  a.P.hasMin = get_bool(o, "hasMin");
  a.P.normInput = get_bool(o, "normInput");
  a.K = get_int(o, "K", 1, 1 << 16);
  Napi::Value sp = o.Get("surrParams");
  if (!sp.IsUndefined() && !sp.IsNull()) {
    int64_t n = 0;
    float* p = f32(o, "surrParams", 0, false, keep, &n);
    float* dst[6] = {&a.Q.p0, &a.Q.p1, &a.Q.p2, &a.Q.p3, &a.Q.p4, &a.Q.p5};
    for (int64_t k = 0; k < 6; ++k) *dst[k] = k < n ? p[k] : 0.0f;
  }
  const int64_t BN = a.B * a.N, E = BN * a.T;
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
  a.x = f32(o, "x", E, false, keep);
  if (a.spike == sl::SpikeKind::Given) a.spikesGiven = f32(o, "spikesGiven", E, false, keep);
  const int64_t nCk = sl::num_checkpoints(a.T, a.K);
  a.ckV = f32(o, "ckV", a.B * nCk * a.N, true, keep);
  if (a.hasSyn) a.ckI = f32(o, "ckI", a.B * nCk * a.N, !a.ckV, keep);
  (void)BN;
}

void parse_forward(Napi::Object o, sl::LifKernelArgs& a, Keep& keep) {
  parse_common(o, a, keep);
  const int64_t BN = a.B * a.N, E = BN * a.T;
  a.v0 = f32(o, "v0", BN, false, keep);
  a.v1 = f32(o, "v1", BN, false, keep);
  if (a.hasSyn) {
    a.i0 = f32(o, "i0", BN, false, keep);
    a.i1 = f32(o, "i1", BN, false, keep);
  }
  a.out = f32(o, "out", E, false, keep);
  a.recV = f32(o, "recV", E, true, keep);
  if (a.hasSyn) a.recI = f32(o, "recI", E, true, keep);
  a.uOut = f32(o, "uOut", E, true, keep);
}

void parse_backward(Napi::Object o, sl::LifKernelArgs& a, Keep& keep) {
  parse_common(o, a, keep);
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

// ---- AsyncWorker ----------------------------------------------------------------------------
class KernelWorker : public Napi::AsyncWorker {
 public:
  KernelWorker(Napi::Env env, bool backward, sl::LifKernelArgs args, Keep&& keep, int threads)
      : Napi::AsyncWorker(env, backward ? "spikelayers.backward" : "spikelayers.forward"),
        deferred_(Napi::Promise::Deferred::New(env)),
        backward_(backward),
        args_(args),
        keep_(std::move(keep)),
        threads_(threads) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      if (backward_)
        sl::lif_backward_cpu(args_, threads_);
      else
        sl::lif_forward_cpu(args_, threads_);
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    keep_.refs.clear();
    deferred_.Resolve(backward_ ? env.Undefined() : Napi::Number::New(env, args_.spikeSum));
  }
  void OnError(const Napi::Error& e) override {
    keep_.refs.clear();
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  bool backward_;
  sl::LifKernelArgs args_;
  Keep keep_;
  int threads_;
};

Napi::Object need_object(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray())
    throw_type(info.Env(), "native: expected one argument object");
  return info[0].As<Napi::Object>();
}

Napi::Value Forward(const Napi::CallbackInfo& info) {
  Keep keep;
  sl::LifKernelArgs a;
  parse_forward(need_object(info), a, keep);
  sl::lif_forward_cpu(a, threads_now());
  return Napi::Number::New(info.Env(), a.spikeSum);
}

Napi::Value Backward(const Napi::CallbackInfo& info) {
  Keep keep;
  sl::LifKernelArgs a;
  parse_backward(need_object(info), a, keep);
  sl::lif_backward_cpu(a, threads_now());
  return info.Env().Undefined();
}

Napi::Value ForwardAsync(const Napi::CallbackInfo& info) {
  Keep keep;
  sl::LifKernelArgs a;
  parse_forward(need_object(info), a, keep);
  auto* w = new KernelWorker(info.Env(), false, a, std::move(keep), threads_now());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value BackwardAsync(const Napi::CallbackInfo& info) {
  Keep keep;
  sl::LifKernelArgs a;
  parse_backward(need_object(info), a, keep);
  auto* w = new KernelWorker(info.Env(), true, a, std::move(keep), threads_now());
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
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
  o.Set("simd", simd_level());
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

Napi::Value SumF32(const Napi::CallbackInfo& info) {
  Keep keep;
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(info.Env(), "sum(data): data must be a Float32Array");
  Napi::Float32Array a = info[0].As<Napi::Float32Array>();
  return Napi::Number::New(info.Env(), sl::sum_fixed_order(a.Data(), a.ElementLength(), threads_now()));
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
  exports.Set("sumF32", Napi::Function::New(env, SumF32, "sumF32"));
  return exports;
}

}  // namespace

NODE_API_MODULE(spikelayers, Init)
