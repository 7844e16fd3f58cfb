#pragma once
// Conversions between value types (float, double, bfloat16, float16) and rounding of fp32
// values to a 16-bit precision, as RFCF_HD functors.
#include <cstdint>

#include "rfcf/core/half.hpp"
#include "rfcf/core/hd.hpp"
#include "rfcf/core/precision.hpp"

namespace rfcf::functors {

template <class From, class To>
struct Cast {  // out = To(in), 16-bit types through float
  const From* in;
  To* out;
  RFCF_HD void operator()(int64_t i) const {
    if constexpr (is_half_v<From>) out[i] = static_cast<To>(static_cast<float>(in[i]));
    else out[i] = static_cast<To>(in[i]);
  }
};

// The float nearest (ties to even) to v that is representable in precision p.
RFCF_HD inline float round_to(float v, ComputePrecision p) {
  if (p == ComputePrecision::bf16) return static_cast<float>(bfloat16(v));
  if (p == ComputePrecision::fp16) return static_cast<float>(float16(v));
  return v;
}

struct RoundToPrecision {  // out = round_to(in, p); in may equal out
  const float* in;
  float* out;
  ComputePrecision p;
  RFCF_HD void operator()(int64_t i) const { out[i] = round_to(in[i], p); }
};

struct AccumulateRounded {  // out += round_to(in, p)
  const float* in;
  float* out;
  ComputePrecision p;
  RFCF_HD void operator()(int64_t i) const { out[i] += round_to(in[i], p); }
};

template <class From>
struct AccumulateCast {  // out += float(in)
  const From* in;
  float* out;
  RFCF_HD void operator()(int64_t i) const { out[i] += static_cast<float>(in[i]); }
};

}  // namespace rfcf::functors
