// Shared N-API helpers: argument readers that check the native contract (types, lengths,
// ranges), the device-buffer class, the thread count, and error conversion. Every native entry
// point (addon.cc, synapse_napi.cc, ops_napi.cc) parses its arguments with these.
#pragma once
#include <napi.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/caching_allocator.h"
#include "cuda/cuda_ops.h"
#include "cuda/cuda_probe.h"

namespace sl::napi {

inline std::atomic<int> g_threads{0};

inline int threads_now() {
  int t = g_threads.load();
  return t > 0 ? t : std::max(1, omp_get_max_threads());
}

[[noreturn]] inline void throw_type(Napi::Env env, const std::string& msg) {
  throw Napi::TypeError::New(env, msg);
}
[[noreturn]] inline void throw_range(Napi::Env env, const std::string& msg) {
  throw Napi::RangeError::New(env, msg);
}

// Holds what a call uses: the JS objects (so that an async call keeps them from the garbage
// collector) and an owning reference to every block of device memory it reads or writes (so that
// no dispose, finalizer or worker teardown can free that memory while the call may still use it).
// A synchronous call does not need the JS references (its arguments stay referenced until it
// returns): `hold = false` skips them, a sizeable part of a small call's cost; the memory
// references are taken either way.
struct Keep {
  std::vector<Napi::Reference<Napi::Value>> refs;
  std::vector<sl::mem::DeviceRef> device;
  bool hold = true;
  void add(Napi::Value v) {
    if (hold) refs.push_back(Napi::Persistent(v));
  }
};

// Rethrows a kernel failure as a JavaScript error with a stable code.
[[noreturn]] inline void throw_kernel_error(Napi::Env env, const sl::CudaError& e) {
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
// New DeviceBuffers come from the test memory (host pages standing in for a device) while this is
// set; a call whose arrays live there runs on the CPU with their host addresses.
inline std::atomic<bool> g_use_test_memory{false};
// DeviceBuffer objects that hold a reference now, in every environment of the process.
inline std::atomic<int64_t> g_device_handles{0};

// A float32 buffer in device memory, held through an owning reference (core/caching_allocator.h).
// JavaScript holds it through a Tensor; dispose() and the finalizer drop this object's reference,
// and the memory goes back to the caching allocator when its last owner (another share of it, an
// in-flight call) lets go. The external memory reported to V8 goes up on creation and down on
// release by the same amount.
class DeviceBuffer : public Napi::ObjectWrap<DeviceBuffer> {
 public:
  // The constructor is per environment (main thread and each worker thread load the addon into
  // their own environment), kept as the environment's instance data and freed with it.
  static Napi::Function Define(Napi::Env env) {
    Napi::Function f = DefineClass(
        env, "DeviceBuffer",
        {InstanceMethod("upload", &DeviceBuffer::Upload),
         InstanceMethod("download", &DeviceBuffer::Download),
         InstanceMethod("copyFrom", &DeviceBuffer::CopyFrom),
         InstanceMethod("zero", &DeviceBuffer::Zero), InstanceMethod("share", &DeviceBuffer::Share),
         InstanceMethod("sameMemory", &DeviceBuffer::SameMemory),
         InstanceMethod("dispose", &DeviceBuffer::Dispose),
         InstanceAccessor("length", &DeviceBuffer::Length, nullptr),
         InstanceAccessor("device", &DeviceBuffer::Device, nullptr),
         InstanceAccessor("owners", &DeviceBuffer::Owners, nullptr),
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
    if (DeviceBuffer* src = std::exchange(share_source(), nullptr)) {  // Share()
      ref_ = src->ref_;
      length_ = src->length_;
      device_ = src->device_;
      host_visible_ = src->host_visible_;
      acquired(env);
      return;
    }
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
    sl::mem::RawMemory& raw =
        g_use_test_memory.load() ? sl::mem::test_memory() : sl::mem::cuda_memory();
    host_visible_ = raw.host_visible();
    ref_ = cuda_call(env, [&] { return sl::mem::allocate(raw, device_, sizeof(float) * length_); });
    acquired(env);
  }
  ~DeviceBuffer() override { release(nullptr); }
  void Finalize(Napi::Env env) override { release(env); }

  float* ptr() const { return static_cast<float*>(ref_.ptr()); }
  int64_t length() const { return length_; }
  int device() const { return device_; }
  // Where a call that uses this buffer runs: on the device, or (test memory) on the host.
  int place() const { return host_visible_ ? -1 : device_; }
  const sl::mem::DeviceRef& ref() const { return ref_; }

 private:
  static DeviceBuffer*& share_source() {
    static thread_local DeviceBuffer* src = nullptr;
    return src;
  }
  size_t bytes() const { return sizeof(float) * static_cast<size_t>(length_); }
  void acquired(Napi::Env env) {
    g_device_handles.fetch_add(1);
    accounted_ = static_cast<int64_t>(bytes());
    if (accounted_) {
      int64_t total = 0;
      napi_adjust_external_memory(env, accounted_, &total);
    }
  }
  // Drops this object's reference; `env` is null in the destructor (then there is nothing left to
  // adjust: the finalizer, which runs first, already did).
  void release(napi_env env) {
    if (!ref_) return;
    ref_.reset();
    g_device_handles.fetch_sub(1);
    if (env && accounted_) {
      int64_t total = 0;
      napi_adjust_external_memory(env, -accounted_, &total);
    }
    accounted_ = 0;
  }
  float* live(Napi::Env env) {
    if (!ref_) throw Napi::Error::New(env, "the device buffer was disposed");
    return ptr();
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
    if (host_visible_) {
      if (length_) std::memcpy(p, a.Data(), bytes());
    } else {
      cuda_call(info.Env(), [&] { sl::cuda_upload(p, a.Data(), bytes(), device_); });
    }
    return info.Env().Undefined();
  }
  Napi::Value Download(const Napi::CallbackInfo& info) {
    Napi::Float32Array a = host_arg(info);
    float* p = live(info.Env());
    if (host_visible_) {
      if (length_) std::memcpy(a.Data(), p, bytes());
    } else {
      cuda_call(info.Env(), [&] { sl::cuda_download(a.Data(), p, bytes(), device_); });
    }
    return info.Env().Undefined();
  }
  Napi::Value CopyFrom(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !Is(info[0]))
      throw Napi::TypeError::New(info.Env(), "a DeviceBuffer is required");
    DeviceBuffer* o = Napi::ObjectWrap<DeviceBuffer>::Unwrap(info[0].As<Napi::Object>());
    if (o->length_ != length_ || o->device_ != device_ || o->host_visible_ != host_visible_)
      throw Napi::RangeError::New(info.Env(), "copyFrom: same length and device required");
    float* dst = live(info.Env());
    float* src = o->live(info.Env());
    if (host_visible_) {
      if (length_ && dst != src) std::memmove(dst, src, bytes());
    } else {
      cuda_call(info.Env(), [&] { sl::cuda_copy(dst, src, bytes(), device_); });
    }
    return info.Env().Undefined();
  }
  Napi::Value Zero(const Napi::CallbackInfo& info) {
    float* p = live(info.Env());
    if (host_visible_) {
      if (length_) std::memset(p, 0, bytes());
    } else {
      cuda_call(info.Env(), [&] { sl::cuda_zero(p, bytes(), device_); });
    }
    return info.Env().Undefined();
  }
  // Another DeviceBuffer object owning the same memory: disposing either leaves the other intact.
  Napi::Value Share(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    Napi::FunctionReference* ctor = env.GetInstanceData<Napi::FunctionReference>();
    share_source() = this;
    try {
      Napi::Object o = ctor->New({});
      share_source() = nullptr;
      return o;
    } catch (...) {
      share_source() = nullptr;
      throw;
    }
  }
  // Whether `other` (a DeviceBuffer) owns the same memory as this one (false once either is
  // disposed).
  Napi::Value SameMemory(const Napi::CallbackInfo& info) {
    if (info.Length() < 1 || !Is(info[0]))
      throw Napi::TypeError::New(info.Env(), "sameMemory: a DeviceBuffer is required");
    DeviceBuffer* o = Napi::ObjectWrap<DeviceBuffer>::Unwrap(info[0].As<Napi::Object>());
    return Napi::Boolean::New(info.Env(), ref_ && ref_.block() == o->ref_.block());
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    release(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Length(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(length_));
  }
  Napi::Value Device(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), device_);
  }
  // Owners of the memory now (this object, its shares, in-flight calls); 0 after dispose().
  Napi::Value Owners(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(ref_.use_count()));
  }
  Napi::Value Disposed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), !ref_);
  }

  sl::mem::DeviceRef ref_;
  int64_t length_ = 0;
  int device_ = 0;
  bool host_visible_ = false;
  int64_t accounted_ = 0;
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
      throw Napi::TypeError::New(env, std::string("native: '") + key + "' is on " + name(dev) +
                                          " but '" + first + "' is on " + name(device) +
                                          ": all tensors of a call must be on one device");
    }
  }
};
inline thread_local Loc* g_loc = nullptr;

