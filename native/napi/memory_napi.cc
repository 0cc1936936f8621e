// N-API entry points of the caching allocator (core/caching_allocator.h), exported as
// `deviceMemory`: statistics per device, emptying the cache, the cache limit, and the test hooks
// (the test memory that stands in for a device, its size limit, and the gate of async calls);
// and as `hostMemory`: Float32Arrays over pooled host memory, owned by reference like device
// buffers, for the data the kernels write on the default path.
#include "core/caching_allocator.h"
#include "napi/napi_common.h"
#include "napi/nn_register.h"

namespace sl::napi {
namespace {

// (device: integer in [0, 1024), or -1 for all devices where allowed; test?: boolean)
int device_arg(const Napi::CallbackInfo& info, const char* fn, bool allowAll) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber())
    throw_type(env, std::string("deviceMemory.") + fn + ": 'device' must be a number");
  const double d = info[0].As<Napi::Number>().DoubleValue();
  if (d != std::floor(d) || !(d >= (allowAll ? -1 : 0) && d < 1024))
    throw_range(env, std::string("deviceMemory.") + fn + ": 'device' must be an integer in [" +
                         (allowAll ? "-1" : "0") + ", 1024)");
  return static_cast<int>(d);
}

sl::mem::RawMemory& memory_arg(const Napi::CallbackInfo& info, const char* fn) {
  if (info.Length() < 2 || info[1].IsUndefined()) return sl::mem::cuda_memory();
  if (!info[1].IsBoolean())
    throw_type(info.Env(), std::string("deviceMemory.") + fn + ": 'test' must be a boolean");
  return info[1].As<Napi::Boolean>().Value() ? sl::mem::test_memory() : sl::mem::cuda_memory();
}

size_t bytes_arg(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber())
    throw_type(env, std::string("deviceMemory.") + fn + ": 'bytes' must be a number");
  const double b = info[0].As<Napi::Number>().DoubleValue();
  if (b == std::numeric_limits<double>::infinity()) return SIZE_MAX;
  if (!(b >= 0) || b != std::floor(b) || b > 9007199254740992.0)
    throw_range(env, std::string("deviceMemory.") + fn +
                         ": 'bytes' must be a non-negative integer or Infinity");
  return static_cast<size_t>(b);
}

// An allocator's counters as the JS stats object (binding.d.ts NativeDeviceMemoryStats).
Napi::Object stats_object(Napi::Env env, const sl::mem::Stats& s, int64_t handles) {
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char* k, int64_t v) {
    o.Set(k, Napi::Number::New(env, static_cast<double>(v)));
  };
  set("bytesInUse", s.bytesInUse);
  set("bytesCached", s.bytesCached);
  set("blocksInUse", s.blocksInUse);
  set("blocksCached", s.blocksCached);
  set("rawBlocks", s.rawBlocks);
  set("rawBytes", s.rawBytes);
  set("rawAllocs", s.rawAllocs);
  set("rawFrees", s.rawFrees);
  set("cacheHits", s.cacheHits);
  set("fenceWaits", s.fenceWaits);
  set("handles", handles);
  return o;
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int device = device_arg(info, "stats", false);
  const sl::mem::Stats s = sl::mem::stats(memory_arg(info, "stats"), device);
  return stats_object(env, s, g_device_handles.load());
}

Napi::Value EmptyCache(const Napi::CallbackInfo& info) {
  const int device = device_arg(info, "emptyCache", true);
  sl::mem::RawMemory& raw = memory_arg(info, "emptyCache");
  sl::mem::empty_cache(raw, device);
  if (&raw == &sl::mem::cuda_memory()) sl::cuda_trim_default_pools();
  return info.Env().Undefined();
}

Napi::Value SetCacheLimit(const Napi::CallbackInfo& info) {
  sl::mem::set_cache_limit(bytes_arg(info, "setCacheLimit"));
  return info.Env().Undefined();
}

Napi::Value CacheLimit(const Napi::CallbackInfo& info) {
  const size_t b = sl::mem::cache_limit();
  return Napi::Number::New(
      info.Env(), b == SIZE_MAX ? std::numeric_limits<double>::infinity() : static_cast<double>(b));
}

Napi::Value UseTestMemory(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsBoolean())
    throw_type(info.Env(), "deviceMemory._useTestMemory: 'on' must be a boolean");
  g_use_test_memory.store(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

Napi::Value UsingTestMemory(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), g_use_test_memory.load());
}

Napi::Value SetTestMemoryLimit(const Napi::CallbackInfo& info) {
  sl::mem::set_test_memory_limit(bytes_arg(info, "_setTestMemoryLimit"));
  return info.Env().Undefined();
}

// The external memory V8 accounts to this environment now (what napi_adjust_external_memory
// returns), for the tests of the accounting.
Napi::Value ExternalMemory(const Napi::CallbackInfo& info) {
  int64_t total = 0;
  napi_adjust_external_memory(info.Env(), 0, &total);
  return Napi::Number::New(info.Env(), static_cast<double>(total));
}

