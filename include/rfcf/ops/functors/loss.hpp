#pragma once
// Loss math shared by host and CUDA executors.
#include <cmath>
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

// nll[r] = -logp[r, label[r]] for rows of [N, C].
template <class T>
struct GatherNll {
  const T* logp;
  const int64_t* labels;
  T* nll;
  int64_t cols;
  RFCF_HD void operator()(int64_t r) const { nll[r] = -logp[r * cols + labels[r]]; }
};

// dlogits[r, j] = (softmax[r, j] - [j == label[r]]) * scale, softmax = exp(logp).
template <class T>
struct CrossEntropyBackward {
  const T* logp;
  const int64_t* labels;
  T* dlogits;
  int64_t cols;
  T scale;
  RFCF_HD void operator()(int64_t i) const {
    using std::exp;
    const int64_t r = i / cols, j = i - r * cols;
    dlogits[i] = (exp(logp[i]) - (j == labels[r] ? T(1) : T(0))) * scale;
  }
};

// Smooth L1 (Huber with slope 1 outside): d = pred - target,
// loss = 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta (beta = 0: |d|).
template <class T>
struct SmoothL1Forward {
  const T* pred;
  const T* target;
  T* loss;
  T beta;
  RFCF_HD void operator()(int64_t i) const {
    const T d = pred[i] - target[i];
    const T a = d < T(0) ? -d : d;
    loss[i] = a < beta ? T(0.5) * d * d / beta : a - T(0.5) * beta;
  }
};
// dpred = scale * (d / beta if |d| < beta else sign(d)).
template <class T>
struct SmoothL1Backward {
  const T* pred;
  const T* target;
  T* dpred;
  T beta;
  T scale;
  RFCF_HD void operator()(int64_t i) const {
    const T d = pred[i] - target[i];
    const T a = d < T(0) ? -d : d;
    const T g = a < beta ? d / beta : (d > T(0) ? T(1) : (d < T(0) ? T(-1) : T(0)));
    dpred[i] = g * scale;
  }
};

}  // namespace rfcf::functors
