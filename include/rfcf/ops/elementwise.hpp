#pragma once
// Device-generic element-wise ops: one functor, run by Executor<D> on any device.
#include <string>

#include "rfcf/core/executor.hpp"
#include "rfcf/core/tensor.hpp"
#include "rfcf/ops/functors/elementwise.hpp"

namespace rfcf::ops {

template <class T, class D>
Tensor<T, D> add(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  check_same_shape(a, b, "add");
  Tensor<T, D> out(a.shape());
  Executor<D>::for_each(a.numel(), functors::Add<T>{a.data(), b.data(), out.data()});
  return out;
}

// out += a
template <class T, class D>
void accumulate(Tensor<T, D>& out, const Tensor<T, D>& a) {
  check_same_shape(out, a, "accumulate");
  Executor<D>::for_each(a.numel(), functors::Accumulate<T>{a.data(), out.data()});
}

template <class T, class D>
Tensor<T, D> scale(const Tensor<T, D>& a, T alpha) {
  Tensor<T, D> out(a.shape());
  Executor<D>::for_each(a.numel(), functors::Scale<T>{a.data(), out.data(), alpha});
  return out;
}

// out += alpha * a
template <class T, class D>
void axpy(Tensor<T, D>& out, T alpha, const Tensor<T, D>& a) {
  check_same_shape(out, a, "axpy");
  Executor<D>::for_each(a.numel(), functors::Axpy<T>{a.data(), out.data(), alpha});
}

template <class T, class D>
Tensor<T, D> multiply(const Tensor<T, D>& a, const Tensor<T, D>& b) {
  check_same_shape(a, b, "multiply");
  Tensor<T, D> out(a.shape());
  Executor<D>::for_each(a.numel(), functors::Multiply<T>{a.data(), b.data(), out.data()});
  return out;
}

}  // namespace rfcf::ops