Napi::Value Gate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    throw_type(env, "deviceMemory._gate: 'command' must be a string");
  const std::string c = info[0].As<Napi::String>().Utf8Value();
  if (c == "close")
    sl::mem::gate_close();
  else if (c == "open")
    sl::mem::gate_open();
  else if (c != "status")
    throw_range(env, "deviceMemory._gate: 'command' must be 'close', 'open' or 'status'");
  Napi::Object o = Napi::Object::New(env);
  o.Set("waiting", Napi::Number::New(env, static_cast<double>(sl::mem::gate_waiting())));
  o.Set("passed", Napi::Number::New(env, static_cast<double>(sl::mem::gate_passed())));
  return o;
}

// ---- host arrays from the host pool ---------------------------------------------------------
// A pooled host array is a Float32Array over an external ArrayBuffer whose memory is a block of
// host_memory(): the ArrayBuffer holds a reference (HostHold) that its finalizer drops when it is
// collected, or hostRelease drops at once after detaching the ArrayBuffer, so that no JavaScript
// view can reach the memory once it may have a new owner. Calls that receive such an array take
// their own reference (napi_common.h get_array), like for device buffers.
using sl::mem::kHostPoolMin;

struct HostHold {
  sl::mem::DeviceRef ref;
};

void host_finalize(napi_env, void*, void* hint) { delete static_cast<HostHold*>(hint); }

// A Float32Array of n elements over `ref`'s memory, or an empty value when the environment does
// not allow external ArrayBuffers.
Napi::Value host_array(Napi::Env env, const sl::mem::DeviceRef& ref, size_t n) {
  auto* h = new HostHold{ref};
  napi_value ab = nullptr, ta = nullptr;
  if (napi_create_external_arraybuffer(env, h->ref.ptr(), n * sizeof(float), host_finalize, h,
                                       &ab) != napi_ok) {
    delete h;
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
    }
    return Napi::Value();
  }
  NAPI_THROW_IF_FAILED(env, napi_create_typedarray(env, napi_float32_array, n, ab, 0, &ta),
                       Napi::Value());
  NAPI_THROW_IF_FAILED(env, napi_wrap(env, ta, h, nullptr, nullptr, nullptr), Napi::Value());
  // No napi_adjust_external_memory here: V8 counts an external ArrayBuffer's bytes in its
  // external memory itself (process.memoryUsage().external grows by the array's size and falls
  // back on detach), which drives its collections of dropped arrays. Reporting them a second
  // time doubled the count: a 52 MB output per call crossed V8's 64 MB external-growth limit and
  // started a full collection per call, whose concurrent marking took a core from the kernel's
  // OpenMP threads (measured: conv eval forward 13.3 ms instead of 7.3 ms at 2 threads).
  return Napi::Value(env, ta);
}

HostHold* host_hold(Napi::Env env, Napi::Value v) {
  if (!v.IsTypedArray()) return nullptr;
  void* h = nullptr;
  if (napi_unwrap(env, v, &h) != napi_ok) {
    bool pending = false;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
    }
    return nullptr;
  }
  return static_cast<HostHold*>(h);
}

Napi::Float32Array f32_arg(const Napi::CallbackInfo& info, size_t k, const char* fn) {
  if (info.Length() <= k || !info[k].IsTypedArray() ||
      info[k].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(info.Env(), std::string(fn) + ": a Float32Array is required");
  return info[k].As<Napi::Float32Array>();
}

// hostAlloc(n, zero): n floats, zeros when `zero` (contents unspecified otherwise); from the pool
// from 64 KiB on.
Napi::Value HostAlloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsBoolean())
    throw_type(env, "hostAlloc(n, zero): a number and a boolean expected");
  const double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || d != std::floor(d))
    throw_range(env, "hostAlloc: 'n' must be an integer in [0, 2^32)");
  const size_t n = static_cast<size_t>(d);
  const bool zero = info[1].As<Napi::Boolean>().Value();
  // Pooled arrays that are dropped without release() come back when their finalizer runs, which
  // Node defers to the event loop: a synchronous loop that never yields would hold every one of
  // them. So at most the cache limit's worth of pooled memory is out at a time; beyond that,
  // arrays are V8's own (collected as usual).
  sl::mem::RawMemory& host = sl::mem::host_memory();
  if (n * sizeof(float) >= kHostPoolMin && static_cast<size_t>(sl::mem::stats(host, 0).bytesInUse) +
                                                   sl::mem::size_class(n * sizeof(float)) <=
                                               host.cacheLimit.load()) {
    sl::mem::DeviceRef ref;
    try {
      ref = sl::mem::allocate(host, 0, n * sizeof(float));
    } catch (const std::exception&) {  // out of memory: V8's own allocation reports it
    }
    if (ref) {
      if (zero) std::memset(ref.ptr(), 0, n * sizeof(float));
      Napi::Value a = host_array(env, ref, n);
      if (!a.IsEmpty()) return a;
    }
  }
  return Napi::Float32Array::New(env, n);
}

