#pragma once
// Copies between a tensor and a channel range of a wider tensor (concat forward/backward).
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

// narrow [N, Cn, HW] <-> wide [N, Cw, HW] at channel offset `offset`.
template <class T>
struct NarrowToWide {
  const T* narrow;
  T* wide;
  int64_t cn, cw, offset, hw;
  RFCF_HD void operator()(int64_t i) const {
    const int64_t per = cn * hw, n = i / per, r = i - n * per;
    wide[n * cw * hw + offset * hw + r] = narrow[i];
  }
};
template <class T>
struct WideToNarrow {
  const T* wide;
  T* narrow;
  int64_t cn, cw, offset, hw;
  RFCF_HD void operator()(int64_t i) const {
    const int64_t per = cn * hw, n = i / per, r = i - n * per;
    narrow[i] = wide[n * cw * hw + offset * hw + r];
  }
};

}  // namespace rfcf::functors
