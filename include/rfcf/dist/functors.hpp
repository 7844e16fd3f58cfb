#pragma once
// Element and row math of dist/ as RFCF_HD functors (run by Executor<D> on the host and in CUDA
// kernels). In the Partial FC functors rows are samples of the global batch, columns the sampled
// classes of this rank, and a label of -1 means "owned by another rank".
#include <cmath>
#include <cstdint>

#include "rfcf/core/hd.hpp"
#include "rfcf/recognition/margin_functors.hpp"

namespace rfcf::dist::functors {

template <class T>
struct Scale {
  T* x;
  T factor;
  RFCF_HD void operator()(int64_t i) const { x[i] *= factor; }
};

// c_y[i] = clamp(raw[i, label]) where this rank owns the label, else 0 (summed over ranks after).
template <class T>
struct OwnedTargetCosine {
  const T* raw;
  const int64_t* labels;
  T* c_y;
  int64_t classes;
  RFCF_HD void operator()(int64_t i) const {
    c_y[i] = labels[i] >= 0 ? recognition::functors::clamp_unit(raw[i * classes + labels[i]]) : T(0);
  }
};

// maxima[i] = max_j logits[i, j]; maxima[rows + i] = max_j clamp(raw[i, j]) (for the accuracy).
template <class T>
struct RowMaxima {
  const T* logits;
  const T* raw;
  T* maxima;
  int64_t rows, classes;
  RFCF_HD void operator()(int64_t i) const {
    T zmax = logits[i * classes], cmax = recognition::functors::clamp_unit(raw[i * classes]);
    for (int64_t j = 1; j < classes; ++j) {
      const T z = logits[i * classes + j], c = recognition::functors::clamp_unit(raw[i * classes + j]);
      zmax = z > zmax ? z : zmax;
      cmax = c > cmax ? c : cmax;
    }
    maxima[i] = zmax;
    maxima[rows + i] = cmax;
  }
};

// sums[i] = sum_j exp(logits[i, j] - zmax[i]); sums[rows + i] = logits[i, label] where owned, else 0.
template <class T>
struct RowSumExp {
  const T* logits;
  const T* zmax;
  const int64_t* labels;
  T* sums;
  int64_t rows, classes;
  RFCF_HD void operator()(int64_t i) const {
    T s = T(0);
    for (int64_t j = 0; j < classes; ++j) s += std::exp(logits[i * classes + j] - zmax[i]);
    sums[i] = s;
    sums[rows + i] = labels[i] >= 0 ? logits[i * classes + labels[i]] : T(0);
  }
};

// out[k, :] = in[index[k], :] (rows of width d).
template <class T>
struct GatherRows {
  const T* in;
  const int64_t* index;
  T* out;
  int64_t d;
  RFCF_HD void operator()(int64_t e) const {
    const int64_t k = e / d, c = e - k * d;
    out[e] = in[index[k] * d + c];
  }
};

// out[index[k], :] += in[k, :] (indices distinct).
template <class T>
struct ScatterAddRows {
  const T* in;
  const int64_t* index;
  T* out;
  int64_t d;
  RFCF_HD void operator()(int64_t e) const {
    const int64_t k = e / d, c = e - k * d;
    out[index[k] * d + c] += in[e];
  }
};

}  // namespace rfcf::dist::functors
