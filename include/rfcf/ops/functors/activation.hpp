#pragma once
// Activation math shared by host and CUDA executors.
#include <cmath>
#include <cstdint>

#include "rfcf/core/hd.hpp"
#include "rfcf/ops/functors/channel_index.hpp"

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

// PReLU with one slope per channel of [outer, c, inner] (c = 1: one shared slope).
template <class T>
struct PReluForward {
  const T* x;
  const T* weight;
  T* y;
  ChannelOf channel;
  RFCF_HD void operator()(int64_t i) const {
    const T w = weight[channel(i)];  // loaded unconditionally: the select then needs no branch
    y[i] = x[i] > T(0) ? x[i] : w * x[i];
  }
};
// dx = dy where x > 0, weight * dy elsewhere; dw_terms = dy * x where x <= 0 (summed per
// channel afterwards into the weight gradient).
template <class T>
struct PReluBackward {
  const T* x;
  const T* weight;
  const T* dy;
  T* dx;
  T* dw_terms;
  ChannelOf channel;
  RFCF_HD void operator()(int64_t i) const {
    const T w = weight[channel(i)];
    const bool pos = x[i] > T(0);
    dx[i] = pos ? dy[i] : w * dy[i];
    dw_terms[i] = pos ? T(0) : dy[i] * x[i];
  }
};

// The same on whole planes of `inner` elements sharing one slope (plane p has channel p % c):
// no per-element index math, so host loops run at memory speed (the per-element functors above
// spent half of MobileFaceNet's inference time computing channel indices). The host path of
// nn::PReLU runs these; the CUDA path keeps the per-element functors.
template <class T>
struct PReluPlaneForward {
  const T* x;
  const T* weight;
  T* y;
  int64_t c, inner;
  RFCF_HD void operator()(int64_t p) const {
    const T w = weight[p % c];
    const T* xp = x + p * inner;
    T* yp = y + p * inner;
    // max(x, 0) + w min(x, 0) as two selects: branch-free (a data-dependent branch mispredicts on
    // every other element of a zero-mean activation), so the compiler vectorises it. The second
    // select keeps x when it is not > 0, so a NaN input stays NaN (as in PyTorch).
    for (int64_t k = 0; k < inner; ++k) {
      const T v = xp[k];
      yp[k] = (v > T(0) ? v : T(0)) + w * (v > T(0) ? T(0) : v);
    }
  }
};
// dx of one plane, and the plane's sum of dy * x over x <= 0 (its weight-gradient term).
template <class T>
struct PReluPlaneBackward {
  const T* x;
  const T* weight;
  const T* dy;
  T* dx;
  T* plane_dw;
  int64_t c, inner;
  RFCF_HD void operator()(int64_t p) const {
    const T w = weight[p % c];
    const T* xp = x + p * inner;
    const T* dyp = dy + p * inner;
    T* dxp = dx + p * inner;
    T sum = T(0);
    for (int64_t k = 0; k < inner; ++k) {
      const bool pos = xp[k] > T(0);
      dxp[k] = dyp[k] * (pos ? T(1) : w);
      sum += dyp[k] * (pos ? T(0) : xp[k]);
    }
    plane_dw[p] = sum;
  }
};

// y = 1 / (1 + exp(-x)), written so that exp never overflows.
template <class T>
struct SigmoidForward {
  const T* x;
  T* y;
  RFCF_HD void operator()(int64_t i) const {
    using std::exp;
    const T v = x[i];
    if (v >= T(0)) {
      y[i] = T(1) / (T(1) + exp(-v));
    } else {
      const T e = exp(v);
      y[i] = e / (T(1) + e);
    }
  }
};
// dx = dy * y * (1 - y) from the forward output y.
template <class T>
struct SigmoidBackward {
  const T* y;
  const T* dy;
  T* dx;
  RFCF_HD void operator()(int64_t i) const { dx[i] = dy[i] * y[i] * (T(1) - y[i]); }
};

}  // namespace rfcf::functors