// ---- property names ---------------------------------------------------------------------------
// o.Get("name") makes the key string from UTF-8 and interns it on every call, a large part of a
// small call's cost (a LIF call reads ~25 properties). The readers below take their names from
// string literals, so each name is made once per environment and thread and kept in a JS array
// (N-API 8 can reference objects only): a lookup by the literal's address, checked against its
// text, then an element read. Anything unusual falls back to o.Get.
class KeyCache {
 public:
  static Napi::Value get(Napi::Object o, const char* key) {
    napi_env env = o.Env();
    KeyCache& c = instance();
    napi_value k = c.key(env, key);
    if (!k) return o.Get(key);
    return o.Get(Napi::Value(env, k));
  }

 private:
  static constexpr size_t kSlots = 256;  // open addressing on the address; at most half full
  struct Entry {
    const char* ptr = nullptr;
    std::string text;
    uint32_t index = 0;
  };
  static KeyCache& instance() {
    static thread_local KeyCache c;
    return c;
  }
  // The environment is torn down on its own thread: its array goes with it. env_ stays set, so
  // that a late call from that environment falls back to o.Get instead of registering the
  // cleanup hook a second time.
  static void forget(void* arg) {
    KeyCache* c = static_cast<KeyCache*>(arg);
    c->reset(c->env_, nullptr);
  }
  void reset(napi_env env, napi_ref holder) {
    env_ = env;
    holder_ = holder;
    used_ = 0;
    for (Entry& e : slots_) e = Entry{};
  }
  napi_value key(napi_env env, const char* key) {
    if (env != env_) {
      if (env_) return nullptr;  // a second environment on this thread: not cached
      napi_value arr;
      napi_ref ref;
      if (napi_create_array(env, &arr) != napi_ok ||
          napi_create_reference(env, arr, 1, &ref) != napi_ok ||
          napi_add_env_cleanup_hook(env, forget, this) != napi_ok)
        return nullptr;
      reset(env, ref);
    }
    napi_value arr;
    if (!holder_ || napi_get_reference_value(env, holder_, &arr) != napi_ok || !arr) return nullptr;
    size_t h = (reinterpret_cast<uintptr_t>(key) >> 3) % kSlots;
    for (size_t probe = 0; probe < kSlots; ++probe, h = (h + 1) % kSlots) {
      Entry& e = slots_[h];
      if (e.ptr == key) {
        if (e.text != key) return nullptr;  // not a literal after all: its text changed
        napi_value v;
        if (napi_get_element(env, arr, e.index, &v) != napi_ok) return nullptr;
        return v;
      }
      if (e.ptr) continue;
      if (used_ >= kSlots / 2) return nullptr;  // full: the rest goes through o.Get
      napi_value v;
      if (napi_create_string_utf8(env, key, NAPI_AUTO_LENGTH, &v) != napi_ok ||
          napi_set_element(env, arr, used_, v) != napi_ok)
        return nullptr;
      e.ptr = key;
      e.text = key;
      e.index = used_++;
      return v;
    }
    return nullptr;
  }
  napi_env env_ = nullptr;
  napi_ref holder_ = nullptr;
  uint32_t used_ = 0;
  Entry slots_[kSlots];
};