// hostRelease(a): gives up a pooled array's reference now (its ArrayBuffer is detached); false
// (and nothing done) for any other array.
Napi::Value HostRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array a = f32_arg(info, 0, "hostRelease");
  void* h = nullptr;
  if (!host_hold(env, a)) return Napi::Boolean::New(env, false);
  NAPI_THROW_IF_FAILED(env, napi_remove_wrap(env, a, &h), Napi::Value());
  napi_value ab = a.ArrayBuffer();
  NAPI_THROW_IF_FAILED(env, napi_detach_arraybuffer(env, ab), Napi::Value());
  static_cast<HostHold*>(h)->ref.reset();  // the finalizer of the ArrayBuffer deletes the hold
  return Napi::Boolean::New(env, true);
}

// hostShare(a): another array owning the same pooled memory, or `a` itself for any other array.
Napi::Value HostShare(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float32Array a = f32_arg(info, 0, "hostShare");
  HostHold* h = host_hold(env, a);
  if (!h || !h->ref) return a;
  Napi::Value s = host_array(env, h->ref, a.ElementLength());
  if (s.IsEmpty()) throw Napi::Error::New(env, "hostShare: external ArrayBuffers are not allowed");
  return s;
}

// hostSoleOwner(a): the bytes of a's block (its size class) when a's hold is the block's only
// owner (no share, no call in flight), else 0 (also for arrays that are not pooled). Such an
// array can be handed out again as it is (lib/storage.ts), keeping its ArrayBuffer.
Napi::Value HostSoleOwner(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostHold* h = host_hold(env, f32_arg(info, 0, "hostSoleOwner"));
  if (!h || !h->ref || h->ref.block()->refs.load(std::memory_order_acquire) != 1)
    return Napi::Number::New(env, 0);
  return Napi::Number::New(env, static_cast<double>(h->ref.block()->bytes));
}

// hostSameMemory(a, b): whether two pooled arrays own the same memory.
Napi::Value HostSameMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  HostHold* a = host_hold(env, f32_arg(info, 0, "hostSameMemory"));
  HostHold* b = host_hold(env, f32_arg(info, 1, "hostSameMemory"));
  return Napi::Boolean::New(env, a && b && a->ref && a->ref.block() == b->ref.block());
}

Napi::Value HostStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const sl::mem::Stats s = sl::mem::stats(sl::mem::host_memory(), 0);
  return stats_object(env, s, 0);
}

Napi::Value SetHostCacheLimit(const Napi::CallbackInfo& info) {
  sl::mem::host_memory().cacheLimit.store(bytes_arg(info, "setHostCacheLimit"));
  return info.Env().Undefined();
}

Napi::Value HostCacheLimit(const Napi::CallbackInfo& info) {
  const size_t b = sl::mem::host_memory().cacheLimit.load();
  return Napi::Number::New(
      info.Env(), b == SIZE_MAX ? std::numeric_limits<double>::infinity() : static_cast<double>(b));
}

Napi::Value EmptyHostCache(const Napi::CallbackInfo& info) {
  sl::mem::empty_cache(sl::mem::host_memory(), -1);
  return info.Env().Undefined();
}

}  // namespace

void register_memory_ops(Napi::Env env, Napi::Object exports) {
  Napi::Object m = Napi::Object::New(env);
  m.Set("stats", Napi::Function::New(env, Stats, "stats"));
  m.Set("emptyCache", Napi::Function::New(env, EmptyCache, "emptyCache"));
  m.Set("setCacheLimit", Napi::Function::New(env, SetCacheLimit, "setCacheLimit"));
  m.Set("cacheLimit", Napi::Function::New(env, CacheLimit, "cacheLimit"));
  m.Set("_useTestMemory", Napi::Function::New(env, UseTestMemory, "_useTestMemory"));
  m.Set("_usingTestMemory", Napi::Function::New(env, UsingTestMemory, "_usingTestMemory"));
  m.Set("_setTestMemoryLimit", Napi::Function::New(env, SetTestMemoryLimit, "_setTestMemoryLimit"));
  m.Set("_gate", Napi::Function::New(env, Gate, "_gate"));
  m.Set("_externalMemory", Napi::Function::New(env, ExternalMemory, "_externalMemory"));
  m.Freeze();
  exports.Set("deviceMemory", m);
  Napi::Object h = Napi::Object::New(env);
  h.Set("alloc", Napi::Function::New(env, HostAlloc, "alloc"));
  h.Set("release", Napi::Function::New(env, HostRelease, "release"));
  h.Set("share", Napi::Function::New(env, HostShare, "share"));
  h.Set("sameMemory", Napi::Function::New(env, HostSameMemory, "sameMemory"));
  h.Set("soleOwner", Napi::Function::New(env, HostSoleOwner, "soleOwner"));
  h.Set("stats", Napi::Function::New(env, HostStats, "stats"));
  h.Set("setCacheLimit", Napi::Function::New(env, SetHostCacheLimit, "setCacheLimit"));
  h.Set("cacheLimit", Napi::Function::New(env, HostCacheLimit, "cacheLimit"));
  h.Set("emptyCache", Napi::Function::New(env, EmptyHostCache, "emptyCache"));
  h.Set("poolMinBytes", Napi::Number::New(env, static_cast<double>(kHostPoolMin)));
  h.Freeze();
  exports.Set("hostMemory", h);
}

}  // namespace sl::napi
