// N-API entry points of the device-memory allocator (core/caching_allocator.h), exported as
// `deviceMemory`: statistics per device, emptying the cache, the cache limit, and the test hooks
// (the test memory that stands in for a device, its size limit, and the gate of async calls).
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

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int device = device_arg(info, "stats", false);
  const sl::mem::Stats s = sl::mem::stats(memory_arg(info, "stats"), device);
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
  set("handles", g_device_handles.load());
  return o;
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
}

}  // namespace sl::napi
