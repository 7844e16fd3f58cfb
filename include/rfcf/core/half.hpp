#pragma once
// 16-bit floating-point storage types: rfcf::bfloat16 (8-bit exponent, 7-bit mantissa, the
// range of float) and rfcf::float16 (IEEE binary16: 5-bit exponent, 10-bit mantissa).
// Both hold the raw bits and are layout-compatible with CUDA's __nv_bfloat16 / __half (2 bytes,
// trivially copyable), so cuda code may reinterpret_cast between them. Conversion from float
// rounds to nearest, ties to even, by bit manipulation (identical on host and device); all
// arithmetic and comparison goes through float, so generic RFCF_HD functors work on them.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "rfcf/core/hd.hpp"

namespace rfcf {

namespace half_detail {

RFCF_HD inline uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

RFCF_HD inline float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// float -> bfloat16 bits: the upper half of the float, rounded to nearest even. NaN stays NaN
// (quiet bit set, so truncating the payload cannot turn it into infinity); overflow past the
// largest bfloat16 rounds to infinity exactly as float would.
RFCF_HD inline uint16_t float_to_bf16_bits(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  const uint32_t lsb = (u >> 16) & 1u;
  return static_cast<uint16_t>((u + 0x7fffu + lsb) >> 16);
}

RFCF_HD inline float bf16_bits_to_float(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

// float -> IEEE half bits, round to nearest even, with subnormals, overflow to infinity and
// NaN kept NaN (quiet).
RFCF_HD inline uint16_t float_to_fp16_bits(float f) {
  const uint32_t u = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  const uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((a >> 13) & 0x03ffu));  // NaN
  if (a >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520 (and inf): infinity
  if (a < 0x38800000u) {                                               // below 2^-14: subnormal or zero
    if (a <= 0x33000000u) return sign;                                 // <= 2^-25 rounds (ties to even) to 0
    const uint32_t e = a >> 23;
    const uint32_t m = (a & 0x007fffffu) | 0x00800000u;
    const uint32_t shift = 126u - e;  // 14..24
    uint32_t h = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (h & 1u))) ++h;
    return static_cast<uint16_t>(sign | h);
  }
  uint32_t h = (a - 0x38000000u) >> 13;  // rebias the exponent 127 -> 15, keep 10 mantissa bits
  const uint32_t rem = a & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // a carry moves into the exponent
  return static_cast<uint16_t>(sign | h);
}

RFCF_HD inline float fp16_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t e = (h >> 10) & 0x1fu, m = h & 0x03ffu;
  if (e == 0x1fu) return bits_float(sign | 0x7f800000u | (m << 13));  // inf, NaN
  if (e == 0) {
    if (m == 0) return bits_float(sign);
    // subnormal: m * 2^-24, exact in float
    return bits_float(sign | float_bits(static_cast<float>(m) * 5.9604644775390625e-8f));
  }
  return bits_float(sign | ((e + 112u) << 23) | (m << 13));
}

}  // namespace half_detail

// A 16-bit float stored as its raw bits; Codec converts float <-> bits. All arithmetic goes
// through float.
template <class Codec>
struct Float16Storage {
  uint16_t bits;

  Float16Storage() = default;
  RFCF_HD Float16Storage(float f) : bits(Codec::to_bits(f)) {}
  RFCF_HD Float16Storage(double d) : Float16Storage(static_cast<float>(d)) {}
  RFCF_HD Float16Storage(int i) : Float16Storage(static_cast<float>(i)) {}
  RFCF_HD static Float16Storage from_bits(uint16_t b) {
    Float16Storage h;
    h.bits = b;
    return h;
  }
  RFCF_HD operator float() const { return Codec::to_float(bits); }
  RFCF_HD Float16Storage& operator+=(float v) { return *this = Float16Storage(float(*this) + v); }
  RFCF_HD Float16Storage& operator-=(float v) { return *this = Float16Storage(float(*this) - v); }
  RFCF_HD Float16Storage& operator*=(float v) { return *this = Float16Storage(float(*this) * v); }
  RFCF_HD Float16Storage& operator/=(float v) { return *this = Float16Storage(float(*this) / v); }
};

namespace half_detail {
struct Bf16Codec {
  RFCF_HD static uint16_t to_bits(float f) { return float_to_bf16_bits(f); }
  RFCF_HD static float to_float(uint16_t b) { return bf16_bits_to_float(b); }
};
struct Fp16Codec {
  RFCF_HD static uint16_t to_bits(float f) { return float_to_fp16_bits(f); }
  RFCF_HD static float to_float(uint16_t b) { return fp16_bits_to_float(b); }
};
}  // namespace half_detail

using bfloat16 = Float16Storage<half_detail::Bf16Codec>;
using float16 = Float16Storage<half_detail::Fp16Codec>;

static_assert(sizeof(bfloat16) == 2 && std::is_trivially_copyable_v<bfloat16> && std::is_standard_layout_v<bfloat16>);
static_assert(sizeof(float16) == 2 && std::is_trivially_copyable_v<float16> && std::is_standard_layout_v<float16>);

template <class T>
inline constexpr bool is_half_v = std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>;

}  // namespace rfcf
