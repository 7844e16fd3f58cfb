#pragma once
// Filling tensors on any device through the executor.
#include "rfcf/core/executor.hpp"
#include "rfcf/core/hd.hpp"
#include "rfcf/core/tensor.hpp"

namespace rfcf {

namespace functors {
template <class T>
struct Fill {
  T* out;
  T value;
  RFCF_HD void operator()(int64_t i) const { out[i] = value; }
};
}  // namespace functors

template <class T, class D>
void fill(Tensor<T, D>& t, T value) {
  Executor<D>::for_each(t.numel(), functors::Fill<T>{t.data(), value});
}

template <class T, class D>
Tensor<T, D> full(const Shape& s, T value) {
  Tensor<T, D> t(s);
  fill(t, value);
  return t;
}
template <class T, class D>
Tensor<T, D> zeros(const Shape& s) { return full<T, D>(s, T(0)); }
template <class T, class D>
Tensor<T, D> ones(const Shape& s) { return full<T, D>(s, T(1)); }

}  // namespace rfcf
