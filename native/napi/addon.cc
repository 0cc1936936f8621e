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
#include <memory>
#include <string>
#include <vector>

#include "core/lif_thread.h"
#include "cpu/emulated.h"
#include "cpu/lif_cpu.h"
#include "cuda/cuda_ops.h"
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

// Rethrows a kernel failure as a JavaScript error with a stable code.
[[noreturn]] void throw_kernel_error(Napi::Env env, const sl::CudaError& e) {
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", e.code);
  throw err;
}

// Runs f, turning a CudaError into a JavaScript Error with its code.
template <class F>
auto cuda_call(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const sl::CudaError& e) {
    throw_kernel_error(env, e);
  }
}

// ---- device memory ----------------------------------------------------------------------------
// A float32 buffer in CUDA device memory. JavaScript holds it through a Tensor; dispose() frees it
// at once, the finalizer frees what was forgotten.
class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  // The constructor is per environment (main thread and each worker thread load the addon into
  // their own environment), kept as the environment's instance data and freed with it.
  static Napi::Function Define(Napi::Env env) {
    Napi::Function f = DefineClass(env, "DeviceBuffer",
                                   {InstanceMethod("upload", &DeviceBuffer::Upload),
                                    InstanceMethod("download", &DeviceBuffer::Download),
                                    InstanceMethod("copyFrom", &DeviceBuffer::CopyFrom),
                                    InstanceMethod("zero", &DeviceBuffer::Zero),
                                    InstanceMethod("dispose", &DeviceBuffer::Dispose),
                                    InstanceAccessor("length", &DeviceBuffer::Length, nullptr),
                                    InstanceAccessor("device", &DeviceBuffer::Device, nullptr),
                                    InstanceAccessor("disposed", &DeviceBuffer::Disposed, nullptr)});
    env.SetInstanceData<Napi::FunctionReference, &DeviceBuffer::ReleaseCtor>(
        new Napi::FunctionReference(Napi::Persistent(f)));
    return f;
  }
  // At environment teardown the reference dies with the environment: deleting it through N-API
  // then would touch a half-destroyed environment.
  static void ReleaseCtor(Napi::Env, Napi::FunctionReference* r) {
    r->SuppressDestruct();
    delete r;
  }
  static bool Is(Napi::Value v) {
    if (!v.IsObject()) return false;
    Napi::FunctionReference* ctor = v.Env().GetInstanceData<Napi::FunctionReference>();
    return ctor && v.As<Napi::Object>().InstanceOf(ctor->Value());
  }

  DeviceBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceBuffer>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber())
      throw Napi::TypeError::New(env, "DeviceBuffer(length, device): two numbers expected");
    double len = info[0].As<Napi::Number>().DoubleValue();
    double dev = info[1].As<Napi::Number>().DoubleValue();
    if (!(len >= 0 && len <= 4294967295.0) || len != std::floor(len))
      throw Napi::RangeError::New(env, "DeviceBuffer: length must be an integer in [0, 2^32)");
    if (!(dev >= 0 && dev < 1024) || dev != std::floor(dev))
      throw Napi::RangeError::New(env, "DeviceBuffer: device must be a device index");
    length_ = static_cast<int64_t>(len);
    device_ = static_cast<int>(dev);
    ptr_ = cuda_call(env, [&] { return static_cast<float*>(sl::cuda_alloc(sizeof(float) * length_, device_)); });
    if (length_ > 0) Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(sizeof(float) * length_ / 16));
  }
  ~DeviceBuffer() override { release(); }
  void Finalize(Napi::Env) override { release(); }

  float* ptr() const { return ptr_; }
  int64_t length() const { return length_; }
  int device() const { return device_; }

 private:
  void release() {
    if (ptr_) sl::cuda_free(ptr_, device_);
    ptr_ = nullptr;
  }
  float* live(Napi::Env env) {
    if (!ptr_) throw Napi::Error::New(env, "the device buffer was disposed");
    return ptr_;
  }
  Napi::Float32Array host_arg(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !info[0].IsTypedArray() ||
        info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw Napi::TypeError::New(info.Env(), "a Float32Array is required");
    Napi::Float32Array a = info[0].As<Napi::Float32Array>();
    if (static_cast<int64_t>(a.ElementLength()) != length_)
      throw Napi::RangeError::New(info.Env(), "the Float32Array must have the buffer's length");
    return a;
  }
  Napi::Value Upload(const Napi::CallbackInfo& info) {
    Napi::Float32Array a = host_arg(info);
    float* p = live(info.Env());
    cuda_call(info.Env(), [&] { sl::cuda_upload(p, a.Data(), sizeof(float) * length_, device_); });
    return info.Env().Undefined();
  }
  Napi::Value Download(const Napi::CallbackInfo& info) {
    Napi::Float32Array a = host_arg(info);
    float* p = live(info.Env());
    cuda_call(info.Env(), [&] { sl::cuda_download(a.Data(), p, sizeof(float) * length_, device_); });
    return info.Env().Undefined();
  }
  Napi::Value CopyFrom(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !Is(info[0])) throw Napi::TypeError::New(info.Env(), "a DeviceBuffer is required");
    DeviceBuffer* o = Napi::ObjectWrap<DeviceBuffer>::Unwrap(info[0].As<Napi::Object>());
    if (o->length_ != length_ || o->device_ != device_)
      throw Napi::RangeError::New(info.Env(), "copyFrom: same length and device required");
    float* dst = live(info.Env());
    float* src = o->live(info.Env());
    cuda_call(info.Env(), [&] { sl::cuda_copy(dst, src, sizeof(float) * length_, device_); });
    return info.Env().Undefined();
  }
  Napi::Value Zero(const Napi::CallbackInfo& info) {
    float* p = live(info.Env());
    cuda_call(info.Env(), [&] { sl::cuda_zero(p, sizeof(float) * length_, device_); });
    return info.Env().Undefined();
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    release();
    return info.Env().Undefined();
  }
  Napi::Value Length(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), length_); }
  Napi::Value Device(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }
  Napi::Value Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), ptr_ == nullptr); }

  float* ptr_ = nullptr;
  int64_t length_ = 0;
  int device_ = 0;
};

