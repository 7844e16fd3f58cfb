#pragma once
// Channel of a flat index in a [outer, c, inner] tensor, (i / inner) % c, without hardware
// division: a 64-bit integer division costs ~40 cycles on a CPU (and is emulated on a GPU),
// more than the arithmetic of a whole batch-norm or PReLU element. Divisions by a runtime
// constant become a multiply-high and a shift (Granlund-Montgomery, round-up variant), exact for
// every 32-bit dividend. Tensors with 2^32 elements or more fall back to plain division.
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

// q = n / d for 0 <= n < 2^32 and 1 <= d < 2^32.
struct FastDivisor {
  uint64_t multiplier = 1;  // < 2^32
  uint32_t shift = 0;

  FastDivisor() = default;
  explicit FastDivisor(uint64_t d) {
    uint32_t l = 0;
    while ((uint64_t{1} << l) < d) ++l;  // l = ceil(log2(d))
    shift = l;
    multiplier = ((uint64_t{1} << 32) * ((uint64_t{1} << l) - d)) / d + 1;
  }
  RFCF_HD uint64_t divide(uint64_t n) const {
    const uint64_t t = (n * multiplier) >> 32;
    return (t + n) >> shift;
  }
};

struct ChannelOf {
  int64_t c = 1, inner = 1;
  bool fast = true;
  FastDivisor by_inner, by_c;

  ChannelOf() = default;
  // numel: the number of elements the functor runs over (decides whether 32-bit math is exact).
  ChannelOf(int64_t c_, int64_t inner_, int64_t numel)
      : c(c_ > 0 ? c_ : 1), inner(inner_ > 0 ? inner_ : 1), fast(numel < (int64_t{1} << 32)),
        by_inner(static_cast<uint64_t>(inner)), by_c(static_cast<uint64_t>(c)) {}

  RFCF_HD int64_t operator()(int64_t i) const {
    if (!fast) return (i / inner) % c;
    const uint64_t q = by_inner.divide(static_cast<uint64_t>(i));
    return static_cast<int64_t>(q - by_c.divide(q) * static_cast<uint64_t>(c));
  }
};

}  // namespace rfcf::functors
