#pragma once
// MixedPrecision<cpu>: bf16 / fp16 convolutions and GEMMs emulated exactly in fp32 (round the
// inputs, run the fp32 op, round 16-bit outputs); see ops/mixed_precision.hpp for the contract.
#include "rfcf/ops/cpu/conv2d.hpp"
#include "rfcf/ops/cpu/gemm.hpp"
#include "rfcf/ops/emulated_mixed_precision.hpp"
#include "rfcf/ops/mixed_precision.hpp"

namespace rfcf::ops {

template <>
struct MixedPrecision<cpu> : EmulatedMixedPrecision<cpu> {};

}  // namespace rfcf::ops