// Where the arrays of one call live: all on the host, or all on one CUDA device.
struct Loc {
  int device = -2;  // -2: nothing seen yet, -1: host, >= 0: CUDA device
  std::string first;
  void see(Napi::Env env, int dev, const char* key) {
    if (device == -2) {
      device = dev;
      first = key;
      return;
    }
    if (device != dev) {
      auto name = [](int d) { return d < 0 ? std::string("cpu") : "cuda:" + std::to_string(d); };
      throw Napi::TypeError::New(env, std::string("native: '") + key + "' is on " + name(dev) + " but '" +
                                          first + "' is on " + name(device) + ": all tensors of a call must be on one device");
    }
  }
};
thread_local Loc* g_loc = nullptr;

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
  if constexpr (TT == napi_float32_array) {
    if (DeviceBuffer::Is(v)) {
      DeviceBuffer* d = Napi::ObjectWrap<DeviceBuffer>::Unwrap(v.As<Napi::Object>());
      if (!d->ptr()) throw_type(env, std::string("native: '") + key + "' was disposed");
      if (d->length() < need)
        throw_range(env, std::string("native: '") + key + "' has " + std::to_string(d->length()) +
                             " elements, needs " + std::to_string(need));
      if (g_loc) g_loc->see(env, d->device(), key);
      if (lenOut) *lenOut = d->length();
      keep.add(v);
      return reinterpret_cast<T*>(d->ptr());
    }
  }
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != TT)
    throw_type(env, std::string("native: '") + key + "' must be a " + tname);
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  int64_t len = static_cast<int64_t>(ta.ElementLength());
  if (len < need)
    throw_range(env, std::string("native: '") + key + "' has " + std::to_string(len) +
                         " elements, needs " + std::to_string(need));
  if (lenOut) *lenOut = len;
  keep.add(v);
  if (TT == napi_float32_array && g_loc) g_loc->see(env, -1, key);
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
    Loc* saved = g_loc;
    g_loc = nullptr;  // copied by value: may live on the host for any device
    float* p = f32(o, "surrParams", 0, false, keep, &n);
    g_loc = saved;
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