inline int64_t get_int(Napi::Object o, const char* key, int64_t lo, int64_t hi) {
  Napi::Env env = o.Env();
  Napi::Value v = KeyCache::get(o, key);
  if (!v.IsNumber()) throw_type(env, std::string("native: '") + key + "' must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < static_cast<double>(lo) ||
      d > static_cast<double>(hi))
    throw_range(env, std::string("native: '") + key + "' must be an integer in [" +
                         std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int64_t>(d);
}

inline float get_float(Napi::Object o, const char* key, float dflt) {
  Napi::Value v = KeyCache::get(o, key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throw_type(o.Env(), std::string("native: '") + key + "' must be a number");
  return static_cast<float>(v.As<Napi::Number>().DoubleValue());
}

inline bool get_bool(Napi::Object o, const char* key) {
  Napi::Value v = KeyCache::get(o, key);
  if (v.IsUndefined() || v.IsNull()) return false;
  if (!v.IsBoolean()) throw_type(o.Env(), std::string("native: '") + key + "' must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

// A Float32Array of at least `need` elements, or null when optional and absent.
template <typename T, napi_typedarray_type TT>
T* get_array(Napi::Object o, const char* key, int64_t need, bool optional, Keep& keep,
             int64_t* lenOut = nullptr) {
  Napi::Env env = o.Env();
  Napi::Value v = KeyCache::get(o, key);
  if (v.IsUndefined() || v.IsNull()) {
    if (optional) return nullptr;
    throw_type(env, std::string("native: '") + key + "' is required");
  }
  const char* tname = TT == napi_float32_array  ? "Float32Array"
                      : TT == napi_int32_array  ? "Int32Array"
                      : TT == napi_uint16_array ? "Uint16Array"
                      : TT == napi_uint8_array  ? "Uint8Array"
                                                : "Float64Array";
  if constexpr (TT == napi_float32_array) {
    if (!v.IsTypedArray() && DeviceBuffer::Is(v)) {  // IsTypedArray first: instanceof is slow
      DeviceBuffer* d = Napi::ObjectWrap<DeviceBuffer>::Unwrap(v.As<Napi::Object>());
      if (!d->ref()) throw_type(env, std::string("native: '") + key + "' was disposed");
      if (d->length() < need)
        throw_range(env, std::string("native: '") + key + "' has " + std::to_string(d->length()) +
                             " elements, needs " + std::to_string(need));
      if (g_loc) g_loc->see(env, d->place(), key);
      if (lenOut) *lenOut = d->length();
      keep.add(v);
      keep.device.push_back(d->ref());
      return reinterpret_cast<T*>(d->ptr());
    }
  }
  // type, length and data in one napi_get_typedarray_info call (the Napi::TypedArray accessors
  // make one call each)
  napi_typedarray_type type = napi_int8_array;
  size_t length = 0;
  void* data = nullptr;
  if (!v.IsTypedArray() ||
      napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != TT)
    throw_type(env, std::string("native: '") + key + "' must be a " + tname);
  int64_t len = static_cast<int64_t>(length);
  if (len < need)
    throw_range(env, std::string("native: '") + key + "' has " + std::to_string(len) +
                         " elements, needs " + std::to_string(need));
  if (lenOut) *lenOut = len;
  keep.add(v);
  if (TT == napi_float32_array && g_loc) g_loc->see(env, -1, key);
  if (len == 0) return nullptr;
  if (!data) throw_type(env, std::string("native: '") + key + "' is detached");
  T* p = static_cast<T*>(data);  // the data pointer includes the view's byte offset
  // pooled host memory (memory_napi.cc): the call owns a reference, as for a device buffer
  if constexpr (TT == napi_float32_array)
    if (static_cast<size_t>(len) * sizeof(float) >= sl::mem::kHostPoolMin)
      if (sl::mem::Block* b = sl::mem::find_host_block(p)) keep.device.emplace_back(b);
  return p;
}
inline float* f32(Napi::Object o, const char* key, int64_t need, bool optional, Keep& keep,
                  int64_t* lenOut = nullptr) {
  return get_array<float, napi_float32_array>(o, key, need, optional, keep, lenOut);
}
inline double* f64(Napi::Object o, const char* key, int64_t need, bool optional, Keep& keep) {
  return get_array<double, napi_float64_array>(o, key, need, optional, keep);
}

inline int32_t* i32(Napi::Object o, const char* key, int64_t need, bool optional, Keep& keep,
                    int64_t* lenOut = nullptr) {
  return get_array<int32_t, napi_int32_array>(o, key, need, optional, keep, lenOut);
}

// Host-only arrays of the 16-bit and 8-bit dtypes (lib/dtype.ts): bit patterns and bytes.
inline uint16_t* u16(Napi::Object o, const char* key, int64_t need, bool optional, Keep& keep) {
  return get_array<uint16_t, napi_uint16_array>(o, key, need, optional, keep);
}
inline uint8_t* u8(Napi::Object o, const char* key, int64_t need, bool optional, Keep& keep) {
  return get_array<uint8_t, napi_uint8_array>(o, key, need, optional, keep);
}

constexpr int64_t kMaxElems = int64_t(1) << 40;

}  // namespace sl::napi
