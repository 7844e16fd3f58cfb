#pragma once
// Per-row and per-element math of the margin heads, run by Executor<D>::for_each on any device:
// L2 normalisation of rows and its backward, margin logits, row-wise softmax cross-entropy and
// its gradient. Kept inside recognition/ so the heads do not depend on the generic loss code.
#include <cmath>
#include <cstdint>

#include "rfcf/core/hd.hpp"
#include "rfcf/recognition/margin_policies.hpp"

namespace rfcf::recognition::functors {

template <class T>
RFCF_HD inline T clamp_unit(T x) {
  return x > T(1) ? T(1) : (x < T(-1) ? T(-1) : x);
}

// Row i of x [rows, d] -> y = x / max(|x|, eps); norm[i] = |x| (unclamped).
template <class T>
struct RowL2Normalize {
  const T* x;
  T* y;
  T* norm;
  int64_t d;
  T eps;
  RFCF_HD void operator()(int64_t i) const {
    const T* xi = x + i * d;
    T ss = T(0);
    for (int64_t k = 0; k < d; ++k) ss += xi[k] * xi[k];
    const T n = std::sqrt(ss);
    norm[i] = n;
    const T inv = T(1) / (n > eps ? n : eps);
    for (int64_t k = 0; k < d; ++k) y[i * d + k] = xi[k] * inv;
  }
};

// Backward of RowL2Normalize for row i: dx = (dy - y (y . dy)) / |x| (the projection removes the
// radial part), or dy / eps where the norm was clamped. With accumulate, dx += instead of =.
template <class T>
struct RowL2NormalizeBackward {
  const T* y;
  const T* dy;
  const T* norm;
  T* dx;
  int64_t d;
  T eps;
  bool accumulate;
  RFCF_HD void operator()(int64_t i) const {
    const T* yi = y + i * d;
    const T* gi = dy + i * d;
    T* out = dx + i * d;
    const T n = norm[i];
    if (n > eps) {
      T dot = T(0);
      for (int64_t k = 0; k < d; ++k) dot += yi[k] * gi[k];
      const T inv = T(1) / n;
      for (int64_t k = 0; k < d; ++k) {
        const T v = (gi[k] - yi[k] * dot) * inv;
        out[k] = accumulate ? out[k] + v : v;
      }
    } else {
      const T inv = T(1) / eps;
      for (int64_t k = 0; k < d; ++k) out[k] = accumulate ? out[k] + gi[k] * inv : gi[k] * inv;
    }
  }
};

// c_y[i] = clamp(raw[i, labels[i]]).
template <class T>
struct TargetCosine {
  const T* raw;
  const int64_t* labels;
  T* c_y;
  int64_t classes;
  RFCF_HD void operator()(int64_t i) const { c_y[i] = clamp_unit(raw[i * classes + labels[i]]); }
};

// Element e = (i, j) of the [B, C] cosines: logit s f(c) and df/dc, where c = clamp(raw) and the
// clamp passes the gradient for raw in [-1, 1] (boundaries included) and blocks it outside.
template <class Policy, class T>
struct MarginLogits {
  Policy policy;
  const T* raw;
  const int64_t* labels;
  const T* c_y;
  T t;
  T* logits;
  T* dfdc;
  int64_t classes;
  RFCF_HD void operator()(int64_t e) const {
    const int64_t i = e / classes, j = e - i * classes;
    const T r = raw[e];
    MarginValue<T> v;
    if (j == labels[i]) v = policy.target(c_y[i]);
    else v = policy.negative(clamp_unit(r), policy.row_state(c_y[i], t));
    logits[e] = T(policy.s) * v.value;
    dfdc[e] = (r >= T(-1) && r <= T(1)) ? v.grad : T(0);
  }
};

// Row i: lse[i] = logsumexp(z_i), loss[i] = lse - z_iy, correct[i] = 1 if the first argmax of the
// clamped raw cosines (origin_cos) is the label.
template <class T>
struct RowSoftmaxCrossEntropy {
  const T* logits;
  const T* raw;
  const int64_t* labels;
  T* lse;
  T* loss;
  T* correct;
  int64_t classes;
  RFCF_HD void operator()(int64_t i) const {
    const T* z = logits + i * classes;
    const T* c = raw + i * classes;
    T zmax = z[0];
    int64_t best = 0;
    T cbest = clamp_unit(c[0]);
    for (int64_t j = 1; j < classes; ++j) {
      if (z[j] > zmax) zmax = z[j];
      const T cj = clamp_unit(c[j]);
      if (cj > cbest) {
        cbest = cj;
        best = j;
      }
    }
    T sum = T(0);
    for (int64_t j = 0; j < classes; ++j) sum += std::exp(z[j] - zmax);
    const T l = zmax + std::log(sum);
    lse[i] = l;
    loss[i] = l - z[labels[i]];
    correct[i] = best == labels[i] ? T(1) : T(0);
  }
};

// dL/draw[i, j] = scale (softmax_ij - [j == y_i]) df/dc_ij with scale = s * dL / B.
template <class T>
struct MarginCrossEntropyGrad {
  const T* logits;
  const T* lse;
  const T* dfdc;
  const int64_t* labels;
  T* grad;
  int64_t classes;
  T scale;
  RFCF_HD void operator()(int64_t e) const {
    const int64_t i = e / classes, j = e - i * classes;
    const T p = std::exp(logits[e] - lse[i]);
    grad[e] = scale * (j == labels[i] ? p - T(1) : p) * dfdc[e];
  }
};

// out = s * clamp(raw): the logits of training accuracy (origin_cos of the official code).
template <class T>
struct ScaledClamp {
  const T* raw;
  T* out;
  T s;
  RFCF_HD void operator()(int64_t e) const { out[e] = s * clamp_unit(raw[e]); }
};

}  // namespace rfcf::recognition::functors