// ---- execution ------------------------------------------------------------------------------
enum class Mode { Cpu, Emulated, Cuda };

struct Call {
  sl::LifKernelArgs args;
  Keep keep;
  Mode mode = Mode::Cpu;
  int device = -1;
  bool backward = false;
};

void run_call(Call& c, int threads) {
  switch (c.mode) {
    case Mode::Cpu:
      if (c.backward) sl::lif_backward_cpu(c.args, threads);
      else sl::lif_forward_cpu(c.args, threads);
      break;
    case Mode::Emulated:
      if (c.backward) sl::lif_backward_emulated(c.args, threads);
      else sl::lif_forward_emulated(c.args, threads);
      break;
    case Mode::Cuda:
      if (c.backward) sl::cuda_lif_backward(c.args, c.device);
      else sl::cuda_lif_forward(c.args, c.device);
      break;
  }
}

// Parses one call: the arrays decide the device (all host, or all on one CUDA device);
// `emulate: true` runs host arrays through the CPU emulation of the CUDA launch.
std::unique_ptr<Call> parse_call(const Napi::CallbackInfo& info, bool backward) {
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray())
    throw_type(info.Env(), "native: expected one argument object");
  Napi::Object o = info[0].As<Napi::Object>();
  auto c = std::make_unique<Call>();
  c->backward = backward;
  Loc loc;
  g_loc = &loc;
  try {
    if (backward)
      parse_backward(o, c->args, c->keep);
    else
      parse_forward(o, c->args, c->keep);
  } catch (...) {
    g_loc = nullptr;
    throw;
  }
  g_loc = nullptr;
  const bool emulate = get_bool(o, "emulate");
  if (loc.device >= 0) {
    c->mode = Mode::Cuda;
    c->device = loc.device;
    if (c->args.K > sl::kMaxChunk)
      throw_range(info.Env(), "native: K must be <= " + std::to_string(sl::kMaxChunk) + " on CUDA");
  } else if (emulate) {
    c->mode = Mode::Emulated;
    if (c->args.K > sl::kMaxChunk)
      throw_range(info.Env(), "native: K must be <= " + std::to_string(sl::kMaxChunk) + " for the emulated launch");
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
    try {
      run_call(*call_, threads_);
    } catch (const sl::CudaError& e) {
      code_ = e.code;
      SetError(e.what());
    } catch (const std::exception& e) {
      SetError(e.what());
    }
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
      deferred_.Resolve(call_->backward ? env.Undefined() : Napi::Number::New(env, call_->args.spikeSum));
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
  std::unique_ptr<Call> c = parse_call(info, backward);
  try {
    run_call(*c, threads_now());
  } catch (const sl::CudaError& e) {
    throw_kernel_error(info.Env(), e);
  }
  return backward ? info.Env().Undefined() : Napi::Number::New(info.Env(), c->args.spikeSum);
}

Napi::Value RunAsync(const Napi::CallbackInfo& info, bool backward) {
  auto* w = new KernelWorker(info.Env(), parse_call(info, backward), threads_now());
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
    return Napi::Number::New(env, sl::cuda_copy_bandwidth(
                                      static_cast<size_t>(info[0].As<Napi::Number>().DoubleValue()),
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
  o.Set("simd", isa == "x86-64-v3" ? "avx2" : isa == "x86-64-v2" ? "sse4.2" : simd_level());
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
  exports.Set("cudaCopyBandwidth", Napi::Function::New(env, CudaCopyBandwidth, "cudaCopyBandwidth"));
  exports.Set("DeviceBuffer", DeviceBuffer::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(spikelayers, Init)
