#pragma once
// Element-wise math shared by the host executor and CUDA kernels.
#include <cstdint>

#include "rfcf/core/hd.hpp"

namespace rfcf::functors {

template <class T>
struct Add {  // out = a + b
  const T* a;
  const T* b;
  T* out;
  RFCF_HD void operator()(int64_t i) const { out[i] = a[i] + b[i]; }
};

template <class T>
struct Accumulate {  // out += a
  const T* a;
  T* out;
  RFCF_HD void operator()(int64_t i) const { out[i] += a[i]; }
};

template <class T>
struct Scale {  // out = alpha * a
  const T* a;
  T* out;
  T alpha;
  RFCF_HD void operator()(int64_t i) const { out[i] = alpha * a[i]; }
};

template <class T>
struct Axpy {  // out += alpha * a
  const T* a;
  T* out;
  T alpha;
  RFCF_HD void operator()(int64_t i) const { out[i] += alpha * a[i]; }
};

template <class T>
struct Multiply {  // out = a * b
  const T* a;
  const T* b;
  T* out;
  RFCF_HD void operator()(int64_t i) const { out[i] = a[i] * b[i]; }
};

}  // namespace rfcf::functors
