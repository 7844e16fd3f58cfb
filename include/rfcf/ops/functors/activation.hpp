#pragma once
// Activation math shared by host and CUDA executors.
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

// y = x >= 0 ? x : slope * x (slope 0 is ReLU).
template <class T>
struct LeakyReluForward {
  const T* x;
  T* y;
  T slope;
  RFCF_HD void operator()(int64_t i) const { y[i] = x[i] >= T(0) ? x[i] : slope * x[i]; }
};
// dx = dy where x >= 0 (PyTorch uses x > 0 for the gradient; at exactly 0 both give slope*0 = 0
// difference only for slope != 0, where PyTorch takes the positive branch for x > 0).
template <class T>
struct LeakyReluBackward {
  const T* x;
  const T* dy;
  T* dx;
  T slope;
  RFCF_HD void operator()(int64_t i) const { dx[i] = x[i] > T(0) ? dy[i] : slope * dy[i]; }
};

}  // namespace rfcf::functors
