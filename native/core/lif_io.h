// Element types of the LIF kernels' input and output (lib/dtype.ts): float32, IEEE half and
// bfloat16 inputs, float32 and uint8 outputs. The kernels compute in float32 whatever the I/O
// type: a load widens exactly (every half, bfloat16 and uint8 value is a float32), a store to
// uint8 is exact or reported, never rounded or clamped. Written once for host and device; the CPU
// kernels convert a row at a time (load_row / store_row) around their unchanged step loops.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__SSE2__) && !defined(__CUDACC__)
#include <immintrin.h>
#endif

#include "core/lif_math.h"

namespace sl {

// The element type of an I/O array. The numbers are the N-API contract (`xType`, `outType`).
enum class IoType : int { F32 = 0, F16 = 1, BF16 = 2, U8 = 3 };
constexpr int kLastIoType = static_cast<int>(IoType::U8);

// Bytes per element.
SL_HD int64_t io_size(IoType t) { return t == IoType::F32 ? 4 : t == IoType::U8 ? 1 : 2; }

// 16-bit storage types (bit patterns); distinct types so that the loads below overload on them.
struct Half {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

SL_HD float float_of_bits(uint32_t b) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(b);
#else
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
#endif
}

// Exact widening loads.
SL_HD float load_f32(float x) { return x; }
SL_HD float load_f32(uint8_t x) { return static_cast<float>(x); }
SL_HD float load_f32(BFloat16 x) { return float_of_bits(static_cast<uint32_t>(x.bits) << 16); }
// IEEE half: normal numbers rebias the exponent; Inf/NaN keep their payload; subnormals are
// m * 2^-24 (exact: m < 2^10, and the product is a normal float32). Branch-free, so the row
// loop vectorises.
SL_HD float load_f32(Half x) {
  // signed 32-bit arithmetic throughout: AVX2 has no unsigned compares or conversions
  const int32_t h = x.bits;
  const int32_t sign = (h & 0x8000) << 16;
  const int32_t em = h & 0x7fff;
  const int32_t normal = (em << 13) + ((127 - 15) << 23);
  const int32_t special = 0x7f800000 | ((em & 0x3ff) << 13);
  const float sub = static_cast<float>(em) * 5.9604644775390625e-8f;  // 2^-24
  int32_t subBits;
#if defined(__CUDA_ARCH__)
  subBits = __float_as_int(sub);
#else
  std::memcpy(&subBits, &sub, sizeof subBits);
#endif
  const int32_t mag = em >= 0x7c00 ? special : em >= 0x400 ? normal : subBits;
  return float_of_bits(static_cast<uint32_t>(sign | mag));
}

// Stores: float32 as is; uint8 only an integer 0..255 (returns false, and stores 0, otherwise).
// The float-to-int conversion only ever sees a value in [0, 255] (NaN fails every comparison).
SL_HD bool store_f32(float v, float* dst) {
  *dst = v;
  return true;
}
SL_HD bool store_f32(float v, uint8_t* dst) {
  const float c = (v >= 0.0f && v <= 255.0f) ? v : 0.0f;
  const int i = static_cast<int>(c);
  const bool ok = c == v && static_cast<float>(i) == v;
  *dst = static_cast<uint8_t>(ok ? i : 0);
  return ok;
}

// ---- rows (host)
// ---------------------------------------------------------------------------------

// Widens `len` elements of type T at `src` into `dst`.
template <class T>
inline void load_row_as(const T* __restrict src, float* __restrict dst, int64_t len) {
#pragma omp simd
  for (int64_t j = 0; j < len; ++j) dst[j] = load_f32(src[j]);
}

// Row `at` (an element offset) of an input of type `t`, as float32: the array itself for float32,
// else widened into `buf` (len floats).
inline const float* load_row(IoType t, const void* base, int64_t at, float* buf, int64_t len) {
  switch (t) {
    case IoType::F16: load_row_as(static_cast<const Half*>(base) + at, buf, len); return buf;
    case IoType::BF16: load_row_as(static_cast<const BFloat16*>(base) + at, buf, len); return buf;
    case IoType::U8: load_row_as(static_cast<const uint8_t*>(base) + at, buf, len); return buf;
    case IoType::F32:
    default: return static_cast<const float*>(base) + at;
  }
}

// Stores `len` float32 values at row `at` of a uint8 output. Returns the index within the row of
// the first value uint8 cannot hold (its byte is then unspecified), or -1. The loop is the
// store_f32 rule written out so that it vectorises: a value outside [0, 255] (or NaN) converts 0,
// and fits exactly when the converted integer equals it.
inline int64_t convert_row_u8(uint8_t* __restrict dst, const float* __restrict src, int64_t len) {
  int bad = 0;
  for (int64_t j = 0; j < len; ++j) {  // GCC vectorises this plain loop (not the omp simd form)
    const float v = src[j];
    const int i = static_cast<int>((v >= 0.0f && v <= 255.0f) ? v : 0.0f);
    bad |= static_cast<float>(i) != v ? 1 : 0;
    dst[j] = static_cast<uint8_t>(i);
  }
  if (!bad) return -1;
  uint8_t scratch;
  for (int64_t j = 0; j < len; ++j)
    if (!store_f32(src[j], &scratch)) return j;
  return -1;
}

// Copies `n` bytes with non-temporal (streaming) stores where the host has them: a large output
// is then written without first reading its lines into the cache (see stream_row in
// native/cpu/lif_cpu.cc; the caller fences before handing the output over).
inline void stream_bytes(uint8_t* __restrict dst, const uint8_t* __restrict src, int64_t n) {
  int64_t k = 0;
#if defined(__SSE2__) && !defined(__CUDACC__)
  for (; k < n && (reinterpret_cast<uintptr_t>(dst + k) & 15) != 0; ++k) dst[k] = src[k];
  for (; k + 16 <= n; k += 16)
    _mm_stream_si128(reinterpret_cast<__m128i*>(dst + k),
                     _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + k)));
#endif
  for (; k < n; ++k) dst[k] = src[k];
}

// store_row_u8 of a row: converted in place, or with `stream` staged in 256-byte pieces and
// written with streaming stores. Returns the index within the row of the first value uint8
// cannot hold, or -1.
inline int64_t store_row_u8(uint8_t* __restrict dst, const float* __restrict src, int64_t len,
                            bool stream) {
  if (!stream) return convert_row_u8(dst, src, len);
  alignas(64) uint8_t piece[256];
  int64_t bad = -1;
  for (int64_t j0 = 0; j0 < len; j0 += 256) {
    const int64_t n = len - j0 < 256 ? len - j0 : 256;
    const int64_t b = convert_row_u8(piece, src + j0, n);
    if (b >= 0 && bad < 0) bad = j0 + b;
    stream_bytes(dst + j0, piece, n);
  }
  return bad;
}

// Prefetch of row `at` of an input of type `t` (len elements), for reading.
inline void prefetch_io(IoType t, const void* base, int64_t at, int64_t len) {
  const char* p = static_cast<const char*>(base) + at * io_size(t);
  const int64_t bytes = len * io_size(t);
  for (int64_t k = 0; k < bytes; k += 64) __builtin_prefetch(p + k, 0, 3);
}

}  // namespace sl
