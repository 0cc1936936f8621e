// Registration of the network operations' entry points on the addon's exports.
#pragma once
#include <napi.h>

namespace sl::napi {
// Linear and Conv2d: GEMM, im2col/col2im, bias, the event-driven (sparse) paths (synapse_napi.cc).
void register_synapse_ops(Napi::Env env, Napi::Object exports);
// Pooling, elementwise and reduction kernels, losses, optimizer updates (ops_napi.cc).
void register_tensor_ops(Napi::Env env, Napi::Object exports);
// The device-memory allocator: statistics, cache control, and the test hooks (memory_napi.cc).
void register_memory_ops(Napi::Env env, Napi::Object exports);
}  // namespace sl::napi
