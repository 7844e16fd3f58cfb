#pragma once
// y[n,c,p] = x[n,c,p] * s[n,c] (squeeze-and-excitation gating) and its gradients.
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

template <class T>
struct SampleChannelScale {
  const T* x;
  const T* s;
  T* y;
  int64_t hw;
  RFCF_HD void operator()(int64_t i) const { y[i] = x[i] * s[i / hw]; }
};
// ds[n,c] = sum_p dy[n,c,p] * x[n,c,p]; one index per (n,c).
template <class T>
struct SampleChannelScaleGrad {
  const T* x;
  const T* dy;
  T* ds;
  int64_t hw;
  RFCF_HD void operator()(int64_t nc) const {
    T acc = 0;
    for (int64_t p = 0; p < hw; ++p) acc += dy[nc * hw + p] * x[nc * hw + p];
    ds[nc] = acc;
  }
};

}  // namespace rfcf::functors
