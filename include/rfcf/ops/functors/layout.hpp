#pragma once
// NCHW <-> NHWC permutations (RetinaFace heads flatten their maps channel-last).
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

// out[n, y, x, c] = in[n, c, y, x]; i indexes out.
template <class T>
struct NchwToNhwc {
  const T* in;
  T* out;
  int64_t c, hw;
  RFCF_HD void operator()(int64_t i) const {
    const int64_t ch = i % c, p = (i / c) % hw, n = i / (c * hw);
    out[i] = in[(n * c + ch) * hw + p];
  }
};
// out[n, c, y, x] = in[n, y, x, c]; i indexes out.
template <class T>
struct NhwcToNchw {
  const T* in;
  T* out;
  int64_t c, hw;
  RFCF_HD void operator()(int64_t i) const {
    const int64_t p = i % hw, ch = (i / hw) % c, n = i / (c * hw);
    out[i] = in[(n * hw + p) * c + ch];
  }
};

}  // namespace rfcf::functors
